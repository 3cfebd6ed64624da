"""Shopify end to end: signed Shopify webhooks into `passerelle serve`, the sandbox as back end."""

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
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN

from .support import (
    FULL_TOKEN,
    READ_TOKEN,
    ConnectorProcess,
    api,
    backend,
    free_port,
    ledger,
    sqlite_url,
    stats,
    wait_settled,
)

pytest.importorskip("passerelle_shopify", reason="needs the Shopify plugin installed")
pytestmark = pytest.mark.slow

SHOP = "e2e-shop.myshopify.com"
SECRET = "shopify-e2e-client-secret"
ORDER = 5_208_471_902_318_455_101  # above 2^53, as Shopify's ids are
MUG = 14_011_223_344_550_101


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with backend(sandbox.url) as opened:
        yield opened


def write_config(path: Path, backend_url: str, store_url: str, port: int) -> Path:
    path.write_text(
        f"""\
[backend]
url = {json.dumps(backend_url)}
token = {json.dumps(DEFAULT_TOKEN)}
merchant = {json.dumps(DEFAULT_MERCHANT)}

[store]
url = {json.dumps(store_url)}

[[stores]]
platform = "shopify"
id = {json.dumps(SHOP)}
secrets = [{json.dumps(SECRET)}]

[dispatcher]
backoff_base = 0.05
backoff_cap = 0.5

[receiver]
port = {port}

[[admin.tokens]]
name = "auditor"
token = {json.dumps(READ_TOKEN)}

[[admin.tokens]]
name = "operator"
token = {json.dumps(FULL_TOKEN)}
access = "full"
"""
    )
    return path


def serve(folder: Path, sandbox: SandboxServer) -> ConnectorProcess:
    """`passerelle serve` in a subprocess, configured in `folder` for the shop, and ready."""
    port = free_port()
    config = write_config(
        folder / "passerelle.toml", sandbox.url, sqlite_url(folder / "inbox.db"), port
    )
    connector = ConnectorProcess(config, dict(os.environ), folder / "connector.log", port=port)
    connector.start()
    try:
        connector.wait_ready()
    except BaseException:
        connector.kill()
        raise
    return connector


def shopify_headers(topic: str, body: bytes, event_id: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2025-07",
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": "2026-03-02T15:00:00Z",
    }


def mug(quantity: int) -> dict[str, Any]:
    money = {"amount": "24.00", "currency_code": "CAD"}
    return {
        "id": MUG,
        "name": "Ceramic mug",
        "quantity": quantity,
        "price": "24.00",
        "price_set": {"shop_money": money, "presentment_money": money},
        "fulfillment_status": "fulfilled",
    }


FULFILLMENT = {
    "id": 6_100_000_000_000_000_101,
    "order_id": ORDER,
    "status": "success",
    "tracking_company": "Canada Post",
    "tracking_number": "7023 4100 9901",
    "line_items": [mug(1)],
}
REFUND = {
    "id": 7_200_000_000_000_000_101,
    "order_id": ORDER,
    "refund_line_items": [
        {
            "line_item_id": MUG,
            "quantity": 1,
            "restock_type": "return",
            "subtotal": 24.0,  # a JSON number, as Shopify sends it: read exactly, never as float
            "total_tax": 0,
            "line_item": mug(1),
        }
    ],
    "transactions": [{"kind": "refund", "status": "success", "amount": "24.00", "currency": "CAD"}],
}


