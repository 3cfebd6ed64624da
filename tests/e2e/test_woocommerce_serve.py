"""WooCommerce end to end: signed order snapshots into `passerelle serve`, refunds read from a
local WooCommerce REST API over a socket, the sandbox as back end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from passerelle.backend.client import BackendClient
from passerelle.events import LineType
from passerelle.sandbox.server import SandboxServer
from passerelle.serving import BackgroundServer

from .support import (
    ConnectorConfig,
    ConnectorProcess,
    backend,
    ledger,
    sqlite_url,
    wait_settled,
)

fake_rest = pytest.importorskip(
    "passerelle_woocommerce.fake_rest", reason="needs the WooCommerce plugin installed"
)
pytestmark = pytest.mark.slow

SITE = "https://e2e-shop.example"
SECRET = "woocommerce-e2e-webhook-secret"
ORDER = 8801
MUG, TEA = 41, 42


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with backend(sandbox.url) as opened:
        yield opened


def serve(folder: Path, sandbox: SandboxServer, rest_base: str) -> ConnectorProcess:
    """`passerelle serve` in a subprocess for the WooCommerce store, and ready."""
    options = {
        "site_url": SITE,
        "consumer_key": fake_rest.CONSUMER_KEY,
        "consumer_secret": fake_rest.CONSUMER_SECRET,
        "api_base_url": rest_base,
    }
    inline = ", ".join(f"{key} = {json.dumps(value)}" for key, value in options.items())
    config = ConnectorConfig(
        sandbox.url,
        sqlite_url(folder / "inbox.db"),
        stores=(
            f'[[stores]]\nplatform = "woocommerce"\nid = "e2e"\n'
            f"secrets = [{json.dumps(SECRET)}]\noptions = {{ {inline} }}\n"
        ),
    )
    connector = ConnectorProcess(
        config.write(folder / "passerelle.toml"),
        dict(os.environ),
        folder / "connector.log",
        port=config.port,
    )
    connector.start()
    try:
        connector.wait_ready()
    except BaseException:
        connector.kill()
        raise
    return connector


def snapshot(status: str, modified: str, completed: str | None, refunds: list[int]) -> bytes:
    body: dict[str, Any] = {
        "id": ORDER,
        "status": status,
        "currency": "CAD",
        "total": "57.00",
        "date_modified_gmt": modified,
        "date_completed_gmt": completed,
        "line_items": [
            {"id": MUG, "name": "Mug", "quantity": 2, "subtotal": "24.00", "price": 12},
            {"id": TEA, "name": "Tea", "quantity": 1, "subtotal": "24.00", "price": 24},
        ],
        "shipping_lines": [{"id": 50, "method_title": "Flat rate", "total": "9.00"}],
        "refunds": [{"id": r, "reason": "", "total": "-12.00"} for r in refunds],
        "_links": {"self": [{"href": f"{SITE}/wp-json/wc/v3/orders/{ORDER}"}]},
    }
    return json.dumps(body).replace("/", "\\/").encode()  # PHP's JSON, signed as sent


def woo_headers(body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
        "X-WC-Webhook-Source": f"{SITE}/",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-WC-Webhook-ID": "3",
        "X-WC-Webhook-Delivery-ID": delivery,
    }


def test_woocommerce_snapshots_through_serve_reach_the_sandbox_once(
    tmp_path: Path, sandbox: SandboxServer, client: BackendClient
) -> None:
    from passerelle.backend.models import CartLineItem, OrderCreate
    from passerelle.money import Money

    client.create_order(
        OrderCreate(
            reference=str(ORDER),
            currency="CAD",
            lines=(
                CartLineItem(
                    reference=str(MUG), name="Mug", unit_price=Money.of("12.00", "CAD"), quantity=2
                ),
                CartLineItem(
                    reference=str(TEA), name="Tea", unit_price=Money.of("24.00", "CAD"), quantity=1
                ),
                CartLineItem(
                    reference="shipping:50",
                    name="Flat rate",
                    type=LineType.HANDLING,
                    unit_price=Money.of("9.00", "CAD"),
                    quantity=1,
                ),
            ),
        )
    )
    api = fake_rest.FakeRestApi()
    # A mug refunded after the order completed: a return, read from the REST API.
    api.refunds[(ORDER, 77)] = fake_rest.refund_resource(
        77, "2026-03-02T10:00:00", "12.00", {MUG: (1, "12.00")}, "chipped"
    )
    with BackgroundServer(api) as rest:
        connector = serve(tmp_path, sandbox, f"{rest.url}/wp-json/wc/v3")
        with connector, httpx.Client(base_url=connector.url, timeout=10.0) as http:
            url = "/webhooks/woocommerce/e2e"
            ping = http.post(
                url,
                content=b"webhook_id=3",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert ping.status_code == 200, ping.text
            completed = snapshot("completed", "2026-03-02T09:00:00", "2026-03-02T09:00:00", [])
            refunded = snapshot("completed", "2026-03-02T10:00:00", "2026-03-02T09:00:00", [77])
            stale = snapshot("processing", "2026-03-02T08:00:00", None, [])
            answers = [
                http.post(url, content=body, headers=woo_headers(body, f"{n:032x}"))
                for n, body in enumerate([completed, refunded, refunded, completed, stale])
            ]
            assert [a.status_code for a in answers] == [200] * 5
            # The same snapshot again, with a new delivery id: one stored delivery.
            assert [a.json()["duplicate"] for a in answers] == [False, False, True, True, False]
            counts = wait_settled(connector.url, timeout=30)
    assert (counts["done"], counts["ignored"], counts["failed"]) == (2, 1, 0)
    assert api.calls == 1
    assert ledger(client.get_order(str(ORDER))) == {
        "status": "shipped",
        "lines": {str(MUG): (2, 2, 0, 1), str(TEA): (1, 1, 0, 0), "shipping:50": (1, 0, 0, 0)},
        "authorized": "57.00 CAD",
        "captured": "57.00 CAD",
        "refunded": "12.00 CAD",
        "voided": "0.00 CAD",
        "applied": [
            ("order_returned", "refund:77"),
            ("order_shipped", f"shipped:{ORDER}:{MUG}x2,{TEA}x1"),
        ],
    }
