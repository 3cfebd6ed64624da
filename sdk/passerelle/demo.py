"""`passerelle demo`: the whole pipeline on this machine, with the installed platforms' scenarios.

For each `passerelle.scenarios.DemoScenario` a webhook platform contributes, it starts the
sandbox back end and a connector (receiver, dispatcher, SQLite inbox) in this process on
temporary files, creates the scenario's orders at the back end as a checkout would, sends the
platform's signed deliveries over HTTP, and prints what each delivery became, then each order's
ledger and disbursement. A file platform's `passerelle.scenarios.FileDemoScenario` runs through
`passerelle.file_demo`. It checks every outcome and fails when one is not the expected one.
"""

from __future__ import annotations

import json
import re
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from passerelle.backend.client import BackendClient
from passerelle.backend.models import OrderView
from passerelle.connector.runtime import Connector
from passerelle.connector.store import DeliveryStatus
from passerelle.demo_stack import DemoFailedError, running, settle
from passerelle.file_demo import run_file_scenario
from passerelle.money import Money
from passerelle.plugins import Plugins, default_plugins
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle.scenarios import DemoDelivery, DemoScenario, FileDemoScenario

__all__ = ["DemoFailedError", "run_demo", "run_scenario", "scenarios"]


def scenarios(
    plugins: Plugins, platform: str | None = None, stack: ExitStack | None = None
) -> list[DemoScenario | FileDemoScenario]:
    """The scenarios of the installed platforms, webhook and file (of `platform` only, when
    named); what they need while they run is started on `stack` (closed at once without one)."""
    installed = plugins.platforms()
    if platform is not None:
        if platform not in installed:
            known = ", ".join(sorted(installed)) or "none"
            raise DemoFailedError(f"unknown platform {platform!r} (installed: {known})")
        chosen = [installed[platform]]
    else:
        chosen = list(installed.values())
    with ExitStack() as own:
        found = [scenario for p in chosen for scenario in p.demo_scenarios(stack or own)]
    if not found:
        if platform is not None:
            raise DemoFailedError(f"platform {platform} contributes no demo scenario")
        raise DemoFailedError(
            "no installed platform contributes a demo scenario: install a platform plugin "
            "first (pip install -e plugins/shopify from a clone)"
        )
    return found


def run_demo(
    console: Console | None = None, *, plugins: Plugins | None = None, platform: str | None = None
) -> None:
    """Run the demo scenarios of the installed platforms (of `platform` only, when named),
    printing as it goes; raise `DemoFailedError` when an outcome is unexpected."""
    plugins = plugins or default_plugins()
    with ExitStack() as stack:
        for scenario in scenarios(plugins, platform, stack):
            if isinstance(scenario, FileDemoScenario):
                run_file_scenario(scenario, console, plugins=plugins)
            else:
                run_scenario(scenario, console, plugins=plugins)


def run_scenario(
    scenario: DemoScenario, console: Console | None = None, *, plugins: Plugins | None = None
) -> None:
    """Run one scenario, printing as it goes; raise `DemoFailedError` when an outcome is
    unexpected."""
    console = console or Console()
    plugins = plugins or default_plugins()
    store = scenario.store
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="passerelle-demo-") as tmp,
        running(Path(tmp), plugins, scenario.store) as started,
    ):
        sandbox, connector, url = started
        console.print(f"[bold]Sandbox back end[/] {sandbox.url}   [bold]Connector[/] {url}")
        with BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT) as backend:
            for checkout in scenario.orders:
                backend.create_order(checkout)
            console.print(f"Checkout created {len(scenario.orders)} orders at the back end.\n")

            sent: list[tuple[DemoDelivery, int, dict[str, Any]]] = []
            with httpx.Client(base_url=url, timeout=10.0) as http:
                for n, delivery in enumerate(scenario.deliveries, start=1):
                    response = http.post(
                        f"/webhooks/{store.platform}/{store.id}",
                        content=delivery.delivery.body,
                        headers=dict(delivery.delivery.headers),
                    )
                    answer = response.json() if response.status_code == 200 else {}
                    sent.append((delivery, response.status_code, answer))
                    if response.status_code != 200:
                        problems.append(
                            f"delivery {n} ({delivery.act}) got HTTP {response.status_code}"
                        )
            ids = [answer["id"] for _, _, answer in sent if "id" in answer]
            settle(connector, ids)

            console.print(_deliveries_table(scenario, connector, sent, problems))
            views = {order: backend.get_order(order) for order in scenario.expected}
            disbursed = _disbursed(backend)
        for order, view in views.items():
            paid_out = disbursed.get(order) or Money.zero(view.currency)
            console.print(_ledger_table(view, paid_out))
            problems += _check_ledger(scenario, order, view, paid_out)

    if problems:
        raise DemoFailedError("; ".join(problems))
    console.print(
        f"[bold green]All {len(scenario.deliveries)} deliveries had the expected outcome.[/]"
    )


