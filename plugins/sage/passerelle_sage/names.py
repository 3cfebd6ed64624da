"""What file names say.

Sage 50 writes ``PRDIRECT.DAT`` (payroll) and ``APDIRECT.DAT`` (vendor payments), each
overwritten at every generation with an archive copy beside it (``PRDI0001.DAT``,
``APDI0001.DAT``, ... numbered by generation).

A Bambora batch CSV says neither which batch it is nor when to pay it: Bambora's upload takes
the processing date beside the file. Here its name carries that date, as Bambora's API writes
it (``YYYYMMDD``) or ISO 8601 (``YYYY-MM-DD``): ``payroll-20261215.csv``. The name without its
extension, in capitals, is the batch's id (``PAYROLL-20261215``), so a file rewritten under the
same name is a new version of its batch; a file naming another date is another batch.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

__all__ = ["BamboraName", "Purpose", "SageFile", "bambora_name", "recognised", "sage_file"]

_NAME = re.compile(r"(PR|AP)(?:DIRECT|DI(\d{4}))\.DAT", re.IGNORECASE)
_DATE = re.compile(r"(?<![0-9])(20[0-9]{2})(-?)([0-9]{2})\2([0-9]{2})(?![0-9])")
_EXTENSIONS = frozenset({".dat", ".txt", ".ach", ".cpa", ".eft"})
"""Extensions of the CPA-005 and NACHA files other software writes."""


class Purpose(StrEnum):
    PAYROLL = "payroll"
    VENDORS = "vendor payments"


@dataclass(frozen=True)
class SageFile:
    """A file name Sage writes: what it pays, and the archive copy's generation if it is one."""

    purpose: Purpose
    generation: int | None


@dataclass(frozen=True)
class BamboraName:
    """What a Bambora CSV's name says: its batch id and its processing date."""

    batch_id: str
    processing_date: dt.date


def _base(filename: str) -> PurePath:
    return PurePath(filename.replace("\\", "/"))


def sage_file(filename: str) -> SageFile | None:
    """What `filename` (a path or a bare name) is among Sage's files; None for another name."""
    match = _NAME.fullmatch(_base(filename).name)
    if match is None:
        return None
    purpose = Purpose.PAYROLL if match[1].upper() == "PR" else Purpose.VENDORS
    return SageFile(purpose, int(match[2]) if match[2] else None)


def bambora_name(filename: str) -> BamboraName | None:
    """The batch id and processing date a Bambora CSV's name carries; None when it names no
    date, or more than one, or a day that does not exist."""
    stem = _base(filename).stem
    dates = _DATE.findall(stem)
    if len(dates) != 1:
        return None
    year, _, month, day = dates[0]
    try:
        processing = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return BamboraName(stem.upper(), processing)


def recognised(filename: str) -> bool:
    """Whether `filename` is one of the files the plugin reads: Sage's, a Bambora CSV naming
    its processing date, or a CPA-005 or NACHA file by its usual extension."""
    path = _base(filename)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return bambora_name(filename) is not None
    return sage_file(filename) is not None or suffix in _EXTENSIONS
