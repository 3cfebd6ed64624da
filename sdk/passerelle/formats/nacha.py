"""NACHA (ACH) 94-character files: read and write.

Reading streams: `Reader(stream, filename=...)` takes a binary file object, reads its file header
(1) at once (`reader.header`), then yields the entry detail (6) records as `Entry` objects, each
with its addenda (7) and its batch header (5) (`entry.batch`), while holding only the current
chunk of the file. Batch (8) and file (9) controls are checked as they come, so the iteration
ends normally only for a file that balances; the file control is then `reader.control`. A
caller that acts on entries must hold its changes until the iteration ends: the last record can
still refuse the file.

What is checked (every refusal is one `FormatError` naming line, positions, field and rule):
- Records are 94 printable ASCII characters. A right-trimmed line is padded back to 94, but only
  up to the last field its record may leave blank (an entry ends with its trace number, so a
  short entry is an error); a longer line is accepted when the extra characters are spaces.
- SEC codes and what each may carry (`SEC_CODES`): PPD, CCD, WEB (credits and debits, one
  addenda), CTX (credits and debits, as many addenda as the entry announces), CIE (credits),
  TEL, ARC, BOC, POP, RCK (debits, no addenda). TEL is for debits only: the NACHA rules define
  it as a debit to a consumer's account on the consumer's oral authorization over the
  telephone, so a credit in a TEL batch is refused. WEB and TEL entries carry a payment type
  code in positions 77-78: R (recurring) or S (single entry), then a blank; a WEB debit must
  have one, a WEB credit (person to person) and a TEL entry may leave it blank (`Entry.
  payment_type`). Other SEC codes keep those positions as discretionary data. Prenotes (23, 28, 33, 38, 43, 48, 53) carry
  no amount; zero-dollar entries with remittance data (24, 29, 34, 39) only in CCD and CTX, with
  an addenda. Service class 220 holds credits only, 225 debits only. Out of scope and refused
  as such: IAT, ADV and COR batches, return and NOC transaction codes (21, 26, ...) and addenda
  98 and 99.
- Routing check digits; account numbers are alphanumeric (e.g. 744-5678-99), left-justified;
  trace numbers begin with the batch's ODFI and ascend within a batch (not necessarily
  consecutive; each batch may start again); batch numbers ascend within the file; addenda
  sequence numbers count 1, 2, ... and name their entry's trace sequence number.
- The immediate origin is a routing number or a 10-digit identification (digits, leading
  blanks allowed).
- Batch and file controls: entry/addenda counts, entry hashes (sum of the 8-digit RDFI numbers,
  low 10 digits), debit and credit totals, company identification and batch number, the batch
  count, and the block count: the number of 10-record blocks the records up to the file control
  fill, counted as the standard does (ceil(records / 10)), whether or not the file is padded.
  Padding lines of 94 "9"s after the file control may fill the last block, no more.

`read(data)` gives the `BatchFile` of a file whose batches share one company and one effective
date (prenotes and zero-dollar entries are checked and left out); `read_batches(data)` gives one
`BatchFile` per batch for any file.

Writers' habits that are accepted: right-trimmed lines, CR or CRLF line ends, no final line end,
a whole file without line ends, a DOS end-of-file marker.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice, repeat
from operator import itemgetter, lt

from passerelle.batches import BatchEntry, BatchFile, BatchKind, kind_of
from passerelle.formats._nacha_checks import (
    _CHECK_DIGITS,
    _NOT_PRINTABLE,
    _addenda,
    _allowed,
    _bad_account,
    _bad_amount,
    _bad_check_digit,
    _bad_payment_type,
    _batch_control,
    _batch_header,
    _batch_not_ascending,
    _check_digit,
    _close_addenda,
    _diagnose_entry,
    _fail,
    _field_at,
    _file_control,
    _file_header,
    _outside,
    _refuse_code,
    _trace_not_ascending,
    _unclosed,
)
from passerelle.formats._nacha_model import (
    _LAST_REQUIRED,
    _NAMES,
    _PADDING,
    _PPD,
    RECORD_LENGTH,
    SEC_CODES,
    BatchHeader,
    Entry,
    FileControl,
    FileHeader,
    Purpose,
    SecRule,
)
from passerelle.formats._nacha_write import write
from passerelle.formats._records import (
    NOT_SPACE,
    NOT_ZERO,
    Readable,
    Record,
    byte_table,
    column_sum,
    columns,
    per_record,
    printable_ascii,
    record_runs,
    stream_lines,
)
from passerelle.formats.errors import FormatError

__all__ = [
    "RECORD_LENGTH",
    "SEC_CODES",
    "BatchHeader",
    "Entry",
    "FileControl",
    "FileHeader",
    "Reader",
    "SecRule",
    "read",
    "read_batches",
    "write",
]

log = logging.getLogger(__name__)


class Reader:
    """Reads a NACHA file from a binary stream: `header` at once, then entries as iterated.

    `on_batch`, if given, is called with each batch header as it is read (a batch may hold no
    entry). Iterate once; the iteration raises `FormatError` at the first problem and ends
    normally only once the file control balances, which sets `control`.
    """

    def __init__(
        self,
        stream: Readable,
        *,
        filename: str = "<stream>",
        on_batch: Callable[[BatchHeader], None] | None = None,
    ) -> None:
        self.filename = filename
        self._chunks = stream_lines(stream, RECORD_LENGTH)
        self._first = next(self._chunks, [])
        if not self._first:
            raise FormatError("the file is empty", filename=filename)
        self.header = _file_header(self._record(self._first[0], 1))
        self.control: FileControl | None = None
        self._on_batch = on_batch
        self._started = False

    def __iter__(self) -> Iterator[Entry]:
        if self._started:
            raise RuntimeError("a Reader reads its stream once")
        self._started = True
        return chain.from_iterable(self._read())

    def _record(self, raw: bytes, line: int) -> Record:
        """The record on `line`, 94 characters, after the checks that do not depend on its
        fields: record type, characters, length."""
        kind = raw[:1].decode("latin-1")
        if kind not in _NAMES:
            what = "an empty line, not" if not raw else f"{kind!r} is not"
            _fail(
                self.filename,
                line,
                f"{what} a NACHA record type (1, 5, 6, 7, 8, 9)",
                1,
                1,
                "record type",
            )
        bad = _NOT_PRINTABLE.search(raw)
        if bad is not None:
            column = bad.start() + 1
            _fail(
                self.filename,
                line,
                f"{raw[column - 1 : column]!r} is not a printable ASCII character "
                "(NACHA records hold letters, digits, spaces and punctuation)",
                column,
                column,
                _field_at(kind, column),
            )
        length = len(raw)
        if length > RECORD_LENGTH:
            if raw[RECORD_LENGTH:].strip(b" "):
                _fail(
                    self.filename,
                    line,
                    f"the record is {length} characters long; NACHA records are {RECORD_LENGTH}",
                    RECORD_LENGTH + 1,
                    length,
                )
            raw = raw[:RECORD_LENGTH]
        elif length < RECORD_LENGTH:
            reach, field = _LAST_REQUIRED[kind]
            if length < reach:
                _fail(
                    self.filename,
                    line,
                    f"the record ends at position {length}: a right-trimmed {_NAMES[kind]} "
                    f"record must reach position {reach}, the end of its {field}",
                    length + 1,
                    reach,
                )
        return Record(raw.decode("ascii").ljust(RECORD_LENGTH), line, self.filename)

    def _read(self) -> Iterator[Iterable[Entry]]:
        """The entries in groups: a run of plain entries checked at once, or one entry."""
        filename = self.filename
        check_digits = _CHECK_DIGITS
        number = 1
        lines: Sequence[bytes] = self._first[1:]
        batch: BatchHeader | None = None
        rule = _PPD
        allowed: dict[bytes, tuple[bool, Purpose]] = {}
        plain = _Plain.of(None, {})
        odfi = b""
        name_start = name_end = 0
        payment_types: tuple[bytes, bytes] | None = None
        trace = b""  # the last trace number of the batch
        previous: BatchHeader | None = None  # the batch before
        b_records = b_hash = b_debits = b_credits = 0
        f_batches = f_records = f_hash = f_debits = f_credits = 0
        pending: Entry | None = None  # an entry whose addenda are being read
        pending_addenda: list[bytes] = []
        closed = 0  # the line of the file control
        blocks = 0
        while True:
            # One search over the chunk spares each entry its own: a chunk with a control
            # character takes every line through the slow path, which names it.
            joined = b"\n".join(lines)
            clean = printable_ascii(joined, also=b"\n")
            # every line 94 long: record i is joined[i * 95 : i * 95 + 94]
            fixed = joined[RECORD_LENGTH::_STRIDE] == b"\n" * (len(lines) - 1) and (
                len(joined) == _STRIDE * len(lines) - 1
            )
            runs = {}
            if clean:
                firsts = joined[::_STRIDE] if fixed else None
                runs = record_runs(lines, _RUN, firsts)
            i, count = 0, len(lines)
            while i < count:
                end = runs.get(i, 0)
                if end and batch is not None and pending is None:
                    run = lines[i:end]
                    run_joined = joined[i * _STRIDE : end * _STRIDE - 1] if fixed else None
                    found = _plain_entries(run, number + 1, batch, plain, trace, run_joined)
                    if found is not None:
                        entries, entry_hash, credits, debits = found
                        trace = run[-1][79:94]
                        b_records += len(run)
                        b_hash += entry_hash
                        b_credits += credits
                        b_debits += debits
                        number += len(run)
                        i = end
                        yield entries
                        continue
                raw = lines[i]
                i += 1
                number += 1
                if (  # 54: "6"
                    len(raw) != RECORD_LENGTH
                    or raw[0] != 54
                    or pending is not None
                    or batch is None
                    or not clean
                ):
                    if closed:
                        if raw[:RECORD_LENGTH] != _PADDING or raw[RECORD_LENGTH:].strip(b" "):
                            _fail(
                                filename,
                                number,
                                "after the file control (9) only lines of 94 '9's may follow",
                                1,
                                RECORD_LENGTH,
                            )
                        if number > blocks * 10:
                            _fail(
                                filename,
                                number,
                                f"padding beyond the {blocks} blocks of 10 records the file "
                                f"control counts (line {closed})",
                                1,
                                RECORD_LENGTH,
                            )
                        continue
                    record = self._record(raw, number)
                    kind = record.text[0]
                    if pending is not None and kind != "7":
                        _close_addenda(filename, pending, pending_addenda, rule)
                        yield (pending,)
                        pending = None
                    if kind == "6":
                        if batch is None:
                            _outside(record)
                        raw = record.text.encode("ascii")
                    elif kind == "7":
                        if pending is None:
                            if batch is None:
                                _outside(record)
                            record.fail(
                                "an addenda record must follow an entry whose addenda "
                                "indicator is 1",
                                1,
                                1,
                                "record type",
                            )
                        _addenda(record, pending, pending_addenda, rule)
                        pending_addenda.append(raw)
                        b_records += 1
                        continue
                    elif kind == "5":
                        if batch is not None:
                            _unclosed(record, "batch header (5)", batch)
                        batch = _batch_header(record)
                        if previous is not None and int(batch.number) <= int(previous.number):
                            _batch_not_ascending(record, previous)
                        previous = batch
                        rule = SEC_CODES[batch.sec_code]
                        allowed = _allowed(batch)
                        plain = _Plain.of(batch, allowed)
                        odfi = batch.odfi.encode("ascii")
                        name_start, name_end = rule.name[0] - 1, rule.name[1]
                        payment_types = None
                        if rule.payment_types is not None:
                            debit_types, credit_types = rule.payment_types
                            payment_types = (debit_types.encode(), credit_types.encode())
                        trace = b""
                        b_records = b_hash = b_debits = b_credits = 0
                        if self._on_batch is not None:
                            self._on_batch(batch)
                        continue
                    elif kind == "8":
                        if batch is None:
                            _outside(record)
                        _batch_control(record, batch, b_records, b_hash, b_debits, b_credits)
                        f_batches += 1
                        f_records += b_records
                        f_hash += b_hash
                        f_debits += b_debits
                        f_credits += b_credits
                        batch = None
                        continue
                    elif kind == "9":
                        if batch is not None:
                            _unclosed(record, "file control (9)", batch)
                        self.control = _file_control(
                            record, f_batches, f_records, f_hash, f_debits, f_credits
                        )
                        closed, blocks = number, self.control.block_count
                        continue
                    else:
                        record.fail("a second file header (1)", 1, 1, "record type")
                    if batch is None:
                        _outside(record)
                if not (
                    raw[1:12].isdigit()  # transaction code, RDFI, check digit
                    and raw[29:39].isdigit()  # amount
                    and raw[79:94].isdigit()  # trace number
                    and raw[78] in (48, 49)  # addenda indicator "0" or "1"
                ):
                    _diagnose_entry(Record(raw.decode("ascii"), number, filename))
                spec = allowed.get(raw[1:3])
                if spec is None:
                    _refuse_code(Record(raw.decode("ascii"), number, filename), batch)
                credit, purpose = spec
                rdfi = raw[3:11]
                if (check_digits.get(rdfi) or _check_digit(rdfi)) != raw[11]:
                    _bad_check_digit(filename, number, rdfi, raw[11:12])
                if raw[79:87] != odfi:
                    _fail(
                        filename,
                        number,
                        f"{raw[79:94].decode()!r} does not begin with the batch's ODFI "
                        f"{batch.odfi} (line {batch.line})",
                        80,
                        94,
                        "trace number",
                    )
                if raw[79:94] <= trace:
                    _trace_not_ascending(filename, number, raw[79:94], trace)
                trace = raw[79:94]
                if raw[12] == 32:  # 32: " "
                    _bad_account(filename, number, raw[12:29])
                cents = int(raw[29:39])
                if (cents == 0) is (purpose == "payment"):
                    _bad_amount(filename, number, raw[1:3].decode(), purpose, raw[29:39])
                if not raw[name_start:name_end].strip():
                    _fail(
                        filename,
                        number,
                        "blank: a name is required",
                        name_start + 1,
                        name_end,
                        "name",
                    )
                if payment_types is not None and (
                    raw[76] not in payment_types[credit] or raw[77] != 32
                ):
                    _bad_payment_type(filename, number, batch, credit, raw[76:78])
                b_records += 1
                b_hash += int(rdfi)
                if credit:
                    b_credits += cents
                else:
                    b_debits += cents
                if raw[78] == 49:  # "1"
                    if not rule.addenda:
                        _fail(
                            filename,
                            number,
                            f"'1', but {batch.sec_code} entries carry no addenda",
                            79,
                            79,
                            "addenda record indicator",
                        )
                    pending_addenda = []
                    pending = Entry(raw, number, batch, pending_addenda)
                elif purpose == "zero-dollar":
                    _fail(
                        filename,
                        number,
                        "'0', but a zero-dollar entry carries its remittance data in an addenda",
                        79,
                        79,
                        "addenda record indicator",
                    )
                else:
                    yield (Entry(raw, number, batch),)
            more = next(self._chunks, None)
            if more is None:
                break
            lines = more
        if not closed:
            raise FormatError(
                "the file ends without a file control (9) record",
                filename=filename,
                line=number,
            )
        if self.control is not None and self.control.batch_count == 0:
            raise FormatError("the file has no batch", filename=filename, line=1)


_RUN = re.compile(rb"6{16,}")
"""Runs of entry records worth checking at once."""
_TRACE = itemgetter(slice(79, 94))
_STRIDE = RECORD_LENGTH + 1
_DIGIT_COLUMNS = (*range(1, 12), *range(29, 39), *range(79, 94))
"""0-based: transaction code, RDFI, check digit; amount; trace number."""
_DIGITS = b"0123456789"
_CODE_COLUMNS = (
    (1, byte_table({d: 10 * i for i, d in enumerate(_DIGITS)})),
    (2, byte_table({d: i for i, d in enumerate(_DIGITS)})),
)
"""The transaction code as one byte value (22 is 22)."""
_AMOUNT_COLUMNS = tuple(columns(29, 10, NOT_ZERO))
"""How many digits of the amount are not 0: none for a zero amount."""
_ROUTING_COLUMNS = tuple(
    (column, byte_table({d: i * weight % 10 for i, d in enumerate(_DIGITS)}))
    for column, weight in zip(range(3, 12), (3, 7, 1, 3, 7, 1, 3, 7, 1), strict=True)
)
"""Each digit of the routing number (RDFI and check digit) times its ABA weight, mod 10: the
nine add up to a multiple of 10 (at most 80) when the check digit is right."""
_TENS = bytes(range(0, 90, 10))


@dataclass(frozen=True, slots=True)
class _Plain:
    """How the entries of a batch look when they are plain payments, to check them at once."""

    codes: bytes
    """The payment codes the batch allows, as byte values (22 is b"\x16")."""
    credits: bytes
    """A translate table giving 255 for the codes that are credits, 0 for the others."""
    direction: bool | None
    """Whether the batch's payments are credits (True) or debits, None when it holds both."""
    name: range
    """The 0-based columns of the receiver's name."""
    odfi: bytes
    payment_types: bytes | None
    """What position 77 holds in every entry (WEB, TEL), when a run is checked at once."""

    @classmethod
    def of(cls, batch: BatchHeader | None, allowed: dict[bytes, tuple[bool, Purpose]]) -> _Plain:
        payments = {int(code): credit for code, (credit, p) in allowed.items() if p == "payment"}
        rule = SEC_CODES[batch.sec_code] if batch else None
        start, end = rule.name if rule else (1, 1)
        types = None
        if rule is not None and rule.payment_types is not None:
            # what every entry may hold, whatever its direction; the rest is read one by one
            held = [
                t
                for t, ok in zip(rule.payment_types, (rule.debits, rule.credits), strict=True)
                if ok
            ]
            types = bytes(set.intersection(*map(set, map(str.encode, held))) - {32})
        return cls(
            bytes(payments),
            byte_table({code: 255 for code, credit in payments.items() if credit}),
            None if 0 < sum(payments.values()) < len(payments) else any(payments.values()),
            range(start - 1, end),
            batch.odfi.encode() if batch else b"",
            types,
        )


