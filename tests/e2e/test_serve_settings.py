"""What `passerelle.toml` settings do to `passerelle serve`: a dispatcher's health checks on
`[dispatcher] health_port`, and the `[batches]` cutoff a batch edit is held to."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from passerelle.sandbox.server import SandboxServer

from .support import (
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    deliver,
    free_port,
    sqlite_url,
    subprocess_env,
    wait_for_status,
)

pytestmark = pytest.mark.slow


def test_a_dispatcher_answers_health_checks_on_its_health_port_and_stops_on_sigterm(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"), workers=2)
    path = config.write(tmp_path / "passerelle.toml")
    health = free_port()
    path.write_text(
        path.read_text().replace("[dispatcher]\n", f"[dispatcher]\nhealth_port = {health}\n")
    )
    dispatcher = ConnectorProcess(
        path, subprocess_env(plugin_site), tmp_path / "dispatcher.log", role="dispatcher"
    )
    with dispatcher.start():
        dispatcher.port = health  # set once started: the port comes from the file, not --port
        dispatcher.wait_ready()
        assert httpx.get(f"{dispatcher.url}/healthz").text == "ok\n"
        ready = httpx.get(f"{dispatcher.url}/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        # It is no receiver: the receiver's port stays free and webhooks are not taken here.
        assert httpx.post(f"{dispatcher.url}/webhooks/test/shop-1").status_code == 404
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{config.port}/healthz")

        dispatcher.signal(signal.SIGTERM)
        assert dispatcher.wait(30) == 0, dispatcher.output()


def batch_edit(batch: str, processing_date: str) -> dict[str, object]:
    return {
        "kind": "batch_file_edited",
        "batch": batch,
        "processing_date": processing_date,
        "changes": [{"change": "deleted"}],
    }


@pytest.mark.parametrize(
    ("cutoff", "status", "code"),
    [("23:59:59", "done", None), ("00:00", "failed", "batch_past_cutoff")],
)
def test_the_configured_cutoff_decides_whether_a_batch_edit_goes_through(
    tmp_path: Path,
    plugin_site: Path,
    sandbox: SandboxServer,
    cutoff: str,
    status: str,
    code: str | None,
) -> None:
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"))
    path = config.write(tmp_path / "passerelle.toml")
    path.write_text(path.read_text() + f'\n[batches]\ncutoff = "{cutoff}"\nzone = "UTC"\n')
    today = datetime.now(UTC).date()
    if today.weekday() >= 5:
        # A weekend date has the Monday after's cutoff: no cutoff setting can have passed it yet.
        pytest.skip("on a Saturday or Sunday no processing date's cutoff falls today")
    today_text = today.isoformat()
    connector = ConnectorProcess(
        path, subprocess_env(plugin_site), tmp_path / "connector.log", port=config.port
    )
    with connector.start(), httpx.Client() as http:
        connector.wait_ready()
        edit = Delivery("batch-1", "batch-B-1", (batch_edit("B-1", today_text),))
        delivery_id = deliver(http, connector.url, edit)["id"]
        shown = wait_for_status(connector.url, delivery_id, status, timeout=30)

    assert shown["error_code"] == code
    if code is not None:
        assert shown["error_message"].startswith(f"batch B-1 for {today_text} is past its cutoff")
