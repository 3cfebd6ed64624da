"""`passerelle status`: per store what waits, is deferred, failed or done today, and whether the
dispatcher runs.

The counts come from the configured store, so they are there while `passerelle serve` is down;
whether the dispatcher runs is asked of the connector's own `/readyz` (the dispatcher role's
when `[dispatcher] health_port` is set, else the receiver's port, which `serve` runs the
dispatcher behind unless started with `--role receiver`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from passerelle.connector.actions import age
from passerelle.connector.actions_cli import ConfigOption, JsonOption, action_center, load_settings
from passerelle.connector.config import Settings
from passerelle.connector.store import StoreBacklog

__all__ = ["DispatcherProbe", "probe_dispatcher", "register", "status_command"]

PROBE_TIMEOUT = 2.0
"""How long `status` waits for `/readyz` before it says nothing answers."""
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def register(app: typer.Typer) -> None:
    """Add `status` to `app`."""
    app.command("status")(status_command)


@dataclass(frozen=True)
class DispatcherProbe:
    """What the connector's `/readyz` said: `running` is None when nothing answered."""

    url: str
    running: bool | None
    answer: str

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "running": self.running, "answer": self.answer}

    def __str__(self) -> str:
        if self.running is None:
            return f"not running: nothing answers at {self.url} ({self.answer})"
        if self.running:
            return f"running ({self.url} answers {self.answer!r})"
        return f"not running: {self.url} answers {self.answer!r}"


def probe_dispatcher(settings: Settings, *, timeout: float = PROBE_TIMEOUT) -> DispatcherProbe:
    """Ask whether the dispatcher runs: the `/readyz` of a ``--role dispatcher`` process on
    `[dispatcher] health_port`, or else that of a connector running both roles on the receiver's
    port (it counts its dispatcher's workers)."""
    probes = [
        (settings.dispatcher.health_host, settings.dispatcher.health_port),
        (settings.receiver.host, settings.receiver.port),
    ]
    probe = DispatcherProbe("", None, "")
    for host, port in probes:
        probe = _ask_readyz(_ANY_ADDRESS.get(host, host), port, timeout)
        if probe.running is not None:
            return probe
    return probe


def _ask_readyz(host: str, port: int, timeout: float) -> DispatcherProbe:
    url = f"http://[{host}]:{port}/readyz" if ":" in host else f"http://{host}:{port}/readyz"
    try:
        answer = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        reason = re.sub(r"^\[Errno -?\d+\] ", "", str(exc))
        return DispatcherProbe(url, None, reason or type(exc).__name__)
    return DispatcherProbe(url, answer.status_code == 200, answer.text.strip())


def status_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Per store: how many deliveries wait, are deferred (and since when), failed, and were
    done today (UTC); and whether the dispatcher runs."""
    settings = load_settings(config)
    with action_center(settings) as center:
        backlog = _with_configured_stores(center.backlog(), settings)
        now = center.clock.now()
    probe = probe_dispatcher(settings)
    if as_json:
        document = {
            "store": settings.store.redacted_url,
            "stores": [_as_json(item) for item in backlog],
            "dispatcher": probe.as_json(),
        }
        typer.echo(json.dumps(document, indent=2))
        return
    console = Console(highlight=False)
    console.print(Text(f"store       {settings.store.redacted_url}"))
    if backlog:
        console.print(_table(backlog, now))
    else:
        console.print("No stores configured and no deliveries stored.")
    console.print(Text(f"dispatcher  {probe}"))


def _with_configured_stores(backlog: list[StoreBacklog], settings: Settings) -> list[StoreBacklog]:
    # A configured store that has received nothing yet is shown too, with zeros.
    known = {(item.platform, item.store) for item in backlog}
    quiet = [
        StoreBacklog(entry.platform, entry.id, 0, None, 0, None, 0, 0)
        for entry in settings.stores
        if (entry.platform, entry.id) not in known
    ]
    return sorted([*backlog, *quiet], key=lambda item: (item.platform, item.store))


def _as_json(item: StoreBacklog) -> dict[str, Any]:
    return {
        "platform": item.platform,
        "store": item.store,
        "waiting": item.waiting,
        "oldest_waiting_at": _iso(item.oldest_waiting_at),
        "deferred": item.deferred,
        "oldest_deferred_at": _iso(item.oldest_deferred_at),
        "failed": item.failed,
        "done_today": item.done_since,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _table(backlog: list[StoreBacklog], now: datetime) -> Table:
    table = Table()
    for column in ("Platform", "Store"):
        table.add_column(column, overflow="fold")
    for column in ("Waiting", "Deferred"):
        table.add_column(column, justify="right")
    table.add_column("Oldest deferred (UTC)")
    for column in ("Failed", "Done today"):
        table.add_column(column, justify="right")
    for item in backlog:
        table.add_row(
            Text(item.platform),
            Text(item.store),
            str(item.waiting),
            str(item.deferred),
            _since(item.oldest_deferred_at, now),
            str(item.failed),
            str(item.done_since),
        )
    return table


def _since(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}, {age(now - value)} ago"
