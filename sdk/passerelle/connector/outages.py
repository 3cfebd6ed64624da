"""Outages of what the connector depends on, told in a few lines instead of one per request.

A store that cannot write (a full disk, a database that went away) fails every operation while
the outage lasts: thousands of tracebacks a minute would bury the one line that matters. An
`Outage` logs the start once with its cause, a count every so often while it lasts, and the end
with its length and how many operations failed meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from passerelle.backend.retry import exponential_backoff

__all__ = ["Outage", "StoreWait"]


class Outage:
    """The outage state of one dependency (`what`, e.g. "the SQLite store /var/inbox.db").

    Call `failed` when an operation fails for want of the dependency and `succeeded` when one
    goes through; both are cheap and thread-safe.
    """

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        report_every: float = 60.0,
        quiet_for: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`quiet_for`: seconds without a failure before a success ends the outage, so that a
        store that fails some operations and not others (a disk with a little room left) is
        one outage, not a start and an end a second."""
        self.what = what
        self._log = logger
        self._report_every = report_every
        self._quiet_for = quiet_for
        self._last_failure = 0.0
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._since: float | None = None
        self._reported: float = 0.0
        self._failures = 0
        self._cause = ""

    @property
    def down(self) -> bool:
        """Whether the dependency is in an outage: its last operation failed."""
        return self._since is not None

    @property
    def cause(self) -> str:
        """Why the outage began; empty when there is none."""
        return self._cause if self._since is not None else ""

    def failed(self, cause: BaseException | str) -> None:
        """An operation failed for want of the dependency."""
        now = self._monotonic()
        text = " ".join(str(cause).split()) or type(cause).__name__
        with self._lock:
            self._failures += 1
            self._last_failure = now
            if self._since is None:
                self._since = self._reported = now
                self._cause = text
                self._log.error("%s is unavailable: %s", self.what, text)
            elif now - self._reported >= self._report_every:
                self._reported = now
                self._log.error(
                    "%s is still unavailable after %.0f s (%d operations failed): %s",
                    self.what,
                    now - self._since,
                    self._failures,
                    text,
                )

    def succeeded(self) -> None:
        """An operation that proves the dependency back went through: ends the outage, if
        there was one."""
        if self._since is None:  # the common case, without the lock
            return
        ended = self._end(self._monotonic())
        if ended is not None:
            self._log.warning(
                "%s is available again after %.1f s (%d operations failed meanwhile)",
                self.what,
                *ended,
            )

    def _end(self, now: float) -> tuple[float, int] | None:
        """The outage's length and failures, once it is over: None if it is not (a failure too
        recent) or another thread ended it first."""
        with self._lock:
            if self._since is None or now - self._last_failure < self._quiet_for:
                return None
            ended = (now - self._since, self._failures)
            self._since, self._failures, self._cause = None, 0, ""
            return ended


class StoreWait:
    """How long a worker waits before trying an unavailable store again: from `first` doubling
    to `cap` seconds, so that work resumes within `cap` of the store's return."""

    def __init__(self, *, first: float = 0.1, cap: float = 2.0) -> None:
        self._first = first
        self._cap = cap
        self._tries = 0

    def next(self) -> float:
        """The wait before the next try."""
        self._tries += 1
        return exponential_backoff(self._first, self._tries, cap=self._cap)

    def reset(self) -> None:
        self._tries = 0
