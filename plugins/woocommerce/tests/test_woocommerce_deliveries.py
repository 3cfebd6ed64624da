"""WooCommerce's test deliveries: what `passerelle trigger` sends must pass WooCommerce's own
checks, mean the act asked for on the order given, and cost what the order costs."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from passerelle.backend.models import CartLineItem, OrderCreate
from passerelle.events import LineType, OrderCancelled, OrderShipped
from passerelle.money import Money
from passerelle.platforms import Store, TranslationContext, VerificationError, WebhookRequest
from passerelle_woocommerce.checkout import checkout_lines_of
from passerelle_woocommerce.platform import WooCommercePlatform

PLATFORM = WooCommercePlatform()
STORE = Store(
    platform="woocommerce",
    id="north",
    secrets=(SecretStr("woo-north"),),
    options={
        "site_url": "https://north.example",
        "consumer_key": "ck_x",
        "consumer_secret": "cs_x",
    },
)
ORDER = OrderCreate(
    reference="8801",
    currency="CAD",
    lines=(
        CartLineItem(
            reference="41", name="Tea towel", unit_price=Money.of("12.50", "CAD"), quantity=2
        ),
        CartLineItem(
            reference="shipping:50",
            name="Flat rate",
            type=LineType.HANDLING,
            unit_price=Money.of("9.00", "CAD"),
            quantity=1,
        ),
    ),
)


def received(act: str, order: OrderCreate = ORDER, store: Store = STORE) -> WebhookRequest:
    delivery = PLATFORM.signed_delivery(act, order, store)
    return WebhookRequest(
        platform="woocommerce",
        store=store.id,
        headers=httpx.Headers(dict(delivery.headers)),
        body=delivery.body,
        received_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("act", "event_type"), [("order_shipped", OrderShipped), ("order_cancelled", OrderCancelled)]
)
def test_each_act_verifies_and_translates_to_its_event_on_the_order(
    act: str, event_type: type
) -> None:
    request = received(act)
    PLATFORM.verify(request, STORE)
    assert request.headers["X-WC-Webhook-Source"] == "https://north.example/"
    assert request.headers["X-WC-Webhook-Topic"] == "order.updated"
    with httpx.Client() as http:
        translation = PLATFORM.translate(request, TranslationContext(STORE, http))
    assert [type(event) for event in translation.events] == [event_type]
    event = translation.events[0]
    assert event.order == ORDER.reference
    # A cancellation names no lines: whatever is unshipped, here the whole order.
    expected = {("41", 2)} if act == "order_shipped" else set()
    assert {(q.line, q.quantity) for q in event.lines or ()} == expected
    assert PLATFORM.ordering_key(request) == ORDER.reference


def test_the_shipment_carries_its_tracking() -> None:
    with httpx.Client() as http:
        (event,) = PLATFORM.translate(
            received("order_shipped"), TranslationContext(STORE, http)
        ).events
    assert isinstance(event, OrderShipped)
    assert event.tracking is not None
    assert event.tracking.carrier == "Canada Post"


def test_each_call_is_a_new_delivery_of_a_later_snapshot() -> None:
    first, second = received("order_shipped"), received("order_shipped")
    assert PLATFORM.delivery_key(first) != PLATFORM.delivery_key(second)
    assert first.headers["X-WC-Webhook-Delivery-ID"] != second.headers["X-WC-Webhook-Delivery-ID"]
    before, after = PLATFORM.version(first), PLATFORM.version(second)
    assert before is not None
    assert after is not None
    assert before.subject == after.subject == "order:8801"
    assert after.as_of > before.as_of


def test_the_delivery_is_signed_with_the_stores_first_secret_only() -> None:
    other = Store(
        platform="woocommerce", id=STORE.id, secrets=(SecretStr("another"),), options=STORE.options
    )
    with pytest.raises(VerificationError, match="matches no secret"):
        PLATFORM.verify(received("order_shipped"), other)


def test_an_act_woocommerce_cannot_build_is_refused_by_name() -> None:
    assert PLATFORM.delivery_acts == {"order_shipped", "order_cancelled"}
    with pytest.raises(ValueError, match="'order_returned'"):
        PLATFORM.signed_delivery("order_returned", ORDER, STORE)


def test_a_reference_that_is_not_a_woocommerce_id_is_named() -> None:
    order = ORDER.model_copy(update={"reference": "A-17"})
    with pytest.raises(ValueError, match="order reference 'A-17' is not a WooCommerce id"):
        PLATFORM.signed_delivery("order_shipped", order, STORE)


def test_a_discount_line_is_refused_naming_it() -> None:
    coupon = CartLineItem(
        reference="discount",
        name="Coupon",
        type=LineType.DISCOUNT,
        unit_price=Money.of("-5.00", "CAD"),
        quantity=1,
    )
    order = ORDER.model_copy(update={"lines": (*ORDER.lines, coupon)})
    with pytest.raises(ValueError, match="line 'discount' is a discount line"):
        PLATFORM.signed_delivery("order_cancelled", order, STORE)


@st.composite
def orders(draw: st.DrawFn) -> OrderCreate:
    count = draw(st.integers(min_value=1, max_value=4))
    ids = draw(
        st.lists(
            st.integers(min_value=1, max_value=2**63 - 1),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    lines = [
        CartLineItem(
            reference=str(line_id),
            name=draw(st.text(alphabet="abcdefgh /", min_size=1, max_size=12)).strip() or "item",
            unit_price=Money(draw(st.decimals(min_value=0, max_value=10_000, places=2)), "CAD"),
            quantity=draw(st.integers(min_value=1, max_value=50)),
        )
        for line_id in ids
    ]
    for n, kind in enumerate(draw(st.lists(st.sampled_from(["shipping", "fee"]), max_size=2))):
        lines.append(
            CartLineItem(
                reference=f"{kind}:{n + 1}",
                name=kind,
                type=LineType.HANDLING if kind == "shipping" else LineType.FEE,
                unit_price=Money(draw(st.decimals(min_value=0, max_value=500, places=2)), "CAD"),
                quantity=1,
            )
        )
    order_id = draw(st.integers(min_value=1, max_value=2**63 - 1))
    return OrderCreate(reference=str(order_id), currency="CAD", lines=tuple(lines))


@settings(max_examples=40, deadline=None)
@given(order=orders(), act=st.sampled_from(["order_shipped", "order_cancelled"]))
def test_any_cart_reads_back_as_itself_and_ships_or_cancels_the_whole_order(
    order: OrderCreate, act: str
) -> None:
    request = received(act, order)
    PLATFORM.verify(request, STORE)
    currency, cart = checkout_lines_of(request.body)
    assert currency == order.currency
    assert {(line.reference, line.type, line.unit_price, line.quantity) for line in cart} == {
        (line.reference, line.type, line.unit_price, line.quantity) for line in order.lines
    }
    with httpx.Client() as http:
        (event,) = PLATFORM.translate(request, TranslationContext(STORE, http)).events
    assert event.order == order.reference
    if act == "order_cancelled":
        assert isinstance(event, OrderCancelled)
        assert event.lines is None
        return
    assert isinstance(event, OrderShipped)
    assert {(q.line, q.quantity) for q in event.lines or ()} == {
        (line.reference, line.quantity) for line in order.lines if line.type is LineType.PRODUCT
    }
