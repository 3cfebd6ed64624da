"""The sandbox's state in SQLite: one file, or memory when no file is given.

One connection serves every thread; a lock serialises transactions, so each request's reads and
writes (the state change and its stored idempotent response) commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

__all__ = [
    "Headers",
    "IdempotencyRecord",
    "Movement",
    "SandboxDB",
    "SandboxDBError",
    "Transaction",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    merchant TEXT NOT NULL,
    reference TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (merchant, reference)
);
CREATE TABLE IF NOT EXISTS batches (
    merchant TEXT NOT NULL,
    id TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (merchant, id)
);
CREATE TABLE IF NOT EXISTS movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant TEXT NOT NULL,
    reference TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('capture', 'refund')),
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    disbursed_on TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS movements_by_day ON movements (merchant, disbursed_on);
CREATE TABLE IF NOT EXISTS idempotency (
    merchant TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    status INTEGER,
    content_type TEXT,
    body BLOB,
    headers TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (merchant, key)
);
"""


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str
    running: bool
    status: int | None
    content_type: str | None
    body: bytes | None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Movement:
    """Money captured from, or refunded to, a customer, on `disbursed_on`: the day a capture is
    paid out, the day a refund was made (it comes off a later payout)."""

    reference: str
    kind: str
    amount_minor: int
    currency: str
    occurred_at: datetime
    disbursed_on: date


class Transaction:
    """Reads and writes inside one `SandboxDB.transaction()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # orders
    def get_order(self, merchant: str, reference: str) -> str | None:
        row = self._conn.execute(
            "SELECT document FROM orders WHERE merchant = ? AND reference = ?",
            (merchant, reference),
        ).fetchone()
        return None if row is None else str(row[0])

    def insert_order(self, merchant: str, reference: str, document: str, at: datetime) -> None:
        self._conn.execute(
            "INSERT INTO orders (merchant, reference, document, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (merchant, reference, document, at.isoformat(), at.isoformat()),
        )

    def update_order(self, merchant: str, reference: str, document: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE orders SET document = ?, updated_at = ? WHERE merchant = ? AND reference = ?",
            (document, at.isoformat(), merchant, reference),
        )

    # batches
    def get_batch(self, merchant: str, batch_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT document FROM batches WHERE merchant = ? AND id = ?", (merchant, batch_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def put_batch(self, merchant: str, batch_id: str, document: str, at: datetime) -> None:
        self._conn.execute(
            "INSERT INTO batches (merchant, id, document, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (merchant, id)"
            " DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
            (merchant, batch_id, document, at.isoformat(), at.isoformat()),
        )

    # movements
    def add_movement(self, merchant: str, movement: Movement) -> None:
        self._conn.execute(
            "INSERT INTO movements (merchant, reference, kind, amount_minor, currency,"
            " occurred_at, disbursed_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                merchant,
                movement.reference,
                movement.kind,
                movement.amount_minor,
                movement.currency,
                movement.occurred_at.isoformat(),
                movement.disbursed_on.isoformat(),
            ),
        )

    def movements(self, merchant: str, start: date, end: date) -> list[Movement]:
        """The movements paid out from `start` to `end`, both included, oldest first."""
        rows = self._conn.execute(
            "SELECT reference, kind, amount_minor, currency, occurred_at, disbursed_on"
            " FROM movements WHERE merchant = ? AND disbursed_on BETWEEN ? AND ? ORDER BY id",
            (merchant, start.isoformat(), end.isoformat()),
        ).fetchall()
        return [
            Movement(
                reference=r[0],
                kind=r[1],
                amount_minor=r[2],
                currency=r[3],
                occurred_at=datetime.fromisoformat(r[4]),
                disbursed_on=date.fromisoformat(r[5]),
            )
            for r in rows
        ]

    # idempotency
    def get_key(self, merchant: str, key: str) -> IdempotencyRecord | None:
        row = self._conn.execute(
            "SELECT fingerprint, state, status, content_type, body, headers FROM idempotency"
            " WHERE merchant = ? AND key = ?",
            (merchant, key),
        ).fetchone()
        if row is None:
            return None
        return IdempotencyRecord(
            fingerprint=row[0],
            running=row[1] == "running",
            status=row[2],
            content_type=row[3],
            body=None if row[4] is None else bytes(row[4]),
            headers=tuple((name, value) for name, value in json.loads(row[5] or "[]")),
        )

    def claim_key(self, merchant: str, key: str, fingerprint: str, at: datetime) -> None:
        self._conn.execute(
            "INSERT INTO idempotency (merchant, key, fingerprint, state, created_at)"
            " VALUES (?, ?, ?, 'running', ?)",
            (merchant, key, fingerprint, at.isoformat()),
        )

    def complete_key(
        self,
        merchant: str,
        key: str,
        status: int,
        content_type: str,
        body: bytes,
        headers: Headers = (),
    ) -> None:
        self._conn.execute(
            "UPDATE idempotency SET state = 'done', status = ?, content_type = ?, body = ?,"
            " headers = ? WHERE merchant = ? AND key = ?",
            (status, content_type, body, json.dumps(headers), merchant, key),
        )

    # savepoints
    def savepoint(self) -> None:
        """Mark this point of the transaction, for `rollback_to_savepoint`."""
        self._conn.execute("SAVEPOINT work")

    def rollback_to_savepoint(self) -> None:
        """Undo everything done since `savepoint`; the transaction goes on."""
        self._conn.execute("ROLLBACK TO work")

    def release_key(self, merchant: str, key: str) -> None:
        self._conn.execute(
            "DELETE FROM idempotency WHERE merchant = ? AND key = ? AND state = 'running'",
            (merchant, key),
        )


class SandboxDBError(Exception):
    """The database file cannot be opened, or is not a SQLite database; the message names it."""


def _open_error(path: Path | None, exc: sqlite3.Error) -> SandboxDBError:
    if path is None:
        return SandboxDBError(f"cannot open the in-memory database: {exc}")
    if not path.parent.is_dir():
        return SandboxDBError(f"cannot open {path}: the directory {path.parent} does not exist")
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return SandboxDBError(f"{path} is not a SQLite database")
    return SandboxDBError(f"cannot open {path}: {exc}")


class SandboxDB:
    """The sandbox's SQLite database; `path=None` keeps it in memory.

    Raises `SandboxDBError` when the file cannot be opened or is not a SQLite database.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                ":memory:" if self.path is None else str(self.path),
                check_same_thread=False,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise _open_error(self.path, exc) from None
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._conn.close()
            raise _open_error(self.path, exc) from None

    def _prepare(self) -> None:
        self._conn.execute("PRAGMA busy_timeout = 5000")
        if self.path is not None:
            self._conn.execute("PRAGMA journal_mode = WAL")
            # With WAL, NORMAL survives a crash of the process; only a power cut may lose the
            # last commits, which a sandbox can afford.
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(idempotency)")}
        if "headers" not in columns:
            # A file from a sandbox that kept no headers with its answers.
            self._conn.execute("ALTER TABLE idempotency ADD COLUMN headers TEXT")
        # A key still running when the sandbox starts belongs to a request that died with the
        # previous process: nothing of it was committed, so a retry may run it again.
        self._conn.execute("DELETE FROM idempotency WHERE state = 'running'")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction that commits when the block ends and rolls back when it raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
