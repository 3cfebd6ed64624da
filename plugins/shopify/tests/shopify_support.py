"""Builders shared by the Shopify plugin's tests: signed deliveries, stores, samples, fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from passerelle.events import CartLine, LineType
from passerelle.money import Money
from passerelle.orders import Order
from passerelle.platforms import Store, TranslationContext, WebhookRequest
from passerelle_shopify.verify import sign

SAMPLES = Path(__file__).parent / "samples"
FIXTURES = Path(__file__).parent / "fixtures"
# The project's shared samples, beside the repository's root when it is checked out with them.
SHARED_SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "shopify"

SECRET = "shpss_test_client_secret_1"
OLD_SECRET = "shpss_test_client_secret_0"
SHOP = "passerelle-test.myshopify.com"
RECEIVED_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

# Above 2**53: a float cannot hold these (the nearest doubles are even).
ORDER_ID = 9007199254740993
LINE_SHOES = 9007199254740995
LINE_SOCKS = 9007199254741001
LINE_BOTTLE = 9007199254741003
LINE_GAITERS = 9007199254741007


def store(*secrets: str, options: dict[str, str] | None = None, store_id: str = "main") -> Store:
    return Store(
        platform="shopify",
        id=store_id,
        secrets=tuple(SecretStr(s) for s in (secrets or (SECRET,))),
        options={"shop_domain": SHOP} if options is None else options,
    )


def request(
    body: bytes,
    topic: str,
    *,
    secret: str = SECRET,
    shop: str = SHOP,
    event_id: str | None = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    webhook_id: str | None = "a9b2c1d0-0000-4000-8000-000000000001",
    triggered_at: str | None = "2026-01-15T11:59:58.123456789Z",
    api_version: str | None = "2025-07",
    prefix: str = "X-",
    extra: dict[str, str] | None = None,
    received_at: datetime = RECEIVED_AT,
) -> WebhookRequest:
    """A delivery as Shopify sends it: `body` signed with `secret`."""
    values = {
        "Shopify-Topic": topic,
        "Shopify-Hmac-Sha256": sign(body, secret),
        "Shopify-Shop-Domain": shop,
        "Shopify-Event-Id": event_id,
        "Shopify-Webhook-Id": webhook_id,
        "Shopify-Triggered-At": triggered_at,
        "Shopify-API-Version": api_version,
    }
    headers = {f"{prefix}{k}": v for k, v in values.items() if v is not None}
    headers["Content-Type"] = "application/json"
    headers.update(extra or {})
    return WebhookRequest(
        platform="shopify",
        store="main",
        headers=httpx.Headers(headers),
        body=body,
        received_at=received_at,
    )


def context(http: httpx.Client, **options: str) -> TranslationContext:
    return TranslationContext(store=store(options={"shop_domain": SHOP, **options}), http=http)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode()


def charge(reference: str, name: str, kind: LineType, price: Money) -> CartLine:
    """A line that is not a product: shipping (handling), a fee."""
    return CartLine(reference=reference, name=name, type=kind, unit_price=price, quantity=1)


def fixture_order(*, tax: str | None = None) -> Order:
    """The fixtures' order as created at checkout, in the customer's currency; with `tax`, the
    tax Shopify charged as a fee line (the fixtures refund each pair of shoes with 15.60 tax)."""

    def product(line: int, name: str, price: str, quantity: int) -> CartLine:
        return CartLine(
            reference=str(line), name=name, unit_price=Money.of(price, "USD"), quantity=quantity
        )

    shipping = Money.of("15.00", "USD")
    taxes = () if tax is None else (charge("tax", "Tax", LineType.FEE, Money.of(tax, "USD")),)
    return Order(
        reference=str(ORDER_ID),
        currency="USD",
        lines=(
            product(LINE_SHOES, "Trail Runner Shoes", "120.00", 2),
            product(LINE_SOCKS, "Wool Socks", "12.50", 3),
            product(LINE_BOTTLE, "Water Bottle", "25.00", 1),
            charge("shipping:9007199254741501", "Standard", LineType.HANDLING, shipping),
            *taxes,
        ),
    )
