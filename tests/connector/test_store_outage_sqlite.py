"""A connector rides through its SQLite inbox's disk filling up: the receiver answers 503 at once
for what it cannot store, the workers wait, and dispatch resumes by itself when space returns,
each delivery applied once. The outage is logged in one line at its start and one at its end."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from dispatch_support import SECRET, STORE, new_order, ship
from testplatform import TestPlatform, body, signed_headers

from passerelle.backend.client import BackendClient
from passerelle.connector.config import Settings
from passerelle.connector.runtime import Connector, build_connector
from passerelle.connector.store import DeliveryStatus
from passerelle.connector.store.sqlite import SQLiteStore
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.platforms import WebhookPlatform
from passerelle.plugins import Plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle.serving import BackgroundServer

pytestmark = pytest.mark.slow


class _Registers:
    def __init__(self, platform: WebhookPlatform) -> None:
        self.platform = platform

    @hookimpl
    def register_platforms(self, register: Callable[[WebhookPlatform], None]) -> None:
        register(self.platform)


@pytest.fixture
def connector(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Connector]:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f'[backend]\nurl = "{sandbox.url}"\ntoken = "{DEFAULT_TOKEN}"\n'
        f'merchant = "{DEFAULT_MERCHANT}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "inbox.db"}"\n'
        f'[[stores]]\nplatform = "test"\nid = "{STORE}"\nsecrets = ["{SECRET}"]\n'
        "[dispatcher]\nworkers = 3\nbackoff_base = 0.05\nbackoff_cap = 0.5\n"
    )
    plugins = Plugins()
    plugins.register(_Registers(TestPlatform()), "test-platform")
    built = build_connector(Settings.load(path), plugins=plugins)
    yield built
    built.close()


def fill(store: SQLiteStore) -> None:
    """Fill the inbox's disk: what room is left in its file is taken by a filler table, and the
    file may not grow past its size. The limit is set on the writer's connection, which every
    write of the store goes through."""
    with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as other:
        other.execute("CREATE TABLE filler (junk BLOB)")
        (pages,) = other.execute("PRAGMA page_count").fetchone()
        other.execute(f"PRAGMA max_page_count = {pages}")
        for size in (65536, 4096, 256, 16, 1):
            with contextlib.suppress(sqlite3.OperationalError):
                while True:
                    other.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))
        (pages,) = other.execute("PRAGMA page_count").fetchone()
    store.write(lambda tx: tx.rows(f"PRAGMA max_page_count = {pages}"))


def make_room(store: SQLiteStore) -> None:
    def free(tx: Any) -> None:
        tx.rows("PRAGMA max_page_count = 1073741823")
        tx.execute("DROP TABLE filler")

    store.write(free)


def post(base: str, order: str, key: str) -> tuple[int, float, httpx.Response]:
    content = body(order, events=[ship(order, key)])
    headers = signed_headers(content, SECRET, delivery=f"{order}:{key}")
    started = time.monotonic()
    response = httpx.post(f"{base}/webhooks/test/{STORE}", content=content, headers=headers)
    return response.status_code, time.monotonic() - started, response


def test_a_full_disk_is_answered_with_503s_and_dispatch_resumes_when_space_returns(
    connector: Connector, client: BackendClient, caplog: pytest.LogCaptureFixture
) -> None:
    store = connector.store
    assert isinstance(store, SQLiteStore)
    dispatcher = connector.dispatcher
    assert dispatcher is not None
    orders = [new_order(client, quantity=1) for _ in range(12)]
    with caplog.at_level(logging.INFO), BackgroundServer(connector.asgi(), lifespan="on") as server:
        # Some deliveries stored and waiting when the disk fills up.
        dispatcher.stop()
        before = [post(server.url, order, "F1") for order in orders[:6]]
        assert {status for status, _, _ in before} == {200}
        fill(store)
        dispatcher.start()
        refused = []
        for order in orders[6:]:
            for _ in range(20):  # what free room the file had goes; then nothing is stored
                status, took, response = post(server.url, order, "F1")
                if status == 503:
                    break
            refused.append((status, took, response))
        assert all(status == 503 for status, _, _ in refused)
        assert all(took < 1.0 for _, took, _ in refused)
        assert {r.headers["Retry-After"] for _, _, r in refused} == {"10"}
        # The workers settle what fits in the room left inside the file's pages, and wait on
        # what does not.
        time.sleep(0.5)
        assert dispatcher.workers_running() == 3

        make_room(store)
        room_at = datetime.now(UTC)
        # The platform sends again what was refused; nothing needs a restart.
        again = [post(server.url, order, "F1")[2] for order in orders[6:]]
        assert [response.status_code for response in again] == [200] * 6
        deadline = time.monotonic() + 20
        while store.stats()[DeliveryStatus.DONE] < 12:
            assert time.monotonic() < deadline, store.stats()
            time.sleep(0.05)
        assert dispatcher.workers_running() == 3
        after = sorted(
            d.finished_at
            for d in (store.get(response.json()["id"]) for response in again)
            if d.finished_at is not None and d.finished_at > room_at
        )
        print(f"first delivery settled {(after[0] - room_at).total_seconds():.2f} s after room")
        # The end is told once the store has gone a second without failing (the idle workers'
        # claims keep writing).
        while not any("available again" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline + 5, "no line tells the outage ended"
            time.sleep(0.05)

    for order in orders:
        assert client.get_order(order).captured == Money.of("17.50", "CAD")
    lines = [r.getMessage() for r in caplog.records if r.name == "passerelle.store"]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"the SQLite store {store.path} is unavailable: ")
    assert "full" in lines[0]
    assert lines[1].startswith(f"the SQLite store {store.path} is available again after ")
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("passerelle")]
