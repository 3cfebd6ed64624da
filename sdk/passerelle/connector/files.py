"""Batch files: into the inbox byte for byte, and out of it as the batch edits they mean.

A file is a delivery like a webhook's: `accept_file` stores it durably (its bytes, name and time;
its SHA-256 is its de-duplication key, so the same bytes twice are one file) before anyone is told
it was accepted. The dispatcher then hands it to `translate_file`: the platform reads it into a
batch, the store numbers it as the next version of that batch, and the difference with the
version before becomes a `BatchFileEdited` (for a first version: every entry added). Every event
carries the batch as the file has it, so the back-end step can bring the back end's batch to it
whatever part of an earlier attempt already reached it.

All files of a store share one lane: versions of a batch are read in the order they arrived.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from datetime import datetime

from passerelle.batches import (
    BatchChange,
    BatchEntry,
    BatchFile,
    CutoffPolicy,
    Deleted,
    EntriesAdded,
    EntriesRemoved,
    EntryChanged,
    Rescheduled,
    StoreCutoffs,
    diff,
)
from passerelle.connector.store import BatchVersion, Delivery, DeliveryStore, NewDelivery
from passerelle.events import BatchFileEdited
from passerelle.money import Money
from passerelle.platforms import FilePlatform, Store, Translation, TranslationError

__all__ = [
    "FILENAME_HEADER",
    "FILE_LANE",
    "MAX_FILE_BYTES",
    "BatchOverlapError",
    "BatchStanding",
    "BatchVersionChange",
    "FileReceipt",
    "FileTooLargeError",
    "accept_file",
    "accept_file_async",
    "batch_history",
    "batch_standing",
    "describe_edit",
    "file_delivery",
    "filename_of",
    "masked_account",
    "translate_file",
]

FILE_LANE = "batch-files"
"""The ordering key of every file delivery: one lane per store."""
FILENAME_HEADER = "X-Passerelle-Filename"
"""The header a stored file keeps its name in."""
MAX_FILE_BYTES = 40 * 1024 * 1024
"""The largest file accepted by default: the processors' own upload limit (40 MiB)."""


class FileTooLargeError(ValueError):
    """The file is larger than the limit; nothing was stored."""


@dataclass(frozen=True)
class FileReceipt:
    """A file stored in the inbox: its delivery, and whether the same bytes were there already."""

    delivery_id: int
    duplicate: bool
    sha256: str
    size: int
    filename: str


def file_delivery(
    platform: str, store: str, data: bytes, *, filename: str, received_at: datetime
) -> NewDelivery:
    """The inbox delivery for file `data`: keyed by its SHA-256, in the store's file lane."""
    return NewDelivery(
        platform=platform,
        store=store,
        delivery_key=f"sha256:{hashlib.sha256(data).hexdigest()}",
        ordering_key=FILE_LANE,
        headers=(("Content-Type", "application/octet-stream"), (FILENAME_HEADER, filename)),
        body=data,
        received_at=received_at,
    )


class _Collector:
    def __init__(self, limit: int, filename: str) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.filename = filename

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise FileTooLargeError(
                f"{self.filename}: the file is larger than the limit of {self.limit} bytes"
            )
        self.parts.append(chunk)

    def delivery(self, platform: str, store: str, received_at: datetime) -> NewDelivery:
        data = b"".join(self.parts)
        return file_delivery(platform, store, data, filename=self.filename, received_at=received_at)

    def receipt(self, delivery_id: int, duplicate: bool, delivery: NewDelivery) -> FileReceipt:
        return FileReceipt(
            delivery_id=delivery_id,
            duplicate=duplicate,
            sha256=delivery.delivery_key.removeprefix("sha256:"),
            size=self.size,
            filename=self.filename,
        )


def accept_file(
    inbox: DeliveryStore,
    platform: str,
    store: str,
    chunks: Iterable[bytes],
    *,
    filename: str,
    received_at: datetime,
    limit: int = MAX_FILE_BYTES,
) -> FileReceipt:
    """Store the file read from `chunks` durably; return once it is committed.

    Raise `FileTooLargeError` (nothing stored) past `limit` bytes."""
    collector = _Collector(limit, filename)
    for chunk in chunks:
        collector.add(chunk)
    delivery = collector.delivery(platform, store, received_at)
    result = inbox.append(delivery)
    return collector.receipt(result.id, result.duplicate, delivery)


