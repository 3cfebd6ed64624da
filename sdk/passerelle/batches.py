"""Batch payment files (direct deposit, pre-authorized debit) and the changes between versions."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from passerelle.money import Money

__all__ = [
    "BatchChange",
    "BatchEntry",
    "BatchFile",
    "BatchKind",
    "Deleted",
    "Direction",
    "EntriesAdded",
    "EntriesRemoved",
    "EntryChanged",
    "Rescheduled",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Digits = Annotated[str, StringConstraints(pattern=r"^\d+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    `account`.
    """

    direction: Direction
    amount: Money
    payee: Text
    account: Annotated[str, StringConstraints(pattern=r"^\d{1,17}$")]
    institution: Annotated[str, StringConstraints(pattern=r"^\d{3}$")] | None = None
    transit: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = None
    routing: Annotated[str, StringConstraints(pattern=r"^\d{9}$")] | None = None
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    transaction_code: Annotated[str, StringConstraints(max_length=8)] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.amount.amount <= 0:
            raise ValueError(f"amount must be positive, got {self.amount}")
        canadian = self.institution is not None and self.transit is not None
        if canadian == (self.routing is not None):
            raise ValueError("name the account by institution + transit or by routing, not both")
        return self


class BatchFile(_Frozen):
    """A batch of payments to process on `processing_date`, as one file carries it."""

    batch_id: Text
    originator: Text
    kind: BatchKind
    processing_date: dt.date
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    entries: tuple[BatchEntry, ...]

    @model_validator(mode="after")
    def _check(self) -> Self:
        for i, entry in enumerate(self.entries):
            if entry.amount.currency != self.currency:
                raise ValueError(
                    f"entries[{i}] is in {entry.amount.currency}, the batch in {self.currency}"
                )
        return self


class Rescheduled(_Frozen):
    change: Literal["rescheduled"] = "rescheduled"
    previous: dt.date
    processing_date: dt.date


class Deleted(_Frozen):
    change: Literal["deleted"] = "deleted"


class EntriesAdded(_Frozen):
    change: Literal["entries_added"] = "entries_added"
    entries: tuple[BatchEntry, ...] = Field(min_length=1)


class EntriesRemoved(_Frozen):
    change: Literal["entries_removed"] = "entries_removed"
    entries: tuple[BatchEntry, ...] = Field(min_length=1)


class EntryChanged(_Frozen):
    change: Literal["entry_changed"] = "entry_changed"
    before: BatchEntry
    after: BatchEntry


BatchChange = Annotated[
    Rescheduled | Deleted | EntriesAdded | EntriesRemoved | EntryChanged,
    Field(discriminator="change"),
]
