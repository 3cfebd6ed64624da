"""The idempotency store on its own: which answers a key keeps, and that a refusal changes
nothing even when the work had begun changing things."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from passerelle.clock import FixedClock
from passerelle.sandbox.db import SandboxDB, Transaction
from passerelle.sandbox.idempotency import Idempotency, StoredResponse

AT = dt.datetime(2030, 3, 14, 12, 0, tzinfo=dt.UTC)
Work = Callable[[Transaction], StoredResponse]


@pytest.fixture
def keys() -> Idempotency:
    return Idempotency(SandboxDB(), FixedClock(AT))


def inserting(status: int, calls: list[int]) -> Work:
    """Work that creates order A-1, then answers `status` with a body naming the call."""

    def work(tx: Transaction) -> StoredResponse:
        calls.append(status)
        tx.insert_order("m", "A-1", "{}", AT)
        body = b'{"call": %d}' % len(calls)
        return StoredResponse(status, "application/problem+json", body, headers=(("X-A", "1"),))

    return work


def order_exists(keys: Idempotency) -> bool:
    with keys.db.transaction() as tx:
        return tx.get_order("m", "A-1") is not None


@pytest.mark.parametrize("status", [201, 402, 404, 409, 422])
def test_the_first_answer_is_kept_and_replayed(keys: Idempotency, status: int) -> None:
    calls: list[int] = []

    first = keys.run("m", "k", "print", inserting(status, calls))
    again = keys.run("m", "k", "print", inserting(status, calls))

    assert calls == [status]
    assert (again.status, again.content_type, again.body, again.headers) == (
        first.status,
        first.content_type,
        b'{"call": 1}',
        (("X-A", "1"),),
    )
    assert (first.replayed, again.replayed) == (False, True)
    # Only a 2xx keeps what the work did.
    assert order_exists(keys) is (status == 201)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_not_kept_and_changes_nothing(keys: Idempotency, status: int) -> None:
    calls: list[int] = []

    keys.run("m", "k", "print", inserting(status, calls))
    again = keys.run("m", "k", "print", inserting(201, calls))

    assert calls == [status, 201]
    assert (again.status, again.replayed) == (201, False)


def test_work_that_raises_frees_the_key(keys: Idempotency) -> None:
    def crash(tx: Transaction) -> StoredResponse:
        tx.insert_order("m", "A-1", "{}", AT)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        keys.run("m", "k", "print", crash)

    assert not order_exists(keys)
    assert keys.run("m", "k", "print", inserting(201, [])).replayed is False


def test_a_file_of_an_earlier_sandbox_opens_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE idempotency (merchant TEXT NOT NULL, key TEXT NOT NULL,"
            " fingerprint TEXT NOT NULL, state TEXT NOT NULL, status INTEGER,"
            " content_type TEXT, body BLOB, created_at TEXT NOT NULL,"
            " PRIMARY KEY (merchant, key))"
        )
        conn.execute(
            "INSERT INTO idempotency VALUES ('m', 'k', 'print', 'done', 201,"
            " 'application/json', X'7B7D', '2030-03-14T12:00:00+00:00')"
        )
    conn.close()

    keys = Idempotency(SandboxDB(path), FixedClock(AT))
    replayed = keys.run("m", "k", "print", inserting(201, []))

    assert (replayed.status, replayed.body, replayed.headers, replayed.replayed) == (
        201,
        b"{}",
        (),
        True,
    )
    keys.db.close()
