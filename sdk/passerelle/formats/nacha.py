"""NACHA (ACH) 94-character files: read and write.

What `read` makes of a file:
- `batch_id` is "<immediate origin>-<creation date YYMMDD>-<file ID modifier>" (e.g.
  "0231380104-190816-A"), the three fields that tell one file from another of the same sender.
  `originator` is the company identification of the batch headers (one file, one company),
  `currency` USD.
- `processing_date` is the effective entry date of the batch headers; a batch has one date, so
  batches with different effective dates are rejected.
- Entries are the 6 records in file order across all batches: transaction codes 22 / 32
  (checking / savings credit) and 27 / 37 (debit). `routing` is the RDFI (8 digits) and its check
  digit, which must be right; the individual identification number gives `reference`, the
  transaction code `transaction_code`. Prenotes (23, 28, 33, 38) are zero-dollar account checks,
  not payments: they are checked and counted in the controls, then left out. Other transaction
  codes, and IAT batches, are rejected. Addenda (7) are checked for place and counted, not kept.
- Batch (8) and file (9) controls must match: entry/addenda counts, entry hashes (sum of the
  8-digit RDFI numbers, low 10 digits), debit and credit totals, batch count. The block count is
  not checked (writers disagree on it when they skip the padding).
- The kind follows the entries; a file whose batches hold no payments takes it from their
  service class codes (220 credit, 225 debit, 200 mixed).

Writers' habits that are accepted: right-trimmed lines (padded back to 94), no final line end,
lines of 94 "9"s after the file control, a whole file without line ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats._records import (
    Record,
    decode,
    fit,
    is_number,
    routing_check_digit,
    split_lines,
)
from passerelle.formats.errors import FormatError
from passerelle.money import Money

__all__ = ["RECORD_LENGTH", "read", "write"]

log = logging.getLogger(__name__)

RECORD_LENGTH = 94
_PADDING = "9" * RECORD_LENGTH
_CREDITS = {"22", "32"}
_DEBITS = {"27", "37"}
_PRENOTES = {
    "23": Direction.CREDIT,
    "33": Direction.CREDIT,
    "28": Direction.DEBIT,
    "38": Direction.DEBIT,
}
_SERVICE_CLASSES = {"200": BatchKind.MIXED, "220": BatchKind.CREDIT, "225": BatchKind.DEBIT}
_HASH_MODULUS = 10**10
_NAMES = {
    "1": "file header (1)",
    "5": "batch header (5)",
    "6": "entry detail (6)",
    "7": "addenda (7)",
    "8": "batch control (8)",
    "9": "file control (9)",
}


def _date(record: Record, start: int, field: str) -> dt.date:
    value = record.raw(start, start + 5)
    date = None
    if is_number(value):
        with contextlib.suppress(ValueError):  # no such day: reported below
            date = dt.date(2000 + int(value[:2]), int(value[2:4]), int(value[4:]))
    if date is None:
        record.fail(f"{value!r} is not a date in the form YYMMDD", start, start + 5, field)
    return date


@dataclass(slots=True)
class _Batch:
    header: Record
    service_class: str
    entries: list[BatchEntry] = field(default_factory=list)
    records: int = 0  # entry and addenda records
    entry_hash: int = 0
    debits: int = 0
    credits: int = 0
    addenda_allowed: bool = False


@dataclass(slots=True)
class _File:
    header: Record
    batches: list[_Batch] = field(default_factory=list)
    open: _Batch | None = None
    closed: bool = False
    originator: str | None = None
    effective: dt.date | None = None
    effective_line: int = 0


def _records(text: str, filename: str) -> list[Record]:
    lines = split_lines(text)
    if len(lines) == 1 and len(lines[0]) > RECORD_LENGTH and len(lines[0]) % RECORD_LENGTH == 0:
        one = lines[0]
        lines = [one[i : i + RECORD_LENGTH] for i in range(0, len(one), RECORD_LENGTH)]
    records = []
    for number, line in enumerate(lines, start=1):
        record = Record(line.ljust(RECORD_LENGTH), number, filename)
        if len(line) > RECORD_LENGTH:
            record.fail(
                f"the record is {len(line)} characters long; NACHA records are {RECORD_LENGTH}",
                RECORD_LENGTH + 1,
                len(line),
            )
        records.append(record)
    return records


def read(data: bytes, *, filename: str = "<bytes>") -> BatchFile:
    """The batch a NACHA file carries; `FormatError` names the line and positions of the first
    problem."""
    records = _records(decode(data), filename)
    if not records:
        raise FormatError("the file is empty", filename=filename)
    state = _File(_file_header(records[0]))
    for record in records[1:]:
        if state.closed:
            if record.text != _PADDING:
                record.fail(
                    "after the file control (9) only lines of 94 '9's may follow", 1, RECORD_LENGTH
                )
            continue
        kind = record.raw(1, 1)
        if kind not in _NAMES:
            record.fail(
                f"{kind!r} is not a NACHA record type (1, 5, 6, 7, 8, 9)", 1, 1, "record type"
            )
        if kind == "1":
            record.fail("a second file header (1)", 1, 1, "record type")
        batch = state.open
        if kind == "5":
            if batch is not None:
                _unclosed(record, "batch header (5)", batch)
            state.open = _batch_header(record, state)
        elif kind == "9":
            if batch is not None:
                _unclosed(record, "file control (9)", batch)
            _file_control(record, state)
            state.closed = True
        elif batch is None:
            record.fail(
                f"{_NAMES[kind]} record outside a batch (no batch header (5) before it)",
                1,
                1,
                "record type",
            )
        elif kind == "6":
            _entry(record, batch)
        elif kind == "7":
            if not batch.addenda_allowed:
                record.fail(
                    "an addenda record must follow an entry whose addenda indicator is 1",
                    1,
                    1,
                    "record type",
                )
            batch.records += 1
        else:
            _batch_control(record, batch, state)
            state.batches.append(batch)
            state.open = None
    if not state.closed:
        last = records[-1]
        raise FormatError(
            "the file ends without a file control (9) record", filename=filename, line=last.line
        )
    if not state.batches or state.originator is None or state.effective is None:
        raise FormatError("the file has no batch", filename=filename, line=records[0].line)
    entries = tuple(entry for batch in state.batches for entry in batch.entries)
    classes = {_SERVICE_CLASSES[batch.service_class] for batch in state.batches}
    fallback = classes.pop() if len(classes) == 1 else BatchKind.MIXED
    origin = records[0].raw(14, 23).strip()
    return BatchFile(
        batch_id=f"{origin}-{records[0].raw(24, 29)}-{records[0].raw(34, 34)}",
        originator=state.originator,
        kind=kind_of(entries) or fallback,
        processing_date=state.effective,
        currency="USD",
        entries=entries,
    )


def _unclosed(record: Record, what: str, batch: _Batch) -> None:
    record.fail(
        f"{what} before the batch control (8) of the batch opened on line {batch.header.line}",
        1,
        1,
        "record type",
    )


def _expect(record: Record, start: int, end: int, field: str, value: str) -> None:
    if record.raw(start, end) != value:
        record.fail(f"{record.raw(start, end)!r} must be {value}", start, end, field)


def _file_header(record: Record) -> Record:
    if record.raw(1, 1) != "1":
        record.fail(
            f"the file must start with a file header (1) record, found {record.raw(1, 1)!r}",
            1,
            1,
            "record type",
        )
    if record.stripped(14, 23) is None:
        record.fail("blank: the immediate origin is required", 14, 23, "immediate origin")
    _date(record, 24, "file creation date")
    time = record.raw(30, 33)
    if time.strip() and not is_number(time):
        record.fail(f"{time!r} is not a time in the form HHMM", 30, 33, "file creation time")
    modifier = record.raw(34, 34)
    if not re.fullmatch(r"[A-Z0-9]", modifier):
        record.fail(f"{modifier!r} is not A-Z or 0-9", 34, 34, "file ID modifier")
    _expect(record, 35, 37, "record size", "094")
    _expect(record, 38, 39, "blocking factor", "10")
    _expect(record, 40, 40, "format code", "1")
    return record


def _batch_header(record: Record, state: _File) -> _Batch:
    service_class = record.raw(2, 4)
    if service_class not in _SERVICE_CLASSES:
        record.fail(
            f"{service_class!r} is not 200 (mixed), 220 (credits) or 225 (debits)",
            2,
            4,
            "service class code",
        )
    company = record.stripped(41, 50)
    if company is None:
        record.fail(
            "blank: the company identification is required", 41, 50, "company identification"
        )
    if state.originator is not None and company != state.originator:
        record.fail(
            f"{company!r} differs from the first batch's {state.originator!r}; "
            "one file, one originator",
            41,
            50,
            "company identification",
        )
    state.originator = company
    if record.raw(51, 53) == "IAT":
        record.fail("IAT (international) batches are not supported", 51, 53, "standard entry class")
    effective = _date(record, 70, "effective entry date")
    if state.effective is not None and effective != state.effective:
        record.fail(
            f"{effective} differs from {state.effective}, the effective entry date of the batch "
            f"on line {state.effective_line}; a batch file has one processing date",
            70,
            75,
            "effective entry date",
        )
    if state.effective is None:
        state.effective, state.effective_line = effective, record.line
    record.digits(88, 94, "batch number")
    return _Batch(record, service_class)


def _entry(record: Record, batch: _Batch) -> None:
    code = record.raw(2, 3)
    prenote = _PRENOTES.get(code)
    if code in _CREDITS or prenote is Direction.CREDIT:
        direction = Direction.CREDIT
    elif code in _DEBITS or prenote is Direction.DEBIT:
        direction = Direction.DEBIT
    else:
        record.fail(
            f"{code!r} is not supported: credits are 22 and 32, debits 27 and 37 "
            "(prenotes 23, 28, 33, 38 are skipped)",
            2,
            3,
            "transaction code",
        )
    allowed = _SERVICE_CLASSES[batch.service_class]
    if allowed is not BatchKind.MIXED and allowed.value != direction.value:
        record.fail(
            f"{code!r} is a {direction} in a batch of {allowed}s only "
            f"(service class {batch.service_class}, line {batch.header.line})",
            2,
            3,
            "transaction code",
        )
    rdfi = record.digits(4, 11, "receiving DFI identification")
    check = record.digits(12, 12, "check digit")
    if check != routing_check_digit(rdfi):
        record.fail(
            f"{check!r} is not the check digit of {rdfi} (expected {routing_check_digit(rdfi)})",
            12,
            12,
            "check digit",
        )
    account = record.account(13, 29, "DFI account number")
    amount = record.number(30, 39, "amount")
    if prenote is not None and amount != 0:
        record.fail(
            f"{record.raw(30, 39)!r}: a prenote ({code}) carries no amount", 30, 39, "amount"
        )
    if prenote is None and amount == 0:
        record.fail(f"{record.raw(30, 39)!r} must be greater than zero", 30, 39, "amount")
    payee = record.stripped(55, 76)
    if payee is None:
        record.fail("blank: a name is required", 55, 76, "individual name")
    indicator = record.raw(79, 79)
    if indicator not in ("0", "1"):
        record.fail(f"{indicator!r} is not 0 or 1", 79, 79, "addenda record indicator")
    batch.records += 1
    batch.entry_hash += int(rdfi)
    if direction is Direction.CREDIT:
        batch.credits += amount
    else:
        batch.debits += amount
    batch.addenda_allowed = indicator == "1"
    if prenote is not None:
        log.info(
            "%s line %d: prenote (transaction code %s) skipped", record.filename, record.line, code
        )
        return
    try:
        batch.entries.append(
            BatchEntry(
                direction=direction,
                amount=Money.from_minor(amount, "USD"),
                payee=payee,
                account=account,
                routing=rdfi + check,
                reference=record.stripped(40, 54),
                transaction_code=code,
            )
        )
    except ValidationError as exc:  # every field was checked above; this is a safety net
        record.fail(exc.errors()[0]["msg"])


def _total(record: Record, start: int, end: int, field: str, expected: int, explain: str) -> None:
    found = record.number(start, end, field)
    if found != expected:
        record.fail(
            f"expected {expected:0{end - start + 1}d} ({explain}), found {record.raw(start, end)!r}",
            start,
            end,
            field,
        )


def _usd(cents: int) -> Money:
    return Money.from_minor(cents, "USD")


def _batch_control(record: Record, batch: _Batch, state: _File) -> None:
    header = batch.header
    opened = f"line {header.line}"
    if record.raw(2, 4) != batch.service_class:
        record.fail(
            f"{record.raw(2, 4)!r} differs from the batch header's {batch.service_class!r} ({opened})",
            2,
            4,
            "service class code",
        )
    _total(
        record,
        5,
        10,
        "entry/addenda count",
        batch.records,
        f"the batch has {batch.records} entry and addenda records",
    )
    _total(
        record,
        11,
        20,
        "entry hash",
        batch.entry_hash % _HASH_MODULUS,
        "the sum of the batch's RDFI routing numbers",
    )
    _total(
        record,
        21,
        32,
        "total debit entry dollar amount",
        batch.debits,
        f"the batch's debits total {_usd(batch.debits)}",
    )
    _total(
        record,
        33,
        44,
        "total credit entry dollar amount",
        batch.credits,
        f"the batch's credits total {_usd(batch.credits)}",
    )
    if record.stripped(45, 54) != header.stripped(41, 50):
        record.fail(
            f"{record.raw(45, 54)!r} differs from the batch header's {header.raw(41, 50)!r} ({opened})",
            45,
            54,
            "company identification",
        )
    if record.raw(88, 94) != header.raw(88, 94):
        record.fail(
            f"{record.raw(88, 94)!r} differs from the batch header's {header.raw(88, 94)!r} ({opened})",
            88,
            94,
            "batch number",
        )


def _file_control(record: Record, state: _File) -> None:
    batches = state.batches
    count = len(batches)
    _total(record, 2, 7, "batch count", count, f"the file has {count} batches")
    records = sum(b.records for b in batches)
    _total(
        record,
        14,
        21,
        "entry/addenda count",
        records,
        f"the file has {records} entry and addenda records",
    )
    _total(
        record,
        22,
        31,
        "entry hash",
        sum(b.entry_hash for b in batches) % _HASH_MODULUS,
        "the sum of the batches' entry hashes",
    )
    debits, credits = sum(b.debits for b in batches), sum(b.credits for b in batches)
    _total(
        record,
        32,
        43,
        "total debit entry dollar amount in file",
        debits,
        f"the file's debits total {_usd(debits)}",
    )
    _total(
        record,
        44,
        55,
        "total credit entry dollar amount in file",
        credits,
        f"the file's credits total {_usd(credits)}",
    )


# --- writing ----------------------------------------------------------------------------------

_SERVICE_CLASS_OF = {kind: code for code, kind in _SERVICE_CLASSES.items()}


def write(
    batch: BatchFile,
    *,
    immediate_destination: str = "000000000",
    destination_name: str = "",
    origin_name: str = "",
    company_name: str | None = None,
    entry_description: str = "PAYMENT",
    sec_code: str = "PPD",
    odfi: str | None = None,
    creation_time: dt.time = dt.time(0, 0),
    pad_blocks: bool = True,
    line_end: str = "\n",
    encoding: str = "ascii",
) -> bytes:
    """`batch` as a one-batch NACHA file that `read` turns back into `batch`.

    `batch.batch_id` must be "<immediate origin>-<YYMMDD>-<file ID modifier>"; the originator is
    the company identification. `odfi` (8 digits) defaults to the immediate origin's first 8
    digits when that is a 9-digit routing number. Entries without a `transaction_code` get 22
    (credit) or 27 (debit). Raises `FormatError` (naming the entry) for what NACHA cannot carry.
    """
    match = re.fullmatch(r"(.{1,10})-([0-9]{6})-([A-Z0-9])", batch.batch_id)
    if match is None:
        raise FormatError(
            f"{batch.batch_id!r} is not '<immediate origin>-<YYMMDD>-<file ID modifier>' "
            "(e.g. '231380104-190816-A')",
            filename=None,
            field="batch_id",
        )
    origin, created, modifier = match.groups()
    if line_end not in ("\n", "\r\n"):
        raise ValueError(f"line_end must be LF or CRLF, not {line_end!r}")
    if batch.currency != "USD":
        raise FormatError(
            f"{batch.currency!r}: NACHA files are in USD", filename=None, field="currency"
        )
    what = "the NACHA field"
    if odfi is None:
        odfi = origin[:8] if re.fullmatch(r"[0-9]{9}", origin) else "0" * 8
    if not re.fullmatch(r"[0-9]{8}", odfi):
        raise ValueError(f"odfi must be 8 digits, not {odfi!r}")
    company = fit(batch.originator, 10, "originator", what=what)
    effective = batch.processing_date
    if not 2000 <= effective.year <= 2099:
        raise FormatError(
            f"{effective} cannot be written as YYMMDD (years 2000-2099)",
            filename=None,
            field="processing_date",
        )
    service_class = _SERVICE_CLASS_OF[batch.kind]
    records = [
        "101"
        + fit(immediate_destination, 10, "immediate_destination", what=what).rjust(10)
        + origin.rjust(10)
        + created
        + creation_time.strftime("%H%M")
        + modifier
        + "094101"
        + fit(destination_name, 23, "destination_name", what=what).ljust(23)
        + fit(origin_name, 23, "origin_name", what=what).ljust(23)
        + " " * 8,
        "5"
        + service_class
        + fit(company_name or company, 16, "company_name", what=what).ljust(16)
        + " " * 20
        + company.ljust(10)
        + fit(sec_code, 3, "sec_code", what=what).ljust(3)
        + fit(entry_description, 10, "entry_description", what=what).ljust(10)
        + " " * 6
        + effective.strftime("%y%m%d")
        + "   1"
        + odfi
        + "0000001",
    ]
    entry_hash = debits = credits = 0
    for i, entry in enumerate(batch.entries):
        records.append(_entry_text(entry, i, odfi))
        entry_hash += int(entry.routing[:8]) if entry.routing else 0
        if entry.direction is Direction.CREDIT:
            credits += entry.amount.minor
        else:
            debits += entry.amount.minor
    count = len(batch.entries)
    entry_hash %= _HASH_MODULUS
    records.append(
        f"8{service_class}{count:06d}{entry_hash:010d}{debits:012d}{credits:012d}"
        f"{company.ljust(10)}{' ' * 25}{odfi}0000001"
    )
    blocks = math.ceil((len(records) + 1) / 10)
    records.append(
        f"9{1:06d}{blocks:06d}{count:08d}{entry_hash:010d}{debits:012d}{credits:012d}".ljust(
            RECORD_LENGTH
        )
    )
    if pad_blocks:
        records.extend([_PADDING] * (blocks * 10 - len(records)))
    assert all(len(r) == RECORD_LENGTH for r in records)
    text = "".join(r + line_end for r in records)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise FormatError(
            f"{exc.object[exc.start : exc.end]!r} cannot be written in {encoding}",
            filename=None,
            field="entries",
        ) from None


def _entry_text(entry: BatchEntry, i: int, odfi: str) -> str:
    where = f"entries[{i}]"
    what = "the NACHA field"
    if entry.routing is None or entry.account is None:
        raise FormatError(
            "NACHA names accounts by routing and account number", filename=None, field=where
        )
    codes = _CREDITS if entry.direction is Direction.CREDIT else _DEBITS
    code = entry.transaction_code or min(codes)
    if code not in codes:
        raise FormatError(
            f"{code!r} is not a {entry.direction} transaction code ({', '.join(sorted(codes))})",
            filename=None,
            field=f"{where}.transaction_code",
        )
    if entry.amount.minor > 9_999_999_999:
        raise FormatError(
            f"{entry.amount} is more than the 10-digit amount field holds",
            filename=None,
            field=f"{where}.amount",
        )
    payee = fit(entry.payee or "", 22, f"{where}.payee", what=what)
    if not payee:
        raise FormatError("NACHA needs an individual name", filename=None, field=f"{where}.payee")
    reference = fit(entry.reference or "", 15, f"{where}.reference", what=what)
    return (
        f"6{code}{entry.routing}{entry.account.ljust(17)}{entry.amount.minor:010d}"
        f"{reference.ljust(15)}{payee.ljust(22)}  0{odfi}{i + 1:07d}"
    )
