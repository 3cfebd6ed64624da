"""The back end on a bad day: 500s, 429s with Retry-After, latency, dropped connections and lost
answers. Every event still reaches it once, none twice."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import (
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    applications,
    backend,
    cancel,
    create_order,
    deliver,
    ledger,
    read_journal,
    refund,
    ship,
    sqlite_url,
    subprocess_env,
    wait_settled,
)

pytestmark = pytest.mark.slow

ORDERS = 8


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def connector(
    workdir: Path, plugin_site: Path, module_sandbox: SandboxServer
) -> Iterator[ConnectorProcess]:
    config = ConnectorConfig(module_sandbox.url, sqlite_url(workdir / "inbox.db"))
    with ConnectorProcess(
        config.write(workdir / "passerelle.toml"),
        subprocess_env(plugin_site, workdir / "journal.jsonl"),
        workdir / "connector.log",
        port=config.port,
    ) as process:
        process.start().wait_ready()
        yield process


def deliveries(order: str) -> list[Delivery]:
    return [
        Delivery(f"{order}:1", order, (ship(order, "F1"),)),
        # Two events in one delivery: a retry after the first applied must not apply it again.
        Delivery(f"{order}:2", order, (ship(order, "F2"), cancel(order, "C1", "SKU-2"))),
        Delivery(f"{order}:3", order, (refund(order, "R1", "10.00"),)),
    ]


@pytest.mark.parametrize(
    ("name", "faults"),
    [
        pytest.param("server_error", Faults(error_rate=0.3, seed=11, limit=20), id="server_error"),
        pytest.param(
            "throttle", Faults(throttle_rate=0.3, retry_after=1, seed=12, limit=6), id="throttle"
        ),
        pytest.param("latency", Faults(latency_ms=100), id="latency"),
        pytest.param("drop", Faults(drop_rate=0.3, seed=13, limit=20), id="drop"),
        pytest.param(
            "lost_response", Faults(lost_response_rate=0.3, seed=14, limit=20), id="lost_response"
        ),
        pytest.param(
            "all",
            Faults(
                latency_ms=10,
                error_rate=0.1,
                throttle_rate=0.05,
                retry_after=1,
                drop_rate=0.1,
                lost_response_rate=0.1,
                seed=15,
                limit=25,
            ),
            id="all",
        ),
    ],
)
def test_every_event_reaches_the_back_end_once_despite_faults(
    name: str,
    faults: Faults,
    module_sandbox: SandboxServer,
    connector: ConnectorProcess,
    workdir: Path,
) -> None:
    with backend(module_sandbox.url) as client:
        orders = [
            create_order(
                client, f"faults-{name}-{n}", [("SKU-1", "10.00", 3), ("SKU-2", "5.00", 1)]
            )
            for n in range(ORDERS)
        ]
    module_sandbox.state.set_faults(faults)
    try:
        with httpx.Client() as http, ThreadPoolExecutor(4) as senders:

            def send_in_order(order: str) -> None:
                for delivery in deliveries(order):
                    deliver(http, connector.url, delivery)

            list(senders.map(send_in_order, orders))
        counts = wait_settled(connector.url, timeout=60)
        injected = module_sandbox.state.faults.injected
    finally:
        module_sandbox.state.set_faults(Faults())

    if faults.limit is not None:
        assert injected > 0, "no fault was injected: the test proves nothing"
    assert counts["failed"] == 0, connector.output()
    with backend(module_sandbox.url) as client:
        for order in orders:
            assert ledger(client.get_order(order)) == {
                "status": "partially_shipped",
                "lines": {"SKU-1": (3, 2, 0, 1), "SKU-2": (1, 0, 1, 0)},
                "authorized": "30.00 CAD",
                "captured": "20.00 CAD",
                "refunded": "10.00 CAD",
                "voided": "5.00 CAD",
                "applied": [
                    ("order_cancelled", "C1"),
                    ("order_returned", "R1"),
                    ("order_shipped", "F1"),
                    ("order_shipped", "F2"),
                ],
            }, order
    seen = applications(read_journal(workdir / "journal.jsonl"))
    twice = {key: n for key, n in seen.items() if key[0] in orders and n > 1}
    assert twice == {}
