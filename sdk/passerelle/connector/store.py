"""The connector's durable store: the inbox of deliveries, the work queue and the action center.

The receiver appends each verified delivery and answers the platform only once `append` has
returned: the delivery is then committed and durable. Dispatcher workers `claim` deliveries under
a lease and settle each claim with `complete`, `ignore`, `retry_later`, `defer` or `fail`.

Lanes. Deliveries that share an ordering key (usually the order id) form a lane, processed one at
a time in arrival (id) order; lanes run in parallel, and a delivery without an ordering key is a
lane of its own. A delivery is claimable when it is pending and due (or its worker's lease has
expired), no other delivery of its lane is held under a live lease, and no earlier delivery of
its lane is still waiting (pending, including one waiting for a retry, or processing). Two
outcomes take a delivery out of that order:

- `defer`: the delivery cannot apply yet (a refund before its fulfilment). It steps aside: later
  deliveries of its lane go first, and it is retried once it is due and no other delivery of its
  lane is waiting, oldest deferred first. The dispatcher fails it once the missing event
  evidently never comes.
- `fail`: the delivery is parked in the action center and the lane moves on. `requeue` puts it
  back in its original place: it waits for the lane to be free, then goes before any later
  delivery still waiting.

Crashes. A claim whose worker died is claimable again when its lease expires; the abandoned
attempt is recorded as `lease_expired`. A worker whose lease was lost gets `LeaseLostError`
when it settles the claim, and nothing changes. A worker may settle after its lease expired as
long as no one claimed the delivery again.

Versions. `record_version` keeps the time of the newest state seen of each platform object
(per platform and store), so the dispatcher can tell a delivery reporting an older state.

Open a store with `open_store("sqlite:////var/lib/passerelle/inbox.db")` or
`open_store("postgresql://user@host/db")`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx

from passerelle.clock import Clock, SystemClock
from passerelle.platforms import WebhookRequest
from passerelle.redaction import redact_url

__all__ = [
    "AppendResult",
    "Attempt",
    "AttemptResult",
    "Claim",
    "Delivery",
    "DeliveryNotFoundError",
    "DeliveryStateError",
    "DeliveryStatus",
    "DeliveryStore",
    "ErrorInfo",
    "LeaseLostError",
    "NewDelivery",
    "Note",
    "NoteAction",
    "SchemaVersionError",
    "StoreClosedError",
    "StoreError",
    "open_store",
    "store_url_problem",
]

T = TypeVar("T")


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


class StoreError(Exception):
    """The store refused an operation or could not complete it."""


class StoreClosedError(StoreError):
    """The store was used after `close()`."""


class LeaseLostError(StoreError):
    """The worker no longer holds the claim it tries to settle; nothing was changed."""

    def __init__(self, message: str, *, delivery_id: int) -> None:
        super().__init__(message)
        self.delivery_id = delivery_id


class DeliveryNotFoundError(StoreError, LookupError):
    """No delivery has the given id."""

    def __init__(self, message: str, *, ids: Sequence[int]) -> None:
        super().__init__(message)
        self.ids = tuple(ids)

    def __str__(self) -> str:
        # LookupError would quote the message like a dictionary key.
        return str(self.args[0])


class DeliveryStateError(StoreError):
    """An action center operation on deliveries in a status it does not apply to."""


class SchemaVersionError(StoreError):
    """The database was migrated by a newer Passerelle than this one."""


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
    """A worker's hold on a delivery until `lease_expires_at`; settle it exactly once."""

    delivery: Delivery
    worker_id: str
    attempt: int
    token: str = field(repr=False)
    lease_expires_at: datetime

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


class DeliveryStore(abc.ABC):
    """The inbox, work queue and action center; see the module documentation for the rules.

    Every method is safe to call from several threads. Times come from the store's clock unless
    given.
    """

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


