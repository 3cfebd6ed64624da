"""`passerelle demo`: the whole pipeline on this machine, with signed Shopify deliveries (or
WooCommerce's, ``--platform woocommerce``, see `passerelle.demo_woocommerce`).

It starts the sandbox back end and a connector (receiver, dispatcher, SQLite inbox) in this
process on temporary files, creates orders at the back end as a checkout would, sends signed
webhooks over HTTP, and prints what each delivery became, then each order's ledger
and disbursement. It checks every outcome and fails when one is not the expected one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, OrderCreate, OrderView
from passerelle.connector.config import Settings
from passerelle.connector.runtime import Connector, build_connector
from passerelle.connector.store import DeliveryStatus
from passerelle.events import LineType
from passerelle.money import Money
from passerelle.plugins import Plugins, UnknownPlatformError, default_plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN, SandboxConfig
from passerelle.serving import BackgroundServer

__all__ = ["SCENARIOS", "DemoFailedError", "Scenario", "Send", "run_demo", "shopify_scenario"]

SHOP = "passerelle-demo.myshopify.com"
SECRET = "demo-webhook-secret"  # noqa: S105 - signs the demo's own deliveries, nothing else
CURRENCY = "CAD"
API_VERSION = "2025-07"

# Shopify ids exceed 2^53: the demo uses such ids so that any float on the way would show.
MUGS_ORDER = 5_208_471_902_318_455_001
QUILT_ORDER = 5_208_471_902_318_455_002
LAMP_ORDER = 5_208_471_902_318_455_003
MUG, APRON, QUILT, LAMP = (
    14_011_223_344_550_001,
    14_011_223_344_550_002,
    14_011_223_344_550_003,
    14_011_223_344_550_004,
)


class DemoFailedError(Exception):
    """An outcome was not the expected one; the message lists each."""


@dataclass(frozen=True)
class _Delivery:
    title: str
    topic: str
    order: int
    event_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _Expected:
    """What the back end must end with for one order."""

    lines: dict[int, tuple[int, int, int]] | dict[str, tuple[int, int, int]]
    """Per line id: (shipped, cancelled, returned)."""
    captured: str
    refunded: str
    voided: str
    disbursed: str


@dataclass(frozen=True)
class Send:
    """One delivery the demo posts: its body and headers as the platform sends them."""

    title: str
    topic: str
    body: bytes
    headers: dict[str, str]
    duplicate: bool = False
    """Whether it repeats an earlier delivery (the receiver stores it once)."""
    expect: DeliveryStatus = DeliveryStatus.DONE


@dataclass(frozen=True)
class Scenario:
    """What the demo runs for one platform: a store, the checkout, the deliveries, and what the
    back end must end with (keyed by order reference)."""

    platform: str
    title: str
    store: dict[str, Any]
    checkout: list[OrderCreate]
    sends: list[Send]
    expected: dict[str, _Expected]
    names: dict[str, str]


def _money(amount: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": CURRENCY},
        "presentment_money": {"amount": amount, "currency_code": CURRENCY},
    }


def _line(
    line_id: int, name: str, quantity: int, price: str, status: str | None = "fulfilled"
) -> dict[str, Any]:
    return {
        "id": line_id,
        "name": name,
        "title": name,
        "quantity": quantity,
        "price": price,
        "price_set": _money(price),
        "fulfillment_status": status,
    }


def _fulfillment(
    fulfillment_id: int, order: int, lines: list[dict[str, Any]], number: str
) -> dict[str, Any]:
    return {
        "id": fulfillment_id,
        "order_id": order,
        "status": "success",
        "created_at": "2026-03-02T10:00:00-05:00",
        "tracking_company": "Canada Post",
        "tracking_number": number,
        "tracking_url": f"https://www.canadapost-postescanada.ca/track-reperage/en#/details/{number}",
        "line_items": lines,
    }


def _refund(
    refund_id: int, order: int, line: dict[str, Any], quantity: int, amount: str
) -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": order,
        "created_at": "2026-03-04T09:30:00-05:00",
        "note": "Customer returned it",
        "refund_line_items": [
            {
                "line_item_id": line["id"],
                "quantity": quantity,
                "restock_type": "return",
                "subtotal": amount,
                "total_tax": "0.00",
                "line_item": line,
            }
        ],
        "transactions": [
            {
                "id": refund_id + 7,
                "kind": "refund",
                "status": "success",
                "amount": amount,
                "currency": CURRENCY,
            }
        ],
    }


def _order_body(order: int, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": order,
        "name": f"#{order % 10_000}",
        "currency": CURRENCY,
        "presentment_currency": CURRENCY,
        "line_items": lines,
        **fields,
    }


def _deliveries() -> list[_Delivery]:
    mug = _line(MUG, "Ceramic mug", 2, "24.00")
    apron = _line(APRON, "Linen apron", 1, "38.00")
    quilt = _line(QUILT, "Wool quilt", 1, "180.00", status=None)
    lamp = _line(LAMP, "Brass lamp", 1, "95.00")
    mugs_shipped = _fulfillment(6_100_000_000_000_000_001, MUGS_ORDER, [mug], "7023 4100 2201")
    rest_shipped = _fulfillment(6_100_000_000_000_000_002, MUGS_ORDER, [apron], "7023 4100 2202")
    lamp_shipped = _fulfillment(6_100_000_000_000_000_003, LAMP_ORDER, [lamp], "7023 4100 2203")
    mug_refund = _refund(7_200_000_000_000_000_001, MUGS_ORDER, mug, 1, "24.00")
    lamp_refund = _refund(7_200_000_000_000_000_002, LAMP_ORDER, lamp, 1, "95.00")
    return [
        _Delivery(
            "a partial fulfillment: the mugs ship",
            "fulfillments/create",
            MUGS_ORDER,
            "ev-1",
            mugs_shipped,
        ),
        _Delivery(
            "the rest ships: the apron", "fulfillments/create", MUGS_ORDER, "ev-2", rest_shipped
        ),
        _Delivery(
            "Shopify delivers that again", "fulfillments/create", MUGS_ORDER, "ev-2", rest_shipped
        ),
        _Delivery("a refund of a shipped mug", "refunds/create", MUGS_ORDER, "ev-3", mug_refund),
        _Delivery(
            "the customer cancels the unshipped quilt order",
            "orders/cancelled",
            QUILT_ORDER,
            "ev-4",
            _order_body(
                QUILT_ORDER,
                [quilt],
                cancel_reason="customer",
                cancelled_at="2026-03-02T11:00:00-05:00",
            ),
        ),
        _Delivery("the lamp ships", "fulfillments/create", LAMP_ORDER, "ev-5", lamp_shipped),
        # The order as Shopify sends it when the merchant cancels it after the lamp shipped and
        # refunds the lamp: the fulfillment, and the refund made with the cancellation. The
        # lamp cannot be cancelled any more; it comes back as a return, refunded what Shopify
        # refunded.
        _Delivery(
            "a cancel after shipment: becomes a return",
            "orders/cancelled",
            LAMP_ORDER,
            "ev-6",
            _order_body(
                LAMP_ORDER,
                [lamp],
                cancel_reason="customer",
                cancelled_at="2026-03-05T08:00:00-05:00",
                fulfillments=[lamp_shipped],
                refunds=[lamp_refund],
            ),
        ),
    ]


def _checkout() -> list[OrderCreate]:
    def item(
        line_id: int, name: str, price: str, quantity: int, kind: LineType = LineType.PRODUCT
    ) -> CartLineItem:
        return CartLineItem(
            reference=str(line_id),
            name=name,
            type=kind,
            unit_price=Money.of(price, CURRENCY),
            quantity=quantity,
        )

    return [
        OrderCreate(
            reference=str(MUGS_ORDER),
            currency=CURRENCY,
            lines=(
                item(MUG, "Ceramic mug", "24.00", 2),
                item(APRON, "Linen apron", "38.00", 1),
                item(9001, "Standard shipping", "9.00", 1, LineType.HANDLING),
            ),
            installments=3,
        ),
        OrderCreate(
            reference=str(QUILT_ORDER),
            currency=CURRENCY,
            lines=(item(QUILT, "Wool quilt", "180.00", 1),),
        ),
        OrderCreate(
            reference=str(LAMP_ORDER),
            currency=CURRENCY,
            lines=(item(LAMP, "Brass lamp", "95.00", 1),),
        ),
    ]


_EXPECTED_LEDGERS: dict[int, _Expected] = {
    MUGS_ORDER: _Expected({MUG: (2, 0, 1), APRON: (1, 0, 0)}, "95.00", "24.00", "0.00", "71.00"),
    QUILT_ORDER: _Expected({QUILT: (0, 1, 0)}, "0.00", "0.00", "180.00", "0.00"),
    LAMP_ORDER: _Expected({LAMP: (1, 0, 1)}, "95.00", "95.00", "0.00", "0.00"),
}
# Which deliveries are duplicates of an earlier one.
_EXPECTED_DUPLICATES = [False, False, True, False, False, False, False]


def sign(body: bytes, secret: str) -> str:
    """`X-Shopify-Hmac-Sha256` for `body`: base64 of its HMAC-SHA256 under the app's secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _headers(delivery: _Delivery, body: bytes, webhook_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": delivery.topic,
        "X-Shopify-Hmac-Sha256": sign(body, SECRET),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": API_VERSION,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": delivery.event_id,
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
    }


