"""Bambora (Worldline North America) batch payment CSV: read and write.

Rows, no header, no quoting, no commas inside fields:
- EFT: `E,C|D,institution,transit,account,amount_cents,reference,recipient_name[,customer_code
  [,dynamic_descriptor[,address...]]]` (CAD)
- ACH: `A,C|D,routing,account,PC|PS|CC|CS,amount_cents,reference,recipient_name[,customer_code
  [,dynamic_descriptor,...]]` (USD)

A row may leave the account fields (and the name) empty and name a stored payment profile by its
customer code instead; the entry then has `profile` and no account. Reference "0" means none. The
dynamic descriptor and address fields are not kept. A file holds one payment method (so one
currency). The file says neither when to process it nor which batch it is: `read` takes
`processing_date` and `batch_id` (and optionally `originator`, the merchant) from the caller.

Reading streams: `Reader(stream, filename=...)` takes a binary file object and yields each row's
`BatchEntry` as it reads it, holding only the current chunk of the file (`reader.currency` is
set once the first row is read). The iteration raises `FormatError` at the first bad row, so a
caller that acts on entries holds its changes until the iteration ends normally; `read` builds
its `BatchFile` that way.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from pydantic import ValidationError

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats._records import (
    Readable,
    decode,
    is_number,
    routing_check_digit,
    stream_lines,
)
from passerelle.formats.errors import FormatError
from passerelle.money import Money

__all__ = ["Reader", "read", "write"]

_CURRENCY = {"E": "CAD", "A": "USD"}
_METHOD = {"E": "EFT", "A": "ACH"}
_DIRECTIONS = {"C": Direction.CREDIT, "D": Direction.DEBIT}
_ACCOUNT_CODES = ("PC", "PS", "CC", "CS")
_MIN_FIELDS = 8


@dataclass(frozen=True, slots=True)
class _Row:
    fields: list[str]
    line: int
    filename: str

    def fail(self, column: int | None, field: str | None, reason: str) -> NoReturn:
        raise FormatError(
            reason, filename=self.filename, line=self.line, column=column, field=field, csv=True
        )

    def get(self, column: int) -> str:
        return self.fields[column - 1].strip() if column <= len(self.fields) else ""

    def digits(self, column: int, field: str, low: int, high: int) -> str:
        value = self.get(column)
        if not is_number(value):
            self.fail(column, field, f"{value!r} is not a number")
        if not low <= len(value) <= high:
            size = f"{low}" if low == high else f"{low} to {high}"
            self.fail(column, field, f"{value!r} has {len(value)} digits, not {size}")
        return value


def read(
    data: bytes,
    *,
    filename: str = "<bytes>",
    processing_date: dt.date | None = None,
    batch_id: str | None = None,
    originator: str = "bambora",
) -> BatchFile:
    """The batch a Bambora CSV file carries, to process on `processing_date` as `batch_id`
    (both required: the file does not say). `FormatError` names the line and column."""
    missing = [
        name
        for name, value in (("processing_date", processing_date), ("batch_id", batch_id))
        if value is None
    ]
    if missing or processing_date is None or batch_id is None:
        raise FormatError(
            "a Bambora file does not say when to process it or which batch it is: "
            f"pass {' and '.join(missing)}",
            filename=filename,
        )
    reader = Reader(io.BytesIO(data), filename=filename)
    entries = tuple(reader)
    assert reader.currency is not None  # a Reader yields at least one row
    return BatchFile(
        batch_id=batch_id,
        originator=originator,
        kind=kind_of(entries) or BatchKind.CREDIT,
        processing_date=processing_date,
        currency=reader.currency,
        entries=entries,
    )


class Reader:
    """Reads a Bambora CSV file from a binary stream, a row's `BatchEntry` at a time.

    Iterate once; the iteration raises `FormatError` at the first bad row (an empty file is
    one). `currency` (CAD for EFT rows, USD for ACH rows) is set once the first row is read.
    """

    def __init__(self, stream: Readable, *, filename: str = "<stream>") -> None:
        self.filename = filename
        self.currency: str | None = None
        self._chunks = stream_lines(stream)
        self._started = False

    def __iter__(self) -> Iterator[BatchEntry]:
        if self._started:
            raise RuntimeError("a Reader reads its stream once")
        self._started = True
        return self._read()

    def _read(self) -> Iterator[BatchEntry]:
        method = ""
        number = 0
        for lines in self._chunks:
            for raw in lines:
                number += 1
                line = decode(raw)
                row = _Row(line.split(","), number, self.filename)
                if not line.strip():
                    row.fail(None, None, "an empty line")
                if len(row.fields) < _MIN_FIELDS:
                    row.fail(
                        None,
                        None,
                        f"{len(row.fields)} fields; a row has at least {_MIN_FIELDS} "
                        "(payment method to recipient name)",
                    )
                this = row.get(1)
                if this not in _METHOD:
                    row.fail(1, "payment method", f"{this!r} is not E (EFT) or A (ACH)")
                if method and this != method:
                    row.fail(
                        1,
                        "payment method",
                        f"an {_METHOD[this]} row in a file of {_METHOD[method]} rows (line 1); "
                        "a file holds one payment method",
                    )
                method = this
                self.currency = _CURRENCY[method]
                yield _entry(row, method)
            del lines  # before the next chunk is read
        if not number:
            raise FormatError("the file is empty", filename=self.filename)


def _entry(row: _Row, method: str) -> BatchEntry:
    direction = _DIRECTIONS.get(row.get(2))
    if direction is None:
        row.fail(2, "transaction type", f"{row.get(2)!r} is not C (credit) or D (debit)")
    amount = int(row.digits(6, "amount", 1, 10))
    if amount == 0:
        row.fail(6, "amount", f"{row.get(6)!r} must be greater than zero")
    reference = row.get(7)
    if reference not in ("", "0"):
        row.digits(7, "reference number", 1, 19)
    payee = row.get(8) or None
    profile = row.get(9) or None
    institution = transit = routing = account = code = None
    if any((row.get(3), row.get(4), row.get(5))) or profile is None:
        if method == "E":
            institution = row.digits(3, "institution number", 3, 3)
            transit = row.digits(4, "transit number", 5, 5)
            account = row.digits(5, "account number", 5, 12)
        else:
            routing = row.digits(3, "routing number", 9, 9)
            expected = routing[:8] + routing_check_digit(routing[:8])
            if routing != expected:
                row.fail(
                    3, "routing number", f"{routing!r} fails its check digit (expected {expected})"
                )
            account = row.digits(4, "account number", 5, 15)
            code = row.get(5)
            if code not in _ACCOUNT_CODES:
                row.fail(5, "account code", f"{code!r} is not one of {', '.join(_ACCOUNT_CODES)}")
    if payee is None and profile is None:
        row.fail(8, "recipient name", "empty: a row without a customer code needs a name")
    try:
        return BatchEntry(
            direction=direction,
            amount=Money.from_minor(amount, _CURRENCY[method]),
            payee=payee,
            account=account,
            institution=institution,
            transit=transit,
            routing=routing,
            reference=None if reference in ("", "0") else reference,
            transaction_code=code,
            profile=profile,
        )
    except ValidationError as exc:  # every field was checked above; this is a safety net
        row.fail(None, None, exc.errors()[0]["msg"])


def _field(value: str, field: str) -> str:
    if "," in value or not value.isprintable():
        raise FormatError(
            f"{value!r} has a comma or a control character, which Bambora files cannot carry",
            filename=None,
            field=field,
        )
    return value


def write(batch: BatchFile, *, line_end: str = "\r\n") -> bytes:
    """`batch` as a Bambora CSV file (EFT rows for CAD, ACH rows for USD) that `read` turns back
    into `batch` given its processing date, batch id and originator.

    ACH entries without a `transaction_code` get PC (personal checking). Raises `FormatError`
    (naming the entry) for what the format cannot carry.
    """
    method = {currency: m for m, currency in _CURRENCY.items()}.get(batch.currency)
    if method is None:
        raise FormatError(
            f"{batch.currency!r}: Bambora files are in CAD (EFT) or USD (ACH)",
            filename=None,
            field="currency",
        )
    rows = [_row(entry, f"entries[{i}]", method) for i, entry in enumerate(batch.entries)]
    return "".join(row + line_end for row in rows).encode("utf-8")


def _row(entry: BatchEntry, where: str, method: str) -> str:
    if entry.account is None:
        accounts = ["", "", ""]
    elif method == "E":
        if entry.institution is None or entry.transit is None:
            raise FormatError(
                "EFT rows name accounts by institution, transit and account number",
                filename=None,
                field=where,
            )
        if entry.transaction_code is not None:
            raise FormatError(
                f"{entry.transaction_code!r}: EFT rows carry no transaction code",
                filename=None,
                field=f"{where}.transaction_code",
            )
        accounts = [entry.institution, entry.transit, entry.account]
    else:
        if entry.routing is None:
            raise FormatError(
                "ACH rows name accounts by routing and account number", filename=None, field=where
            )
        code = entry.transaction_code or "PC"
        if code not in _ACCOUNT_CODES:
            raise FormatError(
                f"{code!r} is not one of {', '.join(_ACCOUNT_CODES)}",
                filename=None,
                field=f"{where}.transaction_code",
            )
        accounts = [entry.routing, entry.account, code]
    reference = entry.reference or "0"
    if entry.reference == "0" or not re.fullmatch(r"[0-9]{1,19}", reference):
        raise FormatError(
            f"{entry.reference!r} is not a reference Bambora keeps (1 to 19 digits, not '0')",
            filename=None,
            field=f"{where}.reference",
        )
    fields = [
        method,
        "C" if entry.direction is Direction.CREDIT else "D",
        *accounts,
        str(entry.amount.minor),
        reference,
        _field(entry.payee or "", f"{where}.payee"),
    ]
    if entry.profile is not None:
        fields.append(_field(entry.profile, f"{where}.profile"))
    return ",".join(fields)
