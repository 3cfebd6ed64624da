"""Clocks: where the SDK asks for the time, so tests and the sandbox can set it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Anything with `now()` returning an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until it is set or advanced; thread-safe."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = _aware(at)

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self._at += by


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"clock time {at.isoformat()} has no time zone")
    return at
