"""CPA-005 (Payments Canada Standard 005) 1464-character files: read and write.

Reading streams: `Reader(stream, filename=...)` takes a binary file object, reads its A header
at once (`reader.header`), then yields each transaction of the C and D records as a
`Transaction` while holding only the current chunk of the file. The Z trailer is checked at the
end, so the iteration ends normally only for a file whose totals balance (`reader.trailer` is
then set). A caller that acts on transactions must hold its changes until the iteration ends.

What is checked (every refusal is one `FormatError` naming line, positions, field and rule):
- Records are 1464 printable characters (a record is UTF-8 when it decodes as such, else
  Windows-1252, as Windows accounting packages write); record counts run 1, 2, 3, ...; every
  detail and the trailer repeat the header's originator ID and file creation number.
- Each transaction: 3-digit transaction type (Standard 007: 200 payroll, 450 misc. payment, ...),
  amount in cents > 0, date 0YYDDD, institution 0IIITTTTT, account number (alphanumeric,
  left-justified: real files hold hyphens and masked digits), payee name. A blank segment ends
  its record: all that follows must be blank.
- E, F, I and J records (reversals, returns) come from the bank, not from a batch to send, and
  are refused; so is RBC's 80-column transmission (routing line `$$AA01CPA1464[PROD[80$$`).
- The Z trailer's totals and counts of D and C transactions must balance, E and F be zero (a
  blank trailer field counts as zero). Reserved and filler fields are not checked.

What `read` makes of a file:
- `batch_id` is "<originator ID>-<file creation number>" (e.g. "XYZAB55255-0039"), `originator`
  the originator ID, `currency` the header's (a blank currency field, as many writers leave it,
  means `default_currency`, CAD unless told otherwise).
- `processing_date` is the funds-available (C) / due (D) date of the file's first transaction.
  A batch has one processing date, so a transaction dated otherwise is rejected (`Reader` takes
  such a file); a file without transactions takes its creation date and is a credit batch.
- Entries are the transactions in file order: institution 0IIITTTTT gives `institution` III and
  `transit` TTTTT, the originator cross reference number gives `reference`, the transaction
  type `transaction_code`.

Line ends may be LF, CRLF or CR; the last record may lack one.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from typing import NamedTuple, NoReturn

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats._cpa005_layout import (
    _CURRENCIES,
    _DATES,
    _DIRECTIONS,
    _FROM_THE_BANK,
    _RBC_ROUTING,
    _SEGMENT,
    _SEGMENTS,
    RECORD_LENGTH,
    _cached_julian,
    _julian,
)
from passerelle.formats._cpa005_write import write
from passerelle.formats._records import (
    ACCOUNT,
    NOT_SPACE,
    NOT_ZERO,
    Readable,
    Record,
    column_sum,
    columns,
    decode,
    per_record,
    printable_ascii,
    record_runs,
    stream_lines,
)
from passerelle.formats.errors import FormatError
from passerelle.money import Money

__all__ = ["RECORD_LENGTH", "Header", "Reader", "Trailer", "Transaction", "read", "write"]


@dataclass(frozen=True, slots=True)
class Header:
    """The A header record."""

    originator: str
    file_creation_number: str
    creation_date: dt.date
    data_centre: str
    currency: str
    """The header's, or the reader's default currency when the header leaves it blank."""
    control: str
    """Positions 11-24 (originator ID and file creation number), which every record repeats."""

    @property
    def batch_id(self) -> str:
        """'<originator ID>-<file creation number>'."""
        return f"{self.originator}-{self.file_creation_number}"


@dataclass(frozen=True, slots=True)
class Trailer:
    """The Z trailer, once its totals were found to balance."""

    debit_total: Money
    debit_count: int
    credit_total: Money
    credit_count: int


class Transaction(NamedTuple):
    """One transaction (a 240-character segment of a C or D record), read and checked; fields
    are taken from the record when asked for. `batch_entry()` makes its `BatchEntry`. (A named
    tuple: the readers make many of them.)"""

    record: str
    """The whole record the transaction is a segment of."""
    offset: int
    """Where the segment starts in `record`, 0-based."""
    line: int
    header: Header
    direction: Direction
    date: dt.date
    """Funds available (C) or due (D)."""

    @property
    def amount_minor(self) -> int:
        """The amount in cents."""
        return int(self.record[self.offset + 3 : self.offset + 13])

    def _field(self, position: int, length: int) -> str:
        """The field printed at `position` for the first segment, in this one."""
        start = self.offset + position - 25
        return self.record[start : start + length]

    @property
    def segment(self) -> int:
        """1 to 6: where the transaction is in its record."""
        return (self.offset - 24) // _SEGMENT + 1

    @property
    def transaction_type(self) -> str:
        return self._field(25, 3)

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, self.header.currency)

    @property
    def institution(self) -> str:
        return self._field(45, 3)

    @property
    def transit(self) -> str:
        return self._field(48, 5)

    @property
    def account(self) -> str:
        return self._field(53, 12).rstrip()

    @property
    def item_trace_number(self) -> str | None:
        return self._field(65, 22).strip() or None

    @property
    def payee(self) -> str:
        return self._field(105, 30).strip()

    @property
    def reference(self) -> str | None:
        """The originator cross reference number."""
        return self._field(175, 19).strip() or None

    def batch_entry(self) -> BatchEntry:
        # Every field was checked when read, by the rules BatchEntry states.
        return BatchEntry.model_construct(
            direction=self.direction,
            amount=self.amount,
            payee=self.payee,
            account=self.account,
            institution=self.institution,
            transit=self.transit,
            routing=None,
            reference=self.reference,
            transaction_code=self.transaction_type,
            profile=None,
        )


def _header(record: Record, default_currency: str) -> Header:
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
    number = record.digits(21, 24, "file creation number")
    creation = _julian(record, 25, "creation date")
    currency = record.raw(56, 58)
    if not currency.strip():
        currency = default_currency
    elif currency not in _CURRENCIES:
        record.fail(f"{currency!r} is not CAD or USD", 56, 58, "currency")
    return Header(originator, number, creation, record.raw(31, 35), currency, record.raw(11, 24))


def _check_control(record: Record, header: Header) -> None:
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


def _trailer(record: Record, header: Header, totals: dict[Direction, list[int]]) -> Trailer:
    _check_control(record, header)
    for direction, letters, value_at, count_at in (
        (Direction.DEBIT, "D and J", (25, 38), (39, 46)),
        (Direction.CREDIT, "C and I", (47, 60), (61, 68)),
    ):
        value, count = totals[direction]
        total = Money.from_minor(value, header.currency)
        _check_total(
            record,
            *value_at,
            f"total value of {letters}",
            value,
            f"the {letters} transactions total {total}",
        )
        _check_total(
            record,
            *count_at,
            f"number of {letters} transactions",
            count,
            f"the file has {count} {letters} transactions",
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
    (d_value, d_count), (c_value, c_count) = totals[Direction.DEBIT], totals[Direction.CREDIT]
    return Trailer(
        Money.from_minor(d_value, header.currency),
        d_count,
        Money.from_minor(c_value, header.currency),
        c_count,
    )


def _record(raw: bytes, number: int, filename: str) -> Record:
    """The record on line `number`, after the checks that do not depend on its fields."""
    text = decode(raw)
    record = Record(text, number, filename)
    kind = text[:1]
    if not text:
        record.fail("an empty line")
    if kind not in "ACDEFIJZ":
        record.fail(
            f"{kind!r} is not a CPA-005 record type (A, C, D, E, F, I, J, Z)",
            1,
            1,
            "record type",
        )
    if not text.isprintable():
        column = next(i for i, c in enumerate(text, start=1) if not c.isprintable())
        record.fail(
            f"{text[column - 1]!r} is not a printable character",
            column,
            column,
            _field_at(column) if kind in _DIRECTIONS else None,
        )
    if len(text) < RECORD_LENGTH:
        record.fail(
            f"the record ends at position {len(text)}; "
            f"CPA-005 records are {RECORD_LENGTH} characters",
            len(text) + 1,
            RECORD_LENGTH,
        )
    if len(text) > RECORD_LENGTH:
        record.fail(
            f"the record is {len(text)} characters long; "
            f"CPA-005 records are {RECORD_LENGTH} characters",
            RECORD_LENGTH + 1,
            len(text),
        )
    return record


_SEGMENT_FIELDS = (
    (25, 27, "transaction type"),
    (28, 37, "amount"),
    (38, 43, "date"),
    (44, 52, "institution"),
    (53, 64, "account number"),
    (65, 86, "item trace number"),
    (87, 89, "stored transaction type"),
    (90, 104, "originator short name"),
    (105, 134, "payee name"),
    (135, 164, "originator long name"),
    (165, 174, "originating direct clearer's user ID"),
    (175, 193, "originator cross reference number"),
    (194, 202, "institution for returns"),
    (203, 214, "account for returns"),
    (215, 229, "sundry information"),
    (230, 264, "filler"),
)


def _field_at(column: int) -> str | None:
    if column <= 24:
        return None
    offset = (column - 25) % _SEGMENT + 25
    name = next(name for start, end, name in _SEGMENT_FIELDS if start <= offset <= end)
    return f"{name}, segment {(column - 25) // _SEGMENT + 1}"


class Reader:
    """Reads a CPA-005 file from a binary stream: `header` at once, then transactions as
    iterated. Iterate once; the iteration raises `FormatError` at the first problem and ends
    normally only once the Z trailer balances, which sets `trailer`."""

    def __init__(
        self, stream: Readable, *, filename: str = "<stream>", default_currency: str = "CAD"
    ) -> None:
        self.filename = filename
        self._chunks = stream_lines(stream)
        self._first = next(self._chunks, [])
        if not self._first:
            raise FormatError("the file is empty", filename=filename)
        if self._first[0].startswith(_RBC_ROUTING.encode()):
            raise FormatError(
                f"RBC's 80-column transmission ({_RBC_ROUTING} routing line) is not supported; "
                f"send the {RECORD_LENGTH}-character records",
                filename=filename,
                line=1,
            )
        self.header = _header(_record(self._first[0], 1, filename), default_currency)
        self.trailer: Trailer | None = None
        self._started = False

    def __iter__(self) -> Iterator[Transaction]:
        if self._started:
            raise RuntimeError("a Reader reads its stream once")
        self._started = True
        return chain.from_iterable(self._read())

    def _read(self) -> Iterator[Iterable[Transaction]]:
        """The transactions in groups: the records of a run checked at once, or one."""
        filename, header = self.filename, self.header
        totals = {Direction.CREDIT: [0, 0], Direction.DEBIT: [0, 0]}
        number = 1
        lines = self._first[1:]
        closed = False
        while True:
            joined = b"\n".join(lines)
            # every line 1464 long: record i is joined[i * 1465 : i * 1465 + 1464]
            fixed = joined[RECORD_LENGTH::_STRIDE] == b"\n" * (len(lines) - 1) and (
                len(joined) == _STRIDE * len(lines) - 1
            )
            runs = {}
            if printable_ascii(joined, also=b"\n") and not closed:
                runs = record_runs(lines, _RUN, joined[::_STRIDE] if fixed else None)
            i, size = 0, len(lines)
            while i < size:
                end = runs.get(i, 0)
                if end:
                    run = lines[i:end]
                    run_joined = joined[i * _STRIDE : end * _STRIDE - 1] if fixed else None
                    found = _full_records(run, number + 1, header, run_joined)
                    if found is not None:
                        transactions, value = found
                        total = totals[_DIRECTIONS[run[0][:1].decode()]]
                        total[0] += value
                        total[1] += len(run) * _SEGMENTS
                        number += len(run)
                        i = end
                        yield transactions
                        continue
                raw = lines[i]
                i += 1
                number += 1
                record = _record(raw, number, filename)
                text = record.text
                kind = text[0]
                if closed:
                    record.fail("a record after the Z trailer", 1, 1, "record type")
                if kind == "A":
                    record.fail("a second A header record", 1, 1, "record type")
                count = text[1:10]
                if not count.isdigit() or int(count) != number:
                    record.fail(
                        f"{count!r} is out of sequence: expected {number:09d}",
                        2,
                        10,
                        "record count",
                    )
                if kind in _FROM_THE_BANK:
                    record.fail(
                        f"{kind} records ({_FROM_THE_BANK[kind]}) come from the bank; "
                        "a batch to send carries C and D records",
                        1,
                        1,
                        "record type",
                    )
                if kind == "Z":
                    self.trailer = _trailer(record, header, totals)
                    closed = True
                    continue
                _check_control(record, header)
                direction = _DIRECTIONS[kind]
                total = totals[direction]
                for index in range(_SEGMENTS):
                    transaction = _segment(record, index, direction, header)
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
                    total[0] += transaction.amount_minor
                    total[1] += 1
                    yield (transaction,)
            more = next(self._chunks, None)
            if more is None:
                break
            lines = more
        if not closed:
            raise FormatError(
                "the file ends without a Z trailer record", filename=filename, line=number
            )


_RUN = re.compile(rb"C{4,}|D{4,}")
"""Runs of detail records of one kind worth checking at once."""
_STRIDE = RECORD_LENGTH + 1
_COUNT = itemgetter(slice(1, 10))


def _full_records(
    run: Sequence[bytes], line: int, header: Header, joined: bytes | None = None
) -> tuple[Iterator[Transaction], int] | None:
    """The transactions of `run` (C or D records of printable ASCII from `line` on; `joined`,
    if given, is `run` joined by LF) when every record holds six transactions that pass every
    check, with their total value; None otherwise, and the records are read one by one, which
    finds and names the problem.

    The records, joined by LF, are checked a column of characters at a time: the characters at
    one position of every record are one slice of the joined records."""
    count = len(run)
    if joined is None:
        joined = b"\n".join(run)
    control = header.control.encode("ascii")
    expected = b"".join(b"%09d" % n for n in range(line, line + count))
    if not (
        len(joined) == _STRIDE * count - 1
        and joined.count(b"\n") == count - 1
        and joined[RECORD_LENGTH::_STRIDE] == b"\n" * (count - 1)  # every record 1464 long
        and b"".join(map(_COUNT, run)) == expected
        and all(joined[10 + i :: _STRIDE] == control[i : i + 1] * count for i in range(14))
    ):
        return None
    value = 0
    dates: list[Iterator[dt.date]] = []
    for start in range(24, RECORD_LENGTH, _SEGMENT):
        date = itemgetter(slice(start + 13, start + 19))
        if not (
            all(joined[c::_STRIDE].isdigit() for c in range(start, start + 28))
            and joined[start + 19 :: _STRIDE] == b"0" * count  # institution 0IIITTTTT
            and b" " not in joined[start + 28 :: _STRIDE]  # account, left-justified
            and b"\0"
            not in per_record(joined, count, RECORD_LENGTH, columns(start + 80, 30, NOT_SPACE))
            and b"\0"
            not in per_record(joined, count, RECORD_LENGTH, columns(start + 3, 10, NOT_ZERO))
        ):
            return None
        found = set(map(date, run))
        for julian in found:
            if _DATES.get(julian.decode()) is None and _cached_julian(julian.decode()) is None:
                return None
        if len(found) == 1:  # a batch's transactions share their date, as a rule
            dates.append(repeat(_DATES[found.pop().decode()]))
        else:
            dates.append(map(_DATES.__getitem__, map(bytes.decode, map(date, run))))
        value += column_sum(joined, count, RECORD_LENGTH, start + 3, 10)
    texts = list(map(bytes.decode, run))
    lines = range(line, line + count)
    direction = _DIRECTIONS[run[0][:1].decode()]
    segments = [
        map(
            tuple.__new__,
            repeat(Transaction),
            zip(
                texts,
                repeat(start),
                lines,
                repeat(header),
                repeat(direction),
                dates[k],
                strict=False,
            ),
        )
        for k, start in enumerate(range(24, RECORD_LENGTH, _SEGMENT))
    ]
    # Made as the caller takes them, so that one transaction's memory serves the next.
    return chain.from_iterable(zip(*segments, strict=True)), value


def _segment(
    record: Record, index: int, direction: Direction, header: Header
) -> Transaction | None:
    """The transaction in segment `index` (0-based) of a C or D record; None when blank."""
    start = 24 + index * _SEGMENT
    text = record.text
    if text[start] == " " and not text[start : start + _SEGMENT].strip():
        return None
    numbers = text[start : start + 13] + text[start + 19 : start + 28]
    account = text[start + 28 : start + 40].rstrip()
    date = _DATES.get(text[start + 13 : start + 19]) or _cached_julian(
        text[start + 13 : start + 19]
    )
    if (
        not (numbers.isascii() and numbers.isdigit())
        or text[start + 19] != "0"
        or date is None
        or not account
        or ACCOUNT.match(account) is None
        or not text[start + 80 : start + 110].strip()
    ):
        _refuse_segment(record, index, direction)
    cents = int(text[start + 3 : start + 13])
    if cents == 0:
        shift = index * _SEGMENT
        record.fail(
            f"{text[start + 3 : start + 13]!r} must be greater than zero",
            28 + shift,
            37 + shift,
            "amount",
        )
    return _new_transaction((text, start, record.line, header, direction, date))


_new_transaction = partial(tuple.__new__, Transaction)
"""Transaction._make without its Python-level length check."""


def _refuse_segment(record: Record, index: int, direction: Direction) -> NoReturn:
    """The first field of the segment that is wrong, named."""
    shift = index * _SEGMENT

    def at(position: int) -> int:
        """Where the field printed at `position` for the first segment lies in this one."""
        return position + shift

    record.digits(at(25), at(27), "transaction type")
    record.digits(at(28), at(37), "amount")
    date_field = "date funds available" if direction is Direction.CREDIT else "due date"
    _julian(record, at(38), date_field)
    institution = record.digits(at(44), at(52), "institution")
    if institution[0] != "0":
        record.fail(
            f"{institution!r} is not 0IIITTTTT (institution and transit)",
            at(44),
            at(52),
            "institution",
        )
    record.account(at(53), at(64), "account number")
    if record.stripped(at(105), at(134)) is None:
        record.fail("blank: a payee name is required", at(105), at(134), "payee name")
    raise AssertionError(f"line {record.line}: a segment that passes its checks was refused")


def read(data: bytes, *, filename: str = "<bytes>", default_currency: str = "CAD") -> BatchFile:
    """The batch a CPA-005 file carries; `FormatError` names the line and positions of the first
    problem."""
    reader = Reader(io.BytesIO(data), filename=filename, default_currency=default_currency)
    entries: list[BatchEntry] = []
    first: Transaction | None = None
    for transaction in reader:
        if first is None:
            first = transaction
        elif transaction.date != first.date:
            start = transaction.offset + 14
            raise FormatError(
                f"{transaction.date} differs from {first.date}, the date of the file's first "
                f"transaction (line {first.line}); a batch has one processing date",
                filename=filename,
                line=transaction.line,
                column=start,
                end_column=start + 5,
                field="date funds available"
                if transaction.direction is Direction.CREDIT
                else "due date",
            )
        entries.append(transaction.batch_entry())
    header = reader.header
    return BatchFile(
        batch_id=header.batch_id,
        originator=header.originator,
        kind=kind_of(entries) or BatchKind.CREDIT,
        processing_date=first.date if first is not None else header.creation_date,
        currency=header.currency,
        entries=tuple(entries),
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
