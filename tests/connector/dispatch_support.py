"""What the dispatcher tests share: the sandbox's demo orders, deliveries of the test platform,
an observer plugin, and a dispatcher wired to the sandbox as `passerelle serve` wires it."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from testplatform import PLATFORM, TestPlatform

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, OrderCreate, OrderView
from passerelle.backend.retry import RetryPolicy, no_jitter
from passerelle.clock import Clock
from passerelle.connector.dispatcher import Dispatcher, DispatchPolicy
from passerelle.connector.store import DeliveryStore, NewDelivery
from passerelle.events import Envelope, LineType, OrderShipped
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.orders import Effect
from passerelle.platforms import Platform, Store
from passerelle.plugins import Plugins

TEST_POLICY = DispatchPolicy(
    workers=2,
    max_attempts=3,
    backoff=RetryPolicy(initial_delay=1.0, max_delay=30.0, jitter=no_jitter),
    defer_for=timedelta(hours=1),
)

SECRET = "s3cret-for-tests"
STORE = "shop-1"
_orders = itertools.count(1)


class Observer:
    """An observer plugin recording the lifecycle calls it sees."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail = fail

    @hookimpl
    def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
        if self.fail:
            raise RuntimeError("the accounting export is down")
        self.calls.append(("shipped", event.id, str(effect.amount)))


def make_dispatcher(
    store: DeliveryStore,
    client: BackendClient,
    clock: Clock,
    *observers: object,
    policy: DispatchPolicy | None = None,
    platform: Platform | None = None,
    store_id: str = STORE,
) -> Dispatcher:
    """A dispatcher of the test platform's deliveries (or `platform`'s, for store `store_id`)."""
    plugins = Plugins()
    for n, observer in enumerate(observers):
        plugins.register(observer, f"observer-{n}")
    if platform is None:
        platform = TestPlatform()
    return Dispatcher(
        store=store,
        platforms={platform.name: platform},
        stores={(platform.name, store_id): Store(platform.name, store_id, (SecretStr(SECRET),))},
        plugins=plugins,
        backend=client,
        http=httpx.Client(),
        policy=policy or TEST_POLICY,
        clock=clock,
    )


def unique_reference(prefix: str) -> str:
    """An order reference no earlier run used: the sandbox outlives one test."""
    return f"{prefix}-{next(_orders)}-{datetime.now(UTC).timestamp():.0f}"


def new_order(client: BackendClient, *, quantity: int = 2) -> str:
    reference = unique_reference("ord")
    client.create_order(
        OrderCreate(
            reference=reference,
            currency="CAD",
            lines=(
                CartLineItem(
                    reference="SKU-1",
                    name="Mug",
                    unit_price=Money.of("12.50", "CAD"),
                    quantity=quantity,
                ),
                CartLineItem(
                    reference="SHIP",
                    name="Shipping",
                    type=LineType.HANDLING,
                    unit_price=Money.of("5.00", "CAD"),
                    quantity=1,
                ),
            ),
        )
    )
    return reference


def deliver(store: DeliveryStore, clock: Clock, key: str, order: str, **content: Any) -> int:
    body = json.dumps({"order": order, **content}).encode()
    result = store.append(
        NewDelivery(
            platform=PLATFORM,
            store=STORE,
            # Delivery keys are unique per store, and the sandbox outlives one test.
            delivery_key=f"{order}:{key}",
            ordering_key=order,
            headers=(("Content-Type", "application/json"),),
            body=body,
            received_at=clock.now(),
        )
    )
    return result.id


def ship(order: str, id: str, quantity: int | None = None) -> dict[str, Any]:
    lines = None if quantity is None else [{"line": "SKU-1", "quantity": quantity}]
    return {"kind": "order_shipped", "order": order, "id": id, "lines": lines}


def refund(order: str, id: str, amount: str, quantity: int = 1) -> dict[str, Any]:
    return {
        "kind": "order_returned",
        "order": order,
        "id": id,
        "lines": [{"line": "SKU-1", "quantity": quantity}],
        "refund": {"amount": amount, "currency": "CAD"},
    }


def order_view(client: BackendClient, reference: str) -> OrderView:
    return client.get_order(reference)
