"""The dispatcher against a real sandbox: deliveries become back-end calls once, in order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from dispatch_support import (
    PLATFORM,
    STORE,
    Observer,
    deliver,
    make_dispatcher,
    new_order,
    order_view,
    refund,
    ship,
    unique_reference,
)

from passerelle.backend.client import BackendClient
from passerelle.backend.models import (
    CancellationCreate,
    CartLineItem,
    CartUpdate,
    LineQuantityItem,
    OrderCreate,
)
from passerelle.backend.retry import RetryPolicy
from passerelle.batches import CutoffPolicy, StoreCutoffs
from passerelle.clock import FixedClock
from passerelle.connector.store import DeliveryStatus, DeliveryStore, open_store
from passerelle.events import BatchFileEdited, Envelope, OrderShipped
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.orders import Effect
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 17, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock) -> Iterator[DeliveryStore]:
    with open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock) as opened:
        yield opened


def test_a_shipment_is_captured_once_and_an_overlapping_delivery_changes_nothing(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    observer = Observer()
    dispatcher = make_dispatcher(store, client, clock, observer)
    first = deliver(store, clock, "d1", order, events=[ship(order, "F1", 1)])
    # The same fulfillment again in a later, different delivery (orders/fulfilled style).
    again = deliver(store, clock, "d2", order, events=[ship(order, "F1", 1)])

    assert dispatcher.drain() == 2

    view = order_view(client, order)
    assert view.line("SKU-1").shipped == 1
    assert view.captured == Money.of("15.00", "CAD")  # 12.50 + half of the 5.00 shipping
    assert store.get(first).status is DeliveryStatus.DONE
    assert json.loads(store.get(first).outcome or "") == [
        f"order_shipped F1 of order {order}: captured 15.00 CAD; SKU-1 x1"
    ]
    assert json.loads(store.get(again).outcome or "") == [
        f"order_shipped F1 of order {order}: already applied"
    ]
    assert observer.calls == [("shipped", "F1", "15.00 CAD")]


def test_a_refund_before_its_shipment_is_deferred_then_applied(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    early = deliver(store, clock, "r1", order, events=[refund(order, "R1", "12.50")])

    dispatcher.drain()
    deferred = store.get(early)
    assert deferred.status is DeliveryStatus.PENDING
    assert deferred.deferred
    assert deferred.last_error is not None
    assert deferred.last_error.code == "not_yet_applicable"

    deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    dispatcher.drain()
    clock.advance(timedelta(seconds=10))
    dispatcher.drain()

    assert store.get(early).status is DeliveryStatus.DONE
    view = order_view(client, order)
    assert (view.line("SKU-1").shipped, view.line("SKU-1").returned) == (2, 1)
    assert view.captured == Money.of("30.00", "CAD")
    assert view.refunded == Money.of("12.50", "CAD")


def test_a_missing_event_that_never_comes_ends_in_the_action_center(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    early = deliver(store, clock, "r1", order, events=[refund(order, "R1", "5.00")])
    dispatcher.drain()
    clock.advance(timedelta(hours=2))
    dispatcher.drain()

    failed = store.get(early)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "not_yet_applicable"
    assert failed.last_error.message.startswith(
        "waited 2.0 h for the event this one depends on, which never came: "
    )
    assert order_view(client, order).refunded == Money.zero("CAD")


def test_a_rule_violation_goes_to_the_action_center_naming_the_rule(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    cancel = {
        "kind": "order_cancelled",
        "order": order,
        "id": "C1",
        "lines": [{"line": "SKU-1", "quantity": 1}],
    }
    late = deliver(store, clock, "c1", order, events=[cancel])
    dispatcher.drain()

    failed = store.get(late)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "order_already_shipped"
    assert failed.last_error.message == (
        f"cannot cancel 1 of line SKU-1 of order {order}: 2 of 2 already shipped; "
        "handle it as a return"
    )
    assert store.list_failures() == [failed]


def test_unreadable_content_and_ignored_topics(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = make_dispatcher(store, client, clock)
    bad = deliver(store, clock, "b1", "o-x", events=[{"kind": "order_shipped", "order": "o-x"}])
    ignored = deliver(store, clock, "i1", "o-y", ignore="topic customers/create is not handled")
    dispatcher.drain()

    failed = store.get(bad)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "unreadable_delivery"
    assert failed.last_error.message == "events[0].id: Field required"
    assert store.get(ignored).status is DeliveryStatus.IGNORED
    assert store.get(ignored).outcome == "topic customers/create is not handled"


def test_an_unknown_order_waits_for_checkout(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = make_dispatcher(store, client, clock)
    order = unique_reference("late")
    waiting = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    dispatcher.drain()
    assert store.get(waiting).deferred
    assert store.get(waiting).last_error is not None

    client.create_order(
        OrderCreate(
            reference=order,
            currency="CAD",
            lines=(
                CartLineItem(
                    reference="SKU-1", name="Mug", unit_price=Money.of("9.99", "CAD"), quantity=1
                ),
            ),
        )
    )
    clock.advance(timedelta(seconds=10))
    dispatcher.drain()
    assert store.get(waiting).status is DeliveryStatus.DONE
    assert order_view(client, order).captured == Money.of("9.99", "CAD")


def test_back_end_outages_are_retried_with_backoff_and_applied_once(
    sandbox: SandboxServer, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1", 1)])
    # Every answer is lost after the state changed: the worst case idempotency keys exist for.
    sandbox.state.faults.configure(Faults(lost_response_rate=1.0, limit=1))
    try:
        dispatcher.drain()
        retrying = store.get(delivery)
        assert retrying.status is DeliveryStatus.PENDING
        assert retrying.last_error is not None
        assert retrying.next_attempt_at == clock.now() + timedelta(seconds=1)
        clock.advance(timedelta(seconds=1))
        dispatcher.drain()
    finally:
        sandbox.state.faults.configure(Faults())

    assert store.get(delivery).status is DeliveryStatus.DONE
    assert store.get(delivery).attempts == 2
    view = order_view(client, order)
    assert view.line("SKU-1").shipped == 1
    assert view.captured == Money.of("15.00", "CAD")


def test_retries_exhausted_go_to_the_action_center(
    sandbox: SandboxServer, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    sandbox.state.faults.configure(Faults(error_rate=1.0))
    try:
        for _ in range(3):
            dispatcher.drain()
            clock.advance(timedelta(minutes=1))
    finally:
        sandbox.state.faults.configure(Faults())

    failed = store.get(delivery)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == 3
    assert failed.last_error is not None
    assert failed.last_error.code == "internal_error"
    assert failed.last_error.message.startswith("gave up after 3 attempts: ")
    assert order_view(client, order).captured == Money.zero("CAD")


def test_a_retry_by_hand_gets_a_fresh_attempt_budget(
    sandbox: SandboxServer, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    sandbox.state.faults.configure(Faults(error_rate=1.0))
    try:
        for _ in range(3):
            dispatcher.drain()
            clock.advance(timedelta(minutes=1))
        assert store.get(delivery).status is DeliveryStatus.FAILED
        store.requeue([delivery], note="the back end is back")
        dispatcher.drain()
        # Still failing, but retried: not sent straight back to the action center.
        assert store.get(delivery).status is DeliveryStatus.PENDING
        assert store.get(delivery).attempts == 4
    finally:
        sandbox.state.faults.configure(Faults())
    clock.advance(timedelta(minutes=1))
    dispatcher.drain()
    assert store.get(delivery).status is DeliveryStatus.DONE


def test_a_retry_by_hand_is_judged_anew_by_the_back_end_and_applies_once(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    deliver(store, clock, "s1", order, events=[ship(order, "F1", 1)])
    dispatcher.drain()
    # Someone cancels the other mug in the back office; the connector does not know it yet.
    client.cancel(
        order,
        CancellationCreate(
            event_id="C-office", lines=(LineQuantityItem(line="SKU-1", quantity=1),)
        ),
    )
    second = deliver(store, clock, "s2", order, events=[ship(order, "F2", 1)])
    dispatcher.drain()
    refused = store.get(second)
    assert refused.status is DeliveryStatus.FAILED
    assert refused.last_error is not None
    refused_code = refused.last_error.code

    # Retried by hand unchanged: the back end keeps its answer to the first key, but this is a
    # new decision, under a new key. Still refused, for the same reason.
    store.requeue([second], note="try again")
    dispatcher.drain()
    again = store.get(second)
    assert again.status is DeliveryStatus.FAILED
    assert again.last_error is not None
    assert again.last_error.code == refused_code

    # The back office restores the mug to the cart; the next retry by hand ships it, once.
    client.update_cart(
        order,
        CartUpdate(
            event_id="E-office",
            cart=(
                CartLineItem(
                    reference="SKU-1", name="Mug", unit_price=Money.of("12.50", "CAD"), quantity=1
                ),
            ),
        ),
    )
    store.requeue([second], note="the mug is back in the cart")
    dispatcher.drain()
    assert store.get(second).status is DeliveryStatus.DONE
    view = order_view(client, order)
    shipped = {line.reference: line.shipped for line in view.lines}
    assert shipped["SKU-1"] == 2
    assert ("order_shipped", "F2") in {(a.kind, a.id) for a in view.applied}

    # A replay of what is done changes nothing: each shipment applies once.
    captured = view.captured
    store.requeue_for_replay(ordering_key=order)
    dispatcher.drain()
    assert order_view(client, order).captured == captured


def test_an_observer_failure_is_visible_and_its_retry_reaches_the_observer_once(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    observer = Observer(fail=True)
    dispatcher = make_dispatcher(store, client, clock, observer)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    dispatcher.drain()

    # An observer's bug may pass (a redeploy): the delivery is retried with backoff first.
    waiting = store.get(delivery)
    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.last_error is not None
    assert waiting.last_error.code == "internal_error"
    for _ in range(2):
        clock.advance(timedelta(minutes=1))
        dispatcher.drain()

    failed = store.get(delivery)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "internal_error"
    assert failed.last_error.message == (
        "gave up after 3 attempts: RuntimeError: the accounting export is down"
    )

    observer.fail = False
    store.requeue([delivery], note="export fixed")
    dispatcher.drain()
    assert store.get(delivery).status is DeliveryStatus.DONE
    # The back end captured on the first attempt; the retry replayed its answer, once, and the
    # observer got the event it missed.
    assert order_view(client, order).captured == Money.of("30.00", "CAD")
    assert observer.calls == [("shipped", "F1", "30.00 CAD")]


def test_worker_threads_dispatch_what_arrives(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    orders = [new_order(client, quantity=1) for _ in range(4)]
    dispatcher = make_dispatcher(store, client, clock)
    ids = [deliver(store, clock, f"s-{o}", o, events=[ship(o, "F1")]) for o in orders]
    dispatcher.start()
    try:
        dispatcher.wake()
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while datetime.now(UTC) < deadline:
            if all(store.get(i).status is DeliveryStatus.DONE for i in ids):
                break
            dispatcher.wake()
    finally:
        dispatcher.stop()
    assert [store.get(i).status for i in ids] == [DeliveryStatus.DONE] * 4
    assert all(order_view(client, o).status.value == "shipped" for o in orders)


def test_back_end_outages_back_off_more_with_every_attempt(
    sandbox: SandboxServer, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    dispatcher.policy = replace(dispatcher.policy, max_attempts=6)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    waits = []
    sandbox.state.faults.configure(Faults(error_rate=1.0))
    try:
        for _ in range(5):
            dispatcher.drain()
            due = store.get(delivery).next_attempt_at
            waits.append((due - clock.now()).total_seconds())
            clock.set(due)
    finally:
        sandbox.state.faults.configure(Faults())

    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    dispatcher.drain()
    assert store.get(delivery).status is DeliveryStatus.DONE


def test_a_retry_after_sets_the_next_attempt_and_the_backoff_resumes_without_one(
    sandbox: SandboxServer, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    sandbox.state.faults.configure(Faults(throttle_rate=1.0, retry_after=20, limit=1))
    try:
        dispatcher.drain()
        throttled = store.get(delivery)
        assert throttled.last_error is not None
        assert throttled.next_attempt_at == clock.now() + timedelta(seconds=20)
        clock.set(throttled.next_attempt_at)
        sandbox.state.faults.configure(Faults(error_rate=1.0, limit=1))
        dispatcher.drain()
        assert store.get(delivery).next_attempt_at == clock.now() + timedelta(seconds=2)
    finally:
        sandbox.state.faults.configure(Faults())


def test_a_retry_after_beyond_the_clients_total_timeout_is_waited_for_by_the_dispatcher(
    sandbox: SandboxServer, store: DeliveryStore, clock: FixedClock
) -> None:
    # A client that retries, but whose calls may not last 20 s: it gives up at once.
    with BackendClient(
        sandbox.url,
        DEFAULT_TOKEN,
        DEFAULT_MERCHANT,
        retry=RetryPolicy(max_attempts=3),
        total_timeout=5,
    ) as patient:
        order = new_order(patient)
        dispatcher = make_dispatcher(store, patient, clock)
        delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
        sandbox.state.faults.configure(Faults(throttle_rate=1.0, retry_after=20, limit=1))
        try:
            began = time.monotonic()
            dispatcher.drain()
            assert time.monotonic() - began < 5
        finally:
            sandbox.state.faults.configure(Faults())
        throttled = store.get(delivery)
        assert throttled.status is DeliveryStatus.PENDING
        assert throttled.next_attempt_at == clock.now() + timedelta(seconds=20)
        clock.set(throttled.next_attempt_at)
        dispatcher.drain()
        assert store.get(delivery).status is DeliveryStatus.DONE


def test_a_slow_delivery_keeps_its_lease_while_it_is_worked_on(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    lease = timedelta(milliseconds=300)
    intruders: list[int] = []

    class Slow:
        @hookimpl
        def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
            # Three leases go by while the back end is slow; the keeper renews every third.
            for _ in range(3):
                clock.advance(lease)
                time.sleep(lease.total_seconds())
            intruders.extend(c.id for c in store.claim("intruder", limit=5, lease=lease))

    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock, Slow())
    dispatcher.policy = replace(dispatcher.policy, lease=lease)
    delivery = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    try:
        dispatcher.drain()
    finally:
        dispatcher.stop()

    assert intruders == []
    done = store.get(delivery)
    assert done.status is DeliveryStatus.DONE
    assert done.attempts == 1


def test_the_wait_for_a_missing_event_counts_from_the_first_deferral(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    # Received two days ago (say, replayed after a plugin fix): the wait starts now.
    received = clock.now()
    clock.advance(timedelta(days=2))
    early = deliver(store, FixedClock(received), "r1", order, events=[refund(order, "R1", "5")])
    dispatcher.drain()
    assert store.get(early).deferred

    clock.advance(timedelta(minutes=90))
    dispatcher.drain()
    failed = store.get(early)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.message.startswith("waited 1.5 h for the event this one depends on")


def test_a_platform_api_asking_to_retry_after_is_waited_for(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    api = "https://shop-1.platform.example/admin/orders/1.json"
    delivery = deliver(store, clock, "e1", order, fetch=api, events=[ship(order, "F1")])
    with respx.mock(assert_all_called=True) as platform_api:
        platform_api.route(host="127.0.0.1").pass_through()
        platform_api.get(api).mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "25"}), httpx.Response(200)]
        )
        dispatcher.drain()
        throttled = store.get(delivery)
        assert throttled.last_error is not None
        assert throttled.last_error.code == "platform_unavailable"
        assert throttled.next_attempt_at == clock.now() + timedelta(seconds=25)
        clock.set(throttled.next_attempt_at)
        dispatcher.drain()

    assert store.get(delivery).status is DeliveryStatus.DONE


@pytest.mark.parametrize(("retry_after", "wait"), [("20", 20.0), ("", None)])
def test_a_platform_unavailable_error_is_retried_with_its_retry_after(
    store: DeliveryStore,
    client: BackendClient,
    clock: FixedClock,
    retry_after: str,
    wait: float | None,
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    delivery = deliver(store, clock, "u1", order, unavailable=retry_after)

    dispatcher.drain()

    waiting = store.get(delivery)
    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.last_error is not None
    assert waiting.last_error.code == "platform_unavailable"
    assert waiting.last_error.message == "the API is down for maintenance"
    assert waiting.next_attempt_at is not None
    if wait is not None:
        assert waiting.next_attempt_at == clock.now() + timedelta(seconds=wait)
    else:
        assert waiting.next_attempt_at > clock.now()


def test_a_delivery_reporting_an_older_state_is_ignored_as_stale(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client, quantity=3)
    dispatcher = make_dispatcher(store, client, clock)
    subject = f"fulfillment:{order}-F"

    def version(as_of: str) -> dict[str, str]:
        return {"subject": subject, "as_of": as_of}

    newest = deliver(
        store,
        clock,
        "v1",
        order,
        version=version("2026-03-02T10:00:00+00:00"),
        events=[ship(order, "F1", 1)],
    )
    # Same instant as 09:00 UTC, in another time zone.
    older = deliver(
        store,
        clock,
        "v0",
        order,
        version=version("2026-03-02T04:00:00-05:00"),
        events=[ship(order, "F0", 1)],
    )
    same = deliver(
        store,
        clock,
        "v1-again",
        order,
        version=version("2026-03-02T10:00:00+00:00"),
        events=[ship(order, "F2", 1)],
    )
    dispatcher.drain()

    assert store.get(newest).status is DeliveryStatus.DONE
    stale = store.get(older)
    assert stale.status is DeliveryStatus.IGNORED
    assert stale.outcome == (
        f"stale: {subject} was reported as of 2026-03-02T10:00:00+00:00,"
        " this delivery as of 2026-03-02T09:00:00+00:00"
    )
    # An equal time is not stale: a redelivery of the newest state goes through.
    assert store.get(same).status is DeliveryStatus.DONE
    assert order_view(client, order).line("SKU-1").shipped == 2


def test_a_version_that_cannot_be_read_makes_the_delivery_unreadable(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    order = new_order(client)
    dispatcher = make_dispatcher(store, client, clock)
    naive = {"subject": f"fulfillment:{order}-F", "as_of": "2026-03-02T10:00:00"}
    delivery = deliver(store, clock, "v1", order, version=naive, events=[ship(order, "F1", 1)])
    dispatcher.drain()

    failed = store.get(delivery)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "unreadable_delivery"
    assert failed.last_error.message == (
        "version: ValueError: version as_of must be a time-zone aware datetime"
    )
    assert order_view(client, order).line("SKU-1").shipped == 0


class BatchObserver:
    """An observer plugin recording the batch edits it sees."""

    def __init__(self) -> None:
        self.batches: list[str] = []

    @hookimpl
    def batch_file_edited(self, envelope: Envelope, event: BatchFileEdited) -> None:
        self.batches.append(event.batch)


def batch_edit(batch: str, changes: list[dict[str, Any]], on: str | None) -> dict[str, Any]:
    edit: dict[str, Any] = {"kind": "batch_file_edited", "batch": batch, "changes": changes}
    if on is not None:
        edit["processing_date"] = on
    return edit


# The clock reads 2026-03-02 17:00 UTC: 09:00 in Vancouver, 12:00 in Toronto.
@pytest.mark.parametrize(
    ("cutoff", "changes", "on", "outcome"),
    [
        (CutoffPolicy(), [{"change": "deleted"}], "2026-03-02", "done"),
        (
            CutoffPolicy(time=time_of_day(8, 0)),
            [{"change": "deleted"}],
            "2026-03-02",
            "batch B-7 for 2026-03-02 is past its cutoff 2026-03-02 08:00 PST"
            " (America/Vancouver) (now 2026-03-02 09:00:00 PST): it can no longer be changed",
        ),
        (
            CutoffPolicy(zone="America/Toronto"),
            [{"change": "deleted"}],
            "2026-03-02",
            "batch B-7 for 2026-03-02 is past its cutoff 2026-03-02 11:00 EST"
            " (America/Toronto) (now 2026-03-02 12:00:00 EST): it can no longer be changed",
        ),
        # The date comes from the rescheduling when the event does not give it.
        (
            CutoffPolicy(time=time_of_day(8, 0)),
            [{"change": "rescheduled", "previous": "2026-03-02", "processing_date": "2026-03-04"}],
            None,
            "batch B-7 for 2026-03-02 is past its cutoff 2026-03-02 08:00 PST"
            " (America/Vancouver) (now 2026-03-02 09:00:00 PST): it can no longer be changed",
        ),
        (
            CutoffPolicy(time=time_of_day(8, 0)),
            [{"change": "rescheduled", "previous": "2026-03-03", "processing_date": "2026-03-02"}],
            None,
            "batch B-7 for 2026-03-03 cannot be rescheduled to 2026-03-02: that date's cutoff"
            " 2026-03-02 08:00 PST (America/Vancouver) has passed (now 2026-03-02 09:00:00 PST)",
        ),
        (CutoffPolicy(time=time_of_day(8, 0)), [{"change": "deleted"}], "2026-03-03", "done"),
    ],
)
def test_a_batch_edit_past_the_configured_cutoff_goes_to_the_action_center_before_any_hook(
    store: DeliveryStore,
    client: BackendClient,
    clock: FixedClock,
    cutoff: CutoffPolicy,
    changes: list[dict[str, Any]],
    on: str | None,
    outcome: str,
) -> None:
    observer = BatchObserver()
    dispatcher = make_dispatcher(store, client, clock, observer)
    dispatcher.policy = replace(dispatcher.policy, cutoffs=StoreCutoffs(default=cutoff))
    delivery = deliver(store, clock, "b1", "batch-B-7", events=[batch_edit("B-7", changes, on)])
    dispatcher.drain()

    settled = store.get(delivery)
    if outcome == "done":
        assert settled.status is DeliveryStatus.DONE
        assert observer.batches == ["B-7"]
        return
    assert settled.status is DeliveryStatus.FAILED
    assert settled.last_error is not None
    assert (settled.last_error.code, settled.last_error.message) == ("batch_past_cutoff", outcome)
    assert observer.batches == []


@pytest.mark.parametrize(
    ("own", "outcome"),
    [
        (CutoffPolicy(time=time_of_day(8, 0)), "failed"),
        (CutoffPolicy(time=time_of_day(10, 0)), "done"),
    ],
)
def test_a_store_s_own_cutoff_stands_in_place_of_the_default(
    store: DeliveryStore,
    client: BackendClient,
    clock: FixedClock,
    own: CutoffPolicy,
    outcome: str,
) -> None:
    # 09:00 in Vancouver: the default (11:00) allows the edit; the store's own cutoff decides.
    observer = BatchObserver()
    dispatcher = make_dispatcher(store, client, clock, observer)
    cutoffs = StoreCutoffs(stores={(PLATFORM, STORE): own, (PLATFORM, "other"): CutoffPolicy()})
    dispatcher.policy = replace(dispatcher.policy, cutoffs=cutoffs)
    delivery = deliver(
        store,
        clock,
        "b1",
        "batch-B-9",
        events=[batch_edit("B-9", [{"change": "deleted"}], "2026-03-02")],
    )
    dispatcher.drain()

    assert store.get(delivery).status.value == outcome
    assert observer.batches == ([] if outcome == "failed" else ["B-9"])


def test_a_batch_edit_that_names_no_date_is_left_to_the_back_end(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    observer = BatchObserver()
    dispatcher = make_dispatcher(store, client, clock, observer)
    dispatcher.policy = replace(
        dispatcher.policy, cutoffs=StoreCutoffs(default=CutoffPolicy(time=time_of_day(0, 0)))
    )
    delivery = deliver(
        store, clock, "b1", "batch-B-8", events=[batch_edit("B-8", [{"change": "deleted"}], None)]
    )
    dispatcher.drain()

    assert store.get(delivery).status is DeliveryStatus.DONE
    assert observer.batches == ["B-8"]


class Wraps:
    """An observer that wraps the hook call and one that asks to run first: neither may run
    before the back end accepted the event."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def order_shipped(self, event: OrderShipped) -> Iterator[None]:
        self.seen.append(f"wrapper before {event.id}")
        yield
        self.seen.append(f"wrapper after {event.id}")


class First:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @hookimpl(tryfirst=True)
    def order_shipped(self, event: OrderShipped) -> None:
        self.seen.append(f"first {event.id}")


def test_observers_see_nothing_the_back_end_refused_whatever_hooks_they_implement(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    wraps = Wraps()
    dispatcher = make_dispatcher(store, client, clock, wraps, First(wraps.seen))
    order = new_order(client)
    accepted = deliver(store, clock, "s1", order, events=[ship(order, "F1", quantity=1)])
    dispatcher.drain()
    assert store.get(accepted).status is DeliveryStatus.DONE
    assert wraps.seen == ["wrapper before F1", "first F1", "wrapper after F1"]

    # The back end's ledger moves on behind the mirror's back: the rest is cancelled by hand,
    # so the back end refuses the next shipment the mirror still allows.
    client.cancel(order, CancellationCreate(event_id="C-by-hand"))
    refused = deliver(store, clock, "s2", order, events=[ship(order, "F2", quantity=1)])
    dispatcher.drain()
    failed = store.get(refused)
    assert failed.status is DeliveryStatus.FAILED
    assert wraps.seen == ["wrapper before F1", "first F1", "wrapper after F1"]
