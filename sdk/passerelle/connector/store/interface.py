"""The store's interface: what the receiver, the dispatcher and the action center ask of it."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from passerelle.connector.outages import Outage
from passerelle.connector.store.records import (
    AppendResult,
    Attempt,
    Backlog,
    BatchVersion,
    Claim,
    Delivery,
    DeliveryStatus,
    ErrorInfo,
    NewDelivery,
    Note,
    StoreBacklog,
)

__all__ = ["DeliveryStore"]


class DeliveryStore(abc.ABC):
    """The inbox, work queue and action center; see the module documentation for the rules.

    Every method is safe to call from several threads. Times come from the store's clock unless
    given.
    """

    outage: Outage
    """Whether the store is in an outage, and since when; it logs the outage's start and end."""

    @abc.abstractmethod
    def append(self, delivery: NewDelivery) -> AppendResult:
        """Store `delivery` durably, or find the earlier one with the same de-duplication key."""

    async def append_async(self, delivery: NewDelivery) -> AppendResult:
        """`append` for an asyncio caller: the event loop is not blocked while it commits."""
        return await asyncio.to_thread(self.append, delivery)

    @abc.abstractmethod
    def claim(
        self, worker_id: str, *, limit: int, lease: timedelta, now: datetime | None = None
    ) -> list[Claim]:
        """Claim up to `limit` claimable deliveries, oldest first, at most one per lane."""

    @abc.abstractmethod
    def extend(self, claim: Claim, lease: timedelta) -> Claim:
        """Renew the lease of a slow attempt from now; raise `LeaseLostError` if it was lost."""

    @abc.abstractmethod
    def complete(self, claim: Claim, outcome: str) -> None:
        """The delivery was applied; `outcome` says what it became."""

    @abc.abstractmethod
    def ignore(self, claim: Claim, reason: str) -> None:
        """The delivery means nothing for the back end (a ping, a topic of no interest)."""

    @abc.abstractmethod
    def retry_later(self, claim: Claim, at: datetime, error: ErrorInfo) -> None:
        """A transient failure: retry at `at`. The delivery keeps its place: its lane waits."""

    @abc.abstractmethod
    def defer(self, claim: Claim, at: datetime, error: ErrorInfo) -> None:
        """The delivery cannot apply yet: it steps aside so later deliveries of its lane go
        first, and is retried from `at` once none of them is waiting."""

    @abc.abstractmethod
    def fail(self, claim: Claim, error: ErrorInfo) -> None:
        """A permanent failure: the delivery goes to the action center; its lane moves on."""

    @abc.abstractmethod
    def record_version(
        self, platform: str, store: str, subject: str, as_of: datetime
    ) -> datetime | None:
        """Note, atomically, that a delivery reports `subject` as of `as_of` (see
        `passerelle.platforms.Version`).

        Returns the newer time already recorded for the subject when there is one: the delivery
        is stale and nothing changes. Otherwise keeps `as_of` as the subject's newest state and
        returns None; an equal time is not stale, so a retry or a duplicate goes through.
        """

    @abc.abstractmethod
    def record_batch_version(
        self, platform: str, store: str, batch_id: str, delivery_id: int, batch: str
    ) -> tuple[BatchVersion, BatchVersion | None]:
        """Record, atomically, that file delivery `delivery_id` is the next version of batch
        `batch_id` (`batch` is the batch as JSON); return that version and the one before it
        (None for the first).

        A delivery is one version: recording it again (a retried dispatch) changes nothing and
        returns the same two versions, so the same file always diffs against the same one.
        """

    @abc.abstractmethod
    def latest_batch_versions(self, platform: str, store: str) -> list[BatchVersion]:
        """The newest version of each batch of the store, by batch id."""

    @abc.abstractmethod
    def batch_versions(self, platform: str, store: str, batch_id: str) -> list[BatchVersion]:
        """Every version of the batch, first first; empty for a batch never seen."""

    @abc.abstractmethod
    def get(self, delivery_id: int) -> Delivery:
        """The delivery with this id; `DeliveryNotFoundError` if none."""

    @abc.abstractmethod
    def list_failures(
        self,
        *,
        platform: str | None = None,
        store: str | None = None,
        since: datetime | None = None,
        include_dismissed: bool = False,
    ) -> list[Delivery]:
        """The action center: failed deliveries (last failed at or after `since`), by id."""

    @abc.abstractmethod
    def list_waiting(
        self,
        *,
        platform: str | None = None,
        store: str | None = None,
        deferred: bool | None = None,
        received_before: datetime | None = None,
    ) -> list[Delivery]:
        """Deliveries not settled yet (pending or processing), by id; `deferred` keeps only
        those stepped aside (True) or only the others (False), `received_before` only those
        received before then."""

    @abc.abstractmethod
    def backlog(self) -> Backlog:
        """How many deliveries wait, are deferred or in hand, and the oldest's arrival."""

    @abc.abstractmethod
    def store_backlogs(self, *, done_since: datetime) -> list[StoreBacklog]:
        """Per platform and store that has deliveries, how many wait, are deferred, failed,
        and were done since `done_since`; by platform, then store."""

    @abc.abstractmethod
    def attempts(self, delivery_id: int) -> list[Attempt]:
        """Every attempt at the delivery, first first."""

    @abc.abstractmethod
    def notes(self, delivery_id: int) -> list[Note]:
        """What was done to the delivery by hand, oldest first."""

    @abc.abstractmethod
    def requeue(self, ids: Iterable[int], note: str = "") -> None:
        """Retry failed or dismissed deliveries: back to pending at their original place in
        their lane, attempts kept, the action noted. All or nothing."""

    @abc.abstractmethod
    def dismiss(self, ids: Iterable[int], note: str) -> None:
        """Take failed deliveries out of the action center, saying why. All or nothing."""

    @abc.abstractmethod
    def requeue_for_replay(
        self,
        *,
        since: datetime | None = None,
        ordering_key: str | None = None,
        platform: str | None = None,
        store: str | None = None,
        note: str = "",
    ) -> int:
        """Dispatch finished deliveries (done, ignored, failed) received at or after `since`
        again, in their original order; return how many. Dismissed ones stay dismissed."""

    @abc.abstractmethod
    def stats(self) -> dict[DeliveryStatus, int]:
        """How many deliveries are in each status."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Check that the store answers, cheaply (a readiness probe); raise `StoreError` if not."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish what was started and release connections; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
