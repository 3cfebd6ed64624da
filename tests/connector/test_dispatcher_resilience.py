"""No exception ends a dispatcher worker: deliveries that wait for days, plugins that raise or
exit, and a store that goes away leave every worker running and every delivery settled once."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import pytest
from dispatch_support import deliver, make_dispatcher, new_order, order_view, ship, unique_reference

from passerelle.backend.client import BackendClient
from passerelle.backend.retry import RetryPolicy, no_jitter
from passerelle.clock import FixedClock
from passerelle.connector.dispatcher import Dispatcher, DispatchPolicy
from passerelle.connector.store import (
    AttemptResult,
    DeliveryStatus,
    DeliveryStore,
    StoreUnavailableError,
)
from passerelle.events import Envelope, OrderShipped
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.orders import Effect


def settle_due(dispatcher: Dispatcher, store: DeliveryStore, ids: Iterable[int]) -> None:
    """Wait until the running workers settled every delivery due now: no worker is busy and
    nothing is left to claim, twice in a row (what they have not picked up yet is dispatched
    inline). `ids` are the deliveries to watch."""
    ids = list(ids)
    deadline = time.monotonic() + 20

    def idle() -> bool:
        return dispatcher.in_flight == 0 and not any(
            store.get(i).status is DeliveryStatus.PROCESSING for i in ids
        )

    quiet = 0
    while quiet < 2:
        dispatcher.wake()
        while not idle():
            assert time.monotonic() < deadline, "the workers stopped settling deliveries"
            time.sleep(0.002)
        quiet = quiet + 1 if dispatcher.run_once("test-inline", limit=1) == 0 else 0
        assert time.monotonic() < deadline, "deliveries keep coming due"


def run_rounds(
    dispatcher: Dispatcher,
    store: DeliveryStore,
    clock: FixedClock,
    ids: Iterable[int],
    *,
    step: timedelta,
    until: Callable[[], bool],
    rounds: int,
) -> int:
    """Let the running workers settle what is due, move the clock by `step`, and again, until
    `until()` or `rounds` rounds; return the rounds run."""
    ids = list(ids)
    for n in range(rounds):
        settle_due(dispatcher, store, ids)
        if until():
            return n
        clock.advance(step)
    return rounds


def test_a_delivery_for_an_unknown_order_waits_out_defer_for_with_every_worker_alive(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    # The defaults: a 5 s first wait doubling to 300 s, filed after 24 h. The 45th deferral,
    # about 3 h in, once overflowed the wait's arithmetic and killed each worker in turn. (The
    # lease outlasts a step of the clock: a worker still settling when the clock jumps keeps its
    # delivery, as one would in real time.)
    policy = DispatchPolicy(workers=4, lease=timedelta(hours=1))
    dispatcher = make_dispatcher(store, client, clock, policy=policy)
    unknown = unique_reference("created-elsewhere")
    waiting = deliver(store, clock, "s1", unknown, events=[ship(unknown, "F1")])
    first_try = clock.now()
    dispatcher.start()
    try:
        run_rounds(
            dispatcher,
            store,
            clock,
            [waiting],
            step=timedelta(seconds=300),
            until=lambda: store.get(waiting).status is DeliveryStatus.FAILED,
            rounds=400,
        )
        assert dispatcher.workers_running() == 4
    finally:
        dispatcher.stop()

    filed = store.get(waiting)
    assert filed.status is DeliveryStatus.FAILED
    times = [a.started_at for a in store.attempts(waiting)]
    # Tried every 5 minutes once the wait reached its cap, not a round missed.
    assert {b - a for a, b in itertools.pairwise(times[10:])} == {timedelta(seconds=300)}
    assert filed.attempts > 280
    assert filed.last_error is not None
    assert filed.last_error.code == "unknown_order"
    assert filed.last_error.message.startswith("waited 24.0 h for the event this one depends on")
    # Filed when the day is up, not a backoff later.
    assert filed.finished_at is not None
    assert timedelta(hours=24) <= filed.finished_at - first_try < timedelta(hours=24, seconds=301)
    assert dispatcher.restarts == 0


class Exits:
    """An observer plugin that ends the thread it runs on, as a plugin calling sys.exit does,
    on every shipment of the orders it is given (of every order without)."""

    def __init__(self, *orders: str) -> None:
        self.orders = set(orders)
        self.calls = 0

    @hookimpl
    def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
        if self.orders and event.order not in self.orders:
            return
        self.calls += 1
        raise SystemExit("the plugin gave up")


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# The worker's thread ends on purpose: the exception it ends with is the point.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_dies_is_restarted_and_readiness_counts_it_while_down(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    policy = DispatchPolicy(workers=2, supervise_every=3600)
    exits = Exits()
    dispatcher = make_dispatcher(store, client, clock, exits, policy=policy)
    order = new_order(client)
    deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    dispatcher.start()
    try:
        dispatcher.wake()
        wait_for(lambda: dispatcher.workers_running() == 1)
        assert exits.calls == 1
        assert dispatcher.supervise() == 1
        assert dispatcher.workers_running() == 2
        assert dispatcher.restarts == 1
    finally:
        dispatcher.stop()


# The worker's thread ends on purpose: the exception it ends with is the point.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_poison_delivery_is_quarantined_and_the_others_go_on(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    policy = DispatchPolicy(workers=2, supervise_every=0.01, lease=timedelta(minutes=2))
    poison_order, good_order = new_order(client), new_order(client)
    exits = Exits(poison_order)
    dispatcher = make_dispatcher(store, client, clock, exits, policy=policy)
    poison = deliver(store, clock, "s1", poison_order, events=[ship(poison_order, "F1")])
    dispatcher.start()
    try:
        for death in range(1, 4):
            dispatcher.wake()
            wait_for(lambda death=death: exits.calls == death and dispatcher.restarts == death)
            wait_for(lambda: dispatcher.workers_running() == 2)
            # The worker died holding the claim: the delivery comes round when its lease ends.
            clock.advance(timedelta(minutes=2, seconds=1))
        dispatcher.wake()
        wait_for(lambda: store.get(poison).status is DeliveryStatus.FAILED)
        good = deliver(store, clock, "s1", good_order, events=[ship(good_order, "F1")])
        dispatcher.wake()
        wait_for(lambda: store.get(good).status is DeliveryStatus.DONE)
        assert dispatcher.workers_running() == 2
    finally:
        dispatcher.stop()

    quarantined = store.get(poison)
    assert quarantined.last_error is not None
    assert quarantined.last_error.code == "quarantined"
    assert "the last 3 attempts ended abnormally" in quarantined.last_error.message
    results = [attempt.result for attempt in store.attempts(poison)]
    assert results == [AttemptResult.LEASE_EXPIRED] * 3 + [AttemptResult.FAILED]
    assert exits.calls == 3  # the quarantine itself runs no hook

    # Retried by hand, it gets a fresh budget: it is tried again, not quarantined at once.
    exits.orders = {"no such order"}
    store.requeue([poison], note="the plugin is fixed")
    dispatcher.drain()
    assert store.get(poison).status is DeliveryStatus.DONE
    assert order_view(client, poison_order).captured == Money.of("30.00", "CAD")


class FlakyStore:
    """Makes the chosen methods of a store raise `StoreUnavailableError` while `down` is set,
    counting the calls refused."""

    def __init__(self, store: DeliveryStore, *methods: str) -> None:
        self.down = threading.Event()
        self.refused = 0
        for name in methods:
            real = getattr(store, name)
            setattr(store, name, self._flaky(real))

    def _flaky(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down.is_set():
                self.refused += 1
                raise StoreUnavailableError("the disk is full")
            return real(*args, **kwargs)

        return call


class TakesTheStoreDown:
    """An observer plugin during whose call the store goes down (once armed): the worker then
    holds a delivery the back end has accepted and cannot settle it."""

    def __init__(self, flaky: FlakyStore) -> None:
        self.flaky = flaky
        self.armed = threading.Event()

    @hookimpl
    def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
        if self.armed.is_set():
            self.flaky.down.set()


def test_a_store_outage_while_settling_is_waited_out_and_the_delivery_settled_once(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    flaky = FlakyStore(
        store, "claim", "complete", "retry_later", "defer", "fail", "extend", "notes", "attempts"
    )
    outage = TakesTheStoreDown(flaky)
    policy = DispatchPolicy(workers=3, store_wait=timedelta(seconds=0.05))
    dispatcher = make_dispatcher(store, client, clock, outage, policy=policy)
    orders = [new_order(client, quantity=1) for _ in range(3)]
    ids = [deliver(store, clock, "s1", o, events=[ship(o, "F1")]) for o in orders]
    flaky.down.set()
    dispatcher.start()
    try:
        # Down before any claim: the workers wait for the store, and then work.
        dispatcher.wake()
        wait_for(lambda: flaky.refused > 20)
        assert dispatcher.workers_running() == 3
        flaky.down.clear()
        wait_for(lambda: all(store.get(i).status is DeliveryStatus.DONE for i in ids))

        # Down while a worker holds a delivery the back end accepted: it keeps it until the
        # store is back, then settles it, once.
        outage.armed.set()
        late_order = new_order(client, quantity=1)
        late = deliver(store, clock, "s1", late_order, events=[ship(late_order, "F1")])
        dispatcher.wake()
        wait_for(flaky.down.is_set)
        refused = flaky.refused
        wait_for(lambda: flaky.refused > refused + 10)
        assert store.get(late).status is DeliveryStatus.PROCESSING
        assert dispatcher.workers_running() == 3
        outage.armed.clear()
        flaky.down.clear()
        wait_for(lambda: store.get(late).status is DeliveryStatus.DONE)
        assert dispatcher.workers_running() == 3
    finally:
        dispatcher.stop()
    for reference in [*orders, late_order]:
        # Captured once: 12.50 and 5.00 of shipping.
        assert order_view(client, reference).captured == Money.of("17.50", "CAD")
    for delivery in [*ids, late]:
        assert [a.result for a in store.attempts(delivery)] == [AttemptResult.DONE]


def test_worker_ids_name_the_host_and_the_process(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = make_dispatcher(store, client, clock, policy=DispatchPolicy(workers=1))
    order = new_order(client)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    dispatcher.start()
    try:
        dispatcher.wake()
        wait_for(lambda: store.get(delivery).status is DeliveryStatus.DONE)
    finally:
        dispatcher.stop()
    (attempt,) = store.attempts(delivery)
    assert attempt.worker_id == f"{socket.gethostname()}:{os.getpid()}:dispatcher-0"


def test_an_unexpected_error_is_retried_with_backoff_then_filed_as_internal_error(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    policy = DispatchPolicy(
        workers=1,
        max_attempts=3,
        backoff=RetryPolicy(initial_delay=1.0, max_delay=30.0, jitter=no_jitter),
    )
    dispatcher = make_dispatcher(store, client, clock, policy=policy)
    order = new_order(client)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    dispatcher._process = broken  # type: ignore[method-assign]
    waits = []
    for _ in range(3):
        dispatcher.drain()
        current = store.get(delivery)
        if current.status is DeliveryStatus.PENDING:
            waits.append(current.next_attempt_at - clock.now())
            clock.advance(current.next_attempt_at - clock.now())
    assert waits == [timedelta(seconds=1), timedelta(seconds=2)]
    filed = store.get(delivery)
    assert filed.status is DeliveryStatus.FAILED
    assert filed.last_error is not None
    assert filed.last_error.code == "internal_error"
    assert (
        filed.last_error.message == "gave up after 3 attempts: ZeroDivisionError: division by zero"
    )


@pytest.mark.parametrize("attempt", [1, 45, 1_000, 10**6])
def test_the_defer_wait_is_bounded_at_any_attempt(attempt: int) -> None:
    policy = DispatchPolicy()
    wait = policy.defer_wait(attempt, timedelta(hours=3))
    assert timedelta(0) < wait <= timedelta(seconds=policy.backoff.max_delay)
