"""Shopify's `passerelle demo` scenario: three orders, seven deliveries.

Partial and complete fulfillments, a delivery Shopify sends twice, a refund of a shipped item,
a cancel before shipment (the authorization is released) and one after (it becomes a return).
"""

from __future__ import annotations

from typing import Final

from pydantic import SecretStr

from passerelle.plugin import (
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
from passerelle_shopify.deliveries import fulfillment, line, order_body, refund, signed

__all__ = ["LAMP_ORDER", "MUGS_ORDER", "QUILT_ORDER", "SHOP", "scenario"]

SHOP: Final = "passerelle-demo.myshopify.com"
_SECRET: Final = "demo-webhook-secret"  # noqa: S105 - signs the demo's own deliveries, nothing else
_CURRENCY: Final = "CAD"

# Shopify ids exceed 2^53: the demo uses such ids so that any float on the way would show.
MUGS_ORDER: Final = 5_208_471_902_318_455_001
QUILT_ORDER: Final = 5_208_471_902_318_455_002
LAMP_ORDER: Final = 5_208_471_902_318_455_003
_MUG, _APRON, _QUILT, _LAMP = (
    14_011_223_344_550_001,
    14_011_223_344_550_002,
    14_011_223_344_550_003,
    14_011_223_344_550_004,
)

_STORE: Final = Store(
    platform="shopify",
    id=SHOP,
    secrets=(SecretStr(_SECRET),),
    # Only orders/edited reads the Admin API, and the demo sends none: the token completes the
    # store as a merchant configures it.
    options={"access_token": "shpat_demo_never_used"},
)


def _checkout() -> list[OrderCreate]:
    def item(
        line_id: int, name: str, price: str, quantity: int, kind: LineType = LineType.PRODUCT
    ) -> CartLineItem:
        return CartLineItem(
            reference=str(line_id),
            name=name,
            type=kind,
            unit_price=Money.of(price, _CURRENCY),
            quantity=quantity,
        )

    return [
        OrderCreate(
            reference=str(MUGS_ORDER),
            currency=_CURRENCY,
            lines=(
                item(_MUG, "Ceramic mug", "24.00", 2),
                item(_APRON, "Linen apron", "38.00", 1),
                item(9001, "Standard shipping", "9.00", 1, LineType.HANDLING),
            ),
            installments=3,
        ),
        OrderCreate(
            reference=str(QUILT_ORDER),
            currency=_CURRENCY,
            lines=(item(_QUILT, "Wool quilt", "180.00", 1),),
        ),
        OrderCreate(
            reference=str(LAMP_ORDER),
            currency=_CURRENCY,
            lines=(item(_LAMP, "Brass lamp", "95.00", 1),),
        ),
    ]


def _deliveries() -> list[DemoDelivery]:
    mug = line(_MUG, "Ceramic mug", 2, "24.00", _CURRENCY)
    apron = line(_APRON, "Linen apron", 1, "38.00", _CURRENCY)
    quilt = line(_QUILT, "Wool quilt", 1, "180.00", _CURRENCY, status=None)
    lamp = line(_LAMP, "Brass lamp", 1, "95.00", _CURRENCY)
    mugs_shipped = fulfillment(6_100_000_000_000_000_001, MUGS_ORDER, [mug], "7023 4100 2201")
    rest_shipped = fulfillment(6_100_000_000_000_000_002, MUGS_ORDER, [apron], "7023 4100 2202")
    lamp_shipped = fulfillment(6_100_000_000_000_000_003, LAMP_ORDER, [lamp], "7023 4100 2203")
    mug_refund = refund(7_200_000_000_000_000_001, MUGS_ORDER, mug, 1, "24.00", _CURRENCY)
    lamp_refund = refund(7_200_000_000_000_000_002, LAMP_ORDER, lamp, 1, "95.00", _CURRENCY)
    n = 0

    def delivery(topic: str, body: dict[str, object], event_id: str) -> SignedDelivery:
        nonlocal n
        n += 1
        return signed(topic, body, _STORE, event_id=event_id, webhook_id=f"wh-{n}")

    rest = delivery("fulfillments/create", rest_shipped, "ev-2")
    return [
        DemoDelivery(
            "a partial fulfillment: the mugs ship",
            "fulfillments/create",
            delivery("fulfillments/create", mugs_shipped, "ev-1"),
        ),
        DemoDelivery("the rest ships: the apron", "fulfillments/create", rest),
        DemoDelivery(
            "Shopify delivers that again",
            "fulfillments/create",
            delivery("fulfillments/create", rest_shipped, "ev-2"),
            duplicate=True,
        ),
        DemoDelivery(
            "a refund of a shipped mug",
            "refunds/create",
            delivery("refunds/create", mug_refund, "ev-3"),
        ),
        DemoDelivery(
            "the customer cancels the unshipped quilt order",
            "orders/cancelled",
            delivery(
                "orders/cancelled",
                order_body(
                    QUILT_ORDER,
                    [quilt],
                    _CURRENCY,
                    cancel_reason="customer",
                    cancelled_at="2026-03-02T11:00:00-05:00",
                ),
                "ev-4",
            ),
        ),
        DemoDelivery(
            "the lamp ships",
            "fulfillments/create",
            delivery("fulfillments/create", lamp_shipped, "ev-5"),
        ),
        # The order as Shopify sends it when the merchant cancels it after the lamp shipped and
        # refunds the lamp: the fulfillment, and the refund made with the cancellation. The
        # lamp cannot be cancelled any more; it comes back as a return, refunded what Shopify
        # refunded.
        DemoDelivery(
            "a cancel after shipment: becomes a return",
            "orders/cancelled",
            delivery(
                "orders/cancelled",
                order_body(
                    LAMP_ORDER,
                    [lamp],
                    _CURRENCY,
                    cancel_reason="customer",
                    cancelled_at="2026-03-05T08:00:00-05:00",
                    fulfillments=[lamp_shipped],
                    refunds=[lamp_refund],
                ),
                "ev-6",
            ),
        ),
    ]


def scenario() -> DemoScenario:
    """The scenario, its deliveries signed now (Shopify dates each one)."""
    return DemoScenario(
        store=_STORE,
        orders=_checkout(),
        deliveries=_deliveries(),
        expected={
            str(MUGS_ORDER): ExpectedLedger(
                {str(_MUG): (2, 0, 1), str(_APRON): (1, 0, 0)},
                "95.00",
                "24.00",
                "0.00",
                "71.00",
            ),
            str(QUILT_ORDER): ExpectedLedger(
                {str(_QUILT): (0, 1, 0)}, "0.00", "0.00", "180.00", "0.00"
            ),
            str(LAMP_ORDER): ExpectedLedger(
                {str(_LAMP): (1, 0, 1)}, "95.00", "95.00", "0.00", "0.00"
            ),
        },
        act_column="Shopify topic",
    )
