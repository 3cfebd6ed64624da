"""`passerelle demo` for a file platform: files written into a watched folder, then the back
office through the admin API.

For a `passerelle.scenarios.FileDemoScenario` it starts the sandbox back end and a connector
watching a temporary folder for the scenario's store, writes each generation of files into the
folder as the accounting package would, waits for the connector to settle it and checks what it
became: its outcome, or its code in the action center, and the back end's batch. Then it takes
each back-office action over HTTP with the admin token, moving the sandbox's clock first when
the action asks, and checks the answer and the back end's batch. Each outcome is printed; any
unexpected one fails the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from passerelle.backend.client import BackendClient
from passerelle.backend.errors import UnknownBatchError
from passerelle.connector.runtime import Connector
from passerelle.connector.store import DeliveryNotFoundError
from passerelle.demo_stack import ADMIN_TOKEN, DemoFailedError, running, settle
from passerelle.plugins import Plugins, default_plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle.scenarios import BatchAction, FileDemoScenario, FileDrop

__all__ = ["run_file_scenario"]


def run_file_scenario(
    scenario: FileDemoScenario, console: Console | None = None, *, plugins: Plugins | None = None
) -> None:
    """Run one file scenario, printing as it goes; raise `DemoFailedError` when an outcome is
    unexpected."""
    console = console or Console()
    plugins = plugins or default_plugins()
    problems: list[str] = []
    with _quiet_logs(), tempfile.TemporaryDirectory(prefix="passerelle-demo-") as tmp:
        folder = Path(tmp) / "watched"
        folder.mkdir()
        with (
            running(Path(tmp), plugins, scenario.store, folder=folder) as (sandbox, connector, url),
            BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT) as backend,
            httpx.Client(
                base_url=f"{url}/api",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=10.0,
            ) as api,
        ):
            store = scenario.store
            console.print(
                f"[bold]Sandbox back end[/] {sandbox.url}   [bold]Connector[/] {url}   "
                f"[bold]Watched folder[/] of {store.platform}/{store.id}: {folder}"
            )
            files = Table(title="What each file became", title_justify="left", show_lines=True)
            for column in ("#", "files written", "what happened", "became", "back end"):
                files.add_column(column, overflow="fold")
            for n, drop in enumerate(scenario.drops, start=1):
                became, at_back_end = _drop(n, drop, folder, connector, backend, problems)
                names = ", ".join(name for name, _ in drop.files)
                files.add_row(str(n), names, drop.title, became, at_back_end)
            console.print(files)

            actions = Table(
                title="Back-office actions (admin API)", title_justify="left", show_lines=True
            )
            for column in ("#", "call", "what happened", "answer", "back end"):
                actions.add_column(column, overflow="fold")
            for n, action in enumerate(scenario.actions, start=1):
                call, answer, at_back_end = _act(n, action, sandbox, api, backend, problems)
                actions.add_row(str(n), call, action.title, answer, at_back_end)
            if scenario.actions:
                console.print(actions)
    if problems:
        raise DemoFailedError("; ".join(problems))
    console.print(
        f"[bold green]All {len(scenario.drops)} files and {len(scenario.actions)} back-office "
        "actions had the expected outcome.[/]"
    )


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Without logging configured, Python prints warnings on stderr: the demo's files held on
    purpose would look like failures there. The tables say what became of each."""
    logger = logging.getLogger("passerelle")
    if logging.getLogger().handlers:
        yield
        return
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    try:
        yield
    finally:
        logger.removeHandler(quiet)


def _drop(
    n: int,
    drop: FileDrop,
    folder: Path,
    connector: Connector,
    backend: BackendClient,
    problems: list[str],
) -> tuple[str, str]:
    keys = {f"sha256:{hashlib.sha256(data).hexdigest()}" for _, data in drop.files}
    for name, data in drop.files:
        (folder / name).write_bytes(data)
    delivery_id = _stored(connector, keys)
    settle(connector, [delivery_id])
    stored = connector.store.get(delivery_id)
    error = stored.last_error
    if stored.status.value == "done" and stored.outcome:
        became = "; ".join(json.loads(stored.outcome)) or "nothing to do"
    else:
        code = f" ({error.code})" if error is not None else ""
        became = f"{stored.status}{code}: {error.message if error else stored.outcome or ''}"
    if stored.status.value != drop.expect or (error.code if error else None) != drop.code:
        got = f"{stored.status}" + (f" ({error.code})" if error else "")
        want = drop.expect + (f" ({drop.code})" if drop.code else "")
        problems.append(f"file {n} ended {got}, expected {want}")
    at_back_end = _back_end(backend, drop.batch)
    if drop.payees is None:
        if at_back_end != "not known":
            problems.append(f"file {n}: batch {drop.batch} reached the back end: {at_back_end}")
        return became, at_back_end
    try:
        view = backend.get_batch(drop.batch)
    except UnknownBatchError:
        problems.append(f"file {n}: batch {drop.batch} is not at the back end")
        return became, at_back_end
    payees = [item.payee for item in view.entries]
    if (view.processing_date, payees) != (drop.processing_date, list(drop.payees)):
        problems.append(
            f"file {n}: the back end has batch {drop.batch} for {view.processing_date} paying "
            f"{payees}, expected {drop.processing_date} paying {list(drop.payees)}"
        )
    return became, at_back_end


def _stored(connector: Connector, keys: set[str], timeout: float = 30.0) -> int:
    """The id of the delivery the watched folder stored for one of `keys`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = sum(connector.store.stats().values())
        # The demo's inbox is fresh and small: its ids are few, though not always contiguous.
        for delivery_id in range(1, 2 * total + 10):
            try:
                delivery = connector.store.get(delivery_id)
            except DeliveryNotFoundError:
                continue
            if delivery.delivery_key in keys:
                return delivery_id
        time.sleep(0.05)
    raise DemoFailedError(f"no file written was taken from the watched folder in {timeout:g} s")


def _back_end(backend: BackendClient, batch: str) -> str:
    try:
        view = backend.get_batch(batch)
    except UnknownBatchError:
        return "not known"
    names = ", ".join(item.payee or "?" for item in view.entries)
    return f"{view.status} for {view.processing_date}: {names}"


def _act(
    n: int,
    action: BatchAction,
    sandbox: SandboxServer,
    api: httpx.Client,
    backend: BackendClient,
    problems: list[str],
) -> tuple[str, str, str]:
    if action.clock_at is not None:
        sandbox.state.set_clock(action.clock_at)
    if action.action == "delete":
        call = f"DELETE /api/batches/{action.batch}"
        response = api.delete(f"/batches/{action.batch}")
    else:
        call = f"POST /api/batches/{action.batch}/reschedule {{date: {action.to}}}"
        day = None if action.to is None else action.to.isoformat()
        response = api.post(f"/batches/{action.batch}/reschedule", json={"date": day})
    body: dict[str, Any] = response.json()
    outcome = "done" if response.status_code == 200 else str(body.get("code"))
    answer = f"{response.status_code} " + (
        f"{body['back_end']['status']}" if outcome == "done" else f"{outcome}: {body.get('detail')}"
    )
    if outcome != action.expect:
        problems.append(f"action {n} ({call}) answered {outcome}, expected {action.expect}")
    at_back_end = _back_end(backend, action.batch)
    if not at_back_end.startswith(f"{action.status} "):
        problems.append(
            f"action {n}: batch {action.batch} is {at_back_end}, expected {action.status}"
        )
    return call, answer, at_back_end
