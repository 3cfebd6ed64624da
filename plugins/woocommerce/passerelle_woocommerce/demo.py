"""WooCommerce's `passerelle demo` scenario: order snapshots, end to end.

Two orders: one completes (its shipment), is partly refunded (the refund's lines read over HTTP
from a local stand-in of the WooCommerce REST API, `passerelle_woocommerce.fake_rest`, served on
a socket while the demo runs), then WooCommerce sends that snapshot again and a stale one
arrives late; the other is cancelled before it ships.
"""

from __future__ import annotations

from contextlib import ExitStack
from decimal import Decimal
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
    Store,
)
from passerelle_woocommerce.deliveries import Charge, Item, order_snapshot, signed
from passerelle_woocommerce.fake_rest import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakeRestApi,
    refund_resource,
)

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
    items = (
        [
            Item(MUG, "Ceramic mug", 2, Decimal("24.00")),
            Item(TEA, "Loose-leaf tea", 1, Decimal("24.00")),
        ]
        if mugs
        else [Item(QUILT, "Wool quilt", 1, Decimal("180.00"))]
    )
    return order_snapshot(
        order,
        status,
        modified,
        currency=_CURRENCY,
        items=items,
        shipping=[Charge(50, "Flat rate", Decimal("9.00"))] if mugs else [],
        completed=completed,
        refunds={r: ("chipped", Decimal("12.00")) for r in refunds},
        tracking=("Canada Post", "7023 4100 3301") if completed else None,
        site=SITE,
    )


def _send(title: str, topic: str, body: bytes, n: int, **options: Any) -> DemoDelivery:
    delivery = signed(topic, body, site=SITE, secret=_SECRET, delivery_id=f"{n:032x}")
    return DemoDelivery(title, topic, delivery, **options)


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