def open_store(url: str, *, clock: Clock | None = None, pool_size: int = 10) -> DeliveryStore:
    """Open (creating and migrating as needed) the store at `url`.

    - `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`: one file, for one machine
      (the usual SQLAlchemy form: three slashes, then the path).
    - `postgresql://user@host:port/db?options=-csearch_path%3Dschema`: shared by several
      machines; tables live in the connection's current schema. `pool_size` bounds the
      connections this process opens.
    """
    clock = clock or SystemClock()
    problem = store_url_problem(url)
    if problem is not None:
        raise ValueError(f"store URL {redact_url(url)!r} {problem}")
    if url.startswith("sqlite:"):
        from passerelle.connector.sqlite_store import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"), clock=clock)
    from passerelle.connector.postgres_store import PostgresStore

    return PostgresStore(url, clock=clock, pool_size=pool_size)


def store_url_problem(url: str) -> str | None:
    """What makes `url` unfit for `open_store` (``must ...``), or None; the configuration
    checks a store URL with this same function."""
    scheme, _, rest = url.partition(":")
    if scheme == "sqlite":
        path = rest[3:] if rest.startswith("///") else ""
        if not path or path == ":memory:":
            return (
                "must name a database file, as in sqlite:///inbox.db (relative) or "
                "sqlite:////var/lib/passerelle/inbox.db (absolute)"
            )
        return None
    if scheme in ("postgresql", "postgres"):
        return None
    return "must start with sqlite:/// or postgresql://"


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


# ---------------------------------------------------------------------------------------------
# The SQL both backends share. Statements use `:name` parameters; each backend's transaction
# adapter maps them to its driver. Statement text is put together from constants only (hence the
# S608 waivers); every value travels as a parameter.

_COLUMNS = (
    "id, platform, store, delivery_key, ordering_key, headers, body, received_at, status,"
    " deferred, attempts, next_attempt_at, claimed_by, lease_expires_at, error_code,"
    " error_message, first_failed_at, last_failed_at, finished_at, outcome"
)


def _due(alias: str) -> str:
    return (
        f"(({alias}.status = 'pending' AND {alias}.next_attempt_at <= :now)"
        f" OR ({alias}.status = 'processing' AND {alias}.lease_expires_at <= :now))"
    )


_LANE = "e.platform = d.platform AND e.store = d.store AND e.ordering_key = d.ordering_key"
_OPEN_E = "e.status IN ('pending', 'processing')"

CLAIMABLE = f"""
d.status IN ('pending', 'processing') AND {_due("d")}
AND (d.ordering_key IS NULL OR (
    NOT EXISTS (
        SELECT 1 FROM deliveries e
        WHERE {_LANE} AND e.status = 'processing' AND e.lease_expires_at > :now AND e.id <> d.id
    )
    AND NOT EXISTS (
        SELECT 1 FROM deliveries e
        WHERE {_LANE} AND {_OPEN_E} AND e.id < d.id AND NOT e.deferred
    )
    AND (NOT d.deferred OR (
        NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE {_LANE} AND {_OPEN_E} AND e.id <> d.id AND NOT e.deferred
        )
        AND NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE {_LANE} AND {_OPEN_E} AND e.deferred AND e.id < d.id AND {_due("e")}
        )
    ))
))
"""  # noqa: S608
"""The lane rule as SQL on `deliveries d` at time `:now`. A lane is one ordering key of one
store of one platform: two shops' order 1001 are different orders. In turn: another delivery of
the lane under a live lease blocks everything; a waiting delivery that has not stepped aside
blocks the later ones, and every other one when `d` has stepped aside; among due deferred
deliveries the oldest goes first. Hence at most one delivery per lane is claimable at any moment.

Each test is a search of its own that an index answers (the live leases of a lane, the lane's
deliveries before `d`), so a claim costs the same however long a lane's backlog: one search
over every condition at once would read a lane head's whole lane."""


class Tx(Protocol):
    """One transaction as the shared SQL sees it."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run `sql` and return every row it yields."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run `sql` and return how many rows it changed."""


