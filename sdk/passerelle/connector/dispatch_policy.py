"""`DispatchPolicy`: how the dispatcher works (workers, calls in flight, leases) and how patient
it is (attempts, backoff, deferrals, quarantine, batch cutoffs)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from passerelle.backend.retry import RetryPolicy, exponential_backoff
from passerelle.batches import StoreCutoffs
from passerelle.connector.workers import DEFAULT_CONCURRENCY

__all__ = ["DispatchPolicy"]


@dataclass(frozen=True)
class DispatchPolicy:
    """How the dispatcher works and how patient it is."""

    workers: int = 4
    """Threads that claim deliveries; each keeps its share of `in_hand` deliveries."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Back-end calls in flight at most, over all workers. The back end's latency divided into
    it bounds the deliveries per second."""
    lease: timedelta = timedelta(minutes=2)
    """How long a claim is held before another worker may take the delivery over. A worker
    renews it every third of it while it works, so only a worker that stopped (crashed, hung)
    loses its deliveries to another."""
    max_attempts: int = 12
    """Attempts at a delivery failing transiently before it goes to the action center."""
    backoff: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(initial_delay=1.0, max_delay=300.0)
    )
    """Waits between attempts: its backoff grows with the attempts, and a ``Retry-After`` is
    honoured up to its `max_delay` (its `max_attempts` and `max_retry_after` are not used here)."""
    defer_for: timedelta = timedelta(hours=24)
    """How long an event may wait for the one it depends on before the action center, from its
    first deferral (or from a retry or replay by hand)."""
    defer_delay: timedelta = timedelta(seconds=5)
    """First wait of a deferred delivery; it doubles up to the backoff's cap."""
    idle_wait: float = 0.5
    """Seconds an idle worker waits before looking for work again (a wake-up cuts it short)."""
    cutoffs: StoreCutoffs = field(default_factory=StoreCutoffs)
    """Until when each store's batches may change: a batch file edit past its cutoff goes to the
    action center (``batch_past_cutoff``) before any hook runs."""
    quarantine_after: int = 3
    """Attempts in a row that ended abnormally (the worker died, hung or was killed while it
    held the delivery, so its lease ran out) before the delivery is quarantined: filed to the
    action center and not claimed again until a person retries it."""
    store_wait: timedelta = timedelta(seconds=2)
    """Longest wait between two tries of a store that is unavailable: dispatch resumes within
    it once the store is back."""
    supervise_every: float = 1.0
    """Seconds between two checks that every worker runs; a worker that stopped is restarted."""

    def defer_wait(self, attempt: int, waited: timedelta) -> timedelta:
        """The wait before the next try of a delivery deferred at `attempt`, which has waited
        `waited` so far: `defer_delay` doubling up to the backoff's cap, and never past
        `defer_for`, so that the last try comes when the wait is up."""
        grown = exponential_backoff(
            self.defer_delay.total_seconds(), attempt, cap=self.backoff.max_delay
        )
        left = max(timedelta(0), self.defer_for - waited)
        return min(timedelta(seconds=grown), left)

    @property
    def in_hand(self) -> int:
        """Deliveries in hand at most: twice `concurrency`, so that while some wait on their
        claim or settle, others keep every call in flight."""
        return 2 * self.concurrency

    @property
    def slots_per_worker(self) -> int:
        """Deliveries each worker keeps in hand at most: its share of `in_hand`."""
        return math.ceil(self.in_hand / self.workers)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.concurrency < self.workers:
            raise ValueError(
                f"concurrency must be at least workers ({self.workers}): each worker keeps one"
                f" delivery in hand at least, got {self.concurrency}"
            )
        if self.quarantine_after < 1:
            raise ValueError(f"quarantine_after must be at least 1, got {self.quarantine_after}")
