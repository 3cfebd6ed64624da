"""Retry policy: which failures are retried, how often, and how long to wait in between.

The wait before retry *n* is drawn by a jitter function below a ceiling that doubles from
`RetryPolicy.initial_delay` up to `RetryPolicy.max_delay` (capped exponential backoff). When the
back end says how long to wait (``Retry-After``, in seconds or as an HTTP date), that wait is used
instead, capped by `RetryPolicy.max_retry_after`. Jitter spreads the retries of many clients so
they do not hit a recovering back end in step.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from passerelle.backend.errors import APIStatusError, BackendError

__all__ = [
    "Jitter",
    "RetryPolicy",
    "decorrelated_jitter",
    "exponential_backoff",
    "full_jitter",
    "no_jitter",
    "parse_retry_after",
]

_random = random.SystemRandom()
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class Jitter(Protocol):
    """Draws the wait before a retry.

    ``base`` is the policy's initial delay, ``ceiling`` the capped exponential backoff for this
    retry, ``previous`` the wait before the previous retry (``base`` before the first). The
    policy clamps the result to ``[0, max_delay]``.
    """

    def __call__(self, *, base: float, ceiling: float, previous: float) -> float: ...


def full_jitter(*, base: float, ceiling: float, previous: float) -> float:
    """Anywhere between no wait and the ceiling (the default)."""
    return _random.uniform(0.0, ceiling)


def decorrelated_jitter(*, base: float, ceiling: float, previous: float) -> float:
    """Between the base and three times the previous wait, growing without lockstep."""
    return _random.uniform(base, max(base, previous * 3))


def no_jitter(*, base: float, ceiling: float, previous: float) -> float:
    """Exactly the ceiling: plain capped exponential backoff."""
    return ceiling


def exponential_backoff(
    initial: float, retry: int, *, cap: float, multiplier: float = 2.0
) -> float:
    """``initial * multiplier ** (retry - 1)``, capped at `cap`, for any `retry` however large.

    The exponent is bounded before the power is taken: past the retry that reaches `cap`, the
    result is `cap`, with no float or `timedelta` grown out of range on the way (every backoff in
    Passerelle is computed here).
    """
    if initial < 0 or cap < 0:
        raise ValueError(f"backoff delays must not be negative, got {initial} and {cap}")
    if multiplier < 1:
        raise ValueError(f"multiplier must be at least 1, got {multiplier}")
    if initial == 0 or initial >= cap:
        return min(initial, cap)
    if multiplier == 1:
        return initial
    # Retries after the one that reaches the cap all wait the cap.
    # Logarithms apart: cap / initial overflows for an initial delay near zero.
    steps_to_cap = math.ceil((math.log(cap) - math.log(initial)) / math.log(multiplier))
    exponent = min(max(0, retry - 1), steps_to_cap)
    try:
        grown = multiplier**exponent
    except OverflowError:  # a first delay so small that the cap is a thousand doublings away
        return cap
    return min(cap, initial * grown)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay in seconds or HTTP date).

    None when absent or unreadable; never negative (a date in the past means now).
    """
    if value is None:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries.

    Retried: connection failures and timeouts, 408, 409 ``idempotency_key_in_use``, 429 and 5xx
    (see `BackendError.retryable`). Every write keeps its idempotency key across retries, so a
    retry never does the work twice. After `max_attempts` attempts in all, the last error is
    raised.
    """

    max_attempts: int = 4
    """Attempts in all, the first included; 1 disables retries."""
    initial_delay: float = 0.5
    """Backoff ceiling before the first retry, in seconds; it doubles for each retry after."""
    max_delay: float = 8.0
    """Cap of the backoff, in seconds."""
    multiplier: float = 2.0
    max_retry_after: float = 60.0
    """Cap of a ``Retry-After`` wait, in seconds."""
    jitter: Jitter = field(default=full_jitter)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")

    def should_retry(self, error: BackendError, attempt: int) -> bool:
        """Whether to try again after `error` ended attempt number `attempt` (1-based)."""
        return attempt < self.max_attempts and error.retryable

    def backoff(self, retry: int, previous: float) -> float:
        """The jittered wait before retry number `retry` (1-based)."""
        ceiling = exponential_backoff(
            self.initial_delay, retry, cap=self.max_delay, multiplier=self.multiplier
        )
        drawn = self.jitter(base=self.initial_delay, ceiling=ceiling, previous=previous)
        return min(self.max_delay, max(0.0, drawn))

    def delay(self, error: BackendError, retry: int, previous: float, now: datetime) -> float:
        """The wait before retry number `retry`: the answer's ``Retry-After`` or the backoff."""
        if isinstance(error, APIStatusError):
            asked = parse_retry_after(error.retry_after, now)
            if asked is not None:
                return min(asked, self.max_retry_after)
        return self.backoff(retry, previous)
