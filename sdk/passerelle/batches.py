"""Batch payment files (direct deposit, pre-authorized debit) and the changes between versions.

A `BatchFile` is one version of a batch as a file carries it. `diff(old, new)` says what changed
between two versions of the same batch and `apply(batch, changes)` replays changes onto a batch;
`apply(a, diff(a, b)) == b` always holds. A `CutoffPolicy` says until when a batch may still change.

Entry identity (how `diff` pairs the entries of two versions): an entry whose `reference` is set
and unique within its batch is identified by that reference; any other entry by its account
(institution + transit, routing, account number, payment profile) and its rank among the entries of
the batch that share that account and lack a unique reference. An entry whose identity changes
between versions (its reference was added, or its account edited) shows as removed and added.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from passerelle.money import CurrencyCode, Money

__all__ = [
    "DEFAULT_CUTOFF",
    "BatchChange",
    "BatchChangeError",
    "BatchEntry",
    "BatchFile",
    "BatchKind",
    "BatchPastCutoff",
    "CutoffPolicy",
    "Deleted",
    "Direction",
    "EntriesAdded",
    "EntriesRemoved",
    "EntryChanged",
    "Rescheduled",
    "StoreCutoffs",
    "apply",
    "diff",
    "kind_of",
    "next_weekday",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Digits = Annotated[str, StringConstraints(pattern=r"^\d+$")]
ACCOUNT_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"
"""An account number: printable ASCII without surrounding spaces. The standards make it
alphanumeric, and real files hold hyphens and masked digits (744-5678-99, XXXXX1234)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", cache_strings=False)


