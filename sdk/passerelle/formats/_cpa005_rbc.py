"""CPA-005 files as RBC takes them: a transmission routing record, then the 1464-character
records, whole or cut in 80-character pieces.

The routing record is the first line: ``$$AA<service>CPA1464[PROD[NL$$`` (``01``, ``PD``,
``PA``... for the service), ``NL`` when the records follow one a line as usual, ``80`` when they
are cut in 80-character pieces, as for a transmission of 80-column lines. Writers cut records in
one of two ways, both read here, told apart by the content:

- each record on its own 19 pieces, the last holding positions 1441-1464 and blank after them;
- the records run on, one after the other, cut every 80 characters whatever the record.

A piece ends with a line end (LF, CRLF or CR), or the pieces run on without any and are cut every
80 bytes; a piece whose trailing spaces were trimmed is padded back, and so is the last record
when blank lines at the end of the file were left out. A ``TEST`` routing record is
refused: its payments are for the bank's test environment, not to be made.

Errors name the line of the file (the routing record is line 1) and the position within that
line, and say which record and positions of its 1464 they are.

Such a file is read in memory (intake takes files of at most 40 MiB): its records are put back
together, then read by `passerelle.formats.cpa005.read`.
"""

from __future__ import annotations

import codecs
import re
from typing import Literal

from passerelle.batches import BatchFile
from passerelle.formats._cpa005_layout import RECORD_LENGTH
from passerelle.formats.cpa005 import read as read_records
from passerelle.formats.cpa005 import write as write_records
from passerelle.formats.errors import FormatError

__all__ = ["PIECE", "is_routed", "read", "write"]

