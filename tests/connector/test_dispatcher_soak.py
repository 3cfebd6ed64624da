"""Two days of a connector's life on a settable clock: deliveries for an order the back end never
learns of, a refund whose shipment never comes, an observer plugin that fails at random, and a
stream of good deliveries. Every worker lives through it, and nothing is applied twice."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from dispatch_support import (
    deliver,
    make_dispatcher,
    new_order,
    order_view,
    refund,
    ship,
    unique_reference,
)
from test_dispatcher_resilience import settle_due

from passerelle.backend.client import BackendClient
from passerelle.clock import FixedClock
from passerelle.connector.dispatcher import DispatchPolicy
from passerelle.connector.store import DeliveryStatus, DeliveryStore
from passerelle.events import Envelope, OrderReturned, OrderShipped
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.orders import Effect

SIMULATED = timedelta(hours=48)
STEP = timedelta(minutes=5)
NEW_ORDER_EVERY = timedelta(minutes=45)
GOOD_ORDERS_UNTIL = timedelta(hours=30)


class Unreliable:
    """An observer plugin (say, an accounting export) that fails one call in four."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.failures = 0
        self.seen: list[tuple[str, str]] = []

    def _maybe_fail(self, kind: str, event_id: str, order: str) -> None:
        if self._random.random() < 0.25:
            self.failures += 1
            raise RuntimeError("the accounting export timed out")
        self.seen.append((order, f"{kind}:{event_id}"))

    @hookimpl
    def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
        self._maybe_fail("shipped", event.id, event.order)

    @hookimpl
    def order_returned(self, envelope: Envelope, event: OrderReturned, effect: Effect) -> None:
        self._maybe_fail("returned", event.id, event.order)


def test_two_days_with_waiting_deliveries_and_a_failing_plugin(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    observer = Unreliable(seed=20261207)
    # The lease outlasts a step of the clock: a worker still settling when the clock jumps
    # keeps its delivery, as it would in real time.
    policy = DispatchPolicy(
        workers=4, max_attempts=12, defer_for=timedelta(hours=24), lease=timedelta(hours=1)
    )
    dispatcher = make_dispatcher(store, client, clock, observer, policy=policy)
    start = clock.now()

    unknown = unique_reference("created-elsewhere")
    never_shipped = new_order(client)
    waiting = [
        deliver(store, clock, "ship", unknown, events=[ship(unknown, "F1")]),
        deliver(
            store, clock, "refund", never_shipped, events=[refund(never_shipped, "R1", "5.00")]
        ),
    ]
    good: dict[int, str] = {}  # delivery id -> order
    orders: list[str] = []
    open_ids: set[int] = set(waiting)
    next_order_at = start

    dispatcher.start()
    try:
        while clock.now() - start < SIMULATED:
            now = clock.now()
            if now - start < GOOD_ORDERS_UNTIL and now >= next_order_at:
                next_order_at = now + NEW_ORDER_EVERY
                order = new_order(client)
                orders.append(order)
                shipped = deliver(store, clock, "ship", order, events=[ship(order, "F1")])
                # The platform sends the same delivery twice, and the refund after it.
                deliver(store, clock, "ship", order, events=[ship(order, "F1")])
                refunded = deliver(
                    store, clock, "refund", order, events=[refund(order, "R1", "5.00")]
                )
                good.update({shipped: order, refunded: order})
                open_ids.update((shipped, refunded))
            settle_due(dispatcher, store, open_ids)
            open_ids = {
                i
                for i in open_ids
                if store.get(i).status not in (DeliveryStatus.DONE, DeliveryStatus.FAILED)
            }
            assert dispatcher.workers_running() == 4
            clock.advance(STEP)
    finally:
        dispatcher.stop()

    assert len(orders) == 40
    assert observer.failures > 10  # the plugin did fail, often
    assert dispatcher.restarts == 0
    for delivery_id, order in good.items():
        assert store.get(delivery_id).status is DeliveryStatus.DONE, order
    for order in orders:
        view = order_view(client, order)
        # Two mugs and shipping captured once; one refund of 5.00, once.
        assert view.captured == Money.of("30.00", "CAD")
        assert view.refunded == Money.of("5.00", "CAD")
        assert sorted((a.kind, a.id) for a in view.applied) == [
            ("order_returned", "R1"),
            ("order_shipped", "F1"),
        ]
        # The observer saw each event once, however often it failed first.
        assert sorted(e for o, e in observer.seen if o == order) == ["returned:R1", "shipped:F1"]

    for delivery_id in waiting:
        filed = store.get(delivery_id)
        assert filed.status is DeliveryStatus.FAILED
        assert filed.last_error is not None
        assert filed.last_error.message.startswith("waited 24.0 h for the event")
        assert filed.finished_at is not None
        assert _filed_after(filed.finished_at, start) == timedelta(hours=24)
    assert order_view(client, never_shipped).refunded == Money.zero("CAD")


def _filed_after(finished_at: datetime, start: datetime) -> timedelta:
    """When the delivery was filed, counted from its first try, to the clock's step."""
    steps = (finished_at - start) / STEP
    return STEP * round(steps)
