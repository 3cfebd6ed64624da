"""What the three readers and writers share: text decoding, lines, fixed-width fields, routing
check digits."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import NoReturn

from passerelle.formats.errors import FormatError

_NUMBER = re.compile(r"[0-9]+")
_LINE_END = re.compile(r"\r\n|\r|\n")


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


def split_lines(text: str) -> list[str]:
    """Lines ended by LF, CRLF or CR; the last line may lack its end, and a DOS end-of-file
    marker after it is ignored."""
    lines = _LINE_END.split(text.rstrip("\x1a"))
    while lines and lines[-1] == "":
        lines.pop()
    return lines


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
        """A left-justified account number: digits, then spaces."""
        value = self.raw(start, end)
        account = value.rstrip()
        if not account:
            self.fail("blank: an account number is required", start, end, field)
        if not is_number(account):
            self.fail(
                f"{value!r} is not an account number (digits, left-justified)", start, end, field
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
