"""The pytest plugin `passerelle` installs: fixtures every platform plugin's tests can use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from passerelle.clock import FixedClock


@pytest.fixture
def passerelle_clock() -> FixedClock:
    """A clock standing still at 2026-03-02 12:00 UTC; set or advance it in the test."""
    return FixedClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