def test_shopify_webhooks_through_serve_reach_the_sandbox_once(
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
                    reference=str(MUG),
                    name="Ceramic mug",
                    unit_price=Money.of("24.00", "CAD"),
                    quantity=2,
                ),
                CartLineItem(
                    reference="shipping",
                    name="Shipping",
                    type=LineType.HANDLING,
                    unit_price=Money.of("9.00", "CAD"),
                    quantity=1,
                ),
            ),
        )
    )
    connector = serve(tmp_path, sandbox)
    with connector, httpx.Client(base_url=connector.url, timeout=10.0) as http:
        url = f"/webhooks/shopify/{SHOP}"
        deliveries = [
            ("fulfillments/create", FULFILLMENT, "ev-ship"),
            ("fulfillments/create", FULFILLMENT, "ev-ship"),  # Shopify sends it again
            ("refunds/create", REFUND, "ev-refund"),
        ]
        answers = []
        for topic, content, event_id in deliveries:
            body = json.dumps(content).encode()
            response = http.post(url, content=body, headers=shopify_headers(topic, body, event_id))
            assert response.status_code == 200, response.text
            answers.append(response.json())
        assert [a["duplicate"] for a in answers] == [False, True, False]

        body = json.dumps(FULFILLMENT).encode()
        forged = {
            **shopify_headers("fulfillments/create", body, "ev-x"),
            "X-Shopify-Hmac-Sha256": "AAAA",
        }
        refused = http.post(url, content=body, headers=forged)
        assert refused.status_code == 401

        counts = wait_settled(connector.url, timeout=30)
    assert (counts["done"], counts["failed"]) == (2, 0)
    assert ledger(client.get_order(str(ORDER))) == {
        "status": "partially_shipped",
        "lines": {str(MUG): (2, 1, 0, 1), "shipping": (1, 0, 0, 0)},
        "authorized": "57.00 CAD",
        "captured": "28.50 CAD",
        "refunded": "24.00 CAD",
        "voided": "0.00 CAD",
        "applied": [
            ("order_returned", str(REFUND["id"])),
            ("order_shipped", str(FULFILLMENT["id"])),
        ],
    }


def test_bad_shopify_input_through_serve_is_refused_ignored_or_reported(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    connector = serve(tmp_path, sandbox)
    with connector, httpx.Client(base_url=connector.url, timeout=10.0) as http:
        url = f"/webhooks/shopify/{SHOP}"

        # No signature at all: 401, and nothing is stored.
        body = json.dumps(FULFILLMENT).encode()
        unsigned = shopify_headers("fulfillments/create", body, "ev-unsigned")
        del unsigned["X-Shopify-Hmac-Sha256"]
        refused = http.post(url, content=body, headers=unsigned)
        assert refused.status_code == 401
        assert sum(stats(connector.url).values()) == 0

        # A topic the plugin does not handle: acknowledged, then recorded as ignored, with why.
        body = json.dumps({"id": 632910392, "title": "Ceramic mug"}).encode()
        unknown = http.post(
            url, content=body, headers=shopify_headers("products/update", body, "ev-product")
        )
        assert unknown.status_code == 200, unknown.text

        # Signed, but not JSON that can be read: acknowledged (Shopify must not retry it for
        # hours), then an action-center entry that quotes the parse error and where it is.
        body = (
            b'{"id": 7200000000000000102, "order_id": ' + str(ORDER).encode() + b",\n"
            b' "transactions": [{"kind": "refund", "amount": 24.}]}'
        )
        unreadable = http.post(
            url, content=body, headers=shopify_headers("refunds/create", body, "ev-broken")
        )
        assert unreadable.status_code == 200, unreadable.text

        counts = wait_settled(connector.url, timeout=30)
        assert (counts["ignored"], counts["failed"]) == (1, 1)
        ignored = api(connector.url, f"/actions/{unknown.json()['id']}").json()
        assert (ignored["status"], ignored["outcome"]) == (
            "ignored",
            "topic products/update is not handled",
        )
        (entry,) = api(connector.url, "/actions").json()["actions"]
        assert entry["id"] == unreadable.json()["id"]
        assert (entry["error_code"], entry["error_message"]) == (
            "unreadable_delivery",
            "transactions[0].amount: refunds/create body is not JSON: Expecting ',' delimiter "
            "at line 2 column 50 (character 110)",
        )
