"""WooCommerce's `passerelle demo` scenario: order snapshots, end to end.

Two orders: one completes (its shipment), is partly refunded (the refund's lines read over HTTP
from a local stand-in of the WooCommerce REST API, `passerelle_woocommerce.fake_rest`, served on
a socket while the demo runs), then WooCommerce sends that snapshot again and a stale one
arrives late; the other is cancelled before it ships.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any, Final

from pydantic import SecretStr

from passerelle.plugin import (
    BackgroundServer,
    CartLineItem,
    DemoDelivery,
    DemoScenario,
    ExpectedLedger,
    LineType,
    Money,
    OrderCreate,
    SignedDelivery,
    Store,
)
from passerelle_woocommerce.fake_rest import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakeRestApi,
    refund_resource,
)
from passerelle_woocommerce.verify import SIGNATURE

__all__ = ["scenario"]

SITE: Final = "https://passerelle-demo.example"
_STORE: Final = "demo-woo"
_SECRET: Final = "demo-webhook-secret"  # noqa: S105 - signs the demo's own deliveries, nothing else
_CURRENCY: Final = "CAD"
MUGS_ORDER, QUILT_ORDER = 8801, 8802
MUG, TEA, QUILT = 301, 302, 303
REFUND = 77


def _snapshot(
    order: int,
    status: str,
    modified: str,
    *,
    completed: str | None = None,
    refunds: tuple[int, ...] = (),
) -> bytes:
    mugs = order == MUGS_ORDER
    lines = (
        [(MUG, "Ceramic mug", 2, "24.00"), (TEA, "Loose-leaf tea", 1, "24.00")]
        if mugs
        else [(QUILT, "Wool quilt", 1, "180.00")]
    )
    body: dict[str, Any] = {
        "id": order,
        "status": status,
        "currency": _CURRENCY,
        "prices_include_tax": False,
        "total": "57.00" if mugs else "180.00",
        "date_modified_gmt": modified,
        "date_completed_gmt": completed,
        "line_items": [
            {"id": i, "name": n, "quantity": q, "subtotal": t, "total": t, "price": float(t) / q}
            for i, n, q, t in lines
        ],
        "shipping_lines": [{"id": 50, "method_title": "Flat rate", "total": "9.00"}]
        if mugs
        else [],
        "refunds": [{"id": r, "reason": "chipped", "total": "-12.00"} for r in refunds],
        "meta_data": [
            {
                "key": "_wc_shipment_tracking_items",
                "value": [
                    {"tracking_provider": "Canada Post", "tracking_number": "7023 4100 3301"}
                ],
            }
        ]
        if completed
        else [],
        "_links": {"self": [{"href": f"{SITE}/wp-json/wc/v3/orders/{order}"}]},
    }
    # PHP's JSON writes "/" as "\/": the signature covers the bytes as sent.
    return json.dumps(body).replace("/", "\\/").encode()


def _send(title: str, topic: str, body: bytes, n: int, **options: Any) -> DemoDelivery:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
        "X-WC-Webhook-Source": f"{SITE}/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": topic.partition(".")[2],
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": f"{n:032x}",
        **SIGNATURE.sign(body, _SECRET),
    }
    return DemoDelivery(title, topic, SignedDelivery(headers, body), **options)


def scenario(stack: ExitStack) -> DemoScenario:
    """The WooCommerce demo; its REST API stand-in is served until `stack` closes."""
    api = FakeRestApi()
    api.refunds[(MUGS_ORDER, REFUND)] = refund_resource(
        REFUND, "2026-03-02T11:00:00", "12.00", {MUG: (1, "12.00")}, "chipped"
    )
    rest = stack.enter_context(BackgroundServer(api))
    refunded = _snapshot(
        MUGS_ORDER,
        "completed",
        "2026-03-02T11:00:00",
        completed="2026-03-02T10:00:00",
        refunds=(REFUND,),
    )
    sends = [
        _send(
            "the order is placed: processing, nothing to do yet",
            "order.created",
            _snapshot(MUGS_ORDER, "processing", "2026-03-02T09:00:00"),
            1,
            expect="ignored",
        ),
        _send(
            "completed: everything ships, with tracking",
            "order.updated",
            _snapshot(
                MUGS_ORDER, "completed", "2026-03-02T10:00:00", completed="2026-03-02T10:00:00"
            ),
            2,
        ),
        _send(
            "a partial refund: a chipped mug, its lines read from the REST API",
            "order.updated",
            refunded,
            3,
        ),
        _send(
            "WooCommerce sends that snapshot again (merged)",
            "order.updated",
            refunded,
            4,
            duplicate=True,
        ),
        _send(
            "a stale processing snapshot arrives late",
            "order.updated",
            _snapshot(MUGS_ORDER, "processing", "2026-03-02T09:30:00"),
            5,
            expect="ignored",
        ),
        _send(
            "the quilt order is cancelled before it ships",
            "order.updated",
            _snapshot(QUILT_ORDER, "cancelled", "2026-03-02T12:00:00"),
            6,
        ),
    ]

    def item(line: int, name: str, price: str, quantity: int, kind: LineType) -> CartLineItem:
        return CartLineItem(
            reference=str(line) if kind is LineType.PRODUCT else f"shipping:{line}",
            name=name,
            type=kind,
            unit_price=Money.of(price, _CURRENCY),
            quantity=quantity,
        )

    product = LineType.PRODUCT
    return DemoScenario(
        store=Store(
            platform="woocommerce",
            id=_STORE,
            secrets=(SecretStr(_SECRET),),
            options={
                "site_url": SITE,
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": CONSUMER_SECRET,
                "api_base_url": f"{rest.url}/wp-json/wc/v3",
            },
        ),
        orders=[
            OrderCreate(
                reference=str(MUGS_ORDER),
                currency=_CURRENCY,
                lines=(
                    item(MUG, "Ceramic mug", "12.00", 2, product),
                    item(TEA, "Loose-leaf tea", "24.00", 1, product),
                    item(50, "Flat rate", "9.00", 1, LineType.HANDLING),
                ),
            ),
            OrderCreate(
                reference=str(QUILT_ORDER),
                currency=_CURRENCY,
                lines=(item(QUILT, "Wool quilt", "180.00", 1, product),),
            ),
        ],
        deliveries=sends,
        expected={
            str(MUGS_ORDER): ExpectedLedger(
                {str(MUG): (2, 0, 1), str(TEA): (1, 0, 0)}, "57.00", "12.00", "0.00", "45.00"
            ),
            str(QUILT_ORDER): ExpectedLedger(
                {str(QUILT): (0, 1, 0)}, "0.00", "0.00", "180.00", "0.00"
            ),
        },
        act_column="WooCommerce topic",
    )
