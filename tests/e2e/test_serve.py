"""`passerelle serve` as a merchant runs it: signed webhooks in, the sandbox's ledger out, health
checks, the action-center API, and a graceful stop."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from passerelle.backend.client import BackendClient
from passerelle.connector.store import DeliveryStatus, open_store
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import (
    READ_TOKEN,
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    api,
    applications,
    backend,
    create_order,
    deliver,
    ledger,
    money,
    read_journal,
    refund,
    ship,
    sqlite_url,
    subprocess_env,
    wait_for_status,
    wait_settled,
    wait_until,
    webhook_url,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with backend(sandbox.url) as opened:
        yield opened


def start_connector(
    tmp_path: Path,
    plugin_site: Path,
    sandbox: SandboxServer,
    *,
    workers: int = 4,
    max_attempts: int = 10,
    log_level: str | None = None,
    env: dict[str, str] | None = None,
) -> ConnectorProcess:
    config = ConnectorConfig(
        sandbox.url,
        sqlite_url(tmp_path / "inbox.db"),
        workers=workers,
        max_attempts=max_attempts,
    )
    connector = ConnectorProcess(
        config.write(tmp_path / "passerelle.toml"),
        {**subprocess_env(plugin_site, tmp_path / "journal.jsonl"), **(env or {})},
        tmp_path / "connector.log",
        port=config.port,
        log_level=log_level,
    )
    connector.start()
    return connector


def test_signed_webhooks_reach_the_back_end_once(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, client: BackendClient
) -> None:
    orders = [
        create_order(client, f"serve-{n}", [("SKU-1", "10.00", 2), ("SKU-2", "4.50", 1)])
        for n in range(5)
    ]
    with start_connector(tmp_path, plugin_site, sandbox) as connector, httpx.Client() as http:
        connector.wait_ready()
        assert httpx.get(f"{connector.url}/healthz").text == "ok\n"
        assert httpx.get(f"{connector.url}/readyz").text == "ready\n"

        shipments = [Delivery(f"{o}:ship", o, (ship(o, "F1", "SKU-1", 2),)) for o in orders]
        refunds = [Delivery(f"{o}:refund", o, (refund(o, "R1", "10.00"),)) for o in orders]
        first = [deliver(http, connector.url, d) for d in shipments + refunds]
        assert [answer["duplicate"] for answer in first] == [False] * 10
        # The platform sends a delivery again: acknowledged, not stored twice.
        again = deliver(http, connector.url, shipments[0])
        assert again == {"id": first[0]["id"], "duplicate": True}
        # A forgery is refused and stored nowhere.
        forged = Delivery("forged", orders[1], (ship(orders[1], "F9", "SKU-2"),))
        response = http.post(
            webhook_url(connector.url),
            content=forged.body(),
            headers={**forged.headers(), "X-Test-Signature": "bm90IGEgc2lnbmF0dXJl"},
        )
        assert response.status_code == 401
        assert response.text == "not authentic: X-Test-Signature matches no secret of the store\n"

        counts = wait_settled(connector.url, timeout=30)
    assert counts["done"] == 10
    assert counts["failed"] == 0
    for order in orders:
        assert ledger(client.get_order(order)) == {
            "status": "partially_shipped",
            "lines": {"SKU-1": (2, 2, 0, 1), "SKU-2": (1, 0, 0, 0)},
            "authorized": "24.50 CAD",
            "captured": "20.00 CAD",
            "refunded": "10.00 CAD",
            "voided": "0.00 CAD",
            "applied": [("order_returned", "R1"), ("order_shipped", "F1")],
        }
    seen = applications(read_journal(tmp_path / "journal.jsonl"))
    assert seen == {(o, e): 1 for o in orders for e in ("F1", "R1")}


@pytest.mark.parametrize("level", ["info", "debug"])
def test_refusals_are_logged_and_stored_deliveries_only_at_debug(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, client: BackendClient, level: str
) -> None:
    order = create_order(client, f"log-{level}", [("SKU-1", "10.00", 1)])
    shipment = Delivery(f"{order}:ship", order, (ship(order, "F1"),))
    with (
        start_connector(tmp_path, plugin_site, sandbox, log_level=level) as connector,
        httpx.Client() as http,
    ):
        connector.wait_ready()
        stored = deliver(http, connector.url, shipment)
        forged = http.post(
            webhook_url(connector.url),
            content=shipment.body(),
            headers={**shipment.headers(), "X-Test-Signature": "bm90IGEgc2lnbmF0dXJl"},
        )
        assert forged.status_code == 401
        wait_settled(connector.url, timeout=30)
        connector.signal(signal.SIGTERM)
        assert connector.wait(timeout=30) == 0
    lines = connector.output().splitlines()
    refused = [line for line in lines if "passerelle.receiver: 401 " in line]
    assert len(refused) == 1
    assert " INFO " in refused[0]
    stored_lines = [line for line in lines if f"stored delivery={shipment.key} " in line]
    if level == "debug":
        assert len(stored_lines) == 1
        assert " DEBUG passerelle.receiver: 200 " in stored_lines[0]
        assert f"id={stored['id']}" in stored_lines[0]
    else:
        assert stored_lines == []


def test_the_action_center_api_shows_a_failure_and_retries_it_with_a_full_token(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, client: BackendClient
) -> None:
    order = create_order(client, "serve-api", [("SKU-1", "12.00", 1)])
    sandbox.state.set_faults(Faults(error_rate=1.0))
    with (
        start_connector(tmp_path, plugin_site, sandbox, max_attempts=1) as connector,
        httpx.Client() as http,
    ):
        connector.wait_ready()
        delivery_id = deliver(http, connector.url, Delivery("api-1", order, (ship(order, "F1"),)))[
            "id"
        ]

        def listed() -> list[dict[str, object]]:
            response = api(connector.url, "/actions", token=READ_TOKEN)
            assert response.status_code == 200, response.text
            actions: list[dict[str, object]] = response.json()["actions"]
            return actions

        (action,) = wait_until(listed, timeout=30, what="the delivery in the action center")
        assert action["id"] == delivery_id
        assert action["order"] == order
        assert action["status"] == "failed"
        assert action["error_code"] == "internal_error"
        assert str(action["error_message"]).startswith("gave up after 1 attempts: ")

        anonymous = api(connector.url, "/actions", token=None)
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == "unauthorized"
        read_only = api(connector.url, "/actions/retry", token=READ_TOKEN, body={"ids": [1]})
        assert read_only.status_code == 403
        assert read_only.json()["code"] == "forbidden"

        sandbox.state.set_faults(Faults())
        assert client.get_order(order).captured == money("0.00")
        retried = api(
            connector.url, "/actions/retry", body={"ids": [delivery_id], "note": "back end is up"}
        )
        assert retried.status_code == 200, retried.text
        assert retried.json() == {"retried": [delivery_id]}

        wait_until(
            lambda: client.get_order(order).captured == money("12.00"),
            timeout=30,
            what="the retried shipment to be captured",
        )

        detail = wait_for_status(connector.url, delivery_id, "done", timeout=10)
        assert [(n["action"], n["text"]) for n in detail["notes"]] == [
            ("requeued", "back end is up")
        ]
        assert listed() == []


def test_sigterm_lets_in_flight_deliveries_finish_and_exits_0(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, client: BackendClient
) -> None:
    orders = [create_order(client, f"serve-stop-{n}", [("SKU-1", "7.00", 1)]) for n in range(2)]
    with start_connector(tmp_path, plugin_site, sandbox, workers=2) as connector:
        connector.wait_ready()
        with sandbox.state.hold_writes() as gate, httpx.Client() as http:
            for order in orders:
                deliver(http, connector.url, Delivery(f"stop-{order}", order, (ship(order, "F1"),)))
            # Both workers are now inside a back-end call that cannot finish yet.
            assert gate.wait_for_writes(2, timeout=30), connector.output()
            connector.signal(signal.SIGTERM)

            def refusing() -> bool:
                try:
                    httpx.get(f"{connector.url}/healthz", timeout=1.0)
                except httpx.TransportError:
                    return True
                return False

            wait_until(refusing, timeout=30, what="the connector to stop taking requests")
            assert connector.running(), "the connector did not wait for its in-flight work"
        code = connector.wait(30)
        output = connector.output()
    assert code == 0, output
    for order in orders:
        assert client.get_order(order).captured == money("7.00")
    with open_store(sqlite_url(tmp_path / "inbox.db")) as store:
        assert store.stats()[DeliveryStatus.DONE] == 2
        assert store.stats()[DeliveryStatus.PROCESSING] == 0


def test_serve_lifts_its_open_file_limit_and_answers_a_slow_client_408(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, lowered_file_limit: int
) -> None:
    slow = {"PASSERELLE_RECEIVER__HEADER_TIMEOUT": "0.5"}
    with start_connector(tmp_path, plugin_site, sandbox, env=slow) as connector:
        connector.wait_ready()
        with socket.create_connection(("127.0.0.1", connector.port or 0), timeout=10) as client:
            client.sendall(b"POST /webhooks/test/s HTTP/1.1\r\nHost: x\r\n")
            said = client.recv(4096)
        connector.signal(signal.SIGTERM)
        assert connector.wait(30) == 0
    hard = lowered_file_limit
    assert said.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert said.endswith(b"request timeout: the headers took longer than 0.5 s\n")
    assert (
        f"INFO passerelle.server: open-file limit: soft {hard} (was 1000), hard {hard}"
        in connector.output()
    )
