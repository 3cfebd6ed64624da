"""The options of a Sage store in ``passerelle.toml``, typed; `passerelle config check` names
each bad one.

``originator_id`` (optional)
    The originator ID (CPA-005, at most 10 ASCII characters) or company ID (NACHA) the bank gave
    the merchant: a file carrying another is refused, so a file meant for another company is
    never sent. A Bambora CSV names none: it is this originator's.
``currency`` (optional)
    ``CAD`` or ``USD``: a file in another currency is refused.
``format`` (optional)
    ``cpa005`` (1464-character records, also as RBC takes them), ``nacha`` or ``bambora``
    (Bambora's batch CSV): a file in another format is refused. By default the format is found
    from each file's content.
``folder`` (optional)
    The folder Sage writes its files into (Sage's "EFT file location"): ``passerelle serve``
    watches it. It must exist and be readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import field_validator

from passerelle.plugin import StoreOptions

__all__ = ["Format", "SageOptions"]

Format = Literal["cpa005", "nacha", "bambora"]
_FORMATS: tuple[Format, ...] = ("cpa005", "nacha", "bambora")
_CURRENCIES = ("CAD", "USD")


class SageOptions(StoreOptions):
    """A Sage store's options (see the module documentation)."""

    originator_id: str | None = None
    currency: str | None = None
    format: Format | None = None
    folder: Path | None = None

    @field_validator("originator_id", "currency", "format", "folder", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("originator_id")
    @classmethod
    def _originator(cls, value: str | None) -> str | None:
        if value is not None and not (len(value) <= 10 and value.isascii() and value.isprintable()):
            raise ValueError(
                f"{value!r} is not an originator ID: at most 10 ASCII characters, as the bank "
                "gave it (CPA-005 positions 11-20, NACHA company ID)"
            )
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in _CURRENCIES:
            raise ValueError(f"{value!r} is not CAD or USD")
        return None if value is None else value.upper()

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() not in _FORMATS:
            raise ValueError(
                f"{value.strip()!r} is not a format the Sage plugin reads: use cpa005, nacha or "
                "bambora, or leave it out to find it from each file"
            )
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            found = value.is_dir()
        except (OSError, ValueError):
            found = False
        if not found:
            raise ValueError(f"{str(value)!r} is not a folder")
        if not os.access(value, os.R_OK | os.X_OK):
            raise ValueError(f"{str(value)!r} cannot be read by this user")
        return value
