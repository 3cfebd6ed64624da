"""The checks of NACHA records, each refusal a `FormatError` naming line, positions and field."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from typing import NoReturn

from passerelle.batches import BatchKind, Direction
from passerelle.formats._nacha_model import (
    _CODES,
    _HASH_MODULUS,
    _NAMES,
    _OUT_OF_SCOPE,
    _RETURNS,
    _SERVICE_CLASSES,
    SEC_CODES,
    BatchHeader,
    Entry,
    FileControl,
    FileHeader,
    Purpose,
    SecRule,
)
from passerelle.formats._records import (
    Record,
    is_number,
    routing_check_digit,
)
from passerelle.money import Money

_ENTRY_FIELDS = (
    (2, 3, "transaction code", "digits"),
    (4, 11, "receiving DFI identification", "digits"),
    (12, 12, "check digit", "digits"),
    (30, 39, "amount", "digits"),
    (79, 79, "addenda record indicator", "01"),
    (80, 94, "trace number", "digits"),
)
_NOT_PRINTABLE = re.compile(rb"[^ -~]")
_FIELDS_AT = {
    "1": ((4, 13, "immediate destination"), (14, 23, "immediate origin"), (64, 86, "origin name")),
    "5": (
        (5, 20, "company name"),
        (21, 40, "company discretionary data"),
        (41, 50, "company identification"),
        (54, 63, "company entry description"),
        (64, 69, "company descriptive date"),
    ),
    "6": (
        (13, 29, "DFI account number"),
        (40, 54, "identification number"),
        (55, 76, "name"),
        (77, 78, "discretionary data"),
    ),
    "7": ((4, 83, "payment related information"),),
    "8": ((55, 73, "message authentication code"), (74, 79, "reserved")),
}


def _fail(
    filename: str,
    line: int,
    reason: str,
    start: int | None = None,
    end: int | None = None,
    field: str | None = None,
) -> NoReturn:
    Record("", line, filename).fail(reason, start, end, field)


def _field_at(kind: str, column: int) -> str | None:
    for start, end, name in _FIELDS_AT.get(kind, ()):
        if start <= column <= end:
            return name
    return None


_CHECK_DIGITS: dict[bytes, int] = {}
"""Check digits of the routing numbers seen, as a file names few banks many times."""


def _check_digit(rdfi: bytes) -> int:
    """The check digit of an 8-digit RDFI as its byte value (a bytes record indexes to ints)."""
    if len(_CHECK_DIGITS) > 100_000:
        _CHECK_DIGITS.clear()
    digit = _CHECK_DIGITS[rdfi] = ord(routing_check_digit(rdfi.decode()))
    return digit


def _outside(record: Record) -> NoReturn:
    record.fail(
        f"{_NAMES[record.text[0]]} record outside a batch (no batch header (5) before it)",
        1,
        1,
        "record type",
    )


def _unclosed(record: Record, what: str, batch: BatchHeader) -> NoReturn:
    record.fail(
        f"{what} before the batch control (8) of the batch opened on line {batch.line}",
        1,
        1,
        "record type",
    )


def _expect(record: Record, start: int, end: int, field: str, value: str) -> None:
    if record.raw(start, end) != value:
        record.fail(f"{record.raw(start, end)!r} must be {value}", start, end, field)


def _date(record: Record, start: int, field: str) -> dt.date:
    value = record.raw(start, start + 5)
    date = None
    if is_number(value):
        with contextlib.suppress(ValueError):  # no such day: reported below
            date = dt.date(2000 + int(value[:2]), int(value[2:4]), int(value[4:]))
    if date is None:
        record.fail(f"{value!r} is not a date in the form YYMMDD", start, start + 5, field)
    return date


def _file_header(record: Record) -> FileHeader:
    if record.raw(1, 1) != "1":
        record.fail(
            f"the file must start with a file header (1) record, found {record.raw(1, 1)!r}",
            1,
            1,
            "record type",
        )
    origin = record.raw(14, 23).strip()
    if not is_number(origin):
        record.fail(
            f"{record.raw(14, 23)!r} is neither a routing number nor a 10-digit identification",
            14,
            23,
            "immediate origin",
        )
    created = _date(record, 24, "file creation date")
    time = record.raw(30, 33)
    if time.strip() and not is_number(time):
        record.fail(f"{time!r} is not a time in the form HHMM", 30, 33, "file creation time")
    modifier = record.raw(34, 34)
    if not re.fullmatch(r"[A-Z0-9]", modifier):
        record.fail(f"{modifier!r} is not A-Z or 0-9", 34, 34, "file ID modifier")
    _expect(record, 35, 37, "record size", "094")
    _expect(record, 38, 39, "blocking factor", "10")
    _expect(record, 40, 40, "format code", "1")
    return FileHeader(
        immediate_destination=record.raw(4, 13).strip(),
        immediate_origin=origin,
        creation_date=created,
        creation_time=time.strip() or None,
        file_id_modifier=modifier,
        destination_name=record.stripped(41, 63),
        origin_name=record.stripped(64, 86),
        reference_code=record.stripped(87, 94),
    )


def _batch_header(record: Record) -> BatchHeader:
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
    sec = record.raw(51, 53)
    if sec in _OUT_OF_SCOPE:
        record.fail(_OUT_OF_SCOPE[sec], 51, 53, "standard entry class")
    if sec not in SEC_CODES:
        record.fail(
            f"{sec!r} is not a supported SEC code ({', '.join(SEC_CODES)})",
            51,
            53,
            "standard entry class",
        )
    effective = _date(record, 70, "effective entry date")
    odfi = record.digits(80, 87, "originating DFI identification")
    number = record.digits(88, 94, "batch number")
    return BatchHeader(
        line=record.line,
        service_class=service_class,
        company_name=record.stripped(5, 20),
        company_id=company,
        sec_code=sec,
        entry_description=record.stripped(54, 63),
        effective_date=effective,
        odfi=odfi,
        number=number,
    )


def _allowed(batch: BatchHeader) -> dict[bytes, tuple[bool, Purpose]]:
    """The transaction codes the batch may hold: credit or debit, and purpose."""
    rule = SEC_CODES[batch.sec_code]
    allowed: dict[bytes, tuple[bool, Purpose]] = {}
    for code, (direction, purpose) in _CODES.items():
        if _why_not(code, direction, purpose, batch, rule) is None:
            allowed[code.encode()] = (direction is Direction.CREDIT, purpose)
    return allowed


def _why_not(
    code: str, direction: Direction, purpose: Purpose, batch: BatchHeader, rule: SecRule
) -> str | None:
    sec = batch.sec_code
    if not (rule.credits if direction is Direction.CREDIT else rule.debits):
        return f"{code!r} is a {direction}, and {sec} batches carry only {'debits' if rule.debits else 'credits'}"
    if batch.kind is not BatchKind.MIXED and batch.kind.value != direction.value:
        return (
            f"{code!r} is a {direction} in a batch of {batch.kind}s only "
            f"(service class {batch.service_class}, line {batch.line})"
        )
    if purpose == "prenote" and not rule.prenotes:
        return f"{code!r} is a prenote, and {sec} batches carry none"
    if purpose == "zero-dollar" and not rule.zero_dollar:
        return f"{code!r} is a zero-dollar entry, which only CCD and CTX batches carry"
    return None


def _refuse_code(record: Record, batch: BatchHeader) -> NoReturn:
    code = record.raw(2, 3)
    if code in _RETURNS:
        reason = f"{code!r} is a return or notification of change code; those are not supported"
    elif code not in _CODES:
        reason = f"{code!r} is not a NACHA transaction code"
    else:
        direction, purpose = _CODES[code]
        reason = _why_not(code, direction, purpose, batch, SEC_CODES[batch.sec_code]) or ""
    record.fail(reason, 2, 3, "transaction code")


def _diagnose_entry(record: Record) -> NoReturn:
    """The first field of an entry that does not have the form the standard gives it."""
    for start, end, field, form in _ENTRY_FIELDS:
        value = record.raw(start, end)
        if form == "01":
            if value not in ("0", "1"):
                record.fail(f"{value!r} is not 0 or 1", start, end, field)
        elif not is_number(value):
            record.fail(f"{value!r} is not a number", start, end, field)
    raise AssertionError(f"line {record.line}: an entry that fits its form was not read")


def _bad_check_digit(filename: str, line: int, rdfi: bytes, check: bytes) -> NoReturn:
    expected = routing_check_digit(rdfi.decode())
    _fail(
        filename,
        line,
        f"{check.decode()!r} is not the check digit of {rdfi.decode()} (expected {expected})",
        12,
        12,
        "check digit",
    )


def _bad_account(filename: str, line: int, account: bytes) -> NoReturn:
    problem = "an account number is required" if not account.strip() else "not left-justified"
    _fail(filename, line, f"{account.decode()!r}: {problem}", 13, 29, "DFI account number")


def _bad_amount(filename: str, line: int, code: str, purpose: Purpose, amount: bytes) -> NoReturn:
    if purpose == "payment":
        reason = f"{amount.decode()!r} must be greater than zero"
    else:
        reason = f"{amount.decode()!r}: a {purpose} ({code}) carries no amount"
    _fail(filename, line, reason, 30, 39, "amount")


def _addenda(record: Record, entry: Entry, seen: list[bytes], rule: SecRule) -> None:
    kind = record.raw(2, 3)
    if kind in ("98", "99"):
        what = "notifications of change" if kind == "98" else "returns"
        record.fail(f"{kind!r}: addenda of {what} are not supported", 2, 3, "addenda type code")
    if kind != "05":
        record.fail(
            f"{kind!r} is not 05, the addenda type of {entry.batch.sec_code} entries",
            2,
            3,
            "addenda type code",
        )
    if len(seen) >= rule.addenda:
        record.fail(
            f"{entry.batch.sec_code} entries carry at most {rule.addenda} addenda "
            f"(entry on line {entry.line})",
            1,
            1,
            "record type",
        )
    expected = f"{len(seen) + 1:04d}"
    _expect(record, 84, 87, "addenda sequence number", expected)
    _expect(record, 88, 94, "entry detail sequence number", entry.trace_number[8:])


def _close_addenda(filename: str, entry: Entry, addenda: list[bytes], rule: SecRule) -> None:
    record = Record(entry.record.decode("ascii"), entry.line, filename)
    if not addenda:
        record.fail(
            "'1', but no addenda record follows the entry", 79, 79, "addenda record indicator"
        )
    if rule.addenda > 1:  # CTX: the entry announces its addenda
        announced = record.raw(55, 58)
        if not is_number(announced) or int(announced) != len(addenda):
            record.fail(
                f"{announced!r}, but {len(addenda)} addenda records follow the entry",
                55,
                58,
                "number of addenda records",
            )


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


def _batch_control(
    record: Record, batch: BatchHeader, records: int, entry_hash: int, debits: int, credits: int
) -> None:
    opened = f"line {batch.line}"
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
        records,
        f"the batch has {records} entry and addenda records",
    )
    _total(
        record,
        11,
        20,
        "entry hash",
        entry_hash % _HASH_MODULUS,
        "the sum of the batch's RDFI routing numbers",
    )
    _total(
        record,
        21,
        32,
        "total debit entry dollar amount",
        debits,
        f"the batch's debits total {_usd(debits)}",
    )
    _total(
        record,
        33,
        44,
        "total credit entry dollar amount",
        credits,
        f"the batch's credits total {_usd(credits)}",
    )
    if record.stripped(45, 54) != batch.company_id:
        record.fail(
            f"{record.raw(45, 54)!r} differs from the batch header's {batch.company_id!r} ({opened})",
            45,
            54,
            "company identification",
        )
    if record.raw(88, 94) != batch.number:
        record.fail(
            f"{record.raw(88, 94)!r} differs from the batch header's {batch.number!r} ({opened})",
            88,
            94,
            "batch number",
        )


def _file_control(
    record: Record, batches: int, records: int, entry_hash: int, debits: int, credits: int
) -> FileControl:
    _total(record, 2, 7, "batch count", batches, f"the file has {batches} batches")
    blocks = math.ceil(record.line / 10)
    _total(
        record,
        8,
        13,
        "block count",
        blocks,
        f"the file control is record {record.line}, in block {blocks} of 10 records",
    )
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
        entry_hash % _HASH_MODULUS,
        "the sum of the batches' entry hashes",
    )
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
    return FileControl(
        batch_count=batches,
        block_count=blocks,
        entry_addenda_count=records,
        entry_hash=entry_hash % _HASH_MODULUS,
        debits=_usd(debits),
        credits=_usd(credits),
    )


def _bad_payment_type(
    filename: str, line: int, batch: BatchHeader, credit: bool, found: bytes
) -> NoReturn:
    types = SEC_CODES[batch.sec_code].payment_types
    assert types is not None
    what = "credit" if credit else "debit"
    blank = ", or blanks" if " " in types[credit] else ""
    _fail(
        filename,
        line,
        f"{found.decode()!r}: the payment type code of a {batch.sec_code} {what} is 'R ' "
        f"(recurring) or 'S ' (single entry){blank}",
        77,
        78,
        "payment type code",
    )


def _trace_not_ascending(filename: str, line: int, trace: bytes, before: bytes) -> NoReturn:
    _fail(
        filename,
        line,
        f"{trace.decode()!r} does not follow the trace number before it in the batch, "
        f"{before.decode()!r}: trace numbers ascend within a batch",
        80,
        94,
        "trace number",
    )


def _batch_not_ascending(record: Record, before: BatchHeader) -> NoReturn:
    record.fail(
        f"{record.raw(88, 94)!r} does not follow batch {before.number} (line {before.line}): "
        "batch numbers ascend within a file",
        88,
        94,
        "batch number",
    )
