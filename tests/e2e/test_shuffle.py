"""Out of order and repeated: the same deliveries, shuffled and sent again, end in the same
back-end state as when they arrive in order. A refund before its shipment waits for it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from passerelle.backend.client import BackendClient
from passerelle.sandbox.server import SandboxServer

from .support import (
    READ_TOKEN,
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    api,
    backend,
    cancel,
    create_order,
    deliver,
    ledger,
    refund,
    ship,
    sqlite_url,
    subprocess_env,
    wait_settled,
)

pytestmark = pytest.mark.slow

SHUFFLES = 5
REPEATS = 3


def deliveries(order: str) -> list[Delivery]:
    """One order's deliveries in the order the platform sent them."""
    return [
        Delivery(f"{order}:a", order, (ship(order, "F1"),)),
        Delivery(f"{order}:b", order, (ship(order, "F2"),)),
        Delivery(f"{order}:c", order, (refund(order, "R1", "10.00"),)),
        # The same two fulfillments again in another delivery, as orders/fulfilled repeats them.
        Delivery(f"{order}:d", order, (ship(order, "F1"), ship(order, "F2"))),
        Delivery(f"{order}:e", order, (ship(order, "F3", "SKU-2"),)),
        Delivery(f"{order}:f", order, (cancel(order, "C1", "SKU-2"),)),
        Delivery(f"{order}:g", order, (refund(order, "R2", "5.00", "SKU-2"),)),
    ]


def arrivals(order: str, rng: random.Random) -> list[Delivery]:
    """The deliveries shuffled, some of them sent twice."""
    sent = deliveries(order)
    rng.shuffle(sent)
    for repeated in rng.sample(sent, REPEATS):
        sent.insert(rng.randrange(len(sent) + 1), repeated)
    return sent


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with backend(sandbox.url) as opened:
        yield opened


def test_shuffled_and_repeated_deliveries_end_as_in_order(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, client: BackendClient
) -> None:
    def new_order(name: str) -> str:
        return create_order(
            client, f"shuffle-{name}", [("SKU-1", "10.00", 3), ("SKU-2", "5.00", 2)]
        )

    in_order = new_order("in-order")
    backwards = new_order("backwards")
    rng = random.Random(20260302)
    scenarios: dict[str, list[Delivery]] = {
        in_order: deliveries(in_order),
        # Every refund before its shipment.
        backwards: list(reversed(deliveries(backwards))),
    }
    for n in range(SHUFFLES):
        order = new_order(f"shuffled-{n}")
        scenarios[order] = arrivals(order, rng)

    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"))
    with (
        ConnectorProcess(
            config.write(tmp_path / "passerelle.toml"),
            subprocess_env(plugin_site),
            tmp_path / "connector.log",
            port=config.port,
        ) as connector,
        httpx.Client() as http,
        ThreadPoolExecutor(4) as senders,
    ):
        connector.start().wait_ready()
        ids: dict[str, int] = {}

        def send(sent: list[Delivery]) -> None:
            # One order's deliveries arrive one after the other, in the scenario's order.
            for delivery in sent:
                ids[delivery.key] = deliver(http, connector.url, delivery)["id"]

        list(senders.map(send, scenarios.values()))
        counts = wait_settled(connector.url, timeout=60)
        assert counts["failed"] == 0, connector.output()

        def history(key: str) -> list[Any]:
            shown = api(connector.url, f"/actions/{ids[key]}", token=READ_TOKEN).json()
            return [attempt["result"] for attempt in shown["attempt_history"]]

        early_refund = history(f"{backwards}:g")

    expected = ledger(client.get_order(in_order))
    assert expected == {
        "status": "partially_shipped",
        "lines": {"SKU-1": (3, 2, 0, 1), "SKU-2": (2, 1, 1, 1)},
        "authorized": "35.00 CAD",
        "captured": "25.00 CAD",
        "refunded": "15.00 CAD",
        "voided": "5.00 CAD",
        "applied": [
            ("order_cancelled", "C1"),
            ("order_returned", "R1"),
            ("order_returned", "R2"),
            ("order_shipped", "F1"),
            ("order_shipped", "F2"),
            ("order_shipped", "F3"),
        ],
    }
    for order in scenarios:
        assert ledger(client.get_order(order)) == expected, [d.key for d in scenarios[order]]
    # The refund that came first waited for its shipment, then applied.
    assert early_refund[0] == "deferred"
    assert early_refund[-1] == "done"
