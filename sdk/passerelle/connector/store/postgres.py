"""The PostgreSQL store: several receivers and dispatchers, on several machines, share one database.

How a claim keeps each lane to one worker at a time, in order, without a lanes table:

1. `SELECT ... FOR UPDATE SKIP LOCKED` picks the oldest claimable deliveries, skipping rows another
   worker is claiming right now, so concurrent workers spread over different deliveries.
2. For each lane among them (platform, store and ordering key) the claim takes a transaction-scoped
   advisory lock with `pg_try_advisory_xact_lock` (keyed by the schema and the lane's hash); a lane
   another worker is claiming in right now is skipped, never waited for.
3. With its lanes locked, the claim checks the lane rule again in a new statement, whose snapshot
   includes every claim committed before the locks were granted, and marks the survivors
   processing.

Only claims put a lane under a lease, and every claim of a lane holds that lane's lock until it
commits, so step 3 always sees the lane's live leases: a lane is never processed by two workers
at once. A hash collision between two keys only makes their claims take turns. `requeue` and
replay do not take the locks: a delivery they put back while a later delivery of its lane is
being claimed may run after that one, as if it had been put back a moment later.

The receiver's appends are committed in groups (`append_async`): the deliveries that arrive
while one group commits go together in the next, one multi-row INSERT and one commit for all.

Needs PostgreSQL 13 or later (`gen_random_uuid`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from passerelle.clock import Clock
from passerelle.connector.store.errors import (
    SchemaVersionError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from passerelle.connector.store.group_commit import GroupCommit, Outcome
from passerelle.connector.store.migrations import migrations, newer_schema
from passerelle.connector.store.records import AppendResult, Headers, NewDelivery
from passerelle.connector.store.sql import CLAIMABLE, SQLDeliveryStore, Tx
from passerelle.redaction import redact_url

__all__ = ["PostgresStore"]

T = TypeVar("T")

_POOL_NAME = "passerelle-store"
_RECONNECT_WITHIN = 1.0
"""Seconds the pool keeps trying to replace a broken connection before it gives up."""


_OUTAGE_LINES = (
    "error connecting in %r: %s",
    "reconnection attempt in pool %r failed after %s sec",
    "discarding broken connection: %s",
    "discarding closed connection: %s",
)


class _QuietReconnects(logging.Filter):
    """Drops the pool's line per broken connection and per failed attempt to connect: the
    store's `Outage` tells of an outage in a line at its start and one at its end."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _OUTAGE_LINES


logging.getLogger("psycopg.pool").addFilter(_QuietReconnects())


