"""The sandbox's clock: the system time until a test or a demo sets it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from passerelle.clock import Clock, FixedClock, SystemClock

__all__ = ["SandboxClock"]


class SandboxClock:
    """Follows `base` (the system clock) until `set`; then stands still at the set time.

    `advance` moves a set clock forward, `release` goes back to following `base`. Thread-safe.
    """

    def __init__(self, base: Clock | None = None) -> None:
        self._base: Clock = base or SystemClock()
        self._fixed: FixedClock | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            fixed = self._fixed
        return fixed.now() if fixed is not None else self._base.now()

    @property
    def is_set(self) -> bool:
        with self._lock:
            return self._fixed is not None

    def set(self, at: datetime) -> None:
        """Stand still at `at` (an aware datetime) until set, advanced or released again."""
        clock = FixedClock(at)
        with self._lock:
            self._fixed = clock

    def advance(self, by: timedelta) -> None:
        """Move the clock by `by`; a clock that follows `base` is first set to its current time."""
        with self._lock:
            if self._fixed is None:
                self._fixed = FixedClock(self._base.now())
            self._fixed.advance(by)

    def release(self) -> None:
        """Follow `base` again."""
        with self._lock:
            self._fixed = None
