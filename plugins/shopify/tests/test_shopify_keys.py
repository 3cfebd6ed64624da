"""De-duplication and ordering keys."""

from __future__ import annotations

import hashlib

import pytest
from shopify_support import ORDER_ID, fixture, request, sample

from passerelle_shopify import ShopifyPlatform

EVENT = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


def test_delivery_key_is_topic_and_event_id(platform: ShopifyPlatform) -> None:
    delivery = request(sample("orders_cancelled.json"), "orders/cancelled", event_id=EVENT)
    assert platform.delivery_key(delivery) == f"orders/cancelled#{EVENT}"


def test_redeliveries_of_one_event_share_the_key(platform: ShopifyPlatform) -> None:
    body = fixture("fulfillments_create.partial.json")
    first = request(
        body, "fulfillments/create", webhook_id="w-1", triggered_at="2026-01-14T15:15:00Z"
    )
    retry = request(
        body, "fulfillments/create", webhook_id="w-2", triggered_at="2026-01-15T15:15:00Z"
    )
    assert platform.delivery_key(first) == platform.delivery_key(retry)


def test_one_action_raising_two_topics_gives_two_keys(platform: ShopifyPlatform) -> None:
    cancelled = request(sample("orders_cancelled.json"), "orders/cancelled", event_id=EVENT)
    refunded = request(sample("refunds_create.json"), "refunds/create", event_id=EVENT)
    assert platform.delivery_key(cancelled) != platform.delivery_key(refunded)


def test_without_event_id_the_webhook_id_is_the_key(platform: ShopifyPlatform) -> None:
    delivery = request(
        sample("refunds_create.json"), "refunds/create", event_id=None, webhook_id="w-9"
    )
    assert platform.delivery_key(delivery) == "refunds/create#webhook-w-9"


def test_without_any_id_the_body_hash_is_the_key(platform: ShopifyPlatform) -> None:
    body = sample("refunds_create.json")
    delivery = request(body, "refunds/create", event_id=None, webhook_id=None)
    digest = hashlib.sha256(b"refunds/create\0" + body).hexdigest()
    assert platform.delivery_key(delivery) == f"refunds/create#sha256-{digest}"


def test_an_outsized_event_id_is_hashed(platform: ShopifyPlatform) -> None:
    huge = "e" * 300
    delivery = request(sample("refunds_create.json"), "refunds/create", event_id=huge)
    key = platform.delivery_key(delivery)
    assert key == "refunds/create#sha256-" + hashlib.sha256(huge.encode()).hexdigest()
    assert len(key) <= 255


@pytest.mark.parametrize(
    ("name", "topic", "key"),
    [
        ("fulfillments_create.json", "fulfillments/create", "820982911946154500"),
        ("refunds_create.json", "refunds/create", "820982911946154500"),
        ("orders_cancelled.json", "orders/cancelled", "820982911946154500"),
        ("orders_fulfilled.json", "orders/fulfilled", "820982911946154500"),
        ("orders_edited.json", "orders/edited", "820982911946154500"),
        ("order_transactions_create.json", "order_transactions/create", "820982911946154500"),
        ("returns_close.json", "returns/close", "4783296544821"),
        ("returns_approve.json", "returns/approve", "4783296544821"),
        ("returns_update.json", "returns/update", None),
    ],
)
def test_ordering_key_is_the_order_id(
    platform: ShopifyPlatform, name: str, topic: str, key: str | None
) -> None:
    assert platform.ordering_key(request(sample(name), topic)) == key


def test_ordering_key_keeps_ids_above_2_to_the_53_exact(platform: ShopifyPlatform) -> None:
    delivery = request(fixture("refunds_create.return.json"), "refunds/create")
    assert platform.ordering_key(delivery) == str(ORDER_ID) == "9007199254740993"


def test_ordering_key_reads_an_order_gid(platform: ShopifyPlatform) -> None:
    body = b'{"id": 1, "order": {"admin_graphql_api_id": "gid://shopify/Order/9007199254740993"}}'
    assert platform.ordering_key(request(body, "returns/request")) == "9007199254740993"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"order_id": 1.5}',
        b'{"order_id": true}',
        b'{"id": "x"}',
        b"\xff\xfe{",
    ],
)
def test_ordering_key_of_an_unreadable_body_is_none(platform: ShopifyPlatform, body: bytes) -> None:
    assert platform.ordering_key(request(body, "orders/cancelled")) is None
    assert platform.ordering_key(request(body, "refunds/create")) is None