def _plain_entries(
    run: Sequence[bytes],
    line: int,
    batch: BatchHeader,
    plain: _Plain,
    after: bytes,
    joined: bytes | None = None,
) -> tuple[Iterator[Entry], int, int, int] | None:
    """The entries of `run` (entry records from `line` on, whose trace numbers must follow
    `after`; `joined`, if given, is `run` joined by LF) when every one is a plain payment that
    passes every check: with their entry hash, credits and debits. None otherwise, and the
    records are read one by one, which finds and names the problem.

    The records, joined by LF, are checked a column of characters at a time: the `count`
    characters at one position of every record are one slice of the joined records, and
    `per_record` gives what a record's columns add up to, a byte per record."""
    count = len(run)
    if joined is None:
        joined = b"\n".join(run)
    if not (
        len(joined) == _STRIDE * count - 1
        and joined.count(b"\n") == count - 1
        and joined[RECORD_LENGTH::_STRIDE] == b"\n" * (count - 1)  # every record is 94 long
        and all(joined[column::_STRIDE].isdigit() for column in _DIGIT_COLUMNS)
        and joined[78::_STRIDE] == b"0" * count  # no addenda
        and b" " not in joined[12::_STRIDE]  # accounts are left-justified
        and all(
            joined[79 + i :: _STRIDE] == plain.odfi[i : i + 1] * count for i in range(8)
        )  # trace numbers of the batch's ODFI
    ):
        return None
    codes = per_record(joined, count, RECORD_LENGTH, _CODE_COLUMNS)
    name_columns = plain.name
    if (
        codes.translate(None, plain.codes)  # a code the batch does not allow
        or b"\0" in per_record(joined, count, RECORD_LENGTH, _AMOUNT_COLUMNS)  # no amount
        or per_record(joined, count, RECORD_LENGTH, _ROUTING_COLUMNS).translate(None, _TENS)
        or (  # a blank name: most runs have no name starting with a space
            b" " in joined[name_columns[0] :: _STRIDE]
            and b"\0"
            in per_record(
                joined, count, RECORD_LENGTH, columns(name_columns[0], len(name_columns), NOT_SPACE)
            )
        )
        or (
            plain.payment_types is not None
            and (
                joined[76::_STRIDE].translate(None, plain.payment_types)
                or joined[77::_STRIDE].strip(b" ")
            )
        )
    ):
        return None
    traces = list(map(_TRACE, run))
    if traces[0] <= after or not all(map(lt, traces, islice(traces, 1, None))):
        return None
    total = column_sum(joined, count, RECORD_LENGTH, 29, 10)
    if plain.direction is None:
        credits = column_sum(joined, count, RECORD_LENGTH, 29, 10, codes.translate(plain.credits))
    else:
        credits = total if plain.direction else 0
    lines = range(line, line + count)
    # Made as the caller takes them (Entry._make without its length check: zip gives every
    # field), so that one entry's memory serves the next.
    entries = map(tuple.__new__, repeat(Entry), zip(run, lines, repeat(batch), repeat(None)))
    return entries, column_sum(joined, count, RECORD_LENGTH, 3, 8), credits, total - credits


