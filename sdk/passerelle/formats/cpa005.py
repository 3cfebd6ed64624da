"""CPA-005 (Payments Canada Standard 005) 1464-character files: read and write.

What `read` makes of a file:
- `batch_id` is "<originator ID>-<file creation number>" (e.g. "XYZAB55255-0039"), `originator`
  the originator ID, `currency` the header's (a blank currency field, as many writers leave it,
  means `default_currency`, CAD unless told otherwise).
- `processing_date` is the funds-available (C) / due (D) date of the file's first transaction.
  A batch has one processing date, so a transaction dated otherwise is rejected; a file without
  transactions takes its creation date.
- Entries are the C (credit) and D (debit) transactions in file order: institution 0IIITTTTT
  gives `institution` III and `transit` TTTTT, the originator cross reference number gives
  `reference`, the transaction type (200 payroll, 450 misc. payment, ...) `transaction_code`.
  E, F, I and J records (reversals, returns) come from the bank, not from a batch to send, and
  are rejected. A file without transactions is a credit batch.
- Record counts must run 1, 2, 3, ... and the Z trailer's totals and counts must balance (a
  blank trailer field counts as zero). Reserved and filler fields are not checked.
- Not supported: RBC's 80-column transmission (routing line `$$AA01CPA1464[PROD[80$$`) is
  rejected with a message; send the 1464-character records.

Line ends may be LF, CRLF or CR; the last record may lack one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydantic import ValidationError

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats._records import Record, decode, fit, is_number, split_lines
from passerelle.formats.errors import FormatError
from passerelle.money import Money

__all__ = ["RECORD_LENGTH", "read", "write"]

RECORD_LENGTH = 1464
_SEGMENT = 240
_SEGMENTS = 6
_DIRECTIONS = {"C": Direction.CREDIT, "D": Direction.DEBIT}
_FROM_THE_BANK = {
    "E": "reversals of credits",
    "F": "reversals of debits",
    "I": "returned credits",
    "J": "returned debits",
}
_CURRENCIES = ("CAD", "USD")
_RBC_ROUTING = "$$AA01CPA1464"


def _julian(record: Record, start: int, field: str) -> dt.date:
    value = record.raw(start, start + 5)
    parsed = _parse_julian(value)
    if parsed is None:
        record.fail(f"{value!r} is not a date in the form 0YYDDD", start, start + 5, field)
    return parsed


def _parse_julian(value: str) -> dt.date | None:
    if not is_number(value) or len(value) != 6 or value[0] != "0":
        return None
    year, day = 2000 + int(value[1:3]), int(value[3:])
    if not 1 <= day <= (366 if _leap(year) else 365):
        return None
    return dt.date(year, 1, 1) + dt.timedelta(days=day - 1)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _to_julian(date: dt.date, field: str) -> str:
    if not 2000 <= date.year <= 2099:
        raise FormatError(
            f"{date} cannot be written as 0YYDDD (years 2000-2099)", filename=None, field=field
        )
    return f"0{date.year % 100:02d}{date.timetuple().tm_yday:03d}"


@dataclass(frozen=True, slots=True)
class _Transaction:
    entry: BatchEntry
    date: dt.date
    date_start: int


def _segment(
    record: Record, index: int, direction: Direction, currency: str
) -> _Transaction | None:
    """The transaction in segment `index` (0-based) of a C or D record; None when blank."""

    def at(position: int) -> int:
        """Where the field printed at `position` for the first segment lies in this one."""
        return position + index * _SEGMENT

    if not record.raw(at(25), at(264)).strip():
        return None
    code = record.digits(at(25), at(27), "transaction type")
    amount = record.number(at(28), at(37), "amount")
    if amount == 0:
        record.fail(
            f"{record.raw(at(28), at(37))!r} must be greater than zero", at(28), at(37), "amount"
        )
    date_field = "date funds available" if direction is Direction.CREDIT else "due date"
    date = _julian(record, at(38), date_field)
    institution = record.digits(at(44), at(52), "institution")
    if institution[0] != "0":
        record.fail(
            f"{institution!r} is not 0IIITTTTT (institution and transit)",
            at(44),
            at(52),
            "institution",
        )
    account = record.account(at(53), at(64), "account number")
    payee = record.stripped(at(105), at(134))
    if payee is None:
        record.fail("blank: a payee name is required", at(105), at(134), "payee name")
    try:
        entry = BatchEntry(
            direction=direction,
            amount=Money.from_minor(amount, currency),
            payee=payee,
            account=account,
            institution=institution[1:4],
            transit=institution[4:9],
            reference=record.stripped(at(175), at(193)),
            transaction_code=code,
        )
    except ValidationError as exc:  # every field was checked above; this is a safety net
        record.fail(exc.errors()[0]["msg"], at(25), at(264), f"segment {index + 1}")
    return _Transaction(entry, date, at(38))


@dataclass(frozen=True, slots=True)
class _Header:
    originator: str
    control: str  # positions 11-24, repeated by every record
    creation: dt.date
    currency: str


def _header(record: Record, default_currency: str) -> _Header:
    if record.raw(1, 1) != "A":
        record.fail(
            f"the file must start with an A header record, found {record.raw(1, 1)!r}",
            1,
            1,
            "record type",
        )
    originator = record.stripped(11, 20)
    if originator is None:
        record.fail("blank: the originator ID is required", 11, 20, "originator ID")
    record.digits(21, 24, "file creation number")
    creation = _julian(record, 25, "creation date")
    currency = record.raw(56, 58)
    if not currency.strip():
        currency = default_currency
    elif currency not in _CURRENCIES:
        record.fail(f"{currency!r} is not CAD or USD", 56, 58, "currency")
    return _Header(originator, record.raw(11, 24), creation, currency)


def _check_control(record: Record, header: _Header) -> None:
    if record.raw(11, 24) != header.control:
        record.fail(
            f"{record.raw(11, 24)!r} differs from the header's {header.control!r}",
            11,
            24,
            "originator ID and file creation number",
        )


def _check_total(
    record: Record,
    start: int,
    end: int,
    field: str,
    expected: int,
    explain: str,
) -> None:
    found = record.number(start, end, field, blank_is_zero=True)
    if found != expected:
        record.fail(
            f"expected {expected:0{end - start + 1}d} ({explain}), "
            f"found {record.raw(start, end)!r}",
            start,
            end,
            field,
        )


def _trailer(record: Record, header: _Header, transactions: list[_Transaction]) -> None:
    _check_control(record, header)
    for direction, letters, value_at, count_at in (
        (Direction.DEBIT, "D and J", (25, 38), (39, 46)),
        (Direction.CREDIT, "C and I", (47, 60), (61, 68)),
    ):
        items = [t.entry.amount for t in transactions if t.entry.direction is direction]
        total = Money.sum(items, header.currency)
        _check_total(
            record,
            *value_at,
            f"total value of {letters}",
            total.minor,
            f"the {letters} transactions total {total}",
        )
        _check_total(
            record,
            *count_at,
            f"number of {letters} transactions",
            len(items),
            f"the file has {len(items)} {letters} transactions",
        )
    for letter, value_at, count_at in (("E", (69, 82), (83, 90)), ("F", (91, 104), (105, 112))):
        _check_total(
            record, *value_at, f"total value of {letter}", 0, f"the file has no {letter} records"
        )
        _check_total(
            record,
            *count_at,
            f"number of {letter} transactions",
            0,
            f"the file has no {letter} records",
        )


def read(data: bytes, *, filename: str = "<bytes>", default_currency: str = "CAD") -> BatchFile:
    """The batch a CPA-005 file carries; `FormatError` names the line and positions of the first
    problem."""
    lines = split_lines(decode(data))
    if not lines:
        raise FormatError("the file is empty", filename=filename)
    if lines[0].startswith(_RBC_ROUTING):
        raise FormatError(
            f"RBC's 80-column transmission ({_RBC_ROUTING} routing line) is not supported; "
            f"send the {RECORD_LENGTH}-character records",
            filename=filename,
            line=1,
        )
    header: _Header | None = None
    transactions: list[_Transaction] = []
    first_date_line = 0
    closed = False
    for number, text in enumerate(lines, start=1):
        record = Record(text, number, filename)
        kind = text[:1]
        if closed:
            record.fail("a record after the Z trailer", 1, 1, "record type")
        if not text:
            record.fail("an empty line")
        if kind not in "ACDEFIJZ":
            record.fail(
                f"{kind!r} is not a CPA-005 record type (A, C, D, E, F, I, J, Z)",
                1,
                1,
                "record type",
            )
        if len(text) != RECORD_LENGTH:
            if len(text) < RECORD_LENGTH:
                record.fail(
                    f"the record ends at position {len(text)}; "
                    f"CPA-005 records are {RECORD_LENGTH} characters",
                    len(text) + 1,
                    RECORD_LENGTH,
                )
            record.fail(
                f"the record is {len(text)} characters long; "
                f"CPA-005 records are {RECORD_LENGTH} characters",
                RECORD_LENGTH + 1,
                len(text),
            )
        if header is None:
            header = _header(record, default_currency)
        elif kind == "A":
            record.fail("a second A header record", 1, 1, "record type")
        count = record.digits(2, 10, "record count")
        if int(count) != number:
            record.fail(
                f"{count!r} is out of sequence: expected {number:09d}", 2, 10, "record count"
            )
        if kind == "A":
            continue
        if kind in _FROM_THE_BANK:
            record.fail(
                f"{kind} records ({_FROM_THE_BANK[kind]}) come from the bank; "
                "a batch to send carries C and D records",
                1,
                1,
                "record type",
            )
        if kind == "Z":
            _trailer(record, header, transactions)
            closed = True
            continue
        _check_control(record, header)
        for index in range(_SEGMENTS):
            transaction = _segment(record, index, _DIRECTIONS[kind], header.currency)
            if transaction is None:
                if index == 0:
                    record.fail(
                        "blank: a detail record carries at least one transaction",
                        25,
                        24 + _SEGMENT,
                        "segment 1",
                    )
                _check_rest_blank(record, index)
                break
            if transactions and transaction.date != transactions[0].date:
                record.fail(
                    f"{transaction.date} differs from {transactions[0].date}, the date of the "
                    f"file's first transaction (line {first_date_line}); "
                    "a batch has one processing date",
                    transaction.date_start,
                    transaction.date_start + 5,
                    "date funds available" if kind == "C" else "due date",
                )
            if not transactions:
                first_date_line = number
            transactions.append(transaction)
    if header is None:  # pragma: no cover - lines is not empty, so the loop set it or failed
        raise FormatError("the file is empty", filename=filename)
    if not closed:
        raise FormatError(
            "the file ends without a Z trailer record", filename=filename, line=len(lines)
        )
    entries = tuple(t.entry for t in transactions)
    return BatchFile(
        batch_id=f"{header.originator}-{header.control[10:]}",
        originator=header.originator,
        kind=kind_of(entries) or BatchKind.CREDIT,
        processing_date=transactions[0].date if transactions else header.creation,
        currency=header.currency,
        entries=entries,
    )


def _check_rest_blank(record: Record, blank_index: int) -> None:
    rest_start = 25 + (blank_index + 1) * _SEGMENT
    rest = record.raw(rest_start, RECORD_LENGTH)
    offset = len(rest) - len(rest.lstrip())
    if offset == len(rest):
        return
    segment = (rest_start + offset - 25) // _SEGMENT
    start = 25 + segment * _SEGMENT
    record.fail(
        f"segment {blank_index + 1} is blank, which ends the record, so this segment must be blank",
        start,
        start + _SEGMENT - 1,
        f"segment {segment + 1}",
    )


# --- writing ----------------------------------------------------------------------------------


def write(
    batch: BatchFile,
    *,
    creation_date: dt.date | None = None,
    data_centre: str = "00000",
    transaction_type: str = "450",
    short_name: str | None = None,
    long_name: str | None = None,
    returns_account: tuple[str, str, str] | None = None,
    segments_per_record: int = _SEGMENTS,
    line_end: str = "\n",
    encoding: str = "cp1252",
) -> bytes:
    """`batch` as a CPA-005 file that `read` turns back into `batch`.

    `batch.batch_id` must be "<originator>-<file creation number>". `creation_date` defaults to the
    processing date; `transaction_type` is used for entries without a `transaction_code`;
    `short_name` / `long_name` (originator names, default the originator ID) and
    `returns_account` (institution, transit, account) fill the fields a bank wants but `read` does
    not keep. Consecutive entries of one direction share records of `segments_per_record`
    transactions. Raises `FormatError` (naming the entry) for what CPA-005 cannot carry.
    """
    match = re.fullmatch(re.escape(batch.originator) + r"-([0-9]{4})", batch.batch_id)
    if match is None:
        raise FormatError(
            f"{batch.batch_id!r} is not '<originator ID>-<file creation number>' "
            f"(e.g. '{batch.originator}-0001')",
            filename=None,
            field="batch_id",
        )
    if not 1 <= segments_per_record <= _SEGMENTS:
        raise ValueError(f"segments_per_record must be 1 to {_SEGMENTS}, not {segments_per_record}")
    if line_end not in ("\n", "\r\n", "\r"):
        raise ValueError(f"line_end must be LF, CRLF or CR, not {line_end!r}")
    if batch.currency not in _CURRENCIES:
        raise FormatError(f"{batch.currency!r} is not CAD or USD", filename=None, field="currency")
    what = "the CPA-005 field"
    originator = fit(batch.originator, 10, "originator", what=what)
    control = originator.ljust(10) + match.group(1)
    date = _to_julian(batch.processing_date, "processing_date")
    created = _to_julian(creation_date or batch.processing_date, "creation_date")
    if not (len(data_centre) == 5 and is_number(data_centre)):
        raise ValueError(f"data_centre must be 5 digits, not {data_centre!r}")
    short = fit(short_name or originator, 15, "short_name", what=what).ljust(15)
    long = fit(long_name or originator, 30, "long_name", what=what).ljust(30)
    returns = "0" * 9 + " " * 12
    if returns_account is not None:
        institution, transit, account = returns_account
        if not re.fullmatch(r"[0-9]{3}", institution) or not re.fullmatch(r"[0-9]{5}", transit):
            raise ValueError("returns_account needs a 3-digit institution and a 5-digit transit")
        returns = f"0{institution}{transit}" + fit(account, 12, "returns_account", what=what).ljust(
            12
        )

    records = ["A000000001" + control + created + data_centre + " " * 20 + batch.currency]
    records[0] = records[0].ljust(RECORD_LENGTH)
    group: list[str] = []
    group_kind = ""
    totals = {"C": [0, 0], "D": [0, 0]}

    def flush() -> None:
        if group:
            body = "".join(group).ljust(_SEGMENT * _SEGMENTS)
            records.append(f"{group_kind}{len(records) + 1:09d}{control}{body}")
            group.clear()

    for i, entry in enumerate(batch.entries):
        kind = "C" if entry.direction is Direction.CREDIT else "D"
        if kind != group_kind or len(group) == segments_per_record:
            flush()
            group_kind = kind
        group.append(
            _segment_text(entry, i, date, transaction_type, short, long, originator, returns)
        )
        totals[kind][0] += entry.amount.minor
        totals[kind][1] += 1
    flush()
    (d_value, d_count), (c_value, c_count) = totals["D"], totals["C"]
    trailer = (
        f"Z{len(records) + 1:09d}{control}{d_value:014d}{d_count:08d}{c_value:014d}{c_count:08d}"
        + "0" * 44
    )
    records.append(trailer.ljust(RECORD_LENGTH))
    text = "".join(record + line_end for record in records)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise FormatError(
            f"{exc.object[exc.start : exc.end]!r} cannot be written in {encoding}",
            filename=None,
            field="entries",
        ) from None


def _segment_text(
    entry: BatchEntry,
    i: int,
    date: str,
    transaction_type: str,
    short: str,
    long: str,
    originator: str,
    returns: str,
) -> str:
    where = f"entries[{i}]"
    what = "the CPA-005 field"
    if entry.institution is None or entry.transit is None or entry.account is None:
        raise FormatError(
            "CPA-005 names accounts by institution, transit and account number",
            filename=None,
            field=where,
        )
    code = entry.transaction_code or transaction_type
    if not re.fullmatch(r"[0-9]{3}", code):
        raise FormatError(
            f"{code!r} is not a 3-digit transaction type",
            filename=None,
            field=f"{where}.transaction_code",
        )
    if entry.amount.minor > 9_999_999_999:
        raise FormatError(
            f"{entry.amount} is more than the 10-digit amount field holds",
            filename=None,
            field=f"{where}.amount",
        )
    payee = fit(entry.payee or "", 30, f"{where}.payee", what=what)
    if not payee:
        raise FormatError("CPA-005 needs a payee name", filename=None, field=f"{where}.payee")
    account = fit(entry.account, 12, f"{where}.account", what=what)
    reference = fit(entry.reference or "", 19, f"{where}.reference", what=what)
    segment = (
        f"{code}{entry.amount.minor:010d}{date}0{entry.institution}{entry.transit}"
        f"{account.ljust(12)}{'0' * 22}000{short}{payee.ljust(30)}{long}"
        f"{originator.ljust(10)}{reference.ljust(19)}{returns}{' ' * 15}{' ' * 22}  {'0' * 11}"
    )
    assert len(segment) == _SEGMENT
    return segment
