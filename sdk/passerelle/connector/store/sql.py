"""The store over SQL, shared by SQLite and PostgreSQL: every rule of the inbox, the work queue
and the versions, written once, on the action center (`sql_actions`) and the base a backend
completes with transactions and conversions (`sql_base`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from passerelle.connector.store.errors import (
    LeaseLostError,
)
from passerelle.connector.store.records import (
    AppendResult,
    AttemptResult,
    BatchVersion,
    Claim,
    DeliveryStatus,
    ErrorInfo,
    NewDelivery,
    _require_aware,
)
from passerelle.connector.store.sql_actions import SQLActionCenter
from passerelle.connector.store.sql_base import (
    _BATCH_VERSION,
    _COLUMNS,
    CLAIMABLE,
    Tx,
)

__all__ = ["CLAIMABLE", "SQLDeliveryStore", "Tx"]


class SQLDeliveryStore(SQLActionCenter):
    """The store over SQL: the inbox, the work queue, versions and batch versions, on the
    action center (`SQLActionCenter`) and what a backend supplies (`SQLStoreBase`)."""

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
