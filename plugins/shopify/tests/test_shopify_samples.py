"""Every public sample body: verified with a test secret, then translated to exact events."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx
from shopify_support import SAMPLES, SHARED_SAMPLES, SHOP, context, request, sample, store

from passerelle.events import (
    CancelReason,
    CartLine,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
)
from passerelle.money import Money
from passerelle.platforms import Translation
from passerelle_shopify import ShopifyPlatform

ORDER = "820982911946154500"
SAMPLE_TIME = datetime(2021, 12, 31, 19, 0, tzinfo=timezone(timedelta(hours=-5)))
PRODUCTS = {
    "487817672276298560": ("Aviator sunglasses", "89.99"),
    "789012345678901200": ("Lens Protection Plan (2 Year)", "19.99"),
    "890123456789012400": ("Premium Leather Case", "24.99"),
    "976318377106520300": ("Mid-century lounger", "159.99"),
    "315789986012684400": ("Coffee table", "119.99"),
}
ALL_LINES = tuple(LineQuantity(line=line, quantity=1) for line in PRODUCTS)


def returns_ignored(topic: str) -> Translation:
    return Translation.ignore(
        f"topic {topic}: a return moves no money; the refund that settles it does"
    )


EXPECTED: dict[str, tuple[str, Translation]] = {
    "fulfillments_create.json": (
        "fulfillments/create",
        Translation.ignore(f"fulfillment 123456 of order {ORDER} is pending: nothing shipped yet"),
    ),
    "fulfillments_update.json": (
        "fulfillments/update",
        Translation.ignore(f"fulfillment 123456 of order {ORDER} is pending: nothing shipped yet"),
    ),
    "fulfillments_create.legacy-rest.json": (
        "fulfillments/create",
        Translation.ignore(
            "fulfillment 255858046 of order 450789469 is pending: nothing shipped yet"
        ),
    ),
    "order_transactions_create.json": (
        "order_transactions/create",
        Translation.ignore("topic order_transactions/create is not handled"),
    ),
    "orders_updated.json": (
        "orders/updated",
        Translation.ignore("topic orders/updated is not handled"),
    ),
    "orders_fulfilled.json": (
        "orders/fulfilled",
        Translation.ignore(f"order {ORDER} has no successful fulfillment"),
    ),
    "orders_partially_fulfilled.json": (
        "orders/partially_fulfilled",
        Translation.ignore(f"order {ORDER} has no successful fulfillment"),
    ),
    "orders_cancelled.json": (
        "orders/cancelled",
        Translation(
            events=(
                OrderCancelled(order=ORDER, id=f"cancel:{ORDER}", reason=CancelReason.CUSTOMER),
            ),
            occurred_at=SAMPLE_TIME,
        ),
    ),
    # Every line is refunded without restocking and none has shipped: a cancellation. The 85.00
    # refunded is less than the lines' 414.95, so all of it is the cancellation's.
    "refunds_create.json": (
        "refunds/create",
        Translation(
            events=(
                OrderCancelled(
                    order=ORDER, id="890088186047892400", lines=ALL_LINES, reason=CancelReason.OTHER
                ),
            ),
            occurred_at=SAMPLE_TIME,
        ),
    ),
    # No restock_type (old body) and unfulfilled lines: a cancellation.
    "refunds_create.legacy-rest.json": (
        "refunds/create",
        Translation(
            events=(
                OrderCancelled(
                    order="450789469",
                    id="509562969",
                    lines=(
                        LineQuantity(line="703073504", quantity=1),
                        LineQuantity(line="466157049", quantity=1),
                    ),
                ),
            ),
            occurred_at=datetime(2016, 6, 20, 13, 35, 6, tzinfo=timezone(timedelta(hours=-4))),
        ),
    ),
    # The edit's amounts come from the Admin API, which answers with the sample order.
    "orders_edited.json": (
        "orders/edited",
        Translation(
            events=(
                OrderEdited(
                    order=ORDER,
                    id="78912328793123780",
                    cart=(
                        *(
                            CartLine(
                                reference=line,
                                name=name,
                                type=LineType.PRODUCT,
                                unit_price=Money.of(price, "USD"),
                                quantity=1,
                            )
                            for line, (name, price) in PRODUCTS.items()
                        ),
                        CartLine(
                            reference="shipping:271878346596884000",
                            name="Generic Shipping",
                            type=LineType.HANDLING,
                            unit_price=Money.of("10.00", "USD"),
                            quantity=1,
                        ),
                    ),
                ),
            ),
            occurred_at=SAMPLE_TIME,
        ),
    ),
    **{
        f"returns_{action}.json": (f"returns/{action}", returns_ignored(f"returns/{action}"))
        for action in ("approve", "cancel", "close", "decline", "reopen", "request", "update")
    },
}


def test_every_sample_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in SAMPLES.glob("*.json"))


def test_the_samples_are_the_public_ones_unchanged() -> None:
    # SHA256SUMS was taken of the public bodies (see SOURCES.md); beside the project's shared
    # samples, they are compared too.
    recorded = dict(
        reversed(line.split("  ", 1)) for line in (SAMPLES / "SHA256SUMS").read_text().splitlines()
    )
    local = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in SAMPLES.glob("*.json")}
    assert local == recorded
    if SHARED_SAMPLES.is_dir():
        shared = {p.name: p.read_bytes() for p in SHARED_SAMPLES.glob("*.json")}
        assert {name: (SAMPLES / name).read_bytes() for name in local} == shared


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_verifies_and_translates(
    name: str, platform: ShopifyPlatform, http: httpx.Client
) -> None:
    topic, expected = EXPECTED[name]
    delivery = request(sample(name), topic)
    platform.verify(delivery, store())
    with respx.mock(assert_all_called=False) as mock:
        admin_order = b'{"order": ' + sample("orders_updated.json") + b"}"
        route = mock.get(f"https://{SHOP}/admin/api/2025-07/orders/{ORDER}.json").respond(
            200, content=admin_order
        )
        translation = platform.translate(delivery, context(http, access_token="shpat_test"))
    assert translation == expected
    # Only the body without amounts costs an API call.
    assert route.call_count == (1 if topic == "orders/edited" else 0)
