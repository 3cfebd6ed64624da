"""`GET /metrics` of `passerelle serve`: what Prometheus reads of a connector at work, alone and
as a receiver and a dispatcher sharing one `PROMETHEUS_MULTIPROC_DIR`."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from testplatform import PLATFORM

from passerelle.sandbox.server import SandboxServer

from .support import (
    READ_TOKEN,
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    api,
    backend,
    create_order,
    deliver,
    free_port,
    serve,
    ship,
    sqlite_url,
    subprocess_env,
    wait_for_status,
    wait_settled,
    wait_until,
    webhook_url,
)

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str, token: str | None = READ_TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{base}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def test_metrics_count_what_the_connector_received_dispatched_and_holds(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"))
    with (
        backend(sandbox.url) as client,
        serve(config, tmp_path, plugin_site) as connector,
        httpx.Client() as http,
    ):
        connector.start().wait_ready()
        assert httpx.get(f"{connector.url}/metrics").status_code == 401
        wrong = httpx.get(f"{connector.url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401

        order = create_order(client, "metrics-1", [("SKU-1", "10.00", 2)])
        shipped = Delivery("m-1", order, (ship(order, "F1"),))
        deliver(http, connector.url, shipped)
        assert deliver(http, connector.url, shipped)["duplicate"] is True
        failed = deliver(http, connector.url, Delivery("m-2", order, (ship(order, "F2", "NO"),)))
        deferred = deliver(http, connector.url, Delivery("m-3", "absent", (ship("absent", "F"),)))
        forged = httpx.post(
            webhook_url(connector.url),
            content=shipped.body(),
            headers={**shipped.headers(), "X-Test-Signature": "forged"},
        )
        assert forged.status_code == 401
        assert (
            httpx.post(f"{connector.url}/webhooks/made-up/shop-1", content=b"{}").status_code == 404
        )
        wait_for_status(connector.url, failed["id"], "failed", timeout=30)
        wait_until(
            lambda: api(connector.url, f"/actions/{deferred['id']}").json()["deferred"],
            timeout=30,
            what="the delivery of an unknown order to be deferred",
        )

        samples = scrape(connector.url)
        received = "passerelle_deliveries_received_total"
        assert value(samples, received, platform=PLATFORM, answer="200") == 4
        assert value(samples, received, platform=PLATFORM, answer="401") == 1
        assert value(samples, received, platform="unknown", answer="404") == 1
        assert value(samples, "passerelle_deliveries_stored_total", platform=PLATFORM) == 3
        assert value(samples, "passerelle_deliveries_duplicate_total", platform=PLATFORM) == 1
        outcomes = "passerelle_dispatch_outcomes_total"
        assert value(samples, outcomes, kind="done", code="") == 1
        assert value(samples, outcomes, kind="failed", code="unknown_line") == 1
        assert value(samples, outcomes, kind="deferred", code="unknown_order") >= 1
        assert value(samples, "passerelle_backend_errors_total", code="unknown_order") >= 1
        latency = "passerelle_backend_request_duration_seconds_count"
        assert value(samples, latency, method="POST", status="201") == 1  # the shipment
        assert value(samples, latency, method="GET", status="404") >= 1  # the absent order
        assert value(samples, "passerelle_backlog_deliveries", state="deferred") == 1
        assert value(samples, "passerelle_backlog_deliveries", state="pending") == 0
        assert value(samples, "passerelle_backlog_oldest_age_seconds") > 0
        assert value(samples, "passerelle_action_center_deliveries") == 1


def test_a_receiver_and_a_dispatcher_sharing_a_multiprocess_folder_report_both(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = subprocess_env(plugin_site)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"), workers=2)
    path = config.write(tmp_path / "passerelle.toml")
    with ExitStack() as stack, backend(sandbox.url) as client, httpx.Client() as http:
        receiver = stack.enter_context(
            ConnectorProcess(
                path, env, tmp_path / "receiver.log", role="receiver", port=config.port
            )
        )
        dispatcher = stack.enter_context(
            ConnectorProcess(
                path, env, tmp_path / "dispatcher.log", role="dispatcher", port=free_port()
            )
        )
        for process in (receiver, dispatcher):
            process.start().wait_ready()
        orders = [create_order(client, f"multi-{n}", [("SKU-1", "5.00", 1)]) for n in range(3)]
        for n, order in enumerate(orders):
            deliver(http, receiver.url, Delivery(f"multi-{n}", order, (ship(order, "F1"),)))
        wait_settled(receiver.url, timeout=30)

        # Each process answers for both: what one received, what the other dispatched.
        for process in (receiver, dispatcher):
            samples = scrape(process.url)
            assert (
                value(
                    samples,
                    "passerelle_deliveries_received_total",
                    platform=PLATFORM,
                    answer="200",
                )
                == 3
            ), process
            assert total(samples, "passerelle_dispatch_outcomes_total", kind="done") == 3, process
            assert total(samples, "passerelle_backend_request_duration_seconds_count") >= 3
            assert value(samples, "passerelle_backlog_deliveries", state="pending") == 0
