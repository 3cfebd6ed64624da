"""The back end's batch and disbursement models: batch payment files and entries on the wire,
what a batch looks like at the back end, and what was paid out per day. Conventions as in
`passerelle.backend.models`, which re-exports every name here."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

from passerelle.backend._wire import (
    Count,
    Day,
    MinorMoney,
    NonEmpty,
    Reference,
    _check_currency,
    _refused,
    _Request,
    _Response,
)
from passerelle.batches import ACCOUNT_PATTERN, BatchEntry, BatchKind, Direction, kind_of
from passerelle.money import CurrencyCode, Money

__all__ = [
    "BatchCreate",
    "BatchEntriesCreate",
    "BatchEntriesReplace",
    "BatchEntryItem",
    "BatchFileUpload",
    "BatchFormat",
    "BatchReschedule",
    "BatchStatus",
    "BatchTotals",
    "BatchView",
    "DisbursementDay",
    "DisbursementList",
    "DisbursementOrder",
    "DisbursementQuery",
    "PendingRefund",
]


# Batches


class BatchFormat(StrEnum):
    """A batch payment file format."""

    CPA005 = "cpa005"
    NACHA = "nacha"
    BAMBORA = "bambora"


class BatchStatus(StrEnum):
    """Where a batch stands; only a scheduled batch can be changed."""

    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    DELETED = "deleted"


class BatchEntryItem(_Request):
    """One payment of a batch on the wire (`passerelle.batches.BatchEntry` in minor units).

    A Canadian account is named by ``institution`` + ``transit`` + ``account``, a US one by
    ``routing`` + ``account``. An entry may instead name a stored payment ``profile``, which holds
    the account; it may then leave ``payee`` and the account fields out.
    """

    direction: Direction = Field(description="credit pays the account, debit draws from it.")
    amount: MinorMoney = Field(description="Amount, above zero, in the batch's currency.")
    payee: Reference | None = Field(
        default=None, description="The account holder's name; optional with a profile."
    )
    account: Annotated[str, StringConstraints(pattern=ACCOUNT_PATTERN, max_length=17)] | None = (
        Field(
            default=None,
            description="Account number as the file has it, 1 to 17 printable ASCII characters "
            "without surrounding spaces: digits, or letters, hyphens and masked digits "
            "(744-5678-99, ****5678); optional with a profile.",
        )
    )
    institution: Annotated[str, StringConstraints(pattern=r"^\d{3}$")] | None = Field(
        default=None, description="Canadian institution number, 3 digits."
    )
    transit: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = Field(
        default=None, description="Canadian transit (branch) number, 5 digits."
    )
    routing: Annotated[str, StringConstraints(pattern=r"^\d{9}$")] | None = Field(
        default=None, description="US ABA routing number, 9 digits."
    )
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = (
        Field(default=None, description="The originator's reference for this payment.")
    )
    transaction_code: Annotated[str, StringConstraints(max_length=8)] | None = Field(
        default=None, description="The file's transaction type or code (CPA 450, NACHA 22)."
    )
    profile: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = Field(default=None, description="A stored payment profile (Bambora customer code) to pay.")

    @model_validator(mode="after")
    def _entry_rules(self) -> Self:
        # The rules of an entry live in BatchEntry; building one applies them.
        try:
            self.to_entry()
        except ValidationError as exc:
            first = exc.errors()[0]
            cause = first.get("ctx", {}).get("error")
            raise ValueError(str(cause) if cause is not None else first["msg"]) from None
        return self

    def to_entry(self) -> BatchEntry:
        return BatchEntry.model_validate(
            {name: getattr(self, name) for name in type(self).model_fields}
        )

    @classmethod
    def from_entry(cls, entry: BatchEntry) -> BatchEntryItem:
        return cls.model_validate({name: getattr(entry, name) for name in cls.model_fields})


class BatchFileUpload(_Request):
    """``POST /v1/batches`` with a file: the back end reads CPA-005, NACHA or Bambora CSV."""

    file: str = Field(
        min_length=1,
        max_length=56_000_000,
        description="The file's content, as text or base64 (see encoding); at most 40 MiB decoded.",
    )
    encoding: Literal["text", "base64"] = Field(
        default="text", description="How `file` is encoded."
    )
    format: BatchFormat | None = Field(
        default=None, description="The file's format; null lets the back end detect it."
    )
    processing_date: Day | None = Field(
        default=None, description="When to process the batch; null takes the file's date."
    )

    @model_validator(mode="after")
    def _decodable(self) -> Self:
        self.content()
        return self

    def content(self) -> bytes:
        """The file's bytes."""
        if self.encoding == "text":
            return self.file.encode()
        try:
            return base64.b64decode(self.file, validate=True)
        except binascii.Error:
            raise ValueError("file is not valid base64 (encoding is 'base64')") from None


