"""Scale-out on PostgreSQL: a receiver and two dispatcher processes share one database. No
delivery is processed twice, and each order's deliveries reach the back end in order."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
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
    backend,
    create_order,
    deliver,
    free_port,
    ledger,
    read_journal,
    refund,
    ship,
    subprocess_env,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ORDERS = 20
DISPATCHERS = 2


def deliveries(order: str) -> list[Delivery]:
    return [
        Delivery(f"{order}:1", order, (ship(order, "F1"),)),
        Delivery(f"{order}:2", order, (ship(order, "F2"),)),
        Delivery(f"{order}:3", order, (refund(order, "R1", "10.00"),)),
    ]


def connected(store_url: str, names: list[str]) -> bool:
    """Whether a session of every application name in `names` is open on the database."""
    import psycopg

    with psycopg.connect(store_url) as connection:
        rows = connection.execute(
            "SELECT DISTINCT application_name FROM pg_stat_activity"
            " WHERE application_name = ANY(%s)",
            (names,),
        ).fetchall()
    return {name for (name,) in rows} == set(names)


def test_two_dispatchers_share_the_work_without_doubles_and_keep_each_orders_order(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, postgres_store_url: str
) -> None:
    with backend(sandbox.url) as client:
        orders = [create_order(client, f"pg-{n}", [("SKU-1", "10.00", 3)]) for n in range(ORDERS)]
    # Each back-end call takes a while, so both dispatchers have deliveries in hand at once.
    sandbox.state.set_faults(Faults(latency_ms=20))

    journal = tmp_path / "journal.jsonl"
    env = subprocess_env(plugin_site, journal)
    # Few deliveries in hand each, so that one dispatcher cannot claim the whole backlog at once.
    config = ConnectorConfig(sandbox.url, postgres_store_url, workers=2, concurrency=2)
    path = config.write(tmp_path / "passerelle.toml")
    names = [f"passerelle-dispatcher-{n}" for n in range(DISPATCHERS)]
    with ExitStack() as stack:
        receiver = stack.enter_context(
            ConnectorProcess(
                path, env, tmp_path / "receiver.log", role="receiver", port=config.port
            )
        )
        dispatchers = [
            stack.enter_context(
                ConnectorProcess(
                    path,
                    env,
                    tmp_path / f"{name}.log",
                    role="dispatcher",
                    port=free_port(),
                    store_url=f"{postgres_store_url}&application_name={name}",
                )
            )
            for name in names
        ]
        for process in [receiver, *dispatchers]:
            process.start()
        receiver.wait_ready()
        wait_until(
            lambda: connected(postgres_store_url, names),
            timeout=30,
            what="both dispatchers to connect to the database",
        )

        ids: dict[str, int] = {}
        with httpx.Client() as http, ThreadPoolExecutor(8) as senders:

            def send(order: str) -> None:
                # In order, each once acknowledged; then the platform repeats one.
                for delivery in deliveries(order):
                    ids[delivery.key] = deliver(http, receiver.url, delivery)["id"]
                assert deliver(http, receiver.url, deliveries(order)[0])["duplicate"] is True

            list(senders.map(send, orders))
        counts = wait_settled(receiver.url, timeout=60)
        assert counts["done"] == 3 * ORDERS
        assert counts["failed"] == 0
        # A dispatcher stops on SIGTERM once its deliveries in hand are settled.
        for process in dispatchers:
            process.signal(signal.SIGTERM)
        assert [process.wait(30) for process in dispatchers] == [0] * DISPATCHERS
        pids = {process.pid for process in dispatchers}

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
    records = read_journal(journal)
    sequences: dict[str, list[str]] = {}
    for record in records:
        sequences.setdefault(record["order"], []).append(record["id"])
    assert sequences == {order: ["F1", "F2", "R1"] for order in orders}
    assert {record["pid"] for record in records} == pids, "one dispatcher did all the work"
    with open_store(postgres_store_url) as store:
        results = {key: [a.result for a in store.attempts(i)] for key, i in ids.items()}
    assert results == {key: [AttemptResult.DONE] for key in ids}
