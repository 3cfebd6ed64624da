"""What Sage 50's file names say: ``PRDIRECT.DAT`` is the payroll file, ``APDIRECT.DAT`` the
vendor payments file, each overwritten at every generation with an archive copy beside it
(``PRDI0001.DAT``, ``APDI0001.DAT``, ... numbered by generation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

__all__ = ["Purpose", "SageFile", "sage_file"]

_NAME = re.compile(r"(PR|AP)(?:DIRECT|DI(\d{4}))\.DAT", re.IGNORECASE)


class Purpose(StrEnum):
    PAYROLL = "payroll"
    VENDORS = "vendor payments"


@dataclass(frozen=True)
class SageFile:
    """A file name Sage writes: what it pays, and the archive copy's generation if it is one."""

    purpose: Purpose
    generation: int | None


def sage_file(filename: str) -> SageFile | None:
    """What `filename` (a path or a bare name) is among Sage's files; None for another name."""
    match = _NAME.fullmatch(PurePath(filename.replace("\\", "/")).name)
    if match is None:
        return None
    purpose = Purpose.PAYROLL if match[1].upper() == "PR" else Purpose.VENDORS
    return SageFile(purpose, int(match[2]) if match[2] else None)
