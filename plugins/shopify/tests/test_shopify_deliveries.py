"""Shopify's test deliveries: what `passerelle trigger` sends must pass Shopify's own checks
and mean the act asked for, on the order given."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
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
