"""What the three readers and writers share: text decoding, lines, fixed-width fields, routing
check digits."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import NoReturn, Protocol

from passerelle.batches import ACCOUNT_PATTERN
from passerelle.formats.errors import FormatError

_NUMBER = re.compile(r"[0-9]+")


def decode(data: bytes) -> str:
    """Text of a batch file: UTF-8 when it is valid UTF-8, else Windows-1252 (what Windows
    accounting packages write), byte for character."""
    data = data.removeprefix(codecs.BOM_UTF8)
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


class Readable(Protocol):
    """A binary file object (an open file, `io.BytesIO`, a socket's `makefile("rb")`)."""

    def read(self, size: int = -1, /) -> bytes: ...


CHUNK_SIZE = 1 << 18
"""How much of a stream the readers hold at a time, beside the record being read."""

ACCOUNT = re.compile(ACCOUNT_PATTERN)


def stream_lines(stream: Readable, fixed_length: int | None = None) -> Iterator[list[bytes]]:
    """The lines of a binary stream, a chunk's worth at a time, without their ends.

    Lines end with LF, CRLF or CR; the last may lack its end; a byte order mark before the first
    line and DOS end-of-file markers after the last are ignored, and so are empty lines at the
    end. With `fixed_length`, a stream whose first record runs on into the next without a line
    end is cut every `fixed_length` bytes. Memory stays within two chunks whatever the stream's
    size: a line longer than a chunk comes in pieces (which no record format accepts).
    """
    data = b""
    while True:  # enough to see how the first record ends
        chunk = stream.read(CHUNK_SIZE)
        data += chunk
        if not chunk or len(data) > (fixed_length or 0) + len(codecs.BOM_UTF8):
            break
    data = data.removeprefix(codecs.BOM_UTF8)
    fixed = False
    if fixed_length is not None and len(data) > fixed_length:
        head = data[: fixed_length + 1]
        fixed = b"\n" not in head and b"\r" not in head and head[-1:] not in b" \x1a"
    empty = 0
    more = bool(chunk)
    del chunk  # `data` holds its bytes; a second reference would double a chunk's footprint
    while True:
        if not more:
            data = data.rstrip(b"\x1a")
            if fixed:
                assert fixed_length is not None
                data = data.rstrip(b"\r\n")
                yield [data[i : i + fixed_length] for i in range(0, len(data), fixed_length)]
            else:
                lines = data.splitlines()
                while lines and not lines[-1]:
                    lines.pop()
                if lines:
                    yield [b""] * empty + lines
            return
        if fixed:
            assert fixed_length is not None
            cut = len(data) - len(data) % fixed_length
            yield [data[i : i + fixed_length] for i in range(0, cut, fixed_length)]
            data = data[cut:]
        else:
            cut = data.rfind(b"\n") + 1 or data.rfind(b"\r", 0, len(data) - 1) + 1
            if not cut and len(data) > CHUNK_SIZE:
                cut = len(data)
            if cut:
                lines = data[:cut].splitlines()
                data = data[cut:]
                ended = len(lines)
                while ended and not lines[ended - 1]:
                    ended -= 1
                trailing = len(lines) - ended
                del lines[ended:]
                if lines:  # empty lines count only once a line follows them
                    lines[:0] = [b""] * empty
                    empty = 0
                    yield lines
                    # the caller is done with them: let them go before the next chunk comes
                    lines = []
                empty += trailing
        chunk = stream.read(CHUNK_SIZE)
        more = bool(chunk)
        data += chunk
        del chunk


_PRINTABLE = bytes(range(32, 127))
_FIRST = itemgetter(slice(0, 1))


def printable_ascii(data: bytes, also: bytes = b"") -> bool:
    """Whether `data` holds only printable ASCII characters (space to tilde) and those in
    `also`."""
    return not data.translate(None, _PRINTABLE + also)


def record_runs(
    lines: Sequence[bytes], kinds: re.Pattern[bytes], firsts: bytes | None = None
) -> dict[int, int]:
    """Where the runs of records whose record types (first characters) match `kinds` begin
    in `lines`, and where they end; none when a line is empty. `firsts`, if given, are the
    lines' first characters."""
    if firsts is None:
        firsts = b"".join(map(_FIRST, lines))
    if len(firsts) != len(lines):
        return {}
    return {m.start(): m.end() for m in kinds.finditer(firsts)}


def column_sum(
    joined: bytes, count: int, length: int, start: int, width: int, mask: bytes | None = None
) -> int:
    """The sum of the `width`-digit numbers at 0-based `start` of `count` records of `length`
    characters joined by LF: a digit column at a time, the column being one slice of the
    joined records, summed in one pass over its bytes. With `mask` (a byte per record, 255 or
    0), only the records it marks with 255 count."""
    total = 0
    if mask is None:
        for column in range(start, start + width):
            total = total * 10 + sum(joined[column :: length + 1]) - 48 * count
        return total
    keep = int.from_bytes(mask)
    for column in range(start, start + width):
        digits = int.from_bytes(joined[column :: length + 1].translate(_DIGIT_VALUES)) & keep
        total = total * 10 + sum(digits.to_bytes(count))
    return total


_DIGIT_VALUES = bytes((b - 48) % 256 for b in range(256))
"""Digits to their values (what else is not looked at)."""


def per_record(
    joined: bytes, count: int, length: int, columns: Iterable[tuple[int, bytes]]
) -> bytes:
    """One byte per record of `count` records of `length` characters joined by LF: the sum over
    `columns` (0-based column, `bytes.translate` table) of the table applied to the record's
    character in that column.

    Each column (one slice of the joined records) is read as a big integer of a byte per record
    and the columns are added as such, so a sum must stay below 256 (no byte carries over)."""
    total = 0
    for column, table in columns:
        total += int.from_bytes(joined[column :: length + 1].translate(table))
    return total.to_bytes(count)


def byte_table(values: Mapping[int, int], default: int = 0) -> bytes:
    """A `bytes.translate` table: `values[b]` for the bytes it names, `default` for the rest."""
    return bytes(values.get(b, default) for b in range(256))


NOT_SPACE = byte_table({ord(" "): 0}, 1)
"""1 for a character that is not a space, 0 for a space."""
NOT_ZERO = byte_table({ord("0"): 0}, 1)
"""1 for a character that is not the digit 0."""


def columns(start: int, width: int, table: bytes) -> Iterator[tuple[int, bytes]]:
    """`per_record`'s columns for a field: `width` columns from 0-based `start`, each read
    with `table`."""
    return zip(range(start, start + width), repeat(table))


def is_number(value: str) -> bool:
    """All ASCII digits (str.isdigit also takes superscripts and other scripts' digits)."""
    return _NUMBER.fullmatch(value) is not None


def routing_check_digit(first8: str) -> str:
    """The ABA check digit of an 8-digit routing prefix (weights 3, 7, 1)."""
    total = sum(int(d) * w for d, w in zip(first8, (3, 7, 1, 3, 7, 1, 3, 7), strict=True))
    return str(-total % 10)


@dataclass(frozen=True, slots=True)
class Record:
    """One fixed-width record; positions are 1-based and inclusive, as the standards print them."""

    text: str
    line: int
    filename: str

    def fail(
        self,
        reason: str,
        start: int | None = None,
        end: int | None = None,
        field: str | None = None,
    ) -> NoReturn:
        raise FormatError(
            reason,
            filename=self.filename,
            line=self.line,
            column=start,
            end_column=end,
            field=field,
        )

    def raw(self, start: int, end: int) -> str:
        return self.text[start - 1 : end]

    def stripped(self, start: int, end: int) -> str | None:
        """The field without surrounding spaces; None when blank."""
        return self.raw(start, end).strip() or None

    def digits(self, start: int, end: int, field: str) -> str:
        value = self.raw(start, end)
        if not is_number(value):
            self.fail(f"{value!r} is not a number", start, end, field)
        return value

    def number(self, start: int, end: int, field: str, *, blank_is_zero: bool = False) -> int:
        if blank_is_zero and not self.raw(start, end).strip():
            return 0
        return int(self.digits(start, end, field))

    def account(self, start: int, end: int, field: str) -> str:
        """A left-justified account number: printable ASCII (alphanumeric, in the standards'
        words), then spaces."""
        value = self.raw(start, end)
        account = value.rstrip()
        if not account:
            self.fail("blank: an account number is required", start, end, field)
        if ACCOUNT.match(account) is None:
            self.fail(
                f"{value!r} is not an account number (printable characters, left-justified)",
                start,
                end,
                field,
            )
        return account


def fit(value: str, width: int, field: str, *, what: str) -> str:
    """`value` if it fits a field of `width` characters of a file, else a `FormatError`."""
    if len(value) > width:
        raise FormatError(
            f"{value!r} is {len(value)} characters; {what} holds {width}",
            filename=None,
            field=field,
        )
    if not value.isprintable():
        raise FormatError(f"{value!r} has control characters", filename=None, field=field)
    return value