class Direction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class BatchKind(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"
    MIXED = "mixed"


class BatchEntry(_Frozen):
    """One payment of a batch: to (credit) or from (debit) one bank account.

    A Canadian account is named by `institution` + `transit` + `account`, a US one by `routing` +
    `account`. An entry may instead name a stored payment `profile` (a Bambora customer code),
    which holds the account; such an entry may leave the account fields and `payee` empty.
    """

    direction: Direction
    amount: Money
    payee: Text | None = None
    account: Annotated[str, StringConstraints(pattern=ACCOUNT_PATTERN, max_length=17)] | None = None
    institution: Annotated[str, StringConstraints(pattern=r"^\d{3}$")] | None = None
    transit: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = None
    routing: Annotated[str, StringConstraints(pattern=r"^\d{9}$")] | None = None
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    transaction_code: Annotated[str, StringConstraints(max_length=8)] | None = None
    profile: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.amount.amount <= 0:
            raise ValueError(f"amount must be positive, got {self.amount}")
        if (self.institution is None) != (self.transit is None):
            raise ValueError("a Canadian account needs both institution and transit")
        canadian = self.institution is not None
        if self.account is None:
            if canadian or self.routing is not None:
                raise ValueError("institution, transit and routing need an account number")
            if self.profile is None:
                raise ValueError("name an account (account number) or a payment profile")
        elif canadian and self.routing is not None:
            raise ValueError("name the account by institution + transit or by routing, not both")
        elif not canadian and self.routing is None:
            raise ValueError(
                "an account number needs its bank: institution + transit (Canada) or routing (US)"
            )
        if self.payee is None and self.profile is None:
            raise ValueError("payee is required unless the entry names a payment profile")
        return self


def kind_of(entries: Iterable[BatchEntry]) -> BatchKind | None:
    """The kind a batch of `entries` has; None when there are none."""
    directions = {entry.direction for entry in entries}
    if not directions:
        return None
    if len(directions) == 2:
        return BatchKind.MIXED
    return BatchKind.CREDIT if Direction.CREDIT in directions else BatchKind.DEBIT


class BatchFile(_Frozen):
    """A batch of payments to process on `processing_date`, as one file carries it.

    `kind` follows from the entries (all credits, all debits, or both); a batch without entries
    may have any kind.
    """

    batch_id: Text
    originator: Text
    kind: BatchKind
    processing_date: dt.date
    currency: CurrencyCode
    entries: tuple[BatchEntry, ...]

    @model_validator(mode="after")
    def _check(self) -> Self:
        for i, entry in enumerate(self.entries):
            if entry.amount.currency != self.currency:
                raise ValueError(
                    f"entries[{i}] is in {entry.amount.currency}, the batch in {self.currency}"
                )
        derived = kind_of(self.entries)
        if derived is not None and derived != self.kind:
            raise ValueError(f"kind is {self.kind} but the entries make the batch {derived}")
        return self


def _check_positions(positions: tuple[int, ...] | None, entries: tuple[BatchEntry, ...]) -> None:
    if positions is None:
        return
    if len(positions) != len(entries):
        raise ValueError(f"{len(positions)} positions for {len(entries)} entries")
    if any(b <= a for a, b in pairwise(positions)):
        raise ValueError(f"positions must increase strictly, got {list(positions)}")


class Rescheduled(_Frozen):
    """The batch moves from `previous` to `processing_date`."""

    change: Literal["rescheduled"] = "rescheduled"
    previous: dt.date
    processing_date: dt.date


class Deleted(_Frozen):
    """The batch is withdrawn; nothing of it is to be paid."""

    change: Literal["deleted"] = "deleted"


class EntriesAdded(_Frozen):
    """New entries. `positions[i]` is the index `entries[i]` takes in the batch once added
    (increasing); without positions the entries go at the end."""

    change: Literal["entries_added"] = "entries_added"
    entries: tuple[BatchEntry, ...] = Field(min_length=1)
    positions: tuple[NonNegativeInt, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_positions(self.positions, self.entries)
        return self


class EntriesRemoved(_Frozen):
    """Entries taken out. `positions[i]` is the index of `entries[i]` in the batch before the
    removal (increasing); without positions each entry matches the first equal one."""

    change: Literal["entries_removed"] = "entries_removed"
    entries: tuple[BatchEntry, ...] = Field(min_length=1)
    positions: tuple[NonNegativeInt, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_positions(self.positions, self.entries)
        return self


class EntryChanged(_Frozen):
    """One entry edited in place, at index `position` (without it: the first entry equal to
    `before`)."""

    change: Literal["entry_changed"] = "entry_changed"
    before: BatchEntry
    after: BatchEntry
    position: NonNegativeInt | None = None


BatchChange = Annotated[
    Rescheduled | Deleted | EntriesAdded | EntriesRemoved | EntryChanged,
    Field(discriminator="change"),
]


class BatchChangeError(ValueError):
    """Changes that cannot be applied to a batch, or two batches that cannot be compared."""


# --- diff and apply -------------------------------------------------------------------------

_Identity = tuple[str, ...]


def _identities(entries: Sequence[BatchEntry]) -> list[_Identity]:
    references = Counter(entry.reference for entry in entries if entry.reference)
    ranks: Counter[_Identity] = Counter()
    identities: list[_Identity] = []
    for entry in entries:
        if entry.reference and references[entry.reference] == 1:
            identities.append(("reference", entry.reference))
            continue
        account = (
            "account",
            entry.institution or "",
            entry.transit or "",
            entry.routing or "",
            entry.account or "",
            entry.profile or "",
        )
        identities.append((*account, str(ranks[account])))
        ranks[account] += 1
    return identities


def _longest_increasing(values: Sequence[int]) -> set[int]:
    """The values of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []  # tails[k]: index into values of the smallest tail of a run of k+1
    previous: list[int] = [-1] * len(values)
    for i, value in enumerate(values):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if values[tails[mid]] < value:
                lo = mid + 1
            else:
                hi = mid
        if lo > 0:
            previous[i] = tails[lo - 1]
        if lo == len(tails):
            tails.append(i)
        else:
            tails[lo] = i
    kept: set[int] = set()
    i = tails[-1] if tails else -1
    while i >= 0:
        kept.add(values[i])
        i = previous[i]
    return kept


def diff(old: BatchFile, new: BatchFile) -> tuple[BatchChange, ...]:
    """The changes that turn `old` into `new`, two versions of the same batch.

    In this order: `Rescheduled` (if the date moved), one `EntryChanged` per entry edited in place
    (by position in `old`), one `EntriesRemoved` (positions in `old`), one `EntriesAdded`
    (positions in `new`). Entries are paired by identity (see the module docs); an entry that
    keeps its identity but moves relative to the others shows as removed and added again, so that
    `apply(old, diff(old, new)) == new`, order included. `diff(a, a) == ()`.
    """
    for name in ("batch_id", "originator", "currency"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            raise BatchChangeError(
                f"cannot diff batch {old.batch_id} against batch {new.batch_id}: "
                f"{name} {before!r} differs from {after!r}"
            )
    if not new.entries and new.kind != old.kind:
        raise BatchChangeError(
            f"cannot diff batch {old.batch_id}: the new version has no entries and kind "
            f"{new.kind}, but an emptied batch keeps its kind ({old.kind})"
        )
    old_ids, new_ids = _identities(old.entries), _identities(new.entries)
    old_at = {identity: i for i, identity in enumerate(old_ids)}
    paired = [(old_at[identity], j) for j, identity in enumerate(new_ids) if identity in old_at]
    kept_old = _longest_increasing([i for i, _ in paired])
    kept_new = {j for i, j in paired if i in kept_old}

    changes: list[BatchChange] = []
    if old.processing_date != new.processing_date:
        changes.append(
            Rescheduled(previous=old.processing_date, processing_date=new.processing_date)
        )
    for i, j in paired:  # kept pairs come in increasing order of both i and j
        if i in kept_old and old.entries[i] != new.entries[j]:
            changes.append(EntryChanged(before=old.entries[i], after=new.entries[j], position=i))
    removed = [i for i in range(len(old.entries)) if i not in kept_old]
    if removed:
        changes.append(
            EntriesRemoved(entries=tuple(old.entries[i] for i in removed), positions=tuple(removed))
        )
    added = [j for j in range(len(new.entries)) if j not in kept_new]
    if added:
        changes.append(
            EntriesAdded(entries=tuple(new.entries[j] for j in added), positions=tuple(added))
        )
    return tuple(changes)


def _describe(entry: BatchEntry) -> str:
    who = entry.payee or f"profile {entry.profile}"
    return f"{entry.direction} of {entry.amount} for {who!r}"


def apply(batch: BatchFile, changes: Iterable[BatchChange]) -> BatchFile | None:
    """`batch` with `changes` applied in order; None once the batch is `Deleted`.

    Each change applies to the batch as the changes before it left it. A change that does not fit
    (a `Rescheduled` whose `previous` is not the batch's date, an entry that is not where the
    change says, a change after `Deleted`) raises `BatchChangeError`; `batch` itself never
    changes. The result's kind follows its entries; a batch left without entries keeps its kind.
    """
    entries = list(batch.entries)
    date = batch.processing_date
    deleted = False
    for n, change in enumerate(changes):
        where = f"batch {batch.batch_id}: changes[{n}] ({change.change})"
        if deleted:
            raise BatchChangeError(f"{where} comes after the batch was deleted")
        if isinstance(change, Deleted):
            deleted = True
        elif isinstance(change, Rescheduled):
            if change.previous != date:
                raise BatchChangeError(
                    f"{where} moves the batch from {change.previous}, but it is on {date}"
                )
            date = change.processing_date
        elif isinstance(change, EntryChanged):
            i = _locate(entries, change.before, change.position, where)
            entries[i] = change.after
        elif isinstance(change, EntriesRemoved):
            positions = change.positions or _match_all(entries, change.entries, where)
            for entry, i in zip(change.entries, positions, strict=True):
                _locate(entries, entry, i, where)
            for i in sorted(positions, reverse=True):
                del entries[i]
        else:
            if change.positions is None:
                entries.extend(change.entries)
                continue
            for entry, i in zip(change.entries, change.positions, strict=True):
                if i > len(entries):
                    raise BatchChangeError(
                        f"{where} puts {_describe(entry)} at entries[{i}], "
                        f"but the batch would have only {len(entries)} entries before it"
                    )
                entries.insert(i, entry)
    if deleted:
        return None
    try:
        return BatchFile(
            batch_id=batch.batch_id,
            originator=batch.originator,
            kind=kind_of(entries) or batch.kind,
            processing_date=date,
            currency=batch.currency,
            entries=tuple(entries),
        )
    except ValidationError as exc:
        problems = "; ".join(
            str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else error["msg"]
            for error in exc.errors()
        )
        raise BatchChangeError(
            f"batch {batch.batch_id}: the changes leave an invalid batch: {problems}"
        ) from None


def _locate(entries: list[BatchEntry], entry: BatchEntry, position: int | None, where: str) -> int:
    if position is None:
        try:
            return entries.index(entry)
        except ValueError:
            raise BatchChangeError(
                f"{where} names {_describe(entry)}, which is not in the batch"
            ) from None
    if position >= len(entries):
        raise BatchChangeError(
            f"{where} names entries[{position}] ({_describe(entry)}), "
            f"but the batch has only {len(entries)} entries"
        )
    if entries[position] != entry:
        raise BatchChangeError(
            f"{where} names entries[{position}] as {_describe(entry)}, "
            f"but it is {_describe(entries[position])}"
        )
    return position


def _match_all(
    entries: list[BatchEntry], wanted: tuple[BatchEntry, ...], where: str
) -> tuple[int, ...]:
    taken: set[int] = set()
    found: list[int] = []
    for entry in wanted:
        i = next(
            (i for i, e in enumerate(entries) if i not in taken and e == entry),
            None,
        )
        if i is None:
            raise BatchChangeError(f"{where} names {_describe(entry)}, which is not in the batch")
        taken.add(i)
        found.append(i)
    return tuple(found)


# --- cutoff ---------------------------------------------------------------------------------


class BatchPastCutoff(Exception):  # noqa: N818 (named after the back end's error code)
    """The batch (or the date it would move to) is past its cutoff: it can no longer change."""

    code: ClassVar[str] = "batch_past_cutoff"

    def __init__(
        self,
        message: str,
        *,
        batch_id: str,
        processing_date: dt.date,
        cutoff: dt.datetime,
        now: dt.datetime,
        rescheduled_to: dt.date | None = None,
    ) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.processing_date = processing_date
        self.cutoff = cutoff
        self.now = now
        self.rescheduled_to = rescheduled_to


class CutoffPolicy(_Frozen):
    """Until when a batch may change: `time` of its processing date, in time zone `zone`.

    The default is 11:00 America/Vancouver (bank batches sent before 11:00 Pacific are processed
    that day). A batch is changeable while `now < cutoff_for(processing_date)`.
    """

    time: dt.time = dt.time(11, 0)
    zone: str = "America/Vancouver"

    @field_validator("time")
    @classmethod
    def _naive_time(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("give the cutoff time without a time zone; set `zone` instead")
        return value

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def cutoff_for(self, processing_date: dt.date) -> dt.datetime:
        """The aware moment after which a batch for `processing_date` can no longer change.

        A Saturday or a Sunday means the Monday after, as the payment standards read a date that
        is not a business day (bank holidays are not known here)."""
        return dt.datetime.combine(next_weekday(processing_date), self.time, tzinfo=self.tz)

    def check_changeable(self, batch: BatchFile, now: dt.datetime) -> None:
        """Raise `BatchPastCutoff` if `batch` is past its cutoff at `now` (an aware datetime)."""
        self.ensure_changeable(batch.batch_id, batch.processing_date, (), now)

    def ensure_before_cutoff(
        self, batch: BatchFile, changes: Iterable[BatchChange], now: dt.datetime
    ) -> None:
        """Raise `BatchPastCutoff` unless `changes` may still be made to `batch` at `now`.

        Every change needs the batch before its cutoff; a `Rescheduled` also needs its new date
        to be before that date's own cutoff.
        """
        self.ensure_changeable(batch.batch_id, batch.processing_date, changes, now)

    def ensure_changeable(
        self,
        batch_id: str,
        processing_date: dt.date,
        changes: Iterable[BatchChange],
        now: dt.datetime,
    ) -> None:
        """`ensure_before_cutoff` for a batch known only by its id and processing date, as an
        edit event names it."""
        cutoff = self.cutoff_for(processing_date)
        if _aware(now) >= cutoff:
            raise BatchPastCutoff(
                f"batch {batch_id} for {processing_date} is past its cutoff "
                f"{self._show(cutoff)} (now {self._show(now, seconds=True)}): "
                "it can no longer be changed",
                batch_id=batch_id,
                processing_date=processing_date,
                cutoff=cutoff,
                now=now,
            )
        for change in changes:
            if not isinstance(change, Rescheduled):
                continue
            cutoff = self.cutoff_for(change.processing_date)
            if now >= cutoff:
                raise BatchPastCutoff(
                    f"batch {batch_id} for {processing_date} cannot be rescheduled "
                    f"to {change.processing_date}: that date's cutoff {self._show(cutoff)} "
                    f"has passed (now {self._show(now, seconds=True)})",
                    batch_id=batch_id,
                    processing_date=processing_date,
                    cutoff=cutoff,
                    now=now,
                    rescheduled_to=change.processing_date,
                )

    def _show(self, moment: dt.datetime, *, seconds: bool = False) -> str:
        local = moment.astimezone(self.tz)
        if seconds:
            return local.strftime("%Y-%m-%d %H:%M:%S %Z")
        return local.strftime(f"%Y-%m-%d %H:%M %Z ({self.zone})")


def next_weekday(day: dt.date) -> dt.date:
    """`day`, or the Monday after it for a Saturday or a Sunday: the business day the payment
    standards read a processing date as (bank holidays are not known here)."""
    weekday = day.weekday()
    return day + dt.timedelta(days=7 - weekday if weekday >= 5 else 0)


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} has no time zone")
    return now


DEFAULT_CUTOFF = CutoffPolicy()
"""11:00 America/Vancouver."""


class StoreCutoffs(_Frozen):
    """Each store's cutoff: `default`, unless `stores` gives the store, keyed (platform, store
    id), a cutoff of its own (a processor with another cutoff, a merchant in another zone)."""

    default: CutoffPolicy = DEFAULT_CUTOFF
    stores: dict[tuple[str, str], CutoffPolicy] = Field(default_factory=dict)

    def of(self, platform: str, store: str) -> CutoffPolicy:
        """The cutoff of the batches of `store` on `platform`."""
        return self.stores.get((platform, store), self.default)
