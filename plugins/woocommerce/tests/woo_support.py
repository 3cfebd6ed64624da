"""Builders shared by the WooCommerce plugin's tests: signed deliveries, stores, snapshots, and a
local WooCommerce REST API (an ASGI app served over a real socket)."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from pydantic import SecretStr

from passerelle.events import CartLine
from passerelle.orders import Order
from passerelle.platforms import Store, TranslationContext, WebhookRequest
from passerelle_woocommerce.checkout import checkout_lines_of
from passerelle_woocommerce.verify import sign

SAMPLES = Path(__file__).parent / "samples"
FIXTURES = Path(__file__).parent / "fixtures"

SECRET = "woo-webhook-secret-1"
SITE = "https://shop.example.com"
CONSUMER_KEY = "ck_0123456789abcdef"
CONSUMER_SECRET = "cs_fedcba9876543210"
RECEIVED_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def options(base_url: str | None = None, **extra: str) -> dict[str, str]:
    found = {"site_url": SITE, "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    if base_url is not None:
        found["api_base_url"] = base_url
    return {**found, **extra}


def store(*secrets: str, base_url: str | None = None, **extra: str) -> Store:
    return Store(
        platform="woocommerce",
        id="main",
        secrets=tuple(SecretStr(s) for s in (secrets or (SECRET,))),
        options=options(base_url, **extra),
    )


def context(http: httpx.Client, base_url: str | None = None, **extra: str) -> TranslationContext:
    return TranslationContext(store=store(base_url=base_url, **extra), http=http)


def headers(body: bytes, topic: str, *, secret: str = SECRET, site: str = SITE) -> dict[str, str]:
    """The headers WooCommerce sends with `body`."""
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
        "X-WC-Webhook-Source": f"{site}/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    }


def request(body: bytes, topic: str = "order.updated", **options: str) -> WebhookRequest:
    """A delivery as WooCommerce sends it: `body` signed."""
    return WebhookRequest(
        platform="woocommerce",
        store="main",
        headers=httpx.Headers(headers(body, topic, **options)),
        body=body,
        received_at=RECEIVED_AT,
    )


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def checkout_order(body: bytes) -> Order:
    """The order the checkout created for the order resource `body`."""
    currency, lines = checkout_lines_of(body)
    reference = str(json.loads(body)["id"])
    return Order(reference=reference, currency=currency, lines=lines)


def cart(order: Order) -> dict[str, CartLine]:
    return {line.reference: line for line in order.lines}


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FakeRestApi:
    """WooCommerce's ``GET /wp-json/wc/v3/orders/{id}/refunds/{refund_id}``, as an ASGI app.

    `refunds` maps (order id, refund id) to the refund resource; `fail_with` makes every answer
    that status (with ``Retry-After: 7``) until cleared; `calls` counts requests answered.
    Accepts the test key by basic auth or in the query string.
    """

    def __init__(self) -> None:
        self.refunds: dict[tuple[int, int], dict[str, Any]] = {}
        self.fail_with: int | None = None
        self.calls = 0
        self.base_url = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        status, body = self.answer(scope["path"], scope["query_string"].decode(), authorization)
        headers = [(k.lower().encode(), v.encode()) for k, v in self.headers(status)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The same API as a WSGI app, for an in-process client."""
        status, body = self.answer(
            environ["PATH_INFO"],
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_AUTHORIZATION", ""),
        )
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", self.headers(status))
        return [body]

    @staticmethod
    def headers(status: int) -> list[tuple[str, str]]:
        found = [("Content-Type", "application/json")]
        if status == 429 or status >= 500:
            found.append(("Retry-After", "7"))
        return found

    def answer(self, path: str, query: str, authorization: str) -> tuple[int, bytes]:
        self.calls += 1
        if self.fail_with is not None:
            return self.fail_with, b'{"code": "unavailable"}'
        if not _authorized(parse_qs(query), authorization):
            return 401, b'{"code": "woocommerce_rest_cannot_view"}'
        parts = path.strip("/").split("/")
        if len(parts) == 7 and parts[:3] == ["wp-json", "wc", "v3"] and parts[3] == "orders":
            key = (
                (int(parts[4]), int(parts[6]))
                if parts[4].isdigit() and parts[6].isdigit()
                else None
            )
            found = self.refunds.get(key) if key and parts[5] == "refunds" else None
            if found is not None:
                return 200, json.dumps(found).replace("/", "\\/").encode()
        return 404, b'{"code": "woocommerce_rest_invalid_id"}'


def _authorized(query: dict[str, list[str]], authorization: str) -> bool:
    if "consumer_key" in query:
        return query.get("consumer_key") == [CONSUMER_KEY] and query.get("consumer_secret") == [
            CONSUMER_SECRET
        ]
    expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    return authorization == f"Basic {expected}"


def refund_resource(
    refund: int,
    created: str,
    amount: str,
    lines: dict[int, tuple[int, str]] | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """A refund resource: `lines` maps an order line id to (quantity, total before tax)."""
    return {
        "id": refund,
        "date_created_gmt": created,
        "amount": amount,
        "reason": reason,
        "refunded_by": 1,
        "refunded_payment": True,
        "meta_data": [],
        "line_items": [
            {
                "id": refund * 10 + n,
                "quantity": -quantity,
                "subtotal": f"-{total}",
                "total": f"-{total}",
                "total_tax": "0.00",
                "price": -float(total),
                "meta_data": [{"id": 1, "key": "_refunded_item_id", "value": str(line)}],
            }
            for n, (line, (quantity, total)) in enumerate((lines or {}).items())
        ],
    }