class BatchEntriesCreate(_Request):
    """``POST /v1/batches`` with entries: the batch as data instead of a file."""

    entries: NonEmpty[BatchEntryItem] = Field(description="The payments.")
    processing_date: Day = Field(description="When to process the batch.")
    originator: Reference = Field(description="The originator (company) the batch is from.")
    kind: BatchKind = Field(
        description="credit (all entries credits), debit (all debits) or mixed (both)."
    )
    currency: CurrencyCode = Field(description="The batch's currency; every entry uses it.")
    batch_id: Reference | None = Field(
        default=None, description="The batch's id; null lets the back end assign one."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        title = type(self).__name__
        for i, item in enumerate(self.entries):
            cur = item.amount.currency
            if cur != self.currency:
                message = f"entry {i} is in {cur}, the batch in {self.currency}"
                loc = ("entries", i, "amount", "currency")
                raise _refused(title, loc, message, cur, "currency_mismatch")
        try:
            _check_entries(self.entries, self.currency, self.kind)
        except ValueError as exc:
            raise _refused(title, ("kind",), str(exc), self.kind.value) from None
        return self


def _check_entries(entries: Sequence[BatchEntryItem], cur: str, kind: BatchKind) -> None:
    for i, entry in enumerate(entries):
        _check_currency(entry.amount, cur, f"entries[{i}]")
    derived = kind_of(entry.to_entry() for entry in entries)
    if derived is not None and derived is not kind:
        raise ValueError(f"kind is {kind.value} but the entries make the batch {derived.value}")


def _batch_form(value: Any) -> str | None:
    if isinstance(value, dict):
        return "file" if "file" in value else "entries"
    if isinstance(value, BatchFileUpload):
        return "file"
    if isinstance(value, BatchEntriesCreate):
        return "entries"
    return None


BatchCreate = Annotated[
    Annotated[BatchFileUpload, Tag("file")] | Annotated[BatchEntriesCreate, Tag("entries")],
    Discriminator(
        _batch_form,
        custom_error_type="batch_form",
        custom_error_message="a batch is an object with either 'file' or 'entries'",
    ),
]
"""``POST /v1/batches`` body: a `BatchFileUpload` or a `BatchEntriesCreate`."""


class BatchReschedule(_Request):
    """``PATCH /v1/batches/{id}``: move the batch to another processing date (before cutoff)."""

    processing_date: Day = Field(description="The new processing date.")


class BatchEntriesReplace(_Request):
    """``PUT /v1/batches/{id}/entries``: the batch's entries as they should be (before cutoff)."""

    entries: NonEmpty[BatchEntryItem] = Field(description="Every entry.")


class BatchTotals(_Response):
    """Totals of a batch, per direction."""

    credits: MinorMoney = Field(description="Sum of credit entries.")
    credit_count: Count = Field(description="Number of credit entries.")
    debits: MinorMoney = Field(description="Sum of debit entries.")
    debit_count: Count = Field(description="Number of debit entries.")

    @classmethod
    def of(cls, entries: Sequence[BatchEntryItem], currency_code: str) -> BatchTotals:
        credit = [e.amount for e in entries if e.direction is Direction.CREDIT]
        debit = [e.amount for e in entries if e.direction is Direction.DEBIT]
        return cls(
            credits=Money.sum(credit, currency_code),
            credit_count=len(credit),
            debits=Money.sum(debit, currency_code),
            debit_count=len(debit),
        )


class BatchView(_Response):
    """A batch as the back end knows it."""

    id: str = Field(description="The batch's id.")
    status: BatchStatus = Field(description="scheduled (changeable), processing or deleted.")
    processing_date: Day = Field(description="When the batch is processed.")
    cutoff_at: AwareDatetime = Field(
        description="Until when the batch can be rescheduled, edited or deleted."
    )
    originator: str = Field(description="The originator (company) the batch is from.")
    kind: BatchKind = Field(description="credit, debit or mixed.")
    currency: CurrencyCode = Field(description="The batch's currency.")
    entries: tuple[BatchEntryItem, ...] = Field(description="The payments.")
    totals: BatchTotals = Field(description="Totals per direction, computed from the entries.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_entries(self.entries, self.currency, self.kind)
        expected = BatchTotals.of(self.entries, self.currency)
        if self.totals != expected:
            raise ValueError(f"totals {self.totals!r} do not match the entries ({expected!r})")
        return self


# Disbursements


class DisbursementQuery(_Request):
    """``GET /v1/disbursements`` query: which days, which currency."""

    since: Day | None = Field(default=None, description="First day, inclusive.")
    until: Day | None = Field(default=None, description="Last day, inclusive.")
    currency: CurrencyCode | None = Field(default=None, description="Only this currency.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")
        return self


class DisbursementOrder(_Response):
    """One order's part of a day's disbursement."""

    order: str = Field(description="The store's order reference.")
    captured: MinorMoney = Field(description="Captured for this order that day.")
    refunded: MinorMoney = Field(description="Refunded for this order, taken off that day.")


class DisbursementDay(_Response):
    """What was paid out to the merchant on one day, in one currency.

    A refund comes off the next disbursement: the first day after it with captures to pay out.
    What that day's captures do not cover comes off the following ones, so ``net`` is never
    negative; a refund waits (`DisbursementList.pending`) until there are captures to take it
    from.
    """

    date: Day = Field(description="The payout day.")
    currency: CurrencyCode = Field(description="The payout's currency.")
    captured: MinorMoney = Field(description="Captures paid out.")
    refunded: MinorMoney = Field(description="Refunds taken off.")
    net: MinorMoney = Field(description="captured minus refunded.")
    orders: tuple[DisbursementOrder, ...] = Field(description="The orders contributing.")

    @model_validator(mode="after")
    def _sums(self) -> Self:
        for name in ("captured", "refunded", "net"):
            _check_currency(getattr(self, name), self.currency, name)
        if self.net != self.captured - self.refunded:
            raise ValueError(
                f"net {self.net} is not captured {self.captured} minus refunded {self.refunded}"
            )
        for name in ("captured", "refunded"):
            parts = Money.sum((getattr(o, name) for o in self.orders), self.currency)
            if parts != getattr(self, name):
                raise ValueError(f"the orders' {name} sum to {parts}, not {getattr(self, name)}")
        return self


class PendingRefund(_Response):
    """A refund, or what is left of it, that no disbursement has taken off yet."""

    order: str = Field(description="The store's order reference.")
    refunded_on: Day = Field(description="The day the refund was made.")
    amount: MinorMoney = Field(description="What is still to be taken off.")


class DisbursementList(_Response):
    """``GET /v1/disbursements`` answer."""

    disbursements: tuple[DisbursementDay, ...] = Field(description="One entry per day, by date.")
    pending: tuple[PendingRefund, ...] = Field(
        default=(),
        description="Refunds still waiting for a disbursement to come off, oldest first, as of "
        "now (whatever since and until; in the currency asked for, if any).",
    )
