"""Versioned schema migrations, one directory per backend.

Each file is `NNNN_name.sql`; versions start at 1 and leave no gap. A backend applies the ones
its database has not recorded in `schema_version`, in order, when the store opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["Migration", "migrations", "newer_schema"]

Backend = Literal["sqlite", "postgresql"]

_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(backend: Backend) -> list[Migration]:
    """The backend's migrations in version order."""
    folder = resources.files(__name__).joinpath(backend)
    found = []
    for entry in folder.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(
            f"{backend} migrations must be numbered 1, 2, ... without gaps: {versions}"
        )
    return found


def newer_schema(backend: Backend, store: str, current: int) -> str | None:
    """Why the `store` at schema version `current` cannot be used by this version of
    Passerelle (a newer one migrated it); None when it can."""
    known = len(migrations(backend))
    if current <= known:
        return None
    return (
        f"{store} has schema version {current}; this version of Passerelle knows versions up"
        f" to {known}"
    )
