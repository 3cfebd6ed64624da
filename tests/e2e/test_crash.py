"""A connector killed with SIGKILL in the middle of a stream of deliveries, and started again:
every delivery it acknowledged reaches the back end exactly once."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from passerelle.connector.store import AttemptResult, open_store
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import (
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    applications,
    backend,
    create_order,
    deliver,
    ledger,
    read_journal,
    refund,
    ship,
    sqlite_url,
    subprocess_env,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.slow

ORDERS = 24
SENDERS = 6


class Acknowledged:
    """The acknowledgements the senders got: how many, and the delivery ids they named."""

    def __init__(self) -> None:
        self._count = 0
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    def add(self, delivery_id: int) -> None:
        with self._lock:
            self._count += 1
            self._ids.add(delivery_id)

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def reached(self, count: int) -> bool:
        return self.count >= count

    @property
    def ids(self) -> set[int]:
        with self._lock:
            return set(self._ids)


def stream(orders: list[str]) -> Iterator[Delivery]:
    for order in orders:
        yield Delivery(f"{order}:ship-1", order, (ship(order, "F1"),))
        yield Delivery(f"{order}:ship-2", order, (ship(order, "F2"),))
        yield Delivery(f"{order}:refund-1", order, (refund(order, "R1", "10.00"),))


def test_a_killed_connector_applies_every_acknowledged_delivery_exactly_once(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    with backend(sandbox.url) as client:
        orders = [
            create_order(client, f"crash-{n}", [("SKU-1", "10.00", 3)]) for n in range(ORDERS)
        ]
    deliveries = list(stream(orders))
    # Every delivery is sent twice, in a scrambled order, as platforms retry and repeat.
    sends = deliveries * 2
    random.Random(7001).shuffle(sends)
    # Back-end calls take a while, so the kills land while deliveries are being dispatched.
    sandbox.state.set_faults(Faults(latency_ms=15))

    journal = tmp_path / "journal.jsonl"
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"), lease=1.5)
    connector = ConnectorProcess(
        config.write(tmp_path / "passerelle.toml"),
        subprocess_env(plugin_site, journal),
        tmp_path / "connector.log",
        port=config.port,
    )
    acknowledged = Acknowledged()
    with connector, httpx.Client(timeout=5.0) as http, ThreadPoolExecutor(SENDERS) as senders:
        connector.start().wait_ready()

        def send(delivery: Delivery) -> None:
            acknowledged.add(deliver(http, connector.url, delivery, timeout=90)["id"])

        sent = [senders.submit(send, delivery) for delivery in sends]
        for share in (0.3, 0.65, 1.0):
            wanted = int(len(sends) * share)
            wait_until(
                functools.partial(acknowledged.reached, wanted),
                timeout=90,
                what=f"{wanted} acknowledgements",
            )
            connector.kill()
            connector.start().wait_ready()
        for future in sent:
            future.result()
        counts = wait_settled(connector.url, timeout=60)

        assert counts["done"] == len(deliveries), connector.output()
        assert counts["failed"] == 0
        assert len(acknowledged.ids) == len(deliveries)
        with backend(sandbox.url) as client:
            for order in orders:
                assert ledger(client.get_order(order)) == {
                    "status": "partially_shipped",
                    "lines": {"SKU-1": (3, 2, 0, 1)},
                    "authorized": "30.00 CAD",
                    "captured": "20.00 CAD",
                    "refunded": "10.00 CAD",
                    "voided": "0.00 CAD",
                    "applied": [
                        ("order_returned", "R1"),
                        ("order_shipped", "F1"),
                        ("order_shipped", "F2"),
                    ],
                }, order
    with open_store(sqlite_url(tmp_path / "inbox.db")) as store:
        abandoned = [
            attempt
            for delivery_id in acknowledged.ids
            for attempt in store.attempts(delivery_id)
            if attempt.result is AttemptResult.LEASE_EXPIRED
        ]
    # The kills did land while deliveries were in hand.
    assert abandoned
    # An observer may miss an event whose back-end call finished just before a kill (the
    # dispatch after the restart finds it applied), but never sees one twice.
    twice = {key: n for key, n in applications(read_journal(journal)).items() if n > 1}
    assert twice == {}