def shopify_scenario(stack: ExitStack) -> Scenario:
    """Three Shopify orders: shipments, a repeat, refunds, cancellations before and after
    shipment."""
    sends = []
    for n, (delivery, duplicate) in enumerate(
        zip(_deliveries(), _EXPECTED_DUPLICATES, strict=True), start=1
    ):
        body = json.dumps(delivery.body).encode()
        sends.append(
            Send(
                delivery.title, delivery.topic, body, _headers(delivery, body, f"wh-{n}"), duplicate
            )
        )
    return Scenario(
        platform="shopify",
        title="Shopify",
        store={
            "platform": "shopify",
            "id": SHOP,
            "secrets": [SECRET],
            # Only orders/edited reads the Admin API, and the demo sends none: the token
            # completes the store as a merchant configures it.
            "options": {"access_token": "shpat_demo_never_used"},
        },
        checkout=_checkout(),
        sends=sends,
        expected={str(order): expected for order, expected in _EXPECTED_LEDGERS.items()},
        names=_NAMES,
    )


@contextmanager
def _running(
    directory: Path, plugins: Plugins, store: dict[str, Any]
) -> Iterator[tuple[SandboxServer, Connector, str]]:
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxServer(SandboxConfig(db=directory / "sandbox.db")))
        settings = Settings.model_validate(
            {
                "backend": {
                    "url": sandbox.url,
                    "token": DEFAULT_TOKEN,
                    "merchant": DEFAULT_MERCHANT,
                },
                "store": {"url": f"sqlite:///{directory / 'inbox.db'}"},
                "stores": [store],
                "dispatcher": {"workers": 2, "backoff_base": 0.2, "backoff_cap": 2.0},
            }
        )
        connector = build_connector(settings, plugins=plugins)
        stack.callback(connector.close)
        server = stack.enter_context(BackgroundServer(connector.asgi(), lifespan="on"))
        yield sandbox, connector, server.url