class SQLDeliveryStore(DeliveryStore):
    """The store over SQL; a backend supplies transactions, value conversions and the way
    candidates are picked and locked for a claim."""

    random_id_sql: str
    """An SQL expression for a fresh random claim token."""
    lock_rows: str
    """Appended to a SELECT whose rows are about to be changed (FOR UPDATE where it exists)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    # -- what a backend provides -----------------------------------------------------------

    @abc.abstractmethod
    def write(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in a write transaction and return its result once it is durable; if
        `work` raises, nothing it did is kept."""

    @abc.abstractmethod
    def read(self, work: Callable[[Tx], T]) -> T:
        """Run `work` on a consistent snapshot."""

    @abc.abstractmethod
    def candidates(self, tx: Tx, *, limit: int, now: datetime) -> list[int]:
        """Ids worth claiming, locked as the backend needs so that the claim's final check
        (`CLAIMABLE` again, in the same transaction) cannot race with another worker."""

    @abc.abstractmethod
    def id_in(self, column: str) -> str:
        """An SQL condition: `column` is one of the ids in the `:ids` parameter."""

    @abc.abstractmethod
    def to_db_ids(self, ids: Sequence[int]) -> Any:
        """The `:ids` parameter for `id_in`, however many ids there are."""

    @abc.abstractmethod
    def to_db_time(self, value: datetime) -> Any: ...

    @abc.abstractmethod
    def from_db_time(self, value: Any) -> datetime: ...

    @abc.abstractmethod
    def to_db_headers(self, headers: Headers) -> Any: ...

    @abc.abstractmethod
    def from_db_headers(self, value: Any) -> Headers: ...

    def to_db_body(self, body: bytes) -> Any:
        """The body as the backend keeps it (as is unless the backend encodes it)."""
        return body

    def from_db_body(self, value: Any) -> bytes:
        """The body exactly as it was received, from what `to_db_body` made of it."""
        return bytes(value)

    # -- the inbox -------------------------------------------------------------------------

    def append(self, delivery: NewDelivery) -> AppendResult:
        return self.write(lambda tx: self.append_in(tx, delivery))

    def append_in(self, tx: Tx, delivery: NewDelivery) -> AppendResult:
        """`append` inside a transaction the backend already opened."""
        params = {
            "platform": delivery.platform,
            "store": delivery.store,
            "delivery_key": delivery.delivery_key,
            "ordering_key": delivery.ordering_key,
            "headers": self.to_db_headers(delivery.headers),
            "body": self.to_db_body(delivery.body),
            "received_at": self.to_db_time(delivery.received_at),
        }
        inserted = tx.rows(
            "INSERT INTO deliveries (platform, store, delivery_key, ordering_key, headers, body,"
            " received_at, next_attempt_at)"
            " VALUES (:platform, :store, :delivery_key, :ordering_key, :headers, :body,"
            " :received_at, :received_at)"
            " ON CONFLICT (platform, store, delivery_key) DO NOTHING RETURNING id",
            params,
        )
        if inserted:
            return AppendResult(id=int(inserted[0][0]), duplicate=False)
        existing = tx.rows(
            "SELECT id FROM deliveries"
            " WHERE platform = :platform AND store = :store AND delivery_key = :delivery_key",
            params,
        )
        return AppendResult(id=int(existing[0][0]), duplicate=True)

    # -- the work queue --------------------------------------------------------------------

    def claim(
        self, worker_id: str, *, limit: int, lease: timedelta, now: datetime | None = None
    ) -> list[Claim]:
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        if limit < 1:
            raise ValueError(f"claim limit must be at least 1, got {limit}")
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, got {lease}")
        at = self._now(now)
        until = at + lease

        def work(tx: Tx) -> list[Claim]:
            ids = self.candidates(tx, limit=limit, now=at)
            if not ids:
                return []
            rows = tx.rows(
                "UPDATE deliveries AS d SET status = 'processing', attempts = attempts + 1,"  # noqa: S608
                f" claimed_by = :worker, claim_token = {self.random_id_sql},"
                " lease_expires_at = :until"
                f" WHERE {self.id_in('d.id')} AND {CLAIMABLE}"
                f" RETURNING {_COLUMNS}, claim_token",
                {
                    "ids": self.to_db_ids(ids),
                    "worker": worker_id,
                    "until": self.to_db_time(until),
                    "now": self.to_db_time(at),
                },
            )
            claims = []
            for row in sorted(rows, key=lambda row: int(row[0])):
                delivery = self._delivery(row[:-1])
                number_params = {
                    "id": delivery.id,
                    "number": delivery.attempts,
                    "now": self.to_db_time(at),
                }
                tx.execute(
                    "UPDATE attempts SET finished_at = :now, result = 'lease_expired'"
                    " WHERE delivery_id = :id AND finished_at IS NULL",
                    number_params,
                )
                tx.execute(
                    "INSERT INTO attempts (delivery_id, number, worker_id, started_at,"
                    " lease_expires_at) VALUES (:id, :number, :worker, :now, :until)",
                    {**number_params, "worker": worker_id, "until": self.to_db_time(until)},
                )
                claims.append(
                    Claim(
                        delivery=delivery,
                        worker_id=worker_id,
                        attempt=delivery.attempts,
                        token=str(row[-1]),
                        lease_expires_at=until,
                    )
                )
            return claims

        return self.write(work)

    def extend(self, claim: Claim, lease: timedelta) -> Claim:
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, got {lease}")
        until = self.clock.now() + lease

        def work(tx: Tx) -> None:
            changed = tx.execute(
                "UPDATE deliveries SET lease_expires_at = :until"
                " WHERE id = :id AND claim_token = :token AND status = 'processing'",
                {"until": self.to_db_time(until), "id": claim.id, "token": claim.token},
            )
            if not changed:
                raise self._lost(tx, claim)
            tx.execute(
                "UPDATE attempts SET lease_expires_at = :until"
                " WHERE delivery_id = :id AND number = :number",
                {"until": self.to_db_time(until), "id": claim.id, "number": claim.attempt},
            )

        self.write(work)
        return replace(
            claim, lease_expires_at=until, delivery=replace(claim.delivery, lease_expires_at=until)
        )

    def complete(self, claim: Claim, outcome: str) -> None:
        self._settle(
            claim,
            AttemptResult.DONE,
            "status = 'done', finished_at = :now, outcome = :outcome",
            {"outcome": outcome},
        )

    def ignore(self, claim: Claim, reason: str) -> None:
        self._settle(
            claim,
            AttemptResult.IGNORED,
            "status = 'ignored', finished_at = :now, outcome = :outcome",
            {"outcome": reason},
        )

    def retry_later(self, claim: Claim, at: datetime, error: ErrorInfo) -> None:
        _require_aware(at, "retry time")
        self._settle(
            claim,
            AttemptResult.RETRY,
            "status = 'pending', next_attempt_at = :at, error_code = :code,"
            " error_message = :message, first_failed_at = COALESCE(first_failed_at, :now),"
            " last_failed_at = :now",
            {"at": self.to_db_time(at)},
            error,
        )

    def defer(self, claim: Claim, at: datetime, error: ErrorInfo) -> None:
        _require_aware(at, "deferral time")
        self._settle(
            claim,
            AttemptResult.DEFERRED,
            "status = 'pending', deferred = TRUE, next_attempt_at = :at, error_code = :code,"
            " error_message = :message",
            {"at": self.to_db_time(at)},
            error,
        )

    def fail(self, claim: Claim, error: ErrorInfo) -> None:
        self._settle(
            claim,
            AttemptResult.FAILED,
            "status = 'failed', finished_at = :now, error_code = :code,"
            " error_message = :message, first_failed_at = COALESCE(first_failed_at, :now),"
            " last_failed_at = :now",
            {},
            error,
        )

    def _settle(
        self,
        claim: Claim,
        result: AttemptResult,
        assignments: str,
        params: Mapping[str, Any],
        error: ErrorInfo | None = None,
    ) -> None:
        now = self.to_db_time(self.clock.now())
        values = {
            **params,
            "id": claim.id,
            "token": claim.token,
            "number": claim.attempt,
            "now": now,
            "result": result.value,
            "code": error.code if error else None,
            "message": error.message if error else None,
        }

        def work(tx: Tx) -> None:
            changed = tx.execute(
                f"UPDATE deliveries SET {assignments}, claimed_by = NULL, claim_token = NULL,"  # noqa: S608
                " lease_expires_at = NULL"
                " WHERE id = :id AND claim_token = :token AND status = 'processing'",
                values,
            )
            if not changed:
                raise self._lost(tx, claim)
            tx.execute(
                "UPDATE attempts SET finished_at = :now, result = :result, error_code = :code,"
                " error_message = :message WHERE delivery_id = :id AND number = :number",
                values,
            )

        self.write(work)

    def _lost(self, tx: Tx, claim: Claim) -> LeaseLostError:
        rows = tx.rows("SELECT status, claimed_by FROM deliveries WHERE id = :id", {"id": claim.id})
        held = (
            f"delivery {claim.id}: the claim of worker {claim.worker_id} (attempt {claim.attempt})"
        )
        if not rows:
            return LeaseLostError(
                f"{held} was lost: the delivery no longer exists", delivery_id=claim.id
            )
        status, holder = rows[0]
        if status == DeliveryStatus.PROCESSING:
            why = f"its lease expired and worker {holder} claimed the delivery again"
        else:
            why = f"the delivery is now {status}"
        return LeaseLostError(f"{held} was lost: {why}", delivery_id=claim.id)

    # -- versions --------------------------------------------------------------------------

    def record_version(
        self, platform: str, store: str, subject: str, as_of: datetime
    ) -> datetime | None:
        for name, value in (("platform", platform), ("store", store), ("subject", subject)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"version {name} must be a non-empty string")
        _require_aware(as_of, "version as_of")
        params = {
            "platform": platform,
            "store": store,
            "subject": subject,
            "as_of": self.to_db_time(as_of),
        }

        def work(tx: Tx) -> Any:
            tx.execute(
                "INSERT INTO versions (platform, store, subject, as_of)"
                " VALUES (:platform, :store, :subject, :as_of)"
                " ON CONFLICT (platform, store, subject) DO UPDATE SET as_of = excluded.as_of"
                " WHERE excluded.as_of > versions.as_of",
                params,
            )
            rows = tx.rows(
                "SELECT as_of FROM versions"
                " WHERE platform = :platform AND store = :store AND subject = :subject",
                params,
            )
            return rows[0][0]

        recorded = self.from_db_time(self.write(work))
        return recorded if recorded > as_of else None

    # -- the action center -----------------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery:
        rows = self.read(
            lambda tx: tx.rows(
                f"SELECT {_COLUMNS} FROM deliveries WHERE id = :id",  # noqa: S608
                {"id": delivery_id},
            )
        )
        if not rows:
            raise DeliveryNotFoundError(f"no delivery {delivery_id}", ids=[delivery_id])
        return self._delivery(rows[0])

    def list_failures(
        self,
        *,
        platform: str | None = None,
        store: str | None = None,
        since: datetime | None = None,
        include_dismissed: bool = False,
    ) -> list[Delivery]:
        statuses = "('failed', 'dismissed')" if include_dismissed else "('failed')"
        where = [f"status IN {statuses}"]
        params: dict[str, Any] = {}
        if platform is not None:
            where.append("platform = :platform")
            params["platform"] = platform
        if store is not None:
            where.append("store = :store")
            params["store"] = store
        if since is not None:
            _require_aware(since, "since")
            where.append("last_failed_at >= :since")
            params["since"] = self.to_db_time(since)
        rows = self.read(
            lambda tx: tx.rows(
                f"SELECT {_COLUMNS} FROM deliveries WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608
                params,
            )
        )
        return [self._delivery(row) for row in rows]

    def attempts(self, delivery_id: int) -> list[Attempt]:
        rows = self._history(
            delivery_id,
            "SELECT number, worker_id, started_at, lease_expires_at, finished_at, result,"
            " error_code, error_message FROM attempts WHERE delivery_id = :id ORDER BY number",
        )
        return [
            Attempt(
                number=int(number),
                worker_id=worker,
                started_at=self.from_db_time(started),
                lease_expires_at=self.from_db_time(expires),
                finished_at=self._maybe_time(finished),
                result=AttemptResult(result) if result is not None else None,
                error=ErrorInfo(code, message or "") if code is not None else None,
            )
            for number, worker, started, expires, finished, result, code, message in rows
        ]

    def notes(self, delivery_id: int) -> list[Note]:
        rows = self._history(
            delivery_id,
            "SELECT at, action, note FROM notes WHERE delivery_id = :id ORDER BY id",
        )
        return [
            Note(at=self.from_db_time(at), action=NoteAction(action), text=text)
            for at, action, text in rows
        ]

    def _history(self, delivery_id: int, sql: str) -> list[tuple[Any, ...]]:
        def work(tx: Tx) -> list[tuple[Any, ...]] | None:
            if not tx.rows("SELECT 1 FROM deliveries WHERE id = :id", {"id": delivery_id}):
                return None
            return tx.rows(sql, {"id": delivery_id})

        rows = self.read(work)
        if rows is None:
            raise DeliveryNotFoundError(f"no delivery {delivery_id}", ids=[delivery_id])
        return rows

    def requeue(self, ids: Iterable[int], note: str = "") -> None:
        wanted = _require_ids(ids)
        now = self.to_db_time(self.clock.now())

        def work(tx: Tx) -> None:
            self._check_statuses(
                tx, wanted, (DeliveryStatus.FAILED, DeliveryStatus.DISMISSED), "requeue", "requeued"
            )
            tx.execute(
                "UPDATE deliveries SET status = 'pending', deferred = FALSE,"  # noqa: S608
                " next_attempt_at = :now, finished_at = NULL, outcome = NULL"
                f" WHERE {self.id_in('id')}",
                {"ids": self.to_db_ids(wanted), "now": now},
            )
            self._note(tx, wanted, NoteAction.REQUEUED, note, now)

        self.write(work)

    def dismiss(self, ids: Iterable[int], note: str) -> None:
        wanted = _require_ids(ids)
        if not note.strip():
            raise ValueError("a dismissal needs a note saying why")
        now = self.to_db_time(self.clock.now())

        def work(tx: Tx) -> None:
            self._check_statuses(tx, wanted, (DeliveryStatus.FAILED,), "dismiss", "dismissed")
            tx.execute(
                f"UPDATE deliveries SET status = 'dismissed' WHERE {self.id_in('id')}",  # noqa: S608
                {"ids": self.to_db_ids(wanted)},
            )
            self._note(tx, wanted, NoteAction.DISMISSED, note, now)

        self.write(work)

    def requeue_for_replay(
        self,
        *,
        since: datetime | None = None,
        ordering_key: str | None = None,
        platform: str | None = None,
        store: str | None = None,
        note: str = "",
    ) -> int:
        now = self.to_db_time(self.clock.now())
        where = ["status IN ('done', 'ignored', 'failed')"]
        params: dict[str, Any] = {"now": now}
        if since is not None:
            _require_aware(since, "since")
            where.append("received_at >= :since")
            params["since"] = self.to_db_time(since)
        for name, value in (
            ("ordering_key", ordering_key),
            ("platform", platform),
            ("store", store),
        ):
            if value is not None:
                where.append(f"{name} = :{name}")
                params[name] = value

        def work(tx: Tx) -> int:
            rows = tx.rows(
                "UPDATE deliveries SET status = 'pending', deferred = FALSE,"  # noqa: S608
                " next_attempt_at = :now, finished_at = NULL, outcome = NULL"
                f" WHERE id IN (SELECT id FROM deliveries WHERE {' AND '.join(where)}"
                f" ORDER BY id{self.lock_rows}) RETURNING id",
                params,
            )
            replayed = sorted(int(row[0]) for row in rows)
            self._note(tx, replayed, NoteAction.REPLAYED, note, now)
            return len(replayed)

        return self.write(work)

    def _check_statuses(
        self, tx: Tx, ids: list[int], allowed: tuple[DeliveryStatus, ...], verb: str, past: str
    ) -> None:
        found = {
            int(row[0]): DeliveryStatus(row[1])
            for row in tx.rows(
                f"SELECT id, status FROM deliveries WHERE {self.id_in('id')} ORDER BY id"  # noqa: S608
                f"{self.lock_rows}",
                {"ids": self.to_db_ids(ids)},
            )
        }
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise DeliveryNotFoundError(
                f"no delivery {', '.join(missing)}; nothing was {past}",
                ids=[int(i) for i in missing],
            )
        wrong = [f"{i} ({found[i]})" for i in ids if found[i] not in allowed]
        if wrong:
            kinds = " or ".join(allowed)
            raise DeliveryStateError(
                f"cannot {verb} delivery {', '.join(wrong)}: only {kinds} deliveries can be"
                f" {past}; nothing was {past}"
            )

    def _note(self, tx: Tx, ids: list[int], action: NoteAction, text: str, at: Any) -> None:
        for delivery_id in ids:
            tx.execute(
                "INSERT INTO notes (delivery_id, at, action, note)"
                " VALUES (:id, :at, :action, :note)",
                {"id": delivery_id, "at": at, "action": action.value, "note": text},
            )

    def stats(self) -> dict[DeliveryStatus, int]:
        rows = self.read(
            lambda tx: tx.rows("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
        )
        counts = dict.fromkeys(DeliveryStatus, 0)
        for status, count in rows:
            counts[DeliveryStatus(status)] = int(count)
        return counts

    def ping(self) -> None:
        self.read(lambda tx: tx.rows("SELECT MAX(version) FROM schema_version"))

    # -- conversions -----------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        if now is None:
            return self.clock.now()
        _require_aware(now, "now")
        return now

    def _maybe_time(self, value: Any) -> datetime | None:
        return None if value is None else self.from_db_time(value)

    def _delivery(self, row: Sequence[Any]) -> Delivery:
        (
            delivery_id,
            platform,
            store,
            delivery_key,
            ordering_key,
            headers,
            body,
            received_at,
            status,
            deferred,
            attempts,
            next_attempt_at,
            claimed_by,
            lease_expires_at,
            error_code,
            error_message,
            first_failed_at,
            last_failed_at,
            finished_at,
            outcome,
        ) = row
        return Delivery(
            id=int(delivery_id),
            platform=platform,
            store=store,
            delivery_key=delivery_key,
            ordering_key=ordering_key,
            headers=self.from_db_headers(headers),
            body=self.from_db_body(body),
            received_at=self.from_db_time(received_at),
            status=DeliveryStatus(status),
            deferred=bool(deferred),
            attempts=int(attempts),
            next_attempt_at=self.from_db_time(next_attempt_at),
            claimed_by=claimed_by,
            lease_expires_at=self._maybe_time(lease_expires_at),
            last_error=ErrorInfo(error_code, error_message or "")
            if error_code is not None
            else None,
            first_failed_at=self._maybe_time(first_failed_at),
            last_failed_at=self._maybe_time(last_failed_at),
            finished_at=self._maybe_time(finished_at),
            outcome=outcome,
        )