async def accept_file_async(
    inbox: DeliveryStore,
    platform: str,
    store: str,
    chunks: AsyncIterable[bytes],
    *,
    filename: str,
    received_at: datetime,
    limit: int = MAX_FILE_BYTES,
) -> FileReceipt:
    """`accept_file` for an asyncio caller streaming an upload."""
    collector = _Collector(limit, filename)
    async for chunk in chunks:
        collector.add(chunk)
    delivery = collector.delivery(platform, store, received_at)
    result = await inbox.append_async(delivery)
    return collector.receipt(result.id, result.duplicate, delivery)


def filename_of(delivery: Delivery) -> str:
    """The name the file was submitted under."""
    wanted = FILENAME_HEADER.lower()
    return next((value for name, value in delivery.headers if name.lower() == wanted), "file")


def translate_file(
    platform: FilePlatform,
    store: Store,
    delivery: Delivery,
    inbox: DeliveryStore,
    *,
    cutoff: CutoffPolicy | None = None,
    now: datetime | None = None,
) -> Translation:
    """The batch edit a stored file for `store` means, its version recorded (see the module
    docs).

    The platform's `FormatError` or `TranslationError` propagates: the file is not one to act on
    and nothing is recorded. With `cutoff` and `now`, a new batch that repeats entries of another
    batch still before its cutoff raises `BatchOverlapError` (after its version is recorded)."""
    batch = platform.read_for_store(delivery.body, filename=filename_of(delivery), store=store)
    version, previous = inbox.record_batch_version(
        delivery.platform, delivery.store, batch.batch_id, delivery.id, batch.model_dump_json()
    )
    if previous is None:
        if cutoff is not None and now is not None:
            _check_overlap(inbox, delivery, batch, cutoff, now)
        if not batch.entries:
            return Translation.ignore(f"batch {batch.batch_id}: a first version without entries")
        event = BatchFileEdited(
            batch=batch.batch_id, changes=(EntriesAdded(entries=batch.entries),), after=batch
        )
        return Translation(events=(event,))
    before = BatchFile.model_validate_json(previous.batch)
    changes = diff(before, batch)
    if not changes:
        return Translation.ignore(
            f"version {version.number} of batch {batch.batch_id} is the same batch as version "
            f"{previous.number}"
        )
    event = BatchFileEdited(
        batch=batch.batch_id,
        changes=changes,
        processing_date=before.processing_date,
        after=batch,
    )
    return Translation(events=(event,))


