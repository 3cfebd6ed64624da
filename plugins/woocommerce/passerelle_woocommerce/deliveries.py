"""Deliveries as WooCommerce sends them, signed: for `passerelle trigger`, the demo and tests.

A delivery is an order snapshot (``order.*`` topics) with the fields the translation reads,
money in strings as WooCommerce writes it, and the headers WooCommerce sends with it.
`signed_delivery` builds the acts a snapshot carries without the REST API: a refund's lines are
only read from it, so ``order_returned`` needs a real shop.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from passerelle.plugin import CartLineItem, LineType, OrderCreate, SignedDelivery, Store
from passerelle_woocommerce.acts import TRACKING_META
from passerelle_woocommerce.store_options import WooCommerceOptions
from passerelle_woocommerce.verify import SIGNATURE, SOURCE, TOPIC

__all__ = ["ACTS", "Charge", "Item", "order_snapshot", "signed", "signed_delivery"]

ACTS: Final = frozenset({"order_shipped", "order_cancelled"})
"""The event kinds `signed_delivery` builds a delivery for."""

_STATUS: Final = {"order_shipped": "completed", "order_cancelled": "cancelled"}
_CHARGES: Final = {LineType.HANDLING: "shipping", LineType.FEE: "fee"}


@dataclass(frozen=True)
class Item:
    """A product line: `subtotal` is the line's amount before tax, in the currency's unit."""

    id: int
    name: str
    quantity: int
    subtotal: Decimal


@dataclass(frozen=True)
class Charge:
    """A shipping or fee line, its amount before tax."""

    id: int
    title: str
    total: Decimal


def order_snapshot(
    order: int,
    status: str,
    modified: str,
    *,
    currency: str,
    items: Sequence[Item],
    shipping: Sequence[Charge] = (),
    fees: Sequence[Charge] = (),
    completed: str | None = None,
    refunds: Mapping[int, tuple[str, Decimal]] = {},
    tracking: tuple[str, str] | None = None,
    site: str,
) -> bytes:
    """The order resource as a WooCommerce webhook body: `refunds` maps each refund's id to its
    reason and amount, `tracking` is a (provider, number) of the Shipment Tracking extension;
    ``total`` is the sum of the lines and charges, so the checkout reading accepts it."""
    total = sum((i.subtotal for i in items), Decimal(0)) + sum(
        (c.total for c in (*shipping, *fees)), Decimal(0)
    )
    body: dict[str, Any] = {
        "id": order,
        "status": status,
        "currency": currency,
        "prices_include_tax": False,
        "total": str(total),
        "date_modified_gmt": modified,
        "date_completed_gmt": completed,
        "line_items": [
            {
                "id": i.id,
                "name": i.name,
                "quantity": i.quantity,
                "subtotal": str(i.subtotal),
                "total": str(i.subtotal),
                "price": float(i.subtotal / i.quantity),
            }
            for i in items
        ],
        "shipping_lines": [
            {"id": c.id, "method_title": c.title, "total": str(c.total)} for c in shipping
        ],
        "fee_lines": [{"id": c.id, "name": c.title, "total": str(c.total)} for c in fees],
        "refunds": [
            {"id": r, "reason": reason, "total": str(-amount)}
            for r, (reason, amount) in refunds.items()
        ],
        "meta_data": [
            {
                "key": TRACKING_META,
                "value": [{"tracking_provider": tracking[0], "tracking_number": tracking[1]}],
            }
        ]
        if tracking
        else [],
        "_links": {"self": [{"href": f"{site.rstrip('/')}/wp-json/wc/v3/orders/{order}"}]},
    }
    # PHP's JSON writes "/" as "\/": the signature covers the bytes as sent.
    return json.dumps(body).replace("/", "\\/").encode()


def signed(topic: str, body: bytes, *, site: str, secret: str, delivery_id: str) -> SignedDelivery:
    """`body` as WooCommerce delivers it under `topic` from `site`, signed with `secret`."""
    return SignedDelivery(
        {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
            SOURCE: f"{site.rstrip('/')}/",
            TOPIC: topic,
            "X-WC-Webhook-Resource": topic.partition(".")[0],
            "X-WC-Webhook-Event": topic.partition(".")[2],
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": delivery_id,
            **SIGNATURE.sign(body, secret),
        },
        body,
    )


_clock = threading.Lock()
_last = datetime.min.replace(tzinfo=UTC)


def _modified() -> str:
    # Later than any snapshot built before, so a second trigger on an order is not stale.
    global _last
    with _clock:
        _last = max(datetime.now(UTC), _last + timedelta(microseconds=1))
        return _last.replace(tzinfo=None).isoformat()


def _number(reference: str, field: str) -> int:
    try:
        number = int(reference)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{field} {reference!r} is not a WooCommerce id (a positive number)")
    return number


def _charge(line: CartLineItem, kind: str) -> Charge:
    number = _number(line.reference.removeprefix(f"{kind}:"), "line reference")
    return Charge(number, line.name, line.total.amount)


def signed_delivery(act: str, order: OrderCreate, store: Store) -> SignedDelivery:
    """A fresh ``order.updated`` delivery of `act` (see `ACTS`) on every line of `order`,
    signed for `store` with its first secret: product lines become ``line_items``, handling
    and fee lines ``shipping_lines`` and ``fee_lines`` (references ``shipping:<id>``,
    ``fee:<id>`` or plain ids)."""
    if act not in ACTS:
        raise ValueError(
            f"woocommerce cannot build a {act!r} delivery; it builds {', '.join(sorted(ACTS))}"
        )
    order_id = _number(order.reference, "order reference")
    items: list[Item] = []
    charges: dict[str, list[Charge]] = {"shipping": [], "fee": []}
    for line in order.lines:
        if line.type is LineType.PRODUCT:
            number = _number(line.reference, "line reference")
            items.append(Item(number, line.name, line.quantity, line.total.amount))
        elif line.type in _CHARGES:
            kind = _CHARGES[line.type]
            charges[kind].append(_charge(line, kind))
        else:
            raise ValueError(
                f"line {line.reference!r} is a {line.type} line, which a WooCommerce order "
                "carries only as coupons"
            )
    site = store.options_as(WooCommerceOptions).site_url
    modified = _modified()
    shipped = act == "order_shipped"
    body = order_snapshot(
        order_id,
        _STATUS[act],
        modified,
        currency=order.currency,
        items=items,
        shipping=charges["shipping"],
        fees=charges["fee"],
        completed=modified if shipped else None,
        tracking=("Canada Post", f"7023 {secrets.randbelow(10**8):08d}") if shipped else None,
        site=site,
    )
    secret = store.secrets[0].get_secret_value() if store.secrets else ""
    return signed(
        "order.updated", body, site=site, secret=secret, delivery_id=secrets.token_hex(16)
    )