def _settle(connector: Connector, ids: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    unsettled = (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING)
    while time.monotonic() < deadline:
        if all(connector.store.get(i).status not in unsettled for i in ids):
            return
        time.sleep(0.05)
    raise DemoFailedError(f"deliveries still in progress after {timeout:g} s")


SCENARIOS = ("shopify", "woocommerce")
"""The platforms `passerelle demo --platform` runs."""


def run_demo(
    console: Console | None = None, *, plugins: Plugins | None = None, platform: str = "shopify"
) -> None:
    """Run the demo, printing as it goes; raise `DemoFailedError` when an outcome is unexpected."""
    console = console or Console()
    plugins = plugins or default_plugins()
    if platform not in SCENARIOS:
        raise DemoFailedError(f"no demo for platform {platform!r}: one of {', '.join(SCENARIOS)}")
    try:
        plugins.webhook_platform(platform)
    except UnknownPlatformError:
        raise DemoFailedError(
            f"the demo sends {platform} webhooks: install its plugin first "
            f"(pip install passerelle-{platform}, or pip install -e plugins/{platform} from a "
            "clone)"
        ) from None

    problems: list[str] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="passerelle-demo-"))
        if platform == "shopify":
            scenario = shopify_scenario(stack)
        else:
            from passerelle.demo_woocommerce import woocommerce_scenario

            scenario = woocommerce_scenario(stack)
        sandbox, connector, url = stack.enter_context(_running(Path(tmp), plugins, scenario.store))
        console.print(f"[bold]Sandbox back end[/] {sandbox.url}   [bold]Connector[/] {url}")
        with BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT) as backend:
            for checkout in scenario.checkout:
                backend.create_order(checkout)
            console.print(f"Checkout created {len(scenario.checkout)} orders at the back end.\n")

            sent: list[tuple[Send, int, dict[str, Any]]] = []
            path = f"/webhooks/{scenario.platform}/{scenario.store['id']}"
            with httpx.Client(base_url=url, timeout=10.0) as http:
                for n, send in enumerate(scenario.sends, start=1):
                    response = http.post(path, content=send.body, headers=send.headers)
                    answer = response.json() if response.status_code == 200 else {}
                    sent.append((send, response.status_code, answer))
                    if response.status_code != 200:
                        problems.append(
                            f"delivery {n} ({send.topic}) got HTTP {response.status_code}"
                        )
            ids = [answer["id"] for _, _, answer in sent if "id" in answer]
            _settle(connector, ids)

            console.print(_deliveries_table(connector, scenario, sent, problems))
            views = {order: backend.get_order(order) for order in scenario.expected}
            disbursed = _disbursed(backend)
        for order, view in views.items():
            paid_out = disbursed.get(order) or Money.zero(view.currency)
            console.print(_ledger_table(view, paid_out))
            problems += _check_ledger(order, scenario.expected[order], view, paid_out)

    if problems:
        raise DemoFailedError("; ".join(problems))
    console.print(f"[bold green]All {len(scenario.sends)} deliveries had the expected outcome.[/]")


