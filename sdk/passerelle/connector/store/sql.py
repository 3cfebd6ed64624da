"""The store over SQL, shared by SQLite and PostgreSQL: every rule of the inbox, the work queue
and the action center, written once; a backend supplies transactions and conversions."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from passerelle.clock import Clock
from passerelle.connector.outages import Outage
from passerelle.connector.store.errors import (
    DeliveryNotFoundError,
    DeliveryStateError,
    LeaseLostError,
)
from passerelle.connector.store.interface import DeliveryStore
from passerelle.connector.store.records import (
    AppendResult,
    Attempt,
    AttemptResult,
    Backlog,
    BatchVersion,
    Claim,
    Delivery,
    DeliveryStatus,
    ErrorInfo,
    Headers,
    NewDelivery,
    Note,
    NoteAction,
    StoreBacklog,
    _require_aware,
    _require_ids,
)

__all__ = ["CLAIMABLE", "SQLDeliveryStore", "Tx"]

T = TypeVar("T")

logger = logging.getLogger("passerelle.store")

# ---------------------------------------------------------------------------------------------
# The SQL both backends share. Statements use `:name` parameters; each backend's transaction
# adapter maps them to its driver. Statement text is put together from constants only (hence the
# S608 waivers); every value travels as a parameter.

_COLUMNS = (
    "id, platform, store, delivery_key, ordering_key, headers, body, received_at, status,"
    " deferred, attempts, next_attempt_at, claimed_by, lease_expires_at, error_code,"
    " error_message, first_failed_at, last_failed_at, finished_at, outcome"
)

_BATCH_VERSION = (
    "SELECT platform, store, batch_id, number, delivery_id, batch, recorded_at FROM batch_versions"
)


def _due(alias: str) -> str:
    return (
        f"(({alias}.status = 'pending' AND {alias}.next_attempt_at <= :now)"
        f" OR ({alias}.status = 'processing' AND {alias}.lease_expires_at <= :now))"
    )


_LANE = "e.platform = d.platform AND e.store = d.store AND e.ordering_key = d.ordering_key"
_OPEN = "status IN ('pending', 'processing')"
_OPEN_E = f"e.{_OPEN}"

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

    def __init__(self, clock: Clock, where: str) -> None:
        self.clock = clock
        self.outage = Outage(where, logger)

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
                claim = Claim(
                    delivery=delivery,
                    worker_id=worker_id,
                    attempt=delivery.attempts,
                    token=str(row[-1]),
                    lease_expires_at=until,
                )
                # A first attempt has no history: only later ones pay for reading it.
                claims.append(claim if claim.attempt == 1 else self._with_history(tx, claim))
            return claims

        return self.write(work)

    def _with_history(self, tx: Tx, claim: Claim) -> Claim:
        """`claim` with what its attempts and notes say (see `Claim`), in two reads."""
        ((redispatches, last_action),) = tx.rows(
            "SELECT COUNT(CASE WHEN action IN ('requeued', 'replayed') THEN 1 END), MAX(at)"
            " FROM notes WHERE delivery_id = :id",
            {"id": claim.id},
        )
        since = "" if last_action is None else " AND started_at >= :since"
        ((count, first, deferred_at, last_normal),) = tx.rows(
            "SELECT COUNT(*), MIN(number),"  # noqa: S608
            " MIN(CASE WHEN result = 'deferred' THEN started_at END),"
            " MAX(CASE WHEN number < :number AND (result IS NULL OR result <> 'lease_expired')"
            f" THEN number END) FROM attempts WHERE delivery_id = :id{since}",
            {"id": claim.id, "number": claim.attempt, "since": last_action},
        )
        after = int(first) - 1 if last_normal is None else int(last_normal)
        return replace(
            claim,
            redispatches=int(redispatches),
            attempts_since_action=int(count),
            waiting_since=self._maybe_time(deferred_at),
            abnormal_ends=claim.attempt - 1 - after,
        )

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

    # -- batch versions --------------------------------------------------------------------

    def record_batch_version(
        self, platform: str, store: str, batch_id: str, delivery_id: int, batch: str
    ) -> tuple[BatchVersion, BatchVersion | None]:
        for name, value in (("platform", platform), ("store", store), ("batch id", batch_id)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"batch version {name} must be a non-empty string")
        params: dict[str, Any] = {
            "platform": platform,
            "store": store,
            "batch_id": batch_id,
            "delivery_id": delivery_id,
            "batch": batch,
            "now": self.to_db_time(self.clock.now()),
        }

        def work(tx: Tx) -> tuple[BatchVersion, BatchVersion | None]:
            mine = tx.rows(f"{_BATCH_VERSION} WHERE delivery_id = :delivery_id", params)
            if not mine:
                tx.execute(
                    "INSERT INTO batch_versions"
                    " (platform, store, batch_id, number, delivery_id, batch, recorded_at)"
                    " SELECT :platform, :store, :batch_id, COALESCE(MAX(number), 0) + 1,"
                    " :delivery_id, :batch, :now FROM batch_versions"
                    " WHERE platform = :platform AND store = :store AND batch_id = :batch_id",
                    params,
                )
                mine = tx.rows(f"{_BATCH_VERSION} WHERE delivery_id = :delivery_id", params)
            version = self._batch_version(mine[0])
            before = tx.rows(
                f"{_BATCH_VERSION} WHERE platform = :platform AND store = :store"
                " AND batch_id = :batch_id AND number = :number",
                {
                    **params,
                    "platform": version.platform,
                    "store": version.store,
                    "batch_id": version.batch_id,
                    "number": version.number - 1,
                },
            )
            return version, self._batch_version(before[0]) if before else None

        return self.write(work)

    def latest_batch_versions(self, platform: str, store: str) -> list[BatchVersion]:
        rows = self.read(
            lambda tx: tx.rows(
                f"{_BATCH_VERSION} AS v WHERE platform = :platform AND store = :store"  # noqa: S608
                " AND number = (SELECT MAX(number) FROM batch_versions AS w"
                " WHERE w.platform = v.platform AND w.store = v.store"
                " AND w.batch_id = v.batch_id) ORDER BY batch_id",
                {"platform": platform, "store": store},
            )
        )
        return [self._batch_version(row) for row in rows]

    def batch_versions(self, platform: str, store: str, batch_id: str) -> list[BatchVersion]:
        rows = self.read(
            lambda tx: tx.rows(
                f"{_BATCH_VERSION} WHERE platform = :platform AND store = :store"
                " AND batch_id = :batch_id ORDER BY number",
                {"platform": platform, "store": store, "batch_id": batch_id},
            )
        )
        return [self._batch_version(row) for row in rows]

    def _batch_version(self, row: Sequence[Any]) -> BatchVersion:
        return BatchVersion(
            platform=row[0],
            store=row[1],
            batch_id=row[2],
            number=int(row[3]),
            delivery_id=int(row[4]),
            batch=row[5],
            recorded_at=self.from_db_time(row[6]),
        )

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
        if since is not None:
            _require_aware(since, "since")
            where.append("last_failed_at >= :since")
            params["since"] = self.to_db_time(since)
        return self._listed(where, params, platform=platform, store=store)

    def list_waiting(
        self,
        *,
        platform: str | None = None,
        store: str | None = None,
        deferred: bool | None = None,
        received_before: datetime | None = None,
    ) -> list[Delivery]:
        where = [_OPEN]
        params: dict[str, Any] = {}
        if deferred is not None:
            where.append("deferred" if deferred else "NOT deferred")
        if received_before is not None:
            _require_aware(received_before, "received_before")
            where.append("received_at < :before")
            params["before"] = self.to_db_time(received_before)
        return self._listed(where, params, platform=platform, store=store)

    def _listed(
        self,
        where: list[str],
        params: dict[str, Any],
        *,
        platform: str | None,
        store: str | None,
    ) -> list[Delivery]:
        """The deliveries meeting every condition of `where` (and of one platform and store
        when given), by id."""
        if platform is not None:
            where.append("platform = :platform")
            params["platform"] = platform
        if store is not None:
            where.append("store = :store")
            params["store"] = store
        rows = self.read(
            lambda tx: tx.rows(
                f"SELECT {_COLUMNS} FROM deliveries WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608
                params,
            )
        )
        return [self._delivery(row) for row in rows]

    def backlog(self) -> Backlog:
        def work(tx: Tx) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            counts = tx.rows(
                "SELECT status, deferred, COUNT(*) FROM deliveries"
                " WHERE status IN ('pending', 'processing') GROUP BY status, deferred"
            )
            # Ids grow with arrival: the smallest open id is the oldest delivery waiting.
            oldest = tx.rows(
                "SELECT received_at FROM deliveries WHERE id = (SELECT MIN(id) FROM deliveries"
                " WHERE status IN ('pending', 'processing'))"
            )
            return counts, oldest

        counts, oldest = self.read(work)
        pending = deferred = processing = 0
        for status, is_deferred, count in counts:
            if status == DeliveryStatus.PROCESSING:
                processing += int(count)
            elif is_deferred:
                deferred += int(count)
            else:
                pending += int(count)
        return Backlog(
            pending=pending,
            deferred=deferred,
            processing=processing,
            oldest_received_at=self.from_db_time(oldest[0][0]) if oldest else None,
        )

    def store_backlogs(self, *, done_since: datetime) -> list[StoreBacklog]:
        _require_aware(done_since, "done_since")
        waiting = f"{_OPEN} AND NOT deferred"
        stepped_aside = f"{_OPEN} AND deferred"
        rows = self.read(
            lambda tx: tx.rows(
                "SELECT platform, store,"  # noqa: S608
                f" SUM(CASE WHEN {waiting} THEN 1 ELSE 0 END),"
                f" MIN(CASE WHEN {waiting} THEN received_at END),"
                f" SUM(CASE WHEN {stepped_aside} THEN 1 ELSE 0 END),"
                f" MIN(CASE WHEN {stepped_aside} THEN received_at END),"
                " SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN status = 'done' AND finished_at >= :since THEN 1 ELSE 0 END)"
                " FROM deliveries GROUP BY platform, store ORDER BY platform, store",
                {"since": self.to_db_time(done_since)},
            )
        )
        return [
            StoreBacklog(
                platform=platform,
                store=store,
                waiting=int(waiting_count),
                oldest_waiting_at=self._maybe_time(oldest_waiting),
                deferred=int(deferred_count),
                oldest_deferred_at=self._maybe_time(oldest_deferred),
                failed=int(failed),
                done_since=int(done),
            )
            for (
                platform,
                store,
                waiting_count,
                oldest_waiting,
                deferred_count,
                oldest_deferred,
                failed,
                done,
            ) in rows
        ]

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