def _payments(reader: Reader) -> Iterator[Entry]:
    for entry in reader:
        if entry.purpose == "payment":
            yield entry
        else:
            log.info(
                "%s line %d: %s (transaction code %s) skipped",
                reader.filename,
                entry.line,
                entry.purpose,
                entry.transaction_code,
            )


def read(data: bytes, *, filename: str = "<bytes>") -> BatchFile:
    """The batch a NACHA file carries, for a file whose batches share one company and one
    effective date (`read_batches` takes any file); `FormatError` names the line and positions
    of the first problem."""
    batches: list[BatchHeader] = []

    def same(batch: BatchHeader) -> None:
        if batches:
            first = batches[0]
            for field, start, end, value, was in (
                ("company identification", 41, 50, batch.company_id, first.company_id),
                ("effective entry date", 70, 75, batch.effective_date, first.effective_date),
            ):
                if value != was:
                    raise FormatError(
                        f"{value} differs from {was} in the batch on line {first.line}: one "
                        "BatchFile has one originator and one processing date (read the file "
                        "with read_batches or Reader)",
                        filename=filename,
                        line=batch.line,
                        column=start,
                        end_column=end,
                        field=field,
                    )
        batches.append(batch)

    reader = Reader(io.BytesIO(data), filename=filename, on_batch=same)
    entries = tuple(entry.batch_entry() for entry in _payments(reader))
    return _batch_file(reader.header.batch_id, batches, entries)


def read_batches(data: bytes, *, filename: str = "<bytes>") -> tuple[BatchFile, ...]:
    """One `BatchFile` per batch of a NACHA file, with batch_id '<file batch_id>-<batch
    number>', the company identification as originator and the effective entry date as
    processing date."""
    batches: list[BatchHeader] = []
    reader = Reader(io.BytesIO(data), filename=filename, on_batch=batches.append)
    entries: dict[int, list[BatchEntry]] = {}
    for entry in _payments(reader):
        entries.setdefault(entry.batch.line, []).append(entry.batch_entry())
    return tuple(
        _batch_file(
            f"{reader.header.batch_id}-{batch.number}", [batch], tuple(entries.get(batch.line, ()))
        )
        for batch in batches
    )


def _batch_file(
    batch_id: str, batches: list[BatchHeader], entries: tuple[BatchEntry, ...]
) -> BatchFile:
    classes = {batch.kind for batch in batches}
    fallback = classes.pop() if len(classes) == 1 else BatchKind.MIXED
    return BatchFile(
        batch_id=batch_id,
        originator=batches[0].company_id,
        kind=kind_of(entries) or fallback,
        processing_date=batches[0].effective_date,
        currency="USD",
        entries=entries,
    )