class BatchOverlapError(TranslationError):
    """A new batch repeats payments of another batch still pending: the double payroll. It goes
    to the action center as ``batch_overlap`` and nothing is sent; retrying it by hand sends it
    anyway."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field, code="batch_overlap")


def _same_payment(entry: BatchEntry) -> tuple[object, ...]:
    return (
        entry.direction,
        entry.institution,
        entry.transit,
        entry.routing,
        entry.account,
        entry.profile,
        entry.amount,
        entry.reference,
    )


def _check_overlap(
    inbox: DeliveryStore, delivery: Delivery, batch: BatchFile, cutoff: CutoffPolicy, now: datetime
) -> None:
    mine = {_same_payment(entry): entry for entry in batch.entries}
    for other in inbox.latest_batch_versions(delivery.platform, delivery.store):
        if other.batch_id == batch.batch_id:
            continue
        pending = BatchFile.model_validate_json(other.batch)
        if now >= cutoff.cutoff_for(pending.processing_date):
            continue  # processed already: paying again is the merchant's own choice
        repeated = [mine[key] for e in pending.entries if (key := _same_payment(e)) in mine]
        if repeated:
            shown = "; ".join(_payment(entry) for entry in repeated[:5])
            more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
            raise BatchOverlapError(
                f"batch {batch.batch_id} repeats {_count(len(repeated), 'entry')} of batch "
                f"{pending.batch_id}, still pending for {pending.processing_date}: {shown}{more}. "
                "Nothing is sent; retry it by hand to send it anyway, or dismiss it"
            )


def _payment(entry: BatchEntry) -> str:
    account = entry.account or f"profile {entry.profile}"
    bank = entry.routing or "-".join(part for part in (entry.institution, entry.transit) if part)
    masked = f"{bank} ...{account[-4:]}" if entry.account else account
    reference = f", reference {entry.reference}" if entry.reference else ""
    return f"{entry.payee or 'payee'} {entry.amount} to {masked}{reference}"


def describe_edit(event: BatchFileEdited) -> str:
    """One line saying what a batch edit does: ``new batch X: 3 entries, 5400.00 CAD for
    2026-12-15`` or ``batch X: rescheduled 2026-12-15 -> 2026-12-17; 1 entry removed``."""
    first = event.processing_date is None and len(event.changes) == 1
    added = event.changes[0]
    if first and event.after is not None and isinstance(added, EntriesAdded):
        batch = event.after
        total = Money.sum([entry.amount for entry in batch.entries], batch.currency)
        return (
            f"new batch {batch.batch_id}: {_count(len(batch.entries), 'entry')}, {total} "
            f"for {batch.processing_date}"
        )
    return f"batch {event.batch}: " + "; ".join(_describe(change) for change in event.changes)


def _describe(change: BatchChange) -> str:
    if isinstance(change, Rescheduled):
        return f"rescheduled {change.previous} -> {change.processing_date}"
    if isinstance(change, Deleted):
        return "deleted"
    if isinstance(change, EntriesAdded):
        return f"{_count(len(change.entries), 'entry')} added"
    if isinstance(change, EntriesRemoved):
        return f"{_count(len(change.entries), 'entry')} removed"
    assert isinstance(change, EntryChanged)
    return f"entry {change.position} changed"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 else noun[:-1] + 'ies'}"


# Reading back the versions the store keeps: one view for `passerelle batch` and the page -------


@dataclass(frozen=True)
class BatchStanding:
    """A batch as its newest `version` has it: `total` of its entries, and its `cutoff`."""

    version: BatchVersion
    batch: BatchFile
    total: Money
    cutoff: datetime

    def past_cutoff(self, now: datetime) -> bool:
        """Whether the batch can no longer change at `now` (an aware datetime)."""
        return now >= self.cutoff


@dataclass(frozen=True)
class BatchVersionChange:
    """One version of a batch and what it changed against the one before (`changes` is every
    entry added for the first version); `summary` says it in one line."""

    version: BatchVersion
    batch: BatchFile
    changes: tuple[BatchChange, ...]
    summary: str


def batch_standing(version: BatchVersion, cutoffs: StoreCutoffs) -> BatchStanding:
    """Where the batch of `version` stands: its total and the cutoff its store has."""
    batch = BatchFile.model_validate_json(version.batch)
    total = Money.sum([entry.amount for entry in batch.entries], batch.currency)
    policy = cutoffs.of(version.platform, version.store)
    return BatchStanding(version, batch, total, policy.cutoff_for(batch.processing_date))


def batch_history(versions: Iterable[BatchVersion]) -> list[BatchVersionChange]:
    """Each of `versions` (oldest first, as the store lists them) with what it changed."""
    history: list[BatchVersionChange] = []
    before: BatchFile | None = None
    for version in versions:
        batch = BatchFile.model_validate_json(version.batch)
        if before is None:
            added = (EntriesAdded(entries=batch.entries),) if batch.entries else ()
            changes: tuple[BatchChange, ...] = added
            summary = f"{_count(len(batch.entries), 'entry')} for {batch.processing_date}"
        else:
            changes = diff(before, batch)
            edit = BatchFileEdited(batch=batch.batch_id, changes=changes)
            summary = describe_edit(edit) if changes else "no change"
        history.append(BatchVersionChange(version, batch, changes, summary))
        before = batch
    return history


def masked_account(entry: BatchEntry) -> str:
    """The entry's account (or payment profile) with all but its last four characters hidden."""
    account = entry.account or f"profile {entry.profile}"
    return f"...{account[-4:]}"
