"""Shopify passes the contract suite every Passerelle webhook platform must pass."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from wsgiref.types import StartResponse, WSGIEnvironment

import httpx
import pytest
from shopify_support import (
    FIXTURES,
    LINE_SHOES,
    LINE_SOCKS,
    ORDER_ID,
    SAMPLES,
    SHOP,
    fixture_order,
)
from shopify_support import store as shopify_store

from passerelle.events import LineQuantity, OrderShipped
from passerelle.testing import Sample, WebhookPlatformContract
from passerelle.testing.golden import golden_path
from passerelle_shopify import HANDLED_TOPICS, ShopifyPlatform

OTHER_TOPICS = (
    "orders/updated",
    "order_transactions/create",
    *(f"returns/{act}" for act in "approve cancel close decline reopen request update".split()),
)
TOPIC_OF_FILE = {topic.replace("/", "_"): topic for topic in (*HANDLED_TOPICS, *OTHER_TOPICS)}
"""Sample files are named after their topic, ``/`` written ``_`` (``refunds_create.json``)."""

# Fixtures that end in the action center by design are left to the plugin's own tests.
FIXTURES_WITH_EVENTS = (
    "orders_edited.json",
    "fulfillments_create.partial.json",
    "orders_cancelled.after_shipment.json",
    "orders_partially_fulfilled.multi.json",
    "refunds_create.cancel.json",
    "refunds_create.legacy_restock.json",
    "refunds_create.no_restock.json",
    "refunds_create.return.json",
    "refunds_create.shipping_adjustment.json",
    "refunds_create.shipping_only.json",
)

ACCESS_TOKEN = "shpat_contract_token"
_SAMPLE_ORDER = (SAMPLES / "orders_updated.json").read_bytes()
ADMIN_ORDERS = {
    json.loads(_SAMPLE_ORDER)["id"]: b'{"order": ' + _SAMPLE_ORDER + b"}",
    ORDER_ID: (FIXTURES / "admin_order.edited.json").read_bytes(),
}
"""The orders ``orders/edited`` deliveries make the plugin read, as the Admin API answers."""


def admin_api(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Shopify's Admin API for `ADMIN_ORDERS`: ``GET /admin/api/{version}/orders/{id}.json``."""
    found = re.fullmatch(r"/admin/api/[0-9a-z-]+/orders/([0-9]+)\.json", environ["PATH_INFO"])
    order = ADMIN_ORDERS.get(int(found.group(1))) if found else None
    if environ.get("HTTP_X_SHOPIFY_ACCESS_TOKEN") != ACCESS_TOKEN:
        status, answer = "401 Unauthorized", b'{"errors": "Invalid API key or access token"}'
    elif environ["REQUEST_METHOD"] != "GET" or order is None:
        status, answer = "404 Not Found", b'{"errors": "Not Found"}'
    else:
        status, answer = "200 OK", order
    start_response(status, [("Content-Type", "application/json")])
    return [answer]


SHIPMENT = OrderShipped(
    order=str(ORDER_ID),
    id="9007199254741101",
    lines=(
        LineQuantity(line=str(LINE_SHOES), quantity=1),
        LineQuantity(line=str(LINE_SOCKS), quantity=3),
    ),
)
"""The fixtures' shipment (``fulfillments_create.partial.json``), before their returns."""
APPLIED_TO: dict[str, tuple[OrderShipped, ...]] = {
    "fulfillments_create.partial.json": (),
    "orders_partially_fulfilled.multi.json": (),
    "orders_cancelled.after_shipment.json": (),
    "refunds_create.cancel.json": (),
    "refunds_create.legacy_restock.json": (SHIPMENT,),
    "refunds_create.no_restock.json": (SHIPMENT,),
    "refunds_create.return.json": (SHIPMENT,),
    "refunds_create.shipping_only.json": (SHIPMENT,),
}
"""The fixtures whose events the suite applies to the order the checkout created, after the
events named (see `fixture_order`)."""
VERSIONED = ("fulfillments_", "orders_fulfilled", "orders_partially_fulfilled", "orders_cancelled")
"""Files of the topics whose deliveries carry a dated state (`passerelle_shopify.versions`)."""
NEWER_THAN = {
    "fixtures/orders_cancelled.after_shipment.json": "fixtures/orders_partially_fulfilled.multi.json"
}


def delivery(path: Path) -> Sample:
    """`path` as Shopify delivers it, every header but the signature, with its golden
    expectations beside it; a fixture of `APPLIED_TO` with its order."""
    name = f"{path.parent.name}/{path.name}"
    applies = path.parent == FIXTURES and path.name in APPLIED_TO
    return Sample(
        name,
        path.read_bytes(),
        {
            "Content-Type": "application/json",
            "X-Shopify-Topic": TOPIC_OF_FILE[path.name.split(".")[0]],
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2025-07",
            "X-Shopify-Event-Id": f"contract-{name}",
            "X-Shopify-Webhook-Id": f"contract-webhook-{name}",
            "X-Shopify-Triggered-At": "2026-01-15T11:59:58Z",
        },
        order=fixture_order(tax="31.20") if applies else None,
        golden=golden_path(path),
        versioned=path.name.startswith(VERSIONED),
        newer_than=NEWER_THAN.get(name),
        before=APPLIED_TO.get(path.name, ()) if applies else (),
    )


class TestShopifyContract(WebhookPlatformContract):
    platform = ShopifyPlatform()
    store = shopify_store(options={"shop_domain": SHOP, "access_token": ACCESS_TOKEN})
    samples = (
        *(delivery(path) for path in sorted(SAMPLES.glob("*.json"))),
        *(delivery(FIXTURES / name) for name in FIXTURES_WITH_EVENTS),
    )
    max_examples = 20

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        with httpx.Client(transport=httpx.WSGITransport(app=admin_api)) as client:
            yield client
