"""The options of a Sage store in ``passerelle.toml``, and what `passerelle config check` says
about them.

``originator_id`` (optional)
    The originator ID (CPA-005, 10 characters) or company ID (NACHA) the bank gave the merchant:
    a file carrying another is refused, so a file meant for another company is never sent.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from passerelle.platforms import Store, StoreProblem

__all__ = ["SageOptions"]

Format = Literal["cpa005", "nacha", "bambora"]
_FORMATS: tuple[Format, ...] = ("cpa005", "nacha", "bambora")
_CURRENCIES = ("CAD", "USD")


@dataclass(frozen=True)
class SageOptions:
    originator_id: str | None = None
    currency: str | None = None
    format: Format | None = None
    folder: Path | None = None

    @classmethod
    def problems(cls, store: Store) -> list[StoreProblem]:
        """Every problem with `store`'s options (see the module documentation)."""
        return cls._parse(store)[1]

    @classmethod
    def of(cls, store: Store) -> SageOptions:
        """The store's options; `ValueError` naming the first bad one."""
        options, problems = cls._parse(store)
        if problems:
            first = problems[0]
            raise ValueError(f"{first.key}: {first.message}")
        return options

    @classmethod
    def _parse(cls, store: Store) -> tuple[SageOptions, list[StoreProblem]]:
        problems: list[StoreProblem] = []
        given = {name: value.strip() for name, value in store.options.items()}
        originator = given.get("originator_id") or None
        if originator is not None and not (
            len(originator) <= 10 and originator.isascii() and originator.isprintable()
        ):
            problems.append(
                StoreProblem(
                    "options.originator_id",
                    f"{originator!r} is not an originator ID: at most 10 ASCII characters, as "
                    "the bank gave it (CPA-005 positions 11-20, NACHA company ID)",
                )
            )
        currency = (given.get("currency") or "").upper() or None
        if currency is not None and currency not in _CURRENCIES:
            problems.append(StoreProblem("options.currency", f"{currency!r} is not CAD or USD"))
        chosen = (given.get("format") or "").lower() or None
        fmt: Format | None = None
        if chosen is not None:
            fmt = next((name for name in _FORMATS if name == chosen), None)
            if fmt is None:
                problems.append(
                    StoreProblem(
                        "options.format",
                        f"{chosen!r} is not a format the Sage plugin reads: use cpa005, nacha or "
                        "bambora, or leave it out to find it from each file",
                    )
                )
        folder = Path(given["folder"]) if given.get("folder") else None
        if folder is not None and not folder.is_dir():
            problems.append(StoreProblem("options.folder", f"{str(folder)!r} is not a folder"))
        elif folder is not None and not os.access(folder, os.R_OK | os.X_OK):
            problems.append(
                StoreProblem("options.folder", f"{str(folder)!r} cannot be read by this user")
            )
        unknown = sorted(set(given) - {"originator_id", "currency", "format", "folder"})
        problems.extend(
            StoreProblem(
                f"options.{name}",
                "is not a Sage option (originator_id, currency, format, folder)",
            )
            for name in unknown
        )
        return cls(originator, currency, fmt, folder), problems
