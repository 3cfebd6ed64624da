"""Stale deliveries: the state each topic reports, dated, and a late older state ignored by the
dispatcher (a cancelled fulfillment must not ship when its older success arrives late)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from shopify_support import (
    LINE_BOTTLE,
    LINE_SHOES,
    LINE_SOCKS,
    ORDER_ID,
    dumps,
    fixture,
    request,
    sample,
)
from shopify_support import store as shopify_store

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, OrderCreate
from passerelle.backend.retry import RetryPolicy
from passerelle.clock import FixedClock
from passerelle.connector.dispatcher import Dispatcher
from passerelle.connector.store import DeliveryStatus, DeliveryStore, NewDelivery, open_store
from passerelle.events import LineType
from passerelle.money import Money
from passerelle.platforms import Version, WebhookRequest
from passerelle.plugins import Plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle_shopify import ShopifyPlatform

EST = timezone(timedelta(hours=-5))
FULFILLMENT = "fulfillment:9007199254741101"
BOTTLE_FULFILLMENT = "fulfillment:9007199254741105"
ORDER = f"order:{ORDER_ID}"

# -- the version each topic reports ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "topic", "expected"),
    [
        (
            "fulfillments_create.partial.json",
            "fulfillments/create",
            Version(FULFILLMENT, datetime(2026, 1, 14, 10, 15, tzinfo=EST)),
        ),
        (
            "fulfillments_update.cancelled.json",
            "fulfillments/update",
            Version(FULFILLMENT, datetime(2026, 1, 14, 16, 40, tzinfo=EST)),
        ),
        (
            "fulfillments_create.bottle.json",
            "fulfillments/create",
            Version(BOTTLE_FULFILLMENT, datetime(2026, 1, 14, 11, 0, tzinfo=EST)),
        ),
        (
            "fulfillments_update.bottle_cancelled.json",
            "fulfillments/update",
            Version(BOTTLE_FULFILLMENT, datetime(2026, 1, 14, 11, 20, tzinfo=EST)),
        ),
        (
            "orders_partially_fulfilled.multi.json",
            "orders/partially_fulfilled",
            Version(ORDER, datetime(2026, 1, 14, 10, 15, 2, tzinfo=EST)),
        ),
        (
            "orders_partially_fulfilled.multi.json",
            "orders/fulfilled",
            Version(ORDER, datetime(2026, 1, 14, 10, 15, 2, tzinfo=EST)),
        ),
        (
            "orders_cancelled.after_shipment.json",
            "orders/cancelled",
            Version(ORDER, datetime(2026, 1, 16, 9, 30, 1, tzinfo=EST)),
        ),
    ],
)
def test_fulfillment_and_order_topics_report_their_object_as_of_updated_at(
    platform: ShopifyPlatform, name: str, topic: str, expected: Version
) -> None:
    assert platform.version(request(fixture(name), topic)) == expected


@pytest.mark.parametrize(
    ("name", "topic", "subject"),
    [
        ("fulfillments_create.json", "fulfillments/create", "fulfillment:"),
        ("fulfillments_update.json", "fulfillments/update", "fulfillment:"),
        ("orders_fulfilled.json", "orders/fulfilled", "order:"),
        ("orders_partially_fulfilled.json", "orders/partially_fulfilled", "order:"),
        ("orders_cancelled.json", "orders/cancelled", "order:"),
    ],
)
def test_shopify_s_own_samples_have_a_version(
    platform: ShopifyPlatform, name: str, topic: str, subject: str
) -> None:
    version = platform.version(request(sample(name), topic))
    assert version is not None
    content = json.loads(sample(name))
    assert version.subject == f"{subject}{content['id']}"
    assert version.as_of == datetime.fromisoformat(content["updated_at"])


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("refunds_create.json", "refunds/create"),
        ("orders_edited.json", "orders/edited"),
        ("orders_updated.json", "orders/updated"),
        ("returns_close.json", "returns/close"),
        ("order_transactions_create.json", "order_transactions/create"),
    ],
)
def test_other_topics_report_no_version(platform: ShopifyPlatform, name: str, topic: str) -> None:
    assert platform.version(request(sample(name), topic)) is None


def test_without_a_topic_there_is_no_version(platform: ShopifyPlatform) -> None:
    delivery = request(fixture("fulfillments_create.partial.json"), "fulfillments/create")
    headers = httpx.Headers({k: v for k, v in delivery.headers.items() if "topic" not in k})
    assert platform.version(_with_headers(delivery, headers)) is None


@pytest.mark.parametrize("updated_at", [None, "", "yesterday", "2026-01-14T10:15:00", 1768403700])
def test_without_a_readable_updated_at_the_trigger_time_dates_the_delivery(
    platform: ShopifyPlatform, updated_at: object
) -> None:
    content = json.loads(fixture("fulfillments_create.partial.json"))
    content["updated_at"] = updated_at
    version = platform.version(
        request(dumps(content), "fulfillments/create", triggered_at="2026-01-15T11:59:58.123Z")
    )
    assert version == Version(FULFILLMENT, datetime(2026, 1, 15, 11, 59, 58, 123000, tzinfo=UTC))


def test_the_trigger_time_is_read_without_the_x_prefix_in_any_case(
    platform: ShopifyPlatform,
) -> None:
    content = json.loads(fixture("orders_cancelled.after_shipment.json"))
    del content["updated_at"]
    delivery = request(
        dumps(content),
        "orders/cancelled",
        prefix="",
        triggered_at=None,
        extra={"shopify-triggered-at": "2026-01-16T09:30:05-05:00"},
    )
    assert platform.version(delivery) == Version(ORDER, datetime(2026, 1, 16, 9, 30, 5, tzinfo=EST))


def test_without_any_time_there_is_no_version(platform: ShopifyPlatform) -> None:
    content = json.loads(fixture("fulfillments_create.partial.json"))
    del content["updated_at"]
    delivery = request(dumps(content), "fulfillments/create", triggered_at="not a time")
    assert platform.version(delivery) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b"\xff\xfe{",
        b'{"updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": null, "updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": true, "updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": -1, "updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": 1.5, "updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": "gid://shopify/Fulfillment/1", "updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": ' + b"9" * 5000 + b', "updated_at": "2026-01-14T10:15:00-05:00"}',
        b'{"id": "' + b"9" * 5000 + b'", "updated_at": "2026-01-14T10:15:00-05:00"}',
    ],
)
def test_an_unreadable_body_has_no_version(platform: ShopifyPlatform, body: bytes) -> None:
    for topic in ("fulfillments/update", "orders/cancelled"):
        assert platform.version(request(body, topic)) is None


def test_an_id_given_as_a_string_of_digits_counts(platform: ShopifyPlatform) -> None:
    body = b'{"id": "0042", "updated_at": "2026-01-14T10:15:00Z"}'
    assert platform.version(request(body, "fulfillments/update")) == Version(
        "fulfillment:42", datetime(2026, 1, 14, 10, 15, tzinfo=UTC)
    )


def _with_headers(delivery: WebhookRequest, headers: httpx.Headers) -> WebhookRequest:
    return WebhookRequest(
        platform=delivery.platform,
        store=delivery.store,
        headers=headers,
        body=delivery.body,
        received_at=delivery.received_at,
    )


# -- through the dispatcher ------------------------------------------------------------------

CANCELLED_MESSAGE = (
    "status: Shopify reports fulfillment 9007199254741105 of order 9007199254740993 cancelled. "
    "Passerelle never un-ships, and the delivery does not say whether the fulfillment shipped "
    "here: if the order's ledger lists order_shipped 9007199254741105, its units were "
    "captured, so record their return or refund in Shopify or ship them again; if it does "
    "not, nothing was captured for it: dismiss this delivery"
)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    # One per test: the fixtures name one order, which each test creates afresh.
    with SandboxServer() as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with BackendClient(
        sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT, retry=RetryPolicy(max_attempts=1)
    ) as backend:
        backend.create_order(
            OrderCreate(
                reference=str(ORDER_ID),
                currency="USD",
                lines=(
                    _product(LINE_SHOES, "Trail Runner Shoes", "120.00", 2),
                    _product(LINE_SOCKS, "Wool Socks", "12.50", 3),
                    _product(LINE_BOTTLE, "Water Bottle", "25.00", 1),
                    CartLineItem(
                        reference="shipping:9007199254741501",
                        name="Standard",
                        type=LineType.HANDLING,
                        unit_price=Money.of("15.00", "USD"),
                        quantity=1,
                    ),
                ),
            )
        )
        yield backend


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def inbox(tmp_path: Path, clock: FixedClock) -> Iterator[DeliveryStore]:
    with open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock) as opened:
        yield opened


@pytest.fixture
def dispatcher(
    inbox: DeliveryStore, client: BackendClient, clock: FixedClock
) -> Iterator[Dispatcher]:
    plugins = Plugins()
    with httpx.Client() as http:
        dispatcher = Dispatcher(
            store=inbox,
            platforms={"shopify": ShopifyPlatform()},
            stores={("shopify", "main"): shopify_store()},
            plugins=plugins,
            backend=client,
            http=http,
            clock=clock,
        )
        try:
            yield dispatcher
        finally:
            dispatcher.stop()


def _product(line: int, name: str, price: str, quantity: int) -> CartLineItem:
    return CartLineItem(
        reference=str(line), name=name, unit_price=Money.of(price, "USD"), quantity=quantity
    )


def receive(inbox: DeliveryStore, name: str, topic: str, event_id: str) -> int:
    """Store the fixture `name` as the receiver would, and return its delivery id."""
    platform = ShopifyPlatform()
    delivery = request(fixture(name), topic, event_id=event_id, webhook_id=f"webhook-{event_id}")
    return inbox.append(
        NewDelivery.from_request(
            delivery,
            delivery_key=platform.delivery_key(delivery),
            ordering_key=platform.ordering_key(delivery),
        )
    ).id


def test_a_late_success_after_the_cancellation_ships_nothing(
    inbox: DeliveryStore, dispatcher: Dispatcher, client: BackendClient
) -> None:
    cancelled = receive(
        inbox, "fulfillments_update.bottle_cancelled.json", "fulfillments/update", "ev-cancel"
    )
    dispatcher.drain()
    failed = inbox.get(cancelled)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    # Readable and authentic, so not filed as unreadable: a person checks the order.
    assert (failed.last_error.code, failed.last_error.message) == (
        "fulfillment_cancelled",
        CANCELLED_MESSAGE,
    )

    # Hours later Shopify delivers the fulfillment's creation, from before it was cancelled.
    late = receive(inbox, "fulfillments_create.bottle.json", "fulfillments/create", "ev-create")
    dispatcher.drain()
    ignored = inbox.get(late)
    assert ignored.status is DeliveryStatus.IGNORED
    assert ignored.outcome == (
        f"stale: {BOTTLE_FULFILLMENT} was reported as of 2026-01-14T16:20:00+00:00,"
        " this delivery as of 2026-01-14T16:00:00+00:00"
    )
    view = client.get_order(str(ORDER_ID))
    assert view.line(str(LINE_BOTTLE)).shipped == 0
    assert view.captured == Money.zero("USD")
    assert inbox.list_failures() == [inbox.get(cancelled)]


def test_a_success_before_the_cancellation_ships_then_the_cancellation_is_reported(
    inbox: DeliveryStore, dispatcher: Dispatcher, client: BackendClient
) -> None:
    shipped = receive(inbox, "fulfillments_create.bottle.json", "fulfillments/create", "ev-create")
    dispatcher.drain()
    assert inbox.get(shipped).status is DeliveryStatus.DONE
    # The bottle and its share of the shipping.
    assert client.get_order(str(ORDER_ID)).captured == Money.of("26.24", "USD")

    cancelled = receive(
        inbox, "fulfillments_update.bottle_cancelled.json", "fulfillments/update", "ev-cancel"
    )
    dispatcher.drain()
    failed = inbox.get(cancelled)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert (failed.last_error.code, failed.last_error.message) == (
        "fulfillment_cancelled",
        CANCELLED_MESSAGE,
    )
    view = client.get_order(str(ORDER_ID))
    assert view.line(str(LINE_BOTTLE)).shipped == 1
    assert view.captured == Money.of("26.24", "USD")


def test_a_redelivery_of_the_newest_state_is_not_stale(
    inbox: DeliveryStore, dispatcher: Dispatcher, client: BackendClient
) -> None:
    first = receive(inbox, "fulfillments_create.bottle.json", "fulfillments/create", "ev-1")
    # The same act under another event id (a second subscription): same time, not stale.
    again = receive(inbox, "fulfillments_create.bottle.json", "fulfillments/create", "ev-2")
    dispatcher.drain()
    assert [inbox.get(i).status for i in (first, again)] == [DeliveryStatus.DONE] * 2
    assert json.loads(inbox.get(again).outcome or "") == [
        f"order_shipped 9007199254741105 of order {ORDER_ID}: already applied"
    ]
    assert client.get_order(str(ORDER_ID)).line(str(LINE_BOTTLE)).shipped == 1