class PostgresStore(SQLDeliveryStore):
    """The store in the current schema of the PostgreSQL database at `url` (migrated as needed)."""

    random_id_sql = "gen_random_uuid()::text"
    lock_rows = " FOR UPDATE"

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        pool_size: int = 10,
        connect_timeout: timedelta = timedelta(seconds=10),
        wait: timedelta = timedelta(seconds=0.6),
    ) -> None:
        """`wait` bounds how long an operation waits for a connection: while the database is
        down, the receiver answers 503 within it instead of holding the platform's request."""
        self._where = redact_url(url)
        super().__init__(clock, f"the PostgreSQL store {self._where}")
        self._closed = False
        self._wait = wait.total_seconds()
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            # A new connection must not wait out the operating system's TCP timeout.
            kwargs={"autocommit": True, "connect_timeout": max(1, round(wait.total_seconds()))},
            check=ConnectionPool.check_connection,
            name=_POOL_NAME,
            open=False,
            timeout=wait.total_seconds(),
            # The pool's own reconnection backs off without bound (a 40 s outage would keep the
            # store away for 20 s more): give up quickly instead, and let the next operation
            # that needs a connection try again at once.
            reconnect_timeout=_RECONNECT_WITHIN,
        )
        self._appends: GroupCommit[Row, AppendResult] = GroupCommit(
            self._append_group, name="passerelle-postgres-appends", max_group=_ROWS_PER_INSERT
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout.total_seconds())
            self._migrate()
        except BaseException as exc:
            self._pool.close()
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"PostgreSQL store {self._where}: {exc}") from exc
            raise

    def _migrate(self) -> None:
        known = migrations("postgresql")
        with self._pool.connection() as connection, connection.transaction():
            # Two processes opening a fresh database at once must not both create the tables.
            connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext('passerelle.migrations'),"
                " hashtext(current_schema()))"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL)"
            )
            row = connection.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"
            ).fetchone()
            current = int(row[0]) if row else 0
            newer = newer_schema("postgresql", f"PostgreSQL store {self._where}", current)
            if newer:
                raise SchemaVersionError(newer)
            for migration in known[current:]:
                connection.execute(migration.sql.encode())
                connection.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, self.clock.now()),
                )

    # -- what SQLDeliveryStore needs -------------------------------------------------------

    def write(self, work: Callable[[Tx], T]) -> T:
        return self._transaction(work, read_only=False)

    def read(self, work: Callable[[Tx], T]) -> T:
        return self._transaction(work, read_only=True)

    def _transaction(self, work: Callable[[Tx], T], *, read_only: bool) -> T:
        if self._closed:
            raise StoreClosedError(f"the PostgreSQL store {self._where} is closed")
        try:
            with self._pool.connection() as connection, connection.transaction():
                cursor = connection.cursor()
                if read_only:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                result = work(_PostgresTx(cursor))
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # No connection, or the one in hand broke: the server is down or unreachable.
            why = (
                f"no connection within {self._wait:g} s (the server does not answer)"
                if isinstance(exc, PoolTimeout)
                else " ".join(str(exc).split())
            )
            self.outage.failed(why)
            raise StoreUnavailableError(f"PostgreSQL store {self._where}: {why}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store {self._where}: {exc}") from exc
        if not read_only:
            self.outage.succeeded()  # a full disk lets reads through: only a write tells
        return result

    async def append_async(self, delivery: NewDelivery) -> AppendResult:
        """`append`, committed together with the other appends waiting at the same time."""
        if self._closed:
            raise StoreClosedError(f"the PostgreSQL store {self._where} is closed")
        return await self._appends.submit(self.to_db_row(delivery))

    def _append_group(self, rows: Sequence[Row]) -> list[Outcome[AppendResult]]:
        try:
            appended = self._transaction(lambda tx: insert_rows(tx, rows), read_only=False)
        except StoreUnavailableError as exc:
            return [(None, exc)] * len(rows)
        except StoreError:
            # One delivery the database refuses must not fail the others: each alone, so that
            # only the one at fault fails.
            return [self._append_alone(row) for row in rows]
        return [(result, None) for result in appended]

    def _append_alone(self, row: Row) -> Outcome[AppendResult]:
        try:
            return self._transaction(lambda tx: insert_rows(tx, [row]), read_only=False)[0], None
        except StoreError as exc:
            return None, exc

    def candidates(self, tx: Tx, *, limit: int, now: datetime) -> list[int]:
        found = tx.rows(
            "SELECT d.id, d.platform, d.store, d.ordering_key FROM deliveries AS d"  # noqa: S608
            f" WHERE {CLAIMABLE} ORDER BY d.id LIMIT :limit FOR UPDATE OF d SKIP LOCKED",
            {"now": now, "limit": limit},
        )
        # A lane is (platform, store, ordering key), named unambiguously as a JSON array.
        rows = [
            (delivery_id, None if key is None else json.dumps([platform, store, key]))
            for delivery_id, platform, store, key in found
        ]
        keys = sorted({key for _, key in rows if key is not None})
        held: set[str] = set()
        if keys:
            held = {
                key
                for (key,) in tx.rows(
                    "SELECT lane.key FROM unnest(CAST(:keys AS text[])) AS lane (key)"
                    " WHERE pg_try_advisory_xact_lock(hashtext(current_schema()),"
                    " hashtext(lane.key))",
                    {"keys": keys},
                )
            }
        return [int(delivery_id) for delivery_id, key in rows if key is None or key in held]

    def id_in(self, column: str) -> str:
        return f"{column} = ANY(:ids)"

    def to_db_ids(self, ids: Sequence[int]) -> list[int]:
        return list(ids)

    def to_db_time(self, value: datetime) -> datetime:
        return value

    def from_db_time(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp from PostgreSQL, got {value!r}")
        return value.astimezone(UTC)

    def to_db_headers(self, headers: Headers) -> Jsonb:
        return Jsonb([list(pair) for pair in headers])

    def from_db_headers(self, value: Any) -> Headers:
        return tuple((str(name), str(content)) for name, content in value)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._appends.stop()  # the appends already submitted are committed first
            self._pool.close()


Row = tuple[str, str, str, str | None, Jsonb, bytes, datetime]
"""A delivery as the deliveries table keeps it: platform, store, delivery key, ordering key,
headers, body, received_at."""
_ROWS_PER_INSERT = 500
"""8 parameters a row: well below PostgreSQL's limit of 65,535 per statement."""


def insert_rows(tx: Tx, rows: Sequence[Row]) -> list[AppendResult]:
    """Append `rows` in order in one statement, inside the transaction `tx`; of several rows
    with the same key the first is new, the others its duplicates."""
    params = {
        f"{name}{n}": value
        for n, row in enumerate(rows)
        for name, value in zip(_ROW_NAMES, (*row, row[6]), strict=True)
    }
    values = ", ".join(
        "(" + ", ".join(f":{name}{n}" for name in _ROW_NAMES) + ")" for n in range(len(rows))
    )
    inserted = tx.rows(
        "INSERT INTO deliveries (platform, store, delivery_key, ordering_key, headers, body,"  # noqa: S608
        f" received_at, next_attempt_at) VALUES {values}"
        " ON CONFLICT (platform, store, delivery_key) DO NOTHING"
        " RETURNING id, platform, store, delivery_key",
        params,
    )
    new = {(p, s, k): int(i) for i, p, s, k in inserted}
    keys = [row[:3] for row in rows]
    old: dict[tuple[str, str, str], int] = {}
    if missing := sorted(set(keys) - new.keys()):
        platforms, stores, delivery_keys = (list(column) for column in zip(*missing, strict=True))
        old = {
            (p, s, k): int(i)
            for i, p, s, k in tx.rows(
                "SELECT d.id, d.platform, d.store, d.delivery_key FROM deliveries AS d"
                " JOIN unnest(CAST(:platforms AS text[]), CAST(:stores AS text[]),"
                " CAST(:keys AS text[])) AS k (platform, store, delivery_key)"
                " ON d.platform = k.platform AND d.store = k.store"
                " AND d.delivery_key = k.delivery_key",
                {"platforms": platforms, "stores": stores, "keys": delivery_keys},
            )
        }
    results = []
    for key in keys:
        if key in new:
            results.append(AppendResult(id=new.pop(key), duplicate=False))
            old[key] = results[-1].id
        else:
            results.append(AppendResult(id=old[key], duplicate=True))
    return results


_ROW_NAMES = (
    "platform", "store", "delivery_key", "ordering_key", "headers", "body", "received_at",
    "next_attempt_at",
)  # fmt: skip


class _PostgresTx:
    def __init__(self, cursor: psycopg.Cursor[tuple[Any, ...]]) -> None:
        self._cursor = cursor

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self._cursor.execute(_pyformat(sql), params)
        return self._cursor.fetchall() if self._cursor.description else []

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        self._cursor.execute(_pyformat(sql), params)
        return self._cursor.rowcount


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """`:name` parameters as psycopg's `%(name)s`; `::type` casts are left alone."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)
