"""Shopify's test deliveries: what `passerelle trigger` sends must pass Shopify's own checks
and mean the act asked for, on the order given."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from passerelle.backend.models import CartLineItem, OrderCreate
from passerelle.events import OrderCancelled, OrderReturned, OrderShipped
from passerelle.money import Money
from passerelle.platforms import Store, TranslationContext, VerificationError, WebhookRequest
from passerelle_shopify.platform import ShopifyPlatform

PLATFORM = ShopifyPlatform()
STORE = Store(
    platform="shopify",
    id="north.myshopify.com",
    secrets=(SecretStr("whsec-north"),),
    options={"access_token": "shpat_x"},
)
ORDER = OrderCreate(
    reference="5208471902318455099",
    currency="CAD",
    lines=(
        CartLineItem(
            reference="14011223344550099",
            name="Tea towel",
            unit_price=Money.of("12.50", "CAD"),
            quantity=2,
        ),
    ),
)


def received(act: str, store: Store = STORE) -> WebhookRequest:
    delivery = PLATFORM.signed_delivery(act, ORDER, store)
    return WebhookRequest(
        platform="shopify",
        store=store.id,
        headers=httpx.Headers(dict(delivery.headers)),
        body=delivery.body,
        received_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("act", "event_type"),
    [
        ("order_shipped", OrderShipped),
        ("order_cancelled", OrderCancelled),
        ("order_returned", OrderReturned),
    ],
)
def test_each_act_verifies_and_translates_to_its_event_on_the_order(
    act: str, event_type: type
) -> None:
    request = received(act)
    PLATFORM.verify(request, STORE)
    with httpx.Client() as http:
        translation = PLATFORM.translate(request, TranslationContext(STORE, http))
    assert [type(event) for event in translation.events] == [event_type]
    assert translation.events[0].order == ORDER.reference
    assert PLATFORM.ordering_key(request) is not None


def test_each_call_is_a_new_act_with_its_own_delivery_key() -> None:
    assert PLATFORM.delivery_key(received("order_shipped")) != PLATFORM.delivery_key(
        received("order_shipped")
    )


def test_the_delivery_is_signed_with_the_stores_first_secret_only() -> None:
    other = Store(platform="shopify", id=STORE.id, secrets=(SecretStr("another"),))
    with pytest.raises(VerificationError, match="matches no secret"):
        PLATFORM.verify(received("order_shipped"), other)


def test_an_act_shopify_cannot_build_is_refused_by_name() -> None:
    assert PLATFORM.delivery_acts == {"order_shipped", "order_cancelled", "order_returned"}
    with pytest.raises(ValueError, match="'order_edited'"):
        PLATFORM.signed_delivery("order_edited", ORDER, STORE)


@st.composite
def orders(draw: st.DrawFn) -> OrderCreate:
    count = draw(st.integers(min_value=1, max_value=4))
    references = draw(
        st.lists(
            st.integers(min_value=1, max_value=2**63 - 1),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    lines = tuple(
        CartLineItem(
            reference=str(reference),
            name=draw(st.text(alphabet="abcdefgh ", min_size=1, max_size=12)).strip() or "item",
            unit_price=Money(draw(st.decimals(min_value=0, max_value=10_000, places=2)), "CAD"),
            quantity=draw(st.integers(min_value=1, max_value=50)),
        )
        for reference in references
    )
    order_id = draw(st.integers(min_value=1, max_value=2**63 - 1))
    return OrderCreate(reference=str(order_id), currency="CAD", lines=lines)


@settings(max_examples=40, deadline=None)
@given(order=orders())
def test_a_shipment_ships_exactly_the_orders_lines_and_a_return_one_unit_of_its_first(
    order: OrderCreate,
) -> None:
    with httpx.Client() as http:
        context = TranslationContext(STORE, http)
        for act in ("order_shipped", "order_returned"):
            delivery = PLATFORM.signed_delivery(act, order, STORE)
            request = WebhookRequest(
                platform="shopify",
                store=STORE.id,
                headers=httpx.Headers(dict(delivery.headers)),
                body=delivery.body,
                received_at=datetime.now(UTC),
            )
            PLATFORM.verify(request, STORE)
            (event,) = PLATFORM.translate(request, context).events
            assert event.order == order.reference
            if isinstance(event, OrderShipped):
                assert {(q.line, q.quantity) for q in event.lines or ()} == {
                    (line.reference, line.quantity) for line in order.lines
                }
            else:
                assert isinstance(event, OrderReturned)
                first = order.lines[0]
                assert [(q.line, q.quantity) for q in event.lines] == [(first.reference, 1)]
                assert event.refund == first.unit_price
