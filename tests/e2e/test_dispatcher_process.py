"""`passerelle serve` on PostgreSQL runs its dispatcher in a process of its own: restarted when
it dies, stopped when `serve` stops or dies, logging to the same output."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from passerelle.backend.client import BackendClient
from passerelle.sandbox.server import SandboxServer

from .support import (
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    applications,
    backend,
    create_order,
    deliver,
    read_journal,
    ship,
    sqlite_url,
    subprocess_env,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with backend(sandbox.url) as opened:
        yield opened


@pytest.fixture
def connector(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, postgres_store_url: str
) -> Iterator[ConnectorProcess]:
    config = ConnectorConfig(sandbox.url, postgres_store_url)
    with ConnectorProcess(
        config.write(tmp_path / "passerelle.toml"),
        subprocess_env(plugin_site, tmp_path / "journal.jsonl"),
        tmp_path / "connector.log",
        port=config.port,
    ) as process:
        process.start().wait_ready()
        yield process


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def dispatcher_of(connector: ConnectorProcess) -> int:
    (pid,) = wait_until(
        lambda: children(connector.pid), timeout=30, what="the dispatcher process to run"
    )
    return pid


def test_a_killed_dispatcher_process_is_restarted_and_dispatches_on(
    connector: ConnectorProcess, client: BackendClient, tmp_path: Path
) -> None:
    orders = [create_order(client, f"restart-{n}", [("SKU-1", "5.00", 1)]) for n in range(2)]
    with httpx.Client() as http:
        first = deliver(http, connector.url, Delivery("r-1", orders[0], (ship(orders[0], "F1"),)))
        wait_for_status(connector.url, first["id"], "done", timeout=30)
        killed = dispatcher_of(connector)

        os.kill(killed, signal.SIGKILL)
        restarted = wait_until(
            lambda: [pid for pid in children(connector.pid) if pid != killed],
            timeout=30,
            what="a new dispatcher process",
        )[0]
        second = deliver(http, connector.url, Delivery("r-2", orders[1], (ship(orders[1], "F1"),)))
        wait_for_status(connector.url, second["id"], "done", timeout=30)

    assert connector.running()
    assert alive(restarted)
    output = connector.output()
    assert f"dispatcher process {killed} exited with status -9; restarting it" in output
    assert f"dispatcher process {restarted} started" in output
    seen = applications(read_journal(tmp_path / "journal.jsonl"))
    assert seen == {(orders[0], "F1"): 1, (orders[1], "F1"): 1}


def test_the_dispatcher_process_stops_when_serve_is_killed(connector: ConnectorProcess) -> None:
    dispatcher = dispatcher_of(connector)

    connector.kill()  # SIGKILL: serve cannot stop its child itself

    wait_until(lambda: not alive(dispatcher), timeout=30, what="the dispatcher process to stop")
    assert "the supervising process is gone: this dispatcher stops at once" in connector.output()


def test_sigterm_stops_serve_and_its_dispatcher_process(connector: ConnectorProcess) -> None:
    dispatcher = dispatcher_of(connector)

    connector.signal(signal.SIGTERM)

    assert connector.wait(60) == 0, connector.output()
    assert not alive(dispatcher)
    assert "exited with status" not in connector.output()


def test_on_sqlite_serve_dispatches_in_its_own_process(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, client: BackendClient
) -> None:
    order = create_order(client, "sqlite-one-process", [("SKU-1", "5.00", 1)])
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"))
    with (
        ConnectorProcess(
            config.write(tmp_path / "passerelle.toml"),
            subprocess_env(plugin_site),
            tmp_path / "connector.log",
            port=config.port,
        ) as connector,
        httpx.Client() as http,
    ):
        connector.start().wait_ready()
        delivered = deliver(http, connector.url, Delivery("s-1", order, (ship(order, "F1"),)))
        wait_for_status(connector.url, delivered["id"], "done", timeout=30)

        assert children(connector.pid) == []
