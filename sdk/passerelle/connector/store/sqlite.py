"""The SQLite store: one file on one machine, durable on return, with group commit.

Every write goes through one writer thread per store. It takes whatever operations are waiting,
runs them in a single `BEGIN IMMEDIATE` transaction (each under its own savepoint, or as a single
statement, so one that fails changes nothing and does not spoil the others), commits once, and
only then hands each caller its result. While one transaction commits the next batch gathers, so
concurrent receivers share one fsync instead of paying one each. Appends next to each other in a
batch are one INSERT: every statement lets the GIL go and must wait to take it back, and the
event loop feeding the writer holds it most of the time.

Checkpoints stay out of the commit path: SQLite's automatic checkpoint (which would copy the WAL
into the database inside some unlucky caller's commit) is off; a background thread copies the
WAL passively instead, without blocking anyone. Under a steady stream of writes a passive
checkpoint never catches up with the end of the WAL, so the WAL is never reset: once it passes
`wal_limit_bytes` the writer, between two batches, finishes the checkpoint and truncates it. The
WAL therefore stays within the limit plus one batch.

Bodies are kept behind a one-byte tag: 0 for the bytes as received, 1 for zlib. Bodies are
written as received: compressing an order costs about as much CPU as the rest of its append,
while the bytes it saves cost the commit's fsync almost nothing; zlib bodies written by earlier
versions stay readable.

Several processes may share the file: `BEGIN IMMEDIATE` takes SQLite's write lock before reading,
so a claim's check and update see no other writer in between, and the busy timeout makes the
others wait their turn. Reads run on their own connections; WAL lets them proceed while a write
commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from passerelle.clock import Clock
from passerelle.connector.outages import Outage
from passerelle.connector.store.errors import (
    SchemaVersionError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from passerelle.connector.store.migrations import migrations, newer_schema
from passerelle.connector.store.records import AppendResult, Headers, NewDelivery
from passerelle.connector.store.sql import CLAIMABLE, SQLDeliveryStore, Tx

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_AS_RECEIVED = b"\x00"
_ZLIB = b"\x01"


class SQLiteStore(SQLDeliveryStore):
    """The store in the SQLite file at `path` (created and migrated as needed)."""

    random_id_sql = "lower(hex(randomblob(16)))"
    lock_rows = ""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock,
        busy_timeout: timedelta = timedelta(seconds=30),
        max_batch: int = 1000,
        wal_limit_bytes: int = 64 * 1024 * 1024,
        checkpoint_interval: timedelta | None = timedelta(milliseconds=50),
    ) -> None:
        """`checkpoint_interval` is how often the background checkpointer runs (None: never,
        leaving all the copying to the writer when the WAL passes `wal_limit_bytes`). Often is
        better under load: each checkpoint's copy and sync delay the commits around it, and
        small ones delay them least."""
        super().__init__(clock, f"the SQLite store {os.fspath(path)}")
        if wal_limit_bytes < 1:
            raise ValueError(f"wal_limit_bytes must be at least 1, not {wal_limit_bytes}")
        self.path = os.fspath(path)
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        connection = self._connect()
        try:
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        self._writer = _Writer(
            connection,
            max_batch=max_batch,
            wal=self.path + "-wal",
            wal_limit=wal_limit_bytes,
            outage=self.outage,
        )
        self._checkpointer = (
            None
            if checkpoint_interval is None
            else _Checkpointer(self._connect(), checkpoint_interval.total_seconds())
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout.total_seconds(),
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store {self.path}: {exc}") from exc
        try:
            mode = self._journal_mode_wal(connection)
            if mode != "wal":
                raise StoreError(f"SQLite store {self.path}: WAL journal mode refused ({mode})")
            # FULL syncs the WAL on every commit, so a committed delivery survives a power loss.
            # NORMAL in WAL mode only syncs at checkpoints: a crash of the machine could roll
            # back the last transactions, deliveries the platform was already told we had.
            # Group commit is what keeps FULL affordable.
            connection.execute("PRAGMA synchronous = FULL")
            # Appends committed together are one statement, which SQLite journals on its own
            # while the transaction lasts: in memory, not in a temporary file made for it.
            connection.execute("PRAGMA temp_store = MEMORY")
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    def _journal_mode_wal(self, connection: sqlite3.Connection) -> str:
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers "locked" at
        # once, without its busy handler, while another connection holds the file: wait here.
        deadline = time.monotonic() + self._busy_timeout.total_seconds()
        pause = 0.001
        while True:
            try:
                (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
                return str(mode)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _migrate(self, connection: sqlite3.Connection) -> None:
        known = migrations("sqlite")
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            (current,) = connection.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"
            ).fetchone()
            newer = newer_schema("sqlite", f"SQLite store {self.path}", current)
            if newer:
                raise SchemaVersionError(newer)
            for migration in known[current:]:
                for statement in _statements(migration.sql):
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, self.to_db_time(self.clock.now())),
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        if current < len(known):
            # The new schema is copied into the database now, so the WAL starts empty: its
            # bound (`wal_limit_bytes`) is then one of the deliveries alone.
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    # -- what SQLDeliveryStore needs -------------------------------------------------------

    def write(self, work: Callable[[Tx], T]) -> T:
        return self._submit(work).result()

    def _submit(self, work: Callable[[Tx], T]) -> Future[T]:
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the SQLite store {self.path} is closed")
            return self._writer.submit(lambda connection: work(_SQLiteTx(connection)))

    async def append_async(self, delivery: NewDelivery) -> AppendResult:
        # Resolved straight from the writer thread: no concurrent.futures.Future in between,
        # whose locks and chaining cost more than the append itself on a busy receiver.
        loop = asyncio.get_running_loop()
        result: asyncio.Future[AppendResult] = loop.create_future()
        # Encoded here, on the event loop, so that the writer thread runs as little Python as
        # possible: each bit it runs makes the loop wait for the GIL.
        row = self.to_db_row(delivery)

        def settle(value: AppendResult | None, error: BaseException | None) -> None:
            _resolve(result, value, error)

        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the SQLite store {self.path} is closed")
            self._writer.enqueue(
                _Operation(
                    lambda connection: self.append_in(_SQLiteTx(connection), delivery),
                    settle,
                    loop,
                    one_statement=True,
                    row=row,
                )
            )
        return await result

    def read(self, work: Callable[[Tx], T]) -> T:
        connection = self._borrow_reader()
        try:
            connection.execute("BEGIN")
            try:
                result = work(_SQLiteTx(connection))
            finally:
                connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.outage.failed(exc)
            raise StoreUnavailableError(f"SQLite store {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc
        finally:
            self._return_reader(connection)
        return result  # only a write ends an outage: a full disk still lets reads through

    def _borrow_reader(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the SQLite store {self.path} is closed")
            if self._readers:
                return self._readers.pop()
        return self._connect()

    def _return_reader(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._readers.append(connection)
                return
        connection.close()

    def candidates(self, tx: Tx, *, limit: int, now: datetime) -> list[int]:
        # The writer holds the database's write lock for the whole claim: no other worker can
        # change a lane between this read and the update that follows.
        rows = tx.rows(
            f"SELECT d.id FROM deliveries AS d WHERE {CLAIMABLE} ORDER BY d.id LIMIT :limit",  # noqa: S608
            {"now": self.to_db_time(now), "limit": limit},
        )
        return [int(row[0]) for row in rows]

    def id_in(self, column: str) -> str:
        # A JSON array rather than one parameter per id: SQLite caps the number of parameters.
        return f"{column} IN (SELECT value FROM json_each(:ids))"  # noqa: S608

    def to_db_ids(self, ids: Sequence[int]) -> str:
        return json.dumps(list(ids))

    def to_db_time(self, value: datetime) -> int:
        return (value - _EPOCH) // _MICROSECOND

    def from_db_time(self, value: Any) -> datetime:
        return _EPOCH + int(value) * _MICROSECOND

    def to_db_headers(self, headers: Headers) -> str:
        # JSON writes the (name, value) tuples as the arrays `from_db_headers` reads back.
        return json.dumps(headers, ensure_ascii=False)

    def from_db_headers(self, value: Any) -> Headers:
        return tuple((str(name), str(content)) for name, content in json.loads(value))

    def to_db_body(self, body: bytes) -> bytes:
        return _AS_RECEIVED + body

    def from_db_body(self, value: Any) -> bytes:
        stored = bytes(value)
        tag, content = stored[:1], stored[1:]
        if tag == _AS_RECEIVED:
            return content
        if tag == _ZLIB:
            return zlib.decompress(content)
        raise StoreError(f"SQLite store {self.path}: a body has an unknown encoding tag {tag!r}")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            readers, self._readers = self._readers, []
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._writer.stop()
        for connection in readers:
            connection.close()


class _SQLiteTx:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params or {}).fetchall()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._connection.execute(sql, params or {}).rowcount


@dataclass
class _Operation(Generic[T]):
    work: Callable[[sqlite3.Connection], T]
    settle: Callable[[T | None, BaseException | None], None]
    """Hands the caller its result or its error: from the writer thread, or on `loop`."""
    loop: asyncio.AbstractEventLoop | None = None
    one_statement: bool = False
    """The work writes with a single statement (reads aside), which SQLite undoes by itself if
    it fails: no savepoint needed."""
    row: _Row | None = None
    """The work is the append of this encoded delivery: the writer may append it together with
    the appends next to it."""


def _settle_future(future: Future[T]) -> Callable[[T | None, BaseException | None], None]:
    def settle(value: T | None, error: BaseException | None) -> None:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    return settle


def _resolve(future: asyncio.Future[T], value: T | None, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)  # type: ignore[arg-type]


class _Writer:
    """The one thread that writes: batches waiting operations into one transaction each."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        max_batch: int,
        wal: str,
        wal_limit: int,
        outage: Outage,
    ) -> None:
        self._connection = connection
        self._outage = outage
        self._max_batch = max_batch
        self._wal = wal
        self._wal_limit = wal_limit
        self._busy_timeout_ms = int(connection.execute("PRAGMA busy_timeout").fetchone()[0])
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        # A WAL that was reset (rewound) is cut back to the limit, so its size on disk tells
        # how much it holds once it passes the limit.
        connection.execute(f"PRAGMA journal_size_limit = {int(wal_limit)}")
        self._waiting: list[_Operation[Any]] = []
        self._stopping = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="passerelle-sqlite-writer")
        self._thread.daemon = True
        self._thread.start()

    def submit(self, work: Callable[[sqlite3.Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        self.enqueue(_Operation(work, _settle_future(future)))
        return future

    def enqueue(self, operation: _Operation[Any]) -> None:
        with self._wake:
            self._waiting.append(operation)
            self._wake.notify()

    def stop(self) -> None:
        """Finish every operation already submitted, then close the connection."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        self._connection.close()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if not self._waiting:
                    return
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
            self._commit(batch)
            self._bound_wal()

    def _bound_wal(self) -> None:
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size <= self._wal_limit:
            return
        connection = self._connection
        # Not waiting out a slow reader: if one holds the WAL the truncation is tried again
        # after the next batch, while the batches keep committing.
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error:
            pass  # the next batch tries again; the commits themselves are unaffected
        finally:
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")

    def _commit(self, batch: list[_Operation[Any]]) -> None:
        if not batch:
            return
        if self._append_alone(batch):
            return
        connection = self._connection
        results: list[tuple[_Operation[Any], Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for run in _runs_of_appends(batch):
                if len(run) > 1 and self._append_together(run, results):
                    continue
                for operation in run:
                    self._run_one(operation, results)
            connection.execute("COMMIT")
        except Exception as exc:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            failure: StoreError
            if isinstance(exc, sqlite3.OperationalError):
                # The disk is full, the file unwritable, the database locked too long.
                self._outage.failed(exc)
                failure = StoreUnavailableError(
                    f"SQLite store: the transaction was rolled back: {exc}"
                )
            else:
                failure = StoreError(f"SQLite store: the transaction was rolled back: {exc}")
            failure.__cause__ = exc
            results = [(operation, None, failure) for operation in batch]
        else:
            unavailable = [e for _, _, e in results if isinstance(e, StoreUnavailableError)]
            if unavailable:
                self._outage.failed(unavailable[0].__cause__ or unavailable[0])
            else:
                self._outage.succeeded()
        _settle(results)

    def _append_alone(self, batch: list[_Operation[Any]]) -> bool:
        """Commit a batch of new deliveries alone, as one statement that is its own
        transaction; False (nothing changed) if the batch is not that, or the statement failed.

        The common batch under load, and the cheapest: a BEGIN and a COMMIT of their own would
        each let the GIL go and wait to take it back behind the event loop. SQLite commits the
        statement as it commits a transaction, synchronously."""
        if len(batch) > _ROWS_PER_INSERT or any(operation.row is None for operation in batch):
            return False
        rows = [operation.row for operation in batch if operation.row is not None]
        try:
            appended = _append_rows(self._connection, rows)
        except sqlite3.Error:
            # Nothing committed, or the new rows were and only finding the duplicates failed:
            # either way the long way, each append tried alone, gives every caller its result.
            return False
        self._outage.succeeded()
        _settle(
            [(operation, result, None) for operation, result in zip(batch, appended, strict=True)]
        )
        return True

    def _append_together(
        self,
        run: list[_Operation[Any]],
        results: list[tuple[_Operation[Any], Any, BaseException | None]],
    ) -> bool:
        """Append a run of deliveries together; False (nothing changed) if that failed, so that
        each is tried on its own and only the one at fault fails."""
        try:
            appended = _append_rows(
                self._connection, [operation.row for operation in run if operation.row]
            )
        except Exception:
            if not self._connection.in_transaction:
                raise  # SQLite rolled back the whole batch (disk full, I/O error)
            return False
        results.extend(
            (operation, value, None) for operation, value in zip(run, appended, strict=True)
        )
        return True

    def _run_one(
        self,
        operation: _Operation[Any],
        results: list[tuple[_Operation[Any], Any, BaseException | None]],
    ) -> None:
        connection = self._connection
        savepoint = not operation.one_statement
        if savepoint:
            connection.execute("SAVEPOINT operation")
        try:
            value = operation.work(connection)
        except Exception as exc:
            if not connection.in_transaction:
                raise  # SQLite rolled back the whole batch (disk full, I/O error)
            if savepoint:
                connection.execute("ROLLBACK TO operation")
                connection.execute("RELEASE operation")
            results.append((operation, None, _wrap(exc)))
        else:
            if savepoint:
                connection.execute("RELEASE operation")
            results.append((operation, value, None))


_Row = tuple[str, str, str, str | None, str, bytes, int]
"""A delivery as the deliveries table keeps it: platform, store, delivery key, ordering key,
headers, body, received_at."""
_ROWS_PER_INSERT = 500
"""8 parameters a row: well below SQLite's limit of 32,766 per statement."""


def _append_rows(connection: sqlite3.Connection, rows: list[_Row]) -> list[AppendResult]:
    """Append `rows` in order, in a handful of statements whatever their number.

    Every statement lets the GIL go and waits to take it back, behind the event loop; a
    statement per row, or a row fetched at a time, would make a large batch wait that many
    times. Of several rows with the same key the first is new, the others its duplicates.
    """
    count = 0
    last = 0
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        cursor = connection.execute(
            "INSERT INTO deliveries (platform, store, delivery_key, ordering_key, headers, body,"  # noqa: S608
            " received_at, next_attempt_at) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (platform, store, delivery_key) DO NOTHING",
            [value for row in chunk for value in (*row, row[6])],
        )
        count += cursor.rowcount
        last = cursor.lastrowid or last
    # AUTOINCREMENT gives each new row the next id, and this transaction is the only writer:
    # with no duplicate the rows took the `count` ids up to the last one, in order.
    if count == len(rows):
        return [AppendResult(id=last - count + 1 + n, duplicate=False) for n in range(count)]
    return _results_after_duplicates(connection, rows, count)


def _results_after_duplicates(
    connection: sqlite3.Connection, rows: list[_Row], inserted: int
) -> list[AppendResult]:
    """The results of appending `rows` when only `inserted` of them were new: every new row has
    a greater id than any row stored before, so the new ones are the greatest ids of the keys."""
    keys = list(dict.fromkeys(row[:3] for row in rows))
    ((listing,),) = connection.execute(
        "SELECT json_group_array(json_array(d.id, d.platform, d.store, d.delivery_key))"
        " FROM json_each(?) AS k JOIN deliveries AS d"
        " ON d.platform = json_extract(k.value, '$[0]') AND d.store = json_extract(k.value, '$[1]')"
        " AND d.delivery_key = json_extract(k.value, '$[2]')",
        (json.dumps(keys),),
    ).fetchall()
    ids = {(platform, store, key): int(id_) for id_, platform, store, key in json.loads(listing)}
    new = set(sorted(ids.values())[len(ids) - inserted :]) if inserted else set()
    results = []
    for row in rows:
        key = row[:3]
        delivery_id = ids[key]
        results.append(AppendResult(id=delivery_id, duplicate=delivery_id not in new))
        new.discard(delivery_id)
    return results


def _runs_of_appends(batch: list[_Operation[Any]]) -> Iterator[list[_Operation[Any]]]:
    """The batch in order, appends next to each other grouped, every other operation alone."""
    run: list[_Operation[Any]] = []
    for operation in batch:
        if operation.row is not None:
            run.append(operation)
            continue
        if run:
            yield run
            run = []
        yield [operation]
    if run:
        yield run


def _settle(results: list[tuple[_Operation[Any], Any, BaseException | None]]) -> None:
    """Hand every caller its result; those on an event loop get theirs in one wake-up per loop,
    not one each: under load the wake-ups would cost the loop more than the appends."""
    on_loops: dict[asyncio.AbstractEventLoop, list[tuple[_Operation[Any], Any, Any]]] = {}
    for operation, value, error in results:
        if operation.loop is None:
            operation.settle(value, error)
        else:
            on_loops.setdefault(operation.loop, []).append((operation, value, error))
    for loop, settled in on_loops.items():
        # A closed loop has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_on_loop, settled)


def _settle_on_loop(settled: list[tuple[_Operation[Any], Any, Any]]) -> None:
    for operation, value, error in settled:
        operation.settle(value, error)


class _Checkpointer:
    """Copies the WAL into the database in the background, never blocking a writer."""

    def __init__(self, connection: sqlite3.Connection, interval: float) -> None:
        self._connection = connection
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="passerelle-sqlite-checkpointer")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            # On failure the writer still bounds the WAL; the next round tries again.
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _wrap(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error):
        # An operational error is the file's or the disk's, not the operation's.
        kind = StoreUnavailableError if isinstance(exc, sqlite3.OperationalError) else StoreError
        wrapped = kind(f"SQLite store: {exc}")
        wrapped.__cause__ = exc
        return wrapped
    return exc


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script, each complete."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    leftover = [
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    ]
    if leftover:
        raise StoreError(f"migration script ends with an incomplete statement: {leftover[0]}")
