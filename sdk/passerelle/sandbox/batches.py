"""Batches of bank payments: upload a file (CPA-005, NACHA, Bambora CSV) or entries, then
reschedule, edit or delete the batch until its cutoff (`passerelle.batches.CutoffPolicy`, by
default 11:00 America/Vancouver on the processing date, read on the sandbox clock).

A batch's id is the file's (CPA-005: originator and file creation number; NACHA: origin, date and
file id modifier), the one given with entries, or one the sandbox assigns (Bambora files carry
none). A batch under an id already used, a file uploaded twice included, is refused as
``batch_exists`` (409, like ``order_exists``: it depends on what is stored). An upload without
a processing date takes the file's; a Bambora file, which has none, is processed today when sent
before the cutoff, else on the next weekday.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict

from passerelle import formats
from passerelle.backend.batch_models import (
    BatchCreate,
    BatchEntriesCreate,
    BatchEntriesReplace,
    BatchEntryItem,
    BatchFileUpload,
    BatchReschedule,
    BatchStatus,
    BatchTotals,
    BatchView,
)
from passerelle.backend.models import (
    FieldError,
)
from passerelle.batches import (
    BatchEntry,
    BatchFile,
    BatchKind,
    BatchPastCutoff,
    Direction,
    Rescheduled,
)
from passerelle.sandbox.db import Transaction
from passerelle.sandbox.deps import Merchant, Reply, SandboxDep, Write, WriteDep
from passerelle.sandbox.errors import SandboxProblem, problem_responses
from passerelle.sandbox.orders import json_response
from passerelle.sandbox.paths import SEGMENT  # noqa: F401 - the routes' {name:segment}
from passerelle.sandbox.state import Sandbox

__all__ = ["router"]

router = APIRouter(prefix="/v1/batches", tags=["batches"])

BatchId = Annotated[str, Path(min_length=1, max_length=255, description="The batch's id.")]


class _StoredBatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    originator: str
    kind: BatchKind
    currency: str
    processing_date: dt.date
    entries: tuple[BatchEntry, ...]
    deleted: bool = False
    created_at: AwareDatetime

    def as_file(self) -> BatchFile:
        return BatchFile(
            batch_id=self.id,
            originator=self.originator,
            kind=_kind_of(self.entries),
            processing_date=self.processing_date,
            currency=self.currency,
            entries=self.entries,
        )


def _kind_of(entries: tuple[BatchEntry, ...]) -> BatchKind:
    """What the entries make a batch; a declared kind may be wider (mixed)."""
    directions = {entry.direction for entry in entries}
    if len(directions) != 1:
        return BatchKind.MIXED
    return BatchKind(directions.pop().value)


def _view(batch: _StoredBatch, sandbox: Sandbox) -> BatchView:
    cutoff = sandbox.cutoff.cutoff_for(batch.processing_date)
    if batch.deleted:
        status = BatchStatus.DELETED
    elif sandbox.clock.now() >= cutoff:
        status = BatchStatus.PROCESSING
    else:
        status = BatchStatus.SCHEDULED
    entries = tuple(BatchEntryItem.from_entry(entry) for entry in batch.entries)
    return BatchView(
        id=batch.id,
        status=status,
        processing_date=batch.processing_date,
        cutoff_at=cutoff,
        originator=batch.originator,
        kind=batch.kind,
        currency=batch.currency,
        entries=entries,
        totals=BatchTotals.of(entries, batch.currency),
    )


def _load(tx: Transaction, merchant: str, batch_id: str) -> _StoredBatch:
    document = tx.get_batch(merchant, batch_id)
    if document is None:
        raise SandboxProblem("unknown_batch", f"there is no batch {batch_id!r}")
    return _StoredBatch.model_validate_json(document)


def _changeable(
    batch: _StoredBatch, sandbox: Sandbox, reschedule_to: dt.date | None = None
) -> None:
    if batch.deleted:
        raise SandboxProblem("batch_deleted", f"batch {batch.id} was deleted")
    changes = (
        [Rescheduled(previous=batch.processing_date, processing_date=reschedule_to)]
        if reschedule_to is not None
        else []
    )
    try:
        sandbox.cutoff.ensure_before_cutoff(batch.as_file(), changes, sandbox.clock.now())
    except BatchPastCutoff as exc:
        raise SandboxProblem("batch_past_cutoff", str(exc)) from None


def _new_id() -> str:
    return "bat_" + secrets.token_hex(8)


def _default_day(sandbox: Sandbox) -> dt.date:
    now = sandbox.clock.now()
    day = now.astimezone(sandbox.cutoff.tz).date()
    if now >= sandbox.cutoff.cutoff_for(day):
        day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _read_file(upload: BatchFileUpload, sandbox: Sandbox) -> BatchFile:
    data = upload.content()
    try:
        name = upload.format.value if upload.format else formats.detect(data, filename="file")
        if name == "bambora":
            day = upload.processing_date or _default_day(sandbox)
            return formats.bambora.read(
                data, filename="file", processing_date=day, batch_id=_new_id()
            )
        if name == "cpa005":
            batch = formats.cpa005.read(data, filename="file")
        else:
            batch = formats.nacha.read(data, filename="file")
    except formats.FormatError as exc:
        raise SandboxProblem(
            "invalid_batch_file",
            str(exc),
            errors=(
                FieldError(field="file", message=exc.reason, line=exc.line, column=exc.column),
            ),
        ) from None
    if upload.processing_date is not None:
        batch = batch.model_copy(update={"processing_date": upload.processing_date})
    return batch


def _check_entries(
    entries: tuple[BatchEntryItem, ...], currency: str, kind: BatchKind, field: str
) -> None:
    for i, entry in enumerate(entries):
        if entry.amount.currency != currency:
            # Worded as the request model words the same rule for a new batch.
            message = f"entry {i} is in {entry.amount.currency}, the batch in {currency}"
            where = f"{field}.{i}.amount.currency"
            raise SandboxProblem(
                "currency_mismatch",
                f"invalid request: {where}: {message}",
                errors=(FieldError(field=where, message=message),),
            )
        if kind is not BatchKind.MIXED and entry.direction is not Direction(kind.value):
            message = f"a {entry.direction.value} in a {kind.value} batch"
            raise SandboxProblem(
                "validation_failed",
                f"invalid request: {field}.{i}.direction: {message}",
                errors=(FieldError(field=f"{field}.{i}.direction", message=message),),
            )


@router.post(
    "",
    status_code=201,
    response_model=BatchView,
    responses=problem_responses(
        "invalid_batch_file", "batch_exists", "batch_past_cutoff", "currency_mismatch", write=True
    ),
    summary="Schedule a batch",
)
def create_batch(body: BatchCreate, sandbox: SandboxDep, write: WriteDep) -> Response:
    """Schedule a batch of payments from a file (text or base64) or from entries."""

    def work(tx: Transaction) -> Reply:
        if isinstance(body, BatchFileUpload):
            batch = _read_file(body, sandbox)
            declared = batch.kind
            if tx.get_batch(write.merchant, batch.batch_id) is not None:
                # The file's header names the batch.
                message = f"batch {batch.batch_id} was already received"
                raise SandboxProblem(
                    "batch_exists",
                    f"duplicate file: {message}",
                    errors=(FieldError(field="file", message=message, line=1),),
                )
        else:
            batch = _from_entries(body, tx, write)
            declared = body.kind
        now = sandbox.clock.now()
        stored = _StoredBatch(
            id=batch.batch_id,
            originator=batch.originator,
            kind=declared,
            currency=batch.currency,
            processing_date=batch.processing_date,
            entries=batch.entries,
            created_at=now,
        )
        cutoff = sandbox.cutoff.cutoff_for(stored.processing_date)
        if now >= cutoff:
            raise SandboxProblem(
                "batch_past_cutoff",
                f"batch {stored.id} cannot be scheduled for {stored.processing_date}: that "
                f"date's cutoff {cutoff.isoformat()} has passed; choose a later processing date",
            )
        tx.put_batch(write.merchant, stored.id, stored.model_dump_json(), now)
        return 201, _view(stored, sandbox)

    return write.run(work)


def _from_entries(body: BatchEntriesCreate, tx: Transaction, write: Write) -> BatchFile:
    batch_id = body.batch_id or _new_id()
    if tx.get_batch(write.merchant, batch_id) is not None:
        message = f"batch {batch_id} already exists"
        raise SandboxProblem(
            "batch_exists",
            f"batch_id: {message}",
            errors=(FieldError(field="batch_id", message=message),),
        )
    entries = tuple(entry.to_entry() for entry in body.entries)
    return BatchFile(
        batch_id=batch_id,
        originator=body.originator,
        kind=_kind_of(entries),
        processing_date=body.processing_date,
        currency=body.currency,
        entries=entries,
    )


@router.get(
    "/{batch_id:segment}",
    response_model=BatchView,
    responses=problem_responses("unknown_batch"),
    summary="Get a batch",
)
def get_batch(batch_id: BatchId, sandbox: SandboxDep, merchant: Merchant) -> Response:
    """The batch, its status (scheduled until its cutoff, then processing) and totals."""
    with sandbox.db.transaction() as tx:
        batch = _load(tx, merchant, batch_id)
    return json_response(_view(batch, sandbox))


_CHANGES = ("unknown_batch", "batch_past_cutoff", "batch_deleted")


@router.patch(
    "/{batch_id:segment}",
    response_model=BatchView,
    responses=problem_responses(*_CHANGES, write=True),
    summary="Reschedule a batch",
)
def reschedule_batch(
    batch_id: BatchId, body: BatchReschedule, sandbox: SandboxDep, write: WriteDep
) -> Response:
    """Move the batch to another processing date; both dates must be before their cutoff."""

    def work(tx: Transaction) -> Reply:
        batch = _load(tx, write.merchant, batch_id)
        _changeable(batch, sandbox, reschedule_to=body.processing_date)
        moved = batch.model_copy(update={"processing_date": body.processing_date})
        tx.put_batch(write.merchant, batch_id, moved.model_dump_json(), sandbox.clock.now())
        return 200, _view(moved, sandbox)

    return write.run(work)


@router.put(
    "/{batch_id:segment}/entries",
    response_model=BatchView,
    responses=problem_responses(*_CHANGES, "currency_mismatch", write=True),
    summary="Replace a batch's entries",
)
def replace_entries(
    batch_id: BatchId, body: BatchEntriesReplace, sandbox: SandboxDep, write: WriteDep
) -> Response:
    """Replace every entry of the batch, before its cutoff."""

    def work(tx: Transaction) -> Reply:
        batch = _load(tx, write.merchant, batch_id)
        _changeable(batch, sandbox)
        _check_entries(body.entries, batch.currency, batch.kind, "entries")
        edited = batch.model_copy(
            update={"entries": tuple(entry.to_entry() for entry in body.entries)}
        )
        tx.put_batch(write.merchant, batch_id, edited.model_dump_json(), sandbox.clock.now())
        return 200, _view(edited, sandbox)

    return write.run(work)


@router.delete(
    "/{batch_id:segment}",
    response_model=BatchView,
    responses=problem_responses(*_CHANGES, write=True),
    summary="Delete a batch",
)
def delete_batch(batch_id: BatchId, sandbox: SandboxDep, write: WriteDep) -> Response:
    """Withdraw the batch before its cutoff; answers with the deleted batch."""

    def work(tx: Transaction) -> Reply:
        batch = _load(tx, write.merchant, batch_id)
        _changeable(batch, sandbox)
        deleted = batch.model_copy(update={"deleted": True})
        tx.put_batch(write.merchant, batch_id, deleted.model_dump_json(), sandbox.clock.now())
        return 200, _view(deleted, sandbox)

    return write.run(work)
