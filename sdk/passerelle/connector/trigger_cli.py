"""``passerelle trigger PLATFORM EVENT --store S``: send a running connector a test delivery.

The platform builds a realistic delivery for the act (`WebhookPlatform.signed_delivery`), signed
with the store's first configured secret by the platform's own signer; it is posted to the
connector's receiver (``[receiver]`` of the configuration, or ``--url``), and what it became is
read from the action-center API with an ``[[admin.tokens]]`` token. With ``--sandbox`` the order
is first created at the configured back end (the sandbox), so that the delivery applies.

Exit status: 0 when the delivery was applied or ignored, 1 otherwise (refused, failed, still
waiting when ``--wait`` ran out, or a bad argument).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, NoReturn

import httpx
import typer

from passerelle.backend.client import BackendClient
from passerelle.backend.models import OrderCreate
from passerelle.connector.actions_cli import ConfigOption, load_settings
from passerelle.connector.config import Settings, StoreSettings
from passerelle.platforms import WebhookPlatform
from passerelle.plugins import PluginError, UnknownPlatformError, default_plugins
from passerelle.sandbox.orders_cli import (
    CurrencyOption,
    LineOption,
    ReferenceOption,
    create_order,
    sample_order,
)

__all__ = ["receiver_url", "register", "trigger"]

_SETTLED = ("done", "ignored", "failed", "dismissed")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def receiver_url(settings: Settings) -> str:
    """Where the configured connector's receiver listens, as a client reaches it."""
    host = settings.receiver.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a client reaches a wildcard on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.receiver.port}"


def _platform(name: str) -> WebhookPlatform:
    try:
        return default_plugins().webhook_platform(name)
    except UnknownPlatformError as exc:
        _fail(exc.message)
    except PluginError as exc:
        _fail(str(exc))


def _store(settings: Settings, platform: str, store: str | None) -> StoreSettings:
    stores = [s for s in settings.stores if s.platform == platform]
    chosen = [s for s in stores if store is None or s.id == store]
    if len(chosen) == 1:
        return chosen[0]
    known = ", ".join(s.id for s in stores) or "none"
    if not chosen:
        _fail(f"no [[stores]] entry for platform {platform} with id {store} (configured: {known})")
    _fail(f"platform {platform} has several stores ({known}): name one with --store")


def _admin_token(settings: Settings) -> str | None:
    tokens = settings.admin.tokens
    return tokens[0].token.get_secret_value() if tokens else None


def _became(url: str, delivery_id: int, token: str, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10.0) as http:
        while True:
            response = http.get(f"/api/actions/{delivery_id}")
            if response.status_code != 200:
                _fail(
                    f"the action-center API answered HTTP {response.status_code}: {response.text}"
                )
            shown: dict[str, Any] = response.json()
            if shown["status"] in _SETTLED or time.monotonic() >= deadline:
                return shown
            time.sleep(0.1)


def trigger(
    platform: Annotated[
        str, typer.Argument(help="The platform, as `passerelle plugins` lists it.")
    ],
    event: Annotated[
        str, typer.Argument(help="The act: order_shipped, order_cancelled, order_returned...")
    ],
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="The store id (of its \\[\\[stores]] entry); needed when several."
        ),
    ] = None,
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="The connector's receiver URL (default: from \\[receiver])."),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="First create the order at the configured back end (the sandbox)."
        ),
    ] = False,
    reference: ReferenceOption = None,
    line: LineOption = None,
    currency: CurrencyOption = "CAD",
    wait: Annotated[
        float, typer.Option(min=0.0, help="Seconds to wait for the delivery to settle.")
    ] = 10.0,
) -> None:
    """Send a running connector a realistic, signed test delivery and print what it became."""
    settings = load_settings(config)
    chosen = _platform(platform)
    if event not in chosen.delivery_acts:
        acts = ", ".join(sorted(chosen.delivery_acts)) or "none"
        _fail(f"platform {platform} cannot build a {event} delivery; it builds: {acts}")
    configured = _store(settings, platform, store)
    order = sample_order(line or (), currency=currency, reference=reference)
    if sandbox:
        _create_at_backend(settings, order)
    try:
        delivery = chosen.signed_delivery(event, order, configured.to_store())
    except ValueError as exc:
        _fail(str(exc))
    base = (url or receiver_url(settings)).rstrip("/")
    target = f"{base}/webhooks/{platform}/{configured.id}"
    try:
        response = httpx.post(
            target, content=delivery.body, headers=dict(delivery.headers), timeout=10.0
        )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the connector at {target}: {exc}")
    typer.echo(f"sent {event} for order {order.reference} to {target}: HTTP {response.status_code}")
    if response.status_code != 200:
        _fail(f"the connector refused the delivery: {response.text.strip()}")
    answer = response.json()
    delivery_id = int(answer["id"])
    duplicate = " (a duplicate)" if answer.get("duplicate") else ""
    typer.echo(f"delivery {delivery_id}{duplicate}")
    token = _admin_token(settings)
    if token is None:
        typer.echo("no [[admin.tokens]] configured: cannot read what the delivery became")
        return
    shown = _became(base, delivery_id, token, wait)
    typer.echo(f"{shown['status']}: {shown['in_words']}")
    if shown["status"] not in ("done", "ignored"):
        raise typer.Exit(1)


def _create_at_backend(settings: Settings, order: OrderCreate) -> None:
    backend = settings.backend
    with BackendClient(backend.url, backend.token.get_secret_value(), backend.merchant) as client:
        view = create_order(client, order)
    lines = ", ".join(f"{item.name} x{item.ordered}" for item in view.lines)
    typer.echo(f"created order {view.reference} at {backend.url}: {lines}")


def register(app: typer.Typer) -> None:
    """Add ``trigger`` to the ``passerelle`` command."""
    app.command("trigger")(trigger)