def _deliveries_table(
    connector: Connector,
    scenario: Scenario,
    sent: list[tuple[Send, int, dict[str, Any]]],
    problems: list[str],
) -> Table:
    table = Table(title="What each delivery became", title_justify="left", show_lines=True)
    for column in ("#", f"{scenario.title} topic", "what happened", "HTTP", "became"):
        table.add_column(column, overflow="fold")
    for n, (delivery, status, answer) in enumerate(sent, start=1):
        duplicate = delivery.duplicate
        became = "—"
        if answer.get("duplicate"):
            became = f"duplicate of delivery {answer['id']}: stored once, dispatched once"
        elif "id" in answer:
            stored = connector.store.get(answer["id"])
            became = _became(
                stored.status,
                stored.outcome,
                stored.last_error.message if stored.last_error else None,
                scenario.names,
            )
            if stored.status is not delivery.expect:
                problems.append(f"delivery {n} ({delivery.topic}) ended {stored.status}: {became}")
        if bool(answer.get("duplicate")) != duplicate:
            problems.append(
                f"delivery {n} duplicate={answer.get('duplicate')}, expected {duplicate}"
            )
        table.add_row(str(n), delivery.topic, delivery.title, str(status), became)
    return table


def _became(
    status: DeliveryStatus, outcome: str | None, error: str | None, names: dict[str, str]
) -> str:
    if status is DeliveryStatus.DONE and outcome:
        applied: list[str] = json.loads(outcome)
        return "\n".join(_short(line, names) for line in applied) or "nothing to apply"
    return f"{status}: {error or outcome or ''}"


_NAMES = {
    str(MUG): "Ceramic mug",
    str(APRON): "Linen apron",
    str(QUILT): "Wool quilt",
    str(LAMP): "Brass lamp",
}


def _short(line: str, names: dict[str, str]) -> str:
    # "order_shipped 61… of order 52…: captured 57.00 CAD; 14…001 x2" reads better with names.
    kind, _, rest = line.partition(" ")
    what = rest.partition(": ")[2]
    for line_id, name in names.items():
        what = what.replace(line_id, name)
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


def _check_ledger(order: str, expected: _Expected, view: OrderView, disbursed: Money) -> list[str]:
    problems = []
    for line_id, counts in expected.lines.items():
        line = view.line(str(line_id))
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
        platform: str = typer.Option(
            "shopify",
            "--platform",
            help=f"the platform whose webhooks to send: {', '.join(SCENARIOS)}",
        ),
    ) -> None:
        """Run the whole pipeline on this machine with signed deliveries of a platform."""
        console = Console()
        try:
            run_demo(console, platform=platform)
        except DemoFailedError as exc:
            console.print(f"[bold red]demo failed:[/] {exc}")
            raise typer.Exit(1) from None