def _deliveries_table(
    scenario: DemoScenario,
    connector: Connector,
    sent: list[tuple[DemoDelivery, int, dict[str, Any]]],
    problems: list[str],
) -> Table:
    table = Table(title="What each delivery became", title_justify="left", show_lines=True)
    for column in ("#", scenario.act_column, "what happened", "HTTP", "became"):
        table.add_column(column, overflow="fold")
    names = {line.reference: line.name for order in scenario.orders for line in order.lines}
    for n, (delivery, status, answer) in enumerate(sent, start=1):
        became = "—"
        if answer.get("duplicate"):
            became = f"duplicate of delivery {answer['id']}: stored once, dispatched once"
        elif "id" in answer:
            stored = connector.store.get(answer["id"])
            became = _became(
                stored.status,
                stored.outcome,
                stored.last_error.message if stored.last_error else None,
                names,
            )
            if stored.status.value != delivery.expect:
                problems.append(
                    f"delivery {n} ({delivery.act}) ended {stored.status}, expected"
                    f" {delivery.expect}: {became}"
                )
        if bool(answer.get("duplicate")) != delivery.duplicate:
            problems.append(
                f"delivery {n} duplicate={answer.get('duplicate')}, expected {delivery.duplicate}"
            )
        table.add_row(str(n), delivery.act, delivery.title, str(status), became)
    return table


def _became(
    status: DeliveryStatus, outcome: str | None, error: str | None, names: dict[str, str]
) -> str:
    if status is DeliveryStatus.DONE and outcome:
        applied: list[str] = json.loads(outcome)
        return "\n".join(_short(line, names) for line in applied) or "nothing to apply"
    return f"{status}: {error or outcome or ''}"


def _short(line: str, names: dict[str, str]) -> str:
    # "order_shipped 61… of order 52…: captured 57.00 CAD; 14…001 x2" reads better with names.
    kind, _, rest = line.partition(" ")
    what = rest.partition(": ")[2]
    what = re.sub(r"[^\s;:,]+", lambda word: names.get(word[0], word[0]), what)
    return f"{kind.removeprefix('order_')}: {what}"


def _disbursed(backend: BackendClient) -> dict[str, Money]:
    totals: dict[str, Money] = {}
    listed = backend.list_disbursements()
    for day in listed.disbursements:
        for entry in day.orders:
            net = entry.captured - entry.refunded
            totals[entry.order] = totals.get(entry.order, Money.zero(net.currency)) + net
    # A refund no later captures cover yet comes off a payout to come: it is owed all the same.
    for refund in listed.pending:
        owed = Money.zero(refund.amount.currency)
        totals[refund.order] = totals.get(refund.order, owed) - refund.amount
    return totals


def _ledger_table(view: OrderView, disbursed: Money) -> Table:
    table = Table(
        title=f"Order {view.reference}: {view.status.value}",
        title_justify="left",
        caption=(
            f"authorized {view.authorized}   captured {view.captured}   refunded {view.refunded}   "
            f"voided {view.voided}   disbursed {disbursed}"
        ),
        caption_justify="left",
    )
    for column in ("line", "type", "unit price", "ordered", "shipped", "cancelled", "returned"):
        table.add_column(column, justify="left" if column in ("line", "type") else "right")
    for line in view.lines:
        table.add_row(
            line.name,
            line.type.value,
            str(line.unit_price),
            str(line.ordered),
            str(line.shipped),
            str(line.cancelled),
            str(line.returned),
        )
    return table


def _check_ledger(
    scenario: DemoScenario, order: str, view: OrderView, disbursed: Money
) -> list[str]:
    expected = scenario.expected[order]
    problems = []
    for line_id, counts in expected.lines.items():
        line = view.line(line_id)
        found = (line.shipped, line.cancelled, line.returned)
        if found != counts:
            problems.append(
                f"order {order} line {line.name}: (shipped, cancelled, returned) {found}, "
                f"expected {counts}"
            )
    amounts = {
        "captured": (view.captured, expected.captured),
        "refunded": (view.refunded, expected.refunded),
        "voided": (view.voided, expected.voided),
        "disbursed": (disbursed, expected.disbursed),
    }
    for name, (got, want) in amounts.items():
        if got != Money.of(want, view.currency):
            problems.append(f"order {order} {name} {got}, expected {want} {view.currency}")
    return problems


def register(app: typer.Typer) -> None:
    """Add `passerelle demo` to the command line."""

    @app.command("demo")
    def demo_command(
        platform: Annotated[
            str | None,
            typer.Option("--platform", help="Run only this platform's scenarios."),
        ] = None,
    ) -> None:
        """Run the whole pipeline on this machine with the installed platforms' scenarios."""
        console = Console()
        try:
            run_demo(console, platform=platform)
        except DemoFailedError as exc:
            console.print(f"[bold red]demo failed:[/] {exc}")
            raise typer.Exit(1) from None
