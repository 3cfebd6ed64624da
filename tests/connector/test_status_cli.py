"""`passerelle status`: counts per store from the configured store, and the dispatcher asked
over HTTP at the connector's own `/readyz`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_actions import Deliveries
from typer.testing import CliRunner, Result

from passerelle.cli import app
from passerelle.clock import FixedClock
from passerelle.connector.actions import age
from passerelle.connector.config import Settings
from passerelle.connector.runtime import build_connector
from passerelle.serving import BackgroundServer

# The command reads "today" and ages by the real clock: deliveries are placed 3 hours before
# the test starts.
AGO = timedelta(hours=3)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0) - AGO)


@pytest.fixture
def port() -> int:
    """A port nothing listens on (until a test serves there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config(tmp_path: Path, store_url: str, port: int, clean_environment: None) -> Path:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f"""
[backend]
url = "http://127.0.0.1:9"
token = "backend-token-0123456789"
merchant = "m-42"

[store]
url = "{store_url}"

[receiver]
port = {port}

[dispatcher]
workers = 2

[[stores]]
platform = "shopify"
id = "north.myshopify.com"
secrets = ["whsec-north-0123456789"]

[[stores]]
platform = "shopify"
id = "quiet.myshopify.com"
secrets = ["whsec-quiet-0123456789"]
""",
        encoding="utf-8",
    )
    return path


def status(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["status", *args, "-c", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "backend-token" not in result.output
    return result


@pytest.fixture
def serving(config: Path) -> Iterator[BackgroundServer]:
    """The configured connector, dispatcher started, on the configured receiver port."""
    settings = Settings.load(config)
    connector = build_connector(settings)
    with BackgroundServer(connector.asgi(), port=settings.receiver.port, lifespan="on") as server:
        yield server


def rows(result: Result) -> dict[str, list[str]]:
    found = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 7 and cells[1].endswith(".myshopify.com"):
            found[cells[1]] = cells[2:]
    return found


def test_status_counts_each_store_and_says_nothing_answers(
    config: Path, deliveries: Deliveries, clock: FixedClock, port: int
) -> None:
    done_at = clock.now()
    deliveries.done("1")
    deliveries.failed("2")
    first_deferred = deliveries.deferred("3", until=timedelta(days=1))
    clock.advance(timedelta(hours=1))
    deliveries.deferred("4", until=timedelta(days=1))
    deliveries.pending("5")

    result = status(config)

    received = deliveries.store.get(first_deferred).received_at.strftime("%Y-%m-%d %H:%M")
    table = rows(result)
    done_today = "1" if done_at.date() == (done_at + AGO).date() else "0"
    assert table["north.myshopify.com"] == ["1", "2", f"{received}, 3h 00m ago", "1", done_today]
    assert table["quiet.myshopify.com"] == ["0", "0", "-", "0", "0"]
    assert result.stdout.splitlines()[-1] == (
        f"dispatcher  not running: nothing answers at http://127.0.0.1:{port}/readyz"
        " (Connection refused)"
    )


def test_status_says_the_dispatcher_runs(config: Path, serving: BackgroundServer) -> None:
    result = status(config)

    assert result.stdout.splitlines()[-1] == (
        f"dispatcher  running ({serving.url}/readyz answers 'ready')"
    )
    assert rows(result)["north.myshopify.com"] == ["0", "0", "-", "0", "0"]


def test_status_says_why_a_dispatcher_is_not_ready(config: Path, port: int) -> None:
    connector = build_connector(Settings.load(config))
    # Without its lifespan the connector serves, but its dispatcher never started.
    with BackgroundServer(connector.asgi(), port=port, lifespan="off"):
        result = status(config)
    connector.close()

    assert result.stdout.splitlines()[-1] == (
        f"dispatcher  not running: http://127.0.0.1:{port}/readyz answers"
        " 'not ready: 0 of 2 dispatcher workers are running'"
    )


def test_status_json(config: Path, deliveries: Deliveries, port: int) -> None:
    deferred = deliveries.deferred("3")

    document = json.loads(status(config, "--json").stdout)

    north, quiet = document["stores"]
    assert north == {
        "platform": "shopify",
        "store": "north.myshopify.com",
        "waiting": 0,
        "oldest_waiting_at": None,
        "deferred": 1,
        "oldest_deferred_at": deliveries.store.get(deferred).received_at.isoformat(),
        "failed": 0,
        "done_today": 0,
    }
    assert quiet["store"] == "quiet.myshopify.com"
    assert deliveries.store.get(deferred).deferred
    assert document["dispatcher"]["running"] is None
    assert document["dispatcher"]["url"] == f"http://127.0.0.1:{port}/readyz"


@pytest.mark.parametrize(
    ("elapsed", "said"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=12, seconds=59), "12m"),
        (timedelta(hours=3, minutes=5), "3h 05m"),
        (timedelta(days=2, hours=4, minutes=59), "2d 4h"),
        (timedelta(seconds=-5), "0s"),
    ],
)
def test_an_age_is_said_as_a_person_would(elapsed: timedelta, said: str) -> None:
    assert age(elapsed) == said
