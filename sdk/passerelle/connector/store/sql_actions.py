"""The action center over SQL: the failed and waiting deliveries, their history, what a person
does to them (retry, dismiss, replay) and the counts the page and the metrics show."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from passerelle.connector.store.errors import (
    DeliveryNotFoundError,
    DeliveryStateError,
)
from passerelle.connector.store.records import (
    Attempt,
    AttemptResult,
    Backlog,
    Delivery,
    DeliveryStatus,
    ErrorInfo,
    Note,
    NoteAction,
    StoreBacklog,
    _require_aware,
    _require_ids,
)
from passerelle.connector.store.sql_base import _COLUMNS, _OPEN, SQLStoreBase, Tx

__all__ = ["SQLActionCenter"]


class SQLActionCenter(SQLStoreBase):
    """The action center's queries and actions, on `SQLStoreBase`."""

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
