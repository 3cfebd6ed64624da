"""What a test needing PostgreSQL does when it has none."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def postgres_missing(reason: str, remedy: str) -> NoReturn:
    """Skip a PostgreSQL test saying why, or fail it where CI requires PostgreSQL
    (`PASSERELLE_REQUIRE_POSTGRES=1`)."""
    if os.environ.get("PASSERELLE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}; PASSERELLE_REQUIRE_POSTGRES=1 requires it")
    pytest.skip(f"{reason}; {remedy}")
