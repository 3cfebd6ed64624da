"""CPA-005 record layout and Julian dates, for the reader and the writer."""

from __future__ import annotations

import datetime as dt

from passerelle.batches import Direction
from passerelle.formats._records import Record, is_number
from passerelle.formats.errors import FormatError

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
_DATES: dict[str, dt.date] = {}
"""Julian dates seen: a file holds few dates for many transactions."""


def _julian(record: Record, start: int, field: str) -> dt.date:
    value = record.raw(start, start + 5)
    parsed = _DATES.get(value) or _cached_julian(value)
    if parsed is None:
        record.fail(f"{value!r} is not a date in the form 0YYDDD", start, start + 5, field)
    return parsed


def _cached_julian(value: str) -> dt.date | None:
    parsed = _parse_julian(value)
    if parsed is not None and len(_DATES) < 10_000:
        _DATES[value] = parsed
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
