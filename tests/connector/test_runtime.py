"""The connector assembled from its settings: what each configuration key governs at run time."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import time as time_of_day
from pathlib import Path

import httpx
import pytest
import respx
from testplatform import TestPlatform

from passerelle.backend.errors import APITimeoutError, BackendError
from passerelle.batches import CutoffPolicy
from passerelle.connector.config import ConfigError, Settings
from passerelle.connector.runtime import Connector, Role, build_connector
from passerelle.connector.store import StoreError
from passerelle.hookspecs import hookimpl
from passerelle.platforms import Store, StoreProblem, WebhookPlatform
from passerelle.plugins import Plugins
from passerelle.serving import BackgroundServer


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PASSERELLE_"):
            monkeypatch.delenv(name)


def settings(
    tmp_path: Path, extra: str = "", *, backend: str = "http://127.0.0.1:9", timeouts: str = ""
) -> Settings:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f'[backend]\nurl = "{backend}"\ntoken = "runtime-test-token"\nmerchant = "m"\n{timeouts}'
        f'[store]\nurl = "sqlite:///inbox.db"\n{extra}'
    )
    return Settings.load(path)


def build(
    tmp_path: Path,
    extra: str = "",
    role: Role = Role.ALL,
    *,
    backend: str = "http://127.0.0.1:9",
    timeouts: str = "",
) -> Connector:
    configured = settings(tmp_path, extra, backend=backend, timeouts=timeouts)
    return build_connector(configured, role=role, plugins=Plugins())


def test_the_batches_section_is_the_dispatchers_cutoff(tmp_path: Path) -> None:
    connector = build(tmp_path, '[batches]\ncutoff = "15:30"\nzone = "America/Toronto"\n')
    try:
        assert connector.dispatcher is not None
        assert connector.dispatcher.policy.cutoffs.default == CutoffPolicy(
            time=time_of_day(15, 30), zone="America/Toronto"
        )
    finally:
        connector.close()


def test_a_multiprocess_metrics_folder_that_does_not_exist_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match=r"^PROMETHEUS_MULTIPROC_DIR: '.*absent' is not a folder"):
        build(tmp_path)
    assert not (tmp_path / "inbox.db").exists()
    (tmp_path / "absent").mkdir()
    build(tmp_path).close()
    assert (tmp_path / "inbox.db").exists()


class _NeedsAKey(TestPlatform):
    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return [StoreProblem("options.api_key", "is required")]


class _Registers:
    def __init__(self, platform: WebhookPlatform) -> None:
        self.platform = platform

    @hookimpl
    def register_platforms(self, register: Callable[[WebhookPlatform], None]) -> None:
        register(self.platform)


def test_a_store_its_platform_finds_fault_with_is_logged_when_the_connector_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = Plugins()
    plugins.register(_Registers(_NeedsAKey()), "checked")
    extra = '[[stores]]\nplatform = "test"\nid = "s"\nsecrets = ["whsec-1"]\n'
    with caplog.at_level(logging.WARNING, "passerelle.connector"):
        connector = build_connector(settings(tmp_path, extra), plugins=plugins)
    connector.close()

    assert [r.getMessage() for r in caplog.records] == [
        "configuration: stores[0].options.api_key: is required"
    ]


def test_the_backend_timeouts_bound_the_connectors_calls(tmp_path: Path) -> None:
    # A back end that takes the connection and never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        connector = build(
            tmp_path,
            "",
            backend=f"http://127.0.0.1:{port}",
            timeouts="connect_timeout = 0.3\ntimeout = 0.2\ntotal_timeout = 0.6\n",
        )
        started = time.monotonic()
        try:
            with pytest.raises(APITimeoutError) as caught:
                connector.client.get_order("o-1")
        finally:
            connector.close()
        elapsed = time.monotonic() - started

    assert "within the total timeout of 0.6 s" in str(caught.value)
    assert 0.2 <= elapsed < 3  # one read timeout at least; the default would allow 30 s


@respx.mock(assert_all_called=True)
def test_the_connect_timeout_is_each_connection_attempts(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get("http://127.0.0.1:9/v1/orders/o-1").respond(
        404, json={"type": "about:blank", "title": "No such order", "status": 404}
    )
    connector = build(tmp_path, "", timeouts="connect_timeout = 1.5\ntimeout = 4\n")
    try:
        with pytest.raises(BackendError):
            connector.client.get_order("o-1")
    finally:
        connector.close()

    timeouts = route.calls.last.request.extensions["timeout"]
    assert (timeouts["connect"], timeouts["read"], timeouts["write"]) == (1.5, 4.0, 4.0)


def test_a_dispatcher_answers_health_checks_while_its_workers_run_and_its_store_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = build(tmp_path, "[dispatcher]\nworkers = 2\n", Role.DISPATCHER)
    with BackgroundServer(connector.asgi(), lifespan="on") as server:
        assert connector.dispatcher is not None
        assert connector.dispatcher.workers_running() == 2  # the lifespan started them

        def get(path: str) -> tuple[int, str]:
            response = httpx.get(server.url + path, timeout=5)
            return response.status_code, response.text

        assert get("/healthz") == (200, "ok\n")
        assert get("/readyz") == (200, "ready\n")
        assert get("/webhooks/test/s") == (
            404,
            "not found: a dispatcher answers /healthz, /readyz and /metrics\n",
        )
        assert httpx.post(server.url + "/readyz").status_code == 405

        def unavailable() -> None:
            raise StoreError("the database is down")

        with monkeypatch.context() as patch:
            patch.setattr(connector.store, "ping", unavailable)
            assert get("/readyz") == (503, "not ready: the store does not answer\n")
        assert get("/readyz") == (200, "ready\n")

        connector.dispatcher.stop()
        assert get("/readyz") == (503, "not ready: 0 of 2 dispatcher workers are running\n")
        assert get("/healthz") == (200, "ok\n")


def test_a_connector_that_receives_and_dispatches_is_ready_only_while_its_workers_run(
    tmp_path: Path,
) -> None:
    connector = build(tmp_path, "[dispatcher]\nworkers = 3\n", Role.ALL)
    with BackgroundServer(connector.asgi(), lifespan="on") as server:
        assert connector.dispatcher is not None

        def get(path: str) -> tuple[int, str]:
            response = httpx.get(server.url + path, timeout=5)
            return response.status_code, response.text

        assert get("/readyz") == (200, "ready\n")
        connector.dispatcher.stop()
        # Webhooks would still be stored, but nothing would reach the back end.
        assert get("/readyz") == (503, "not ready: 0 of 3 dispatcher workers are running\n")
        assert get("/healthz") == (200, "ok\n")
