"""What the store keeps and hands out: deliveries, claims, attempts and notes, and their states."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import httpx

from passerelle.platforms import WebhookRequest

__all__ = [
    "AppendResult",
    "Attempt",
    "AttemptResult",
    "Backlog",
    "BatchVersion",
    "Claim",
    "Delivery",
    "DeliveryStatus",
    "ErrorInfo",
    "Headers",
    "NewDelivery",
    "Note",
    "NoteAction",
    "StoreBacklog",
]


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    """Waiting for its turn in its lane, or for `next_attempt_at`."""
    PROCESSING = "processing"
    """Claimed by a worker under a lease."""
    DONE = "done"
    IGNORED = "ignored"
    FAILED = "failed"
    """Parked in the action center."""
    DISMISSED = "dismissed"
    """Taken out of the action center by hand."""


class AttemptResult(StrEnum):
    """How one attempt at a delivery ended."""

    DONE = "done"
    IGNORED = "ignored"
    RETRY = "retry"
    DEFERRED = "deferred"
    FAILED = "failed"
    LEASE_EXPIRED = "lease_expired"


class NoteAction(StrEnum):
    """What was done to a delivery by hand."""

    REQUEUED = "requeued"
    DISMISSED = "dismissed"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class ErrorInfo:
    """Why an attempt did not succeed: a stable `code` and a message for people."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise ValueError("error code must not be empty")


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class NewDelivery:
    """A verified delivery as the receiver hands it to `append`."""

    platform: str
    store: str
    delivery_key: str
    """The de-duplication key: a second delivery with the same (platform, store, key) is a
    duplicate."""
    ordering_key: str | None
    headers: Headers = field(repr=False)
    """Every header as received, in order, names in their original case."""
    body: bytes = field(repr=False)
    received_at: datetime

    def __post_init__(self) -> None:
        for name in ("platform", "store", "delivery_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"delivery {name} must be a non-empty string")
        if self.ordering_key is not None and (
            not isinstance(self.ordering_key, str) or not self.ordering_key
        ):
            raise ValueError("delivery ordering_key must be None or a non-empty string")
        headers = self.headers
        # The receiver's headers are already a tuple of string pairs: check that in one pass and
        # only look closer (to name the bad entry) when it is not so.
        if not (type(headers) is tuple and all(_is_header(pair) for pair in headers)):
            headers = tuple(headers)
            for index, pair in enumerate(headers):
                if (
                    not isinstance(pair, tuple | list)
                    or len(pair) != 2
                    or not all(isinstance(part, str) for part in pair)
                ):
                    raise ValueError(
                        f"delivery headers[{index}] must be a (name, value) pair of strings"
                    )
            object.__setattr__(self, "headers", tuple((name, value) for name, value in headers))
        if not isinstance(self.body, bytes):
            raise ValueError("delivery body must be bytes")
        _require_aware(self.received_at, "delivery received_at")

    @classmethod
    def from_request(
        cls, request: WebhookRequest, *, delivery_key: str, ordering_key: str | None
    ) -> NewDelivery:
        """The delivery for a verified `request`, headers byte for byte."""
        return cls(
            platform=request.platform,
            store=request.store,
            delivery_key=delivery_key,
            ordering_key=ordering_key,
            headers=tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.headers.raw
            ),
            body=request.body,
            received_at=request.received_at,
        )


@dataclass(frozen=True)
class Delivery:
    """A stored delivery and where it stands."""

    id: int
    platform: str
    store: str
    delivery_key: str
    ordering_key: str | None
    headers: Headers = field(repr=False)
    body: bytes = field(repr=False)
    received_at: datetime
    status: DeliveryStatus
    deferred: bool
    """Stepped aside in its lane (see `DeliveryStore.defer`)."""
    attempts: int
    """Claims so far, across retries, requeues and replays."""
    next_attempt_at: datetime
    claimed_by: str | None
    lease_expires_at: datetime | None
    last_error: ErrorInfo | None
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    """What the delivery became (events applied, or why it was ignored), as the worker said."""

    def to_request(self) -> WebhookRequest:
        """The request as it was received, for the platform to translate (again)."""
        return WebhookRequest(
            platform=self.platform,
            store=self.store,
            headers=httpx.Headers(
                [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]
            ),
            body=self.body,
            received_at=self.received_at,
        )


@dataclass(frozen=True)
class AppendResult:
    """The delivery's id; `duplicate` when the same delivery was appended before."""

    id: int
    duplicate: bool


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a delivery until `lease_expires_at`; settle it exactly once.

    It carries what the worker needs to judge the attempt, read with the claim: since the last
    thing a person did to the delivery (a retry, a replay, a dismissal), how many attempts
    there were, when it first waited for an event it depends on, and how many attempts in a row
    ended abnormally (their lease ran out unsettled)."""

    delivery: Delivery
    worker_id: str
    attempt: int
    token: str = field(repr=False)
    lease_expires_at: datetime
    redispatches: int = 0
    """How many times a person sent the delivery again (retried or replayed it)."""
    attempts_since_action: int = 1
    """Attempts since the last thing done by hand (or ever), this one included."""
    waiting_since: datetime | None = None
    """When it was first deferred since the last thing done by hand; None if it was not."""
    abnormal_ends: int = 0
    """Attempts just before this one, since the last thing done by hand, that each ended with
    the lease running out unsettled (its worker died, hung or was killed)."""

    @property
    def id(self) -> int:
        return self.delivery.id


@dataclass(frozen=True)
class Attempt:
    """One claim of a delivery; `result` is None while it runs."""

    number: int
    worker_id: str
    started_at: datetime
    lease_expires_at: datetime
    finished_at: datetime | None
    result: AttemptResult | None
    error: ErrorInfo | None


@dataclass(frozen=True)
class Note:
    """An action taken on a delivery by hand, for the audit trail."""

    at: datetime
    action: NoteAction
    text: str


@dataclass(frozen=True)
class Backlog:
    """What waits to be dispatched: how many, and since when the oldest has waited."""

    pending: int
    """Waiting for their turn (not stepped aside)."""
    deferred: int
    """Stepped aside until what they depend on arrives."""
    processing: int
    """In a worker's hands."""
    oldest_received_at: datetime | None
    """When the oldest of them all was received; None when nothing waits."""


@dataclass(frozen=True)
class StoreBacklog:
    """Where the deliveries of one store of one platform stand; times are when the oldest was
    received."""

    platform: str
    store: str
    waiting: int
    """Pending (or being processed) in their lane's order."""
    oldest_waiting_at: datetime | None
    deferred: int
    """Stepped aside until what they need arrives (see `DeliveryStore.defer`)."""
    oldest_deferred_at: datetime | None
    failed: int
    """In the action center."""
    done_since: int
    """Applied since the time `DeliveryStore.backlog` was given."""


@dataclass(frozen=True)
class BatchVersion:
    """One version of a batch file: `number` 1 scheduled the batch, each later one edits it.

    `delivery_id` is the stored file it was read from; `batch` is the batch as the platform read
    it, as JSON (a `passerelle.batches.BatchFile`)."""

    platform: str
    store: str
    batch_id: str
    number: int
    delivery_id: int
    batch: str = field(repr=False)
    recorded_at: datetime


def _is_header(pair: object) -> bool:
    return type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a time-zone aware datetime")


def _require_ids(ids: Iterable[int]) -> list[int]:
    unique = sorted(set(ids))
    for value in unique:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"delivery ids must be integers, got {value!r}")
    if not unique:
        raise ValueError("give at least one delivery id")
    return unique
