"""Deliveries as Shopify sends them, signed: for `passerelle trigger`, the demo and tests.

The bodies carry the fields the translation reads, shaped as Shopify's: money both in shop and
presentment currency, line items with their ids, fulfillments with tracking, refunds with their
transactions. Ids are numbers, as Shopify's are (beyond 2^53 for orders and lines).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from passerelle.plugin import (
    CartLineItem,
    OrderCreate,
    SignedDelivery,
    Store,
    StoreOptionsError,
)
from passerelle_shopify import headers
from passerelle_shopify.store_options import shop_domain
from passerelle_shopify.verify import SIGNATURE

__all__ = [
    "ACTS",
    "API_VERSION",
    "fulfillment",
    "line",
    "order_body",
    "refund",
    "signed",
    "signed_delivery",
]

API_VERSION: Final = "2025-07"
"""The Admin API version the deliveries claim."""

ACTS: Final = frozenset({"order_shipped", "order_cancelled", "order_returned"})
"""The event kinds `signed_delivery` builds a delivery for (``orders/edited`` needs the Admin
API, which only a real shop answers)."""


def _money(amount: str, currency: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": currency},
        "presentment_money": {"amount": amount, "currency_code": currency},
    }


def line(
    line_id: int,
    name: str,
    quantity: int,
    price: str,
    currency: str,
    status: str | None = "fulfilled",
) -> dict[str, Any]:
    """A line item as an order, a fulfillment or a refund carries it."""
    return {
        "id": line_id,
        "name": name,
        "title": name,
        "quantity": quantity,
        "price": price,
        "price_set": _money(price, currency),
        "fulfillment_status": status,
    }


def fulfillment(
    fulfillment_id: int, order: int, lines: list[dict[str, Any]], number: str
) -> dict[str, Any]:
    """A successful Canada Post fulfillment of `lines` (a ``fulfillments/create`` body)."""
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


def refund(
    refund_id: int,
    order: int,
    item: dict[str, Any],
    quantity: int,
    amount: str,
    currency: str,
) -> dict[str, Any]:
    """A refund of `quantity` of `item`, restocked as a return (a ``refunds/create`` body)."""
    return {
        "id": refund_id,
        "order_id": order,
        "created_at": "2026-03-04T09:30:00-05:00",
        "note": "Customer returned it",
        "refund_line_items": [
            {
                "line_item_id": item["id"],
                "quantity": quantity,
                "restock_type": "return",
                "subtotal": amount,
                "total_tax": "0.00",
                "line_item": item,
            }
        ],
        "transactions": [
            {
                "id": refund_id + 7,
                "kind": "refund",
                "status": "success",
                "amount": amount,
                "currency": currency,
            }
        ],
    }


def order_body(
    order: int, lines: list[dict[str, Any]], currency: str, **fields: Any
) -> dict[str, Any]:
    """An order as ``orders/*`` topics send it, with `fields` added."""
    return {
        "id": order,
        "name": f"#{order % 10_000}",
        "currency": currency,
        "presentment_currency": currency,
        "line_items": lines,
        **fields,
    }


def signed(
    topic: str,
    body: Mapping[str, Any],
    store: Store,
    *,
    event_id: str,
    webhook_id: str,
) -> SignedDelivery:
    """`body` as Shopify delivers it under `topic` to `store`, signed with its first secret."""
    content = json.dumps(body).encode()
    try:
        domain = shop_domain(store) or store.id
    except StoreOptionsError:
        domain = store.id
    secret = store.secrets[0].get_secret_value() if store.secrets else ""
    return SignedDelivery(
        headers={
            "Content-Type": "application/json",
            headers.shown(headers.TOPIC): topic,
            **SIGNATURE.sign(content, secret),
            headers.shown(headers.SHOP_DOMAIN): domain,
            headers.shown(headers.API_VERSION): API_VERSION,
            headers.shown(headers.WEBHOOK_ID): webhook_id,
            headers.shown(headers.EVENT_ID): event_id,
            headers.shown(headers.TRIGGERED_AT): datetime.now(UTC).isoformat(),
        },
        body=content,
    )


def _id() -> int:
    # Fresh ids above 2^53, as Shopify's: a float on the way would show.
    return 6_000_000_000_000_000_000 + secrets.randbelow(10**18)


def _number(reference: str, field: str) -> int:
    try:
        return int(reference)
    except ValueError:
        raise ValueError(f"{field} {reference!r} is not a Shopify id (a number)") from None


def signed_delivery(act: str, order: OrderCreate, store: Store) -> SignedDelivery:
    """A fresh delivery of `act` (see `ACTS`) on every line of `order` (a refund: one unit of
    its first line), signed for `store`."""
    if act not in ACTS:
        raise ValueError(
            f"shopify cannot build a {act!r} delivery; it builds {', '.join(sorted(ACTS))}"
        )
    order_id = _number(order.reference, "order reference")

    def item(cart: CartLineItem, status: str | None) -> dict[str, Any]:
        return line(
            _number(cart.reference, "line reference"),
            cart.name,
            cart.quantity,
            str(cart.unit_price.amount),
            order.currency,
            status,
        )

    topic: str
    body: dict[str, Any]
    if act == "order_shipped":
        topic = "fulfillments/create"
        shipped = [item(cart, "fulfilled") for cart in order.lines]
        body = fulfillment(_id(), order_id, shipped, f"7023 {secrets.randbelow(10**8):08d}")
    elif act == "order_cancelled":
        topic = "orders/cancelled"
        body = order_body(
            order_id,
            [item(cart, None) for cart in order.lines],
            order.currency,
            cancel_reason="customer",
            cancelled_at=datetime.now(UTC).isoformat(),
        )
    else:
        topic = "refunds/create"
        first = order.lines[0]
        body = refund(
            _id(),
            order_id,
            item(first, "fulfilled"),
            1,
            str(first.unit_price.amount),
            order.currency,
        )
    return signed(topic, body, store, event_id=str(_id()), webhook_id=f"wh-{_id()}")
