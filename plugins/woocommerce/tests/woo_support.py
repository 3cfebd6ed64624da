"""Builders shared by the WooCommerce plugin's tests: signed deliveries, stores, snapshots."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from passerelle.events import CartLine
from passerelle.orders import Order
from passerelle.platforms import Store, TranslationContext, WebhookRequest
from passerelle_woocommerce.checkout import checkout_lines_of
from passerelle_woocommerce.fake_rest import CONSUMER_KEY, CONSUMER_SECRET
from passerelle_woocommerce.verify import sign

SAMPLES = Path(__file__).parent / "samples"
FIXTURES = Path(__file__).parent / "fixtures"

SECRET = "woo-webhook-secret-1"
SITE = "https://shop.example.com"
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