PIECE = 80
"""The length of a piece of an 80-character transmission."""
_PIECES = -(-RECORD_LENGTH // PIECE)
"""Pieces per record when each record is cut on its own: 19, the last holding 24 characters."""
_ROUTING = re.compile(rb"\$\$AA([A-Z0-9]{2})CPA1464\[([A-Z]{4})\[(NL|80)\$\$")
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")

Layout = Literal["records", "per-record", "run-on"]


def is_routed(data: bytes) -> bool:
    """Whether `data` starts with RBC's transmission routing record."""
    return data.removeprefix(codecs.BOM_UTF8).startswith(b"$$AA")


def read(data: bytes, *, filename: str = "<bytes>", default_currency: str = "CAD") -> BatchFile:
    """The batch of a CPA-005 file behind a routing record (see the module documentation);
    `FormatError` names the line and position of the file."""
    data = data.removeprefix(codecs.BOM_UTF8)
    end = _LINE_ENDS.search(data)
    first = data[: end.start()] if end else data
    rest = data[end.end() :] if end else b""
    found = _ROUTING.fullmatch(first.rstrip(b" "))
    if found is None:
        raise FormatError(
            f"{first[:40].decode('latin-1')!r} is not a routing record "
            "($$AA<service>CPA1464[PROD[NL$$, or [80$$ for 80-character pieces)",
            filename=filename,
            line=1,
            column=1,
            end_column=len(first) or 1,
            field="routing record",
        )
    if found[2] != b"PROD":
        raise FormatError(
            f"a {found[2].decode()} transmission: only PROD files are for payments to be made",
            filename=filename,
            line=1,
            column=15,
            end_column=18,
            field="routing record",
        )
    if found[3] == b"NL":
        layout: Layout = "records"
        records = rest
    else:
        pieces = _pieces(rest, filename)
        layout = _layout(pieces)
        records = b"\n".join(_records(pieces, layout, filename))
    try:
        return read_records(records, filename=filename, default_currency=default_currency)
    except FormatError as exc:
        raise _in_the_file(exc, layout) from None


def _pieces(rest: bytes, filename: str) -> list[bytes]:
    rest = rest.rstrip(b"\x1a")
    if b"\n" in rest or b"\r" in rest:
        lines = _LINE_ENDS.split(rest)
        while lines and not lines[-1]:
            lines.pop()
    else:
        lines = [rest[i : i + PIECE] for i in range(0, len(rest), PIECE)]
    if not any(line.strip() for line in lines):
        raise FormatError("the file holds only its routing record", filename=filename, line=1)
    for number, line in enumerate(lines, start=2):
        if len(line) > PIECE:
            raise FormatError(
                f"the line is {len(line)} characters long; the routing record says the records "
                f"come in pieces of {PIECE}",
                filename=filename,
                line=number,
                column=PIECE + 1,
                end_column=len(line),
            )
    return [line.ljust(PIECE) for line in lines]


def _layout(pieces: list[bytes]) -> Layout:
    # Run on, the second record starts at position 25 of the 19th piece, its record count
    # 000000002; cut on its own, the record's 19th piece is blank there.
    tail = RECORD_LENGTH - (_PIECES - 1) * PIECE
    if len(pieces) >= _PIECES and pieces[_PIECES - 1][tail + 1 : tail + 10] == b"000000002":
        return "run-on"
    return "per-record"


def _records(pieces: list[bytes], layout: Layout, filename: str) -> list[bytes]:
    # Writers trim blank lines at the end, as they trim each line's trailing spaces: the last
    # record is completed with blanks. A file cut short loses its Z trailer, which the records'
    # reader requires.
    while pieces and not pieces[-1].strip():
        pieces = pieces[:-1]
    if layout == "run-on":
        joined = b"".join(pieces)
        joined = joined.ljust(-(-len(joined) // RECORD_LENGTH) * RECORD_LENGTH)
        return [joined[i : i + RECORD_LENGTH] for i in range(0, len(joined), RECORD_LENGTH)]
    tail = RECORD_LENGTH - (_PIECES - 1) * PIECE
    records = []
    for start in range(0, len(pieces), _PIECES):
        group = pieces[start : start + _PIECES]
        if len(group) == _PIECES and group[-1][tail:].strip():
            raise FormatError(
                f"record {start // _PIECES + 1} ends at position {tail} of this line, which "
                "must be blank after it",
                filename=filename,
                line=start + _PIECES + 1,
                column=tail + 1,
                end_column=PIECE,
            )
        records.append(b"".join(group)[:RECORD_LENGTH].ljust(RECORD_LENGTH))
    return records


def _in_the_file(exc: FormatError, layout: Layout) -> FormatError:
    """`exc`, raised for record `exc.line` of the records, placed in the file's lines."""
    record = exc.line
    if record is None:
        return exc
    if layout == "records":
        line = record + 1
        return FormatError(
            exc.reason,
            filename=exc.filename,
            line=line,
            column=exc.column,
            end_column=exc.end_column,
            field=exc.field,
        )
    start = exc.column or 1
    end = exc.end_column or start
    first_line, column = _place(record, start, layout)
    last_line, end_column = _place(record, end, layout)
    where = (
        f"record {record}, position {start}"
        if start == end
        else (f"record {record}, positions {start}-{end}")
    )
    return FormatError(
        f"{exc.reason} ({where} of its {RECORD_LENGTH})",
        filename=exc.filename,
        line=first_line,
        column=column if exc.column is not None else None,
        end_column=end_column if exc.column is not None and last_line == first_line else None,
        field=exc.field,
    )


def _place(record: int, position: int, layout: Layout) -> tuple[int, int]:
    """The line of the file (the routing record is line 1) and the position within it of
    `position` of `record`."""
    if layout == "per-record":
        offset = (record - 1) * _PIECES * PIECE + position - 1
    else:
        offset = (record - 1) * RECORD_LENGTH + position - 1
    return 2 + offset // PIECE, offset % PIECE + 1


def write(
    batch: BatchFile,
    *,
    layout: Layout = "per-record",
    service: str = "01",
    line_end: str = "\r\n",
    trim: bool = False,
) -> bytes:
    """`batch` as `passerelle.formats.cpa005.write` writes it, behind a PROD routing record for
    `service`: the records whole (``records``) or cut in 80-character pieces, each record on its own
    (``per-record``) or running on (``run-on``); `trim` drops each piece's trailing spaces and
    the blank pieces at the end, as some writers do. `read` turns it back into `batch`."""
    records = write_records(batch, line_end="\n").decode("cp1252").splitlines()
    end = line_end
    if layout == "records":
        lines = records
    elif layout == "per-record":
        lines = [
            record[i : i + PIECE] for record in records for i in range(0, RECORD_LENGTH, PIECE)
        ]
    else:
        joined = "".join(records)
        lines = [joined[i : i + PIECE] for i in range(0, len(joined), PIECE)]
    if trim and layout != "records":
        lines = [line.rstrip(" ") for line in lines]
        while lines and not lines[-1]:
            lines.pop()
    length = "NL" if layout == "records" else str(PIECE)
    routing = f"$$AA{service}CPA1464[PROD[{length}$$"
    return "".join(line + end for line in (routing, *lines)).encode("cp1252")
