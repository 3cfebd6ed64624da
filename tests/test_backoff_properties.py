"""Every backoff in Passerelle stays within its cap however many attempts came before: a
delivery that waits for days, a client retrying for ever, a worker waiting out a store outage."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from passerelle.backend.retry import (
    RetryPolicy,
    decorrelated_jitter,
    exponential_backoff,
    full_jitter,
    no_jitter,
)
from passerelle.connector.dispatcher import DispatchPolicy
from passerelle.connector.outages import StoreWait

attempts = st.integers(min_value=1, max_value=10**6)
delays = st.floats(min_value=0.0, max_value=86_400.0, allow_nan=False)
positive_delays = st.floats(min_value=0.001, max_value=3_600.0, allow_nan=False)
multipliers = st.floats(min_value=1.0, max_value=10.0, allow_nan=False)


@given(initial=delays, cap=delays, multiplier=multipliers, retry=attempts)
def test_exponential_backoff_is_within_its_cap_at_any_retry(
    initial: float, cap: float, multiplier: float, retry: int
) -> None:
    wait = exponential_backoff(initial, retry, cap=cap, multiplier=multiplier)
    assert 0.0 <= wait <= cap
    assert math.isfinite(wait)


@given(initial=positive_delays, cap=positive_delays, multiplier=multipliers, retry=attempts)
def test_exponential_backoff_grows_until_its_cap(
    initial: float, cap: float, multiplier: float, retry: int
) -> None:
    wait = exponential_backoff(initial, retry, cap=cap, multiplier=multiplier)
    later = exponential_backoff(initial, retry + 1, cap=cap, multiplier=multiplier)
    assert later >= wait
    if retry < 60:  # where the plain formula can still be computed
        assert math.isclose(wait, min(cap, initial * multiplier ** (retry - 1)), rel_tol=1e-9)


@given(
    initial=positive_delays,
    extra=delays,
    retry=attempts,
    previous=delays,
    jitter=st.sampled_from([full_jitter, decorrelated_jitter, no_jitter]),
)
def test_a_clients_retry_waits_at_most_max_delay(
    initial: float, extra: float, retry: int, previous: float, jitter: object
) -> None:
    policy = RetryPolicy(initial_delay=initial, max_delay=initial + extra, jitter=jitter)  # type: ignore[arg-type]
    wait = policy.backoff(retry, previous)
    assert 0.0 <= wait <= policy.max_delay


@given(
    attempt=attempts,
    waited=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=24)),
    defer_delay=st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(hours=1)),
    cap=positive_delays,
)
def test_a_deferral_waits_within_the_cap_and_never_past_defer_for(
    attempt: int, waited: timedelta, defer_delay: timedelta, cap: float
) -> None:
    policy = DispatchPolicy(
        defer_delay=defer_delay, backoff=RetryPolicy(initial_delay=min(1.0, cap), max_delay=cap)
    )
    wait = policy.defer_wait(attempt, waited)
    assert timedelta(0) <= wait <= timedelta(seconds=cap)
    assert waited + wait <= max(waited, policy.defer_for)


@given(tries=st.integers(min_value=1, max_value=2_000), cap=positive_delays)
def test_a_worker_waiting_for_the_store_tries_again_within_the_cap(tries: int, cap: float) -> None:
    wait = StoreWait(first=min(0.1, cap), cap=cap)
    waits = [wait.next() for _ in range(tries)]
    assert all(0.0 < w <= cap for w in waits)
    assert waits == sorted(waits)


def test_a_backoff_from_the_smallest_delay_reaches_its_cap() -> None:
    # cap / initial overflows to infinity here: the steps to the cap must not be counted so.
    assert exponential_backoff(5e-324, 10**6, cap=86_400.0) == 86_400.0
    assert exponential_backoff(5e-324, 1, cap=86_400.0) == 5e-324
