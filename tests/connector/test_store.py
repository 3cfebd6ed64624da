"""The delivery store's contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import random
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.clock import FixedClock
from passerelle.connector.store import (
    AppendResult,
    Attempt,
    AttemptResult,
    Backlog,
    Claim,
    DeliveryNotFoundError,
    DeliveryStateError,
    DeliveryStatus,
    DeliveryStore,
    ErrorInfo,
    LeaseLostError,
    NewDelivery,
    Note,
    NoteAction,
    StoreClosedError,
    StoreError,
    open_store,
)
from passerelle.connector.store.migrations import migrations
from passerelle.connector.store.sqlite import SQLiteStore
from passerelle.platforms import WebhookRequest

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
UNAVAILABLE = ErrorInfo("backend_unavailable", "the payment back end answered 503")
NOT_YET = ErrorInfo("not_shipped", "order A: line 1 is refunded before it was shipped")
UNKNOWN_ORDER = ErrorInfo("order_not_found", "order A is unknown to the back end")

_keys = itertools.count(1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def new(
    ordering_key: str | None = None,
    *,
    key: str | None = None,
    platform: str = "shopify",
    store: str = "shop-1",
    body: bytes = b'{"id": 1}',
    at: datetime = START,
) -> NewDelivery:
    return NewDelivery(
        platform=platform,
        store=store,
        delivery_key=key or f"delivery-{next(_keys)}",
        ordering_key=ordering_key,
        headers=(("Content-Type", "application/json"),),
        body=body,
        received_at=at,
    )


def add(store: DeliveryStore, *ordering_keys: str | None) -> list[int]:
    return [store.append(new(key)).id for key in ordering_keys]


def claim(store: DeliveryStore, worker: str = "worker-1", limit: int = 10) -> list[Claim]:
    return store.claim(worker, limit=limit, lease=LEASE)


def ids(claims: Iterable[Claim]) -> list[int]:
    return [c.id for c in claims]


def statuses(store: DeliveryStore, delivery_ids: Iterable[int]) -> list[DeliveryStatus]:
    return [store.get(i).status for i in delivery_ids]


# -- the inbox -------------------------------------------------------------------------------


def test_append_stores_the_delivery_as_received(store: DeliveryStore) -> None:
    headers = (
        ("X-Shopify-Topic", "orders/fulfilled"),
        ("Content-Type", "application/json"),
        ("x-shopify-topic", "second value, same name"),
    )
    body = b'{"id": 450789469, "note": "caf\xc3\xa9"}\xff'
    result = store.append(
        NewDelivery(
            platform="shopify",
            store="shop-1",
            delivery_key="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ordering_key="450789469",
            headers=headers,
            body=body,
            received_at=START,
        )
    )

    assert result == AppendResult(id=result.id, duplicate=False)
    stored = store.get(result.id)
    assert (stored.platform, stored.store, stored.delivery_key, stored.ordering_key) == (
        "shopify",
        "shop-1",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "450789469",
    )
    assert stored.headers == headers
    assert stored.body == body
    assert stored.received_at == START
    assert stored.status is DeliveryStatus.PENDING
    assert (stored.attempts, stored.deferred, stored.next_attempt_at) == (0, False, START)
    assert (stored.last_error, stored.outcome, stored.claimed_by) == (None, None, None)


def test_a_duplicate_delivery_is_stored_once(store: DeliveryStore) -> None:
    first = store.append(new("A", key="k-1", body=b"first"))
    again = store.append(new("A", key="k-1", body=b"second"))
    other_store = store.append(new("A", key="k-1", store="shop-2"))
    other_platform = store.append(new("A", key="k-1", platform="woocommerce"))

    assert again == AppendResult(id=first.id, duplicate=True)
    assert store.get(first.id).body == b"first"
    assert len({first.id, other_store.id, other_platform.id}) == 3
    assert store.stats()[DeliveryStatus.PENDING] == 3


@pytest.mark.anyio
async def test_append_async_stores_once_like_append(store: DeliveryStore) -> None:
    first = await store.append_async(new("A", key="k-1", body=b"first"))
    again = await store.append_async(new("A", key="k-1", body=b"second"))

    assert first.duplicate is False
    assert again == AppendResult(id=first.id, duplicate=True)
    assert store.get(first.id).body == b"first"


def test_a_delivery_round_trips_the_request_byte_for_byte(store: DeliveryStore) -> None:
    request = WebhookRequest(
        platform="shopify",
        store="shop-1",
        headers=httpx.Headers(
            [(b"X-Shopify-Hmac-Sha256", b"abc="), (b"X-Note", b"d\xe9j\xe0"), (b"x-note", b"2")]
        ),
        body=b'{"id": 1}',
        received_at=START,
    )
    appended = store.append(NewDelivery.from_request(request, delivery_key="k-1", ordering_key="1"))

    replayed = store.get(appended.id).to_request()

    assert replayed.headers.raw == request.headers.raw
    assert (replayed.platform, replayed.store, replayed.body, replayed.received_at) == (
        "shopify",
        "shop-1",
        b'{"id": 1}',
        START,
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=600),
        st.builds(
            lambda part, times: part * times,
            st.binary(min_size=1, max_size=40),
            st.integers(1, 500),
        ),
    )
)
def test_any_body_comes_back_byte_for_byte(store: DeliveryStore, body: bytes) -> None:
    assert store.get(store.append(new("A", body=body)).id).body == body


def test_a_large_order_body_comes_back_byte_for_byte(store: DeliveryStore) -> None:
    body = b'{"id": 9007199254740993, "line_items": [%s]}' % b", ".join(
        b'{"sku": "SKU-%06d", "price": "12.50", "quantity": 1}' % n for n in range(200)
    )
    assert store.get(store.append(new("A", body=body)).id).body == body


def test_ping_answers_while_the_store_is_open(store: DeliveryStore) -> None:
    assert store.ping() is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"delivery_key": ""}, "delivery delivery_key must be a non-empty string"),
        ({"platform": ""}, "delivery platform must be a non-empty string"),
        ({"ordering_key": ""}, "delivery ordering_key must be None or a non-empty string"),
        (
            {"headers": (("A", "1"), ("B",))},
            r"delivery headers\[1\] must be a \(name, value\) pair of strings",
        ),
        ({"body": "text"}, "delivery body must be bytes"),
        (
            {"received_at": datetime(2026, 3, 2, 9, 0)},
            "delivery received_at must be a time-zone aware datetime",
        ),
    ],
)
def test_a_malformed_delivery_is_refused_naming_the_field(
    change: dict[str, object], message: str
) -> None:
    fields = dataclasses.asdict(new("A"))
    fields.update(change)
    with pytest.raises(ValueError, match=f"^{message}$"):
        NewDelivery(**fields)


# -- lanes -----------------------------------------------------------------------------------


def test_lanes_run_in_parallel_and_in_order_within(store: DeliveryStore) -> None:
    a1, b1, a2, n1, n2, b2, a3 = add(store, "A", "B", "A", None, None, "B", "A")

    first = claim(store)
    assert ids(first) == [a1, b1, n1, n2]
    assert all(c.delivery.status is DeliveryStatus.PROCESSING for c in first)
    assert all(c.delivery.claimed_by == "worker-1" and c.attempt == 1 for c in first)
    assert claim(store) == []

    claims = {c.id: c for c in first}
    store.complete(claims[a1], "1 event applied")
    assert ids(claim(store)) == [a2]
    store.complete(claims[b1], "1 event applied")
    second = claim(store)
    assert ids(second) == [b2]
    assert statuses(store, [a3]) == [DeliveryStatus.PENDING]


def test_a_lane_is_one_order_of_one_store_of_one_platform(store: DeliveryStore) -> None:
    # Order 1001 of two shops, and of a WooCommerce site: three orders, three lanes.
    north = store.append(new("1001", store="north")).id
    south = store.append(new("1001", store="south")).id
    site = store.append(new("1001", platform="woocommerce", store="north")).id
    north_again = store.append(new("1001", store="north")).id

    first = claim(store)
    assert ids(first) == [north, south, site]
    store.complete(next(c for c in first if c.id == north), "1 event applied")
    assert ids(claim(store)) == [north_again]


def test_a_claim_takes_the_oldest_deliveries_up_to_its_limit(store: DeliveryStore) -> None:
    a1, b1, c1, d1 = add(store, "A", "B", "C", "D")

    assert ids(claim(store, limit=2)) == [a1, b1]
    assert ids(claim(store, "worker-2", limit=1)) == [c1]
    assert ids(claim(store, "worker-3", limit=5)) == [d1]


def test_a_crashed_worker_s_delivery_is_claimed_again_after_its_lease(
    store: DeliveryStore, clock: FixedClock
) -> None:
    a1, a2 = add(store, "A", "A")
    (crashed,) = store.claim("worker-1", limit=5, lease=timedelta(seconds=30))

    clock.advance(timedelta(seconds=29))
    assert store.claim("worker-2", limit=5, lease=LEASE) == []
    clock.advance(timedelta(seconds=1))
    (again,) = store.claim("worker-2", limit=5, lease=LEASE)

    assert again.id == a1
    assert (again.attempt, again.delivery.attempts, again.delivery.claimed_by) == (
        2,
        2,
        "worker-2",
    )
    assert store.attempts(a1) == [
        Attempt(
            number=1,
            worker_id="worker-1",
            started_at=START,
            lease_expires_at=START + timedelta(seconds=30),
            finished_at=clock.now(),
            result=AttemptResult.LEASE_EXPIRED,
            error=None,
        ),
        Attempt(
            number=2,
            worker_id="worker-2",
            started_at=clock.now(),
            lease_expires_at=clock.now() + LEASE,
            finished_at=None,
            result=None,
            error=None,
        ),
    ]
    with pytest.raises(LeaseLostError) as lost:
        store.complete(crashed, "1 event applied")
    assert str(lost.value) == (
        f"delivery {a1}: the claim of worker worker-1 (attempt 1) was lost:"
        " its lease expired and worker worker-2 claimed the delivery again"
    )
    assert store.get(a1).claimed_by == "worker-2"

    store.complete(again, "1 event applied")
    assert ids(claim(store)) == [a2]


def test_a_worker_may_settle_after_its_lease_if_no_one_claimed_again(
    store: DeliveryStore, clock: FixedClock
) -> None:
    (a1,) = add(store, "A")
    (late,) = claim(store)
    clock.advance(LEASE * 2)

    store.complete(late, "1 event applied")

    assert store.get(a1).status is DeliveryStatus.DONE


def test_extend_keeps_a_slow_attempt_s_lease(store: DeliveryStore, clock: FixedClock) -> None:
    (a1,) = add(store, "A")
    (slow,) = claim(store)
    clock.advance(LEASE - timedelta(seconds=1))

    extended = store.extend(slow, timedelta(minutes=10))
    clock.advance(timedelta(minutes=9))

    assert extended.lease_expires_at == START + LEASE - timedelta(seconds=1) + timedelta(minutes=10)
    assert store.get(a1).lease_expires_at == extended.lease_expires_at
    assert store.attempts(a1)[0].lease_expires_at == extended.lease_expires_at
    assert claim(store, "worker-2") == []
    store.complete(extended, "1 event applied")
    assert store.get(a1).status is DeliveryStatus.DONE


SETTLE = {
    "complete": lambda store, c: store.complete(c, "1 event applied"),
    "ignore": lambda store, c: store.ignore(c, "topic not handled"),
    "retry_later": lambda store, c: store.retry_later(c, START + LEASE * 3, UNAVAILABLE),
    "defer": lambda store, c: store.defer(c, START + LEASE * 3, NOT_YET),
    "fail": lambda store, c: store.fail(c, UNKNOWN_ORDER),
    "extend": lambda store, c: store.extend(c, LEASE),
}


@pytest.mark.parametrize("operation", SETTLE)
def test_a_lost_claim_cannot_be_settled(
    store: DeliveryStore, clock: FixedClock, operation: str
) -> None:
    (a1,) = add(store, "A")
    (lost,) = claim(store)
    clock.advance(LEASE)
    (current,) = claim(store, "worker-2")

    with pytest.raises(LeaseLostError, match="its lease expired and worker worker-2 claimed"):
        SETTLE[operation](store, lost)

    unchanged = store.get(a1)
    assert (unchanged.status, unchanged.claimed_by, unchanged.attempts) == (
        DeliveryStatus.PROCESSING,
        "worker-2",
        2,
    )
    store.complete(current, "1 event applied")


def test_a_claim_settles_once(store: DeliveryStore) -> None:
    (a1,) = add(store, "A")
    (held,) = claim(store)
    store.complete(held, "1 event applied")

    with pytest.raises(LeaseLostError) as lost:
        store.fail(held, UNKNOWN_ORDER)

    assert str(lost.value) == (
        f"delivery {a1}: the claim of worker worker-1 (attempt 1) was lost:"
        " the delivery is now done"
    )
    assert lost.value.delivery_id == a1
    assert store.get(a1).outcome == "1 event applied"


def test_ignore_records_the_reason(store: DeliveryStore, clock: FixedClock) -> None:
    (a1,) = add(store, "A")
    (held,) = claim(store)

    store.ignore(held, "topic customers/update is not handled")

    ignored = store.get(a1)
    assert (ignored.status, ignored.outcome, ignored.finished_at) == (
        DeliveryStatus.IGNORED,
        "topic customers/update is not handled",
        clock.now(),
    )
    assert store.attempts(a1)[0].result is AttemptResult.IGNORED


def test_retry_later_waits_for_its_time_and_holds_the_lane(
    store: DeliveryStore, clock: FixedClock
) -> None:
    a1, a2 = add(store, "A", "A")
    (first,) = claim(store)
    store.retry_later(first, START + timedelta(seconds=60), UNAVAILABLE)

    waiting = store.get(a1)
    assert (waiting.status, waiting.next_attempt_at, waiting.last_error) == (
        DeliveryStatus.PENDING,
        START + timedelta(seconds=60),
        UNAVAILABLE,
    )
    assert (waiting.first_failed_at, waiting.last_failed_at, waiting.attempts) == (
        START,
        START,
        1,
    )
    assert claim(store) == []
    clock.advance(timedelta(seconds=59))
    assert claim(store) == []
    clock.advance(timedelta(seconds=1))
    (second,) = claim(store)
    assert (second.id, second.attempt) == (a1, 2)

    store.retry_later(second, clock.now() + timedelta(seconds=60), UNAVAILABLE)
    again = store.get(a1)
    assert (again.first_failed_at, again.last_failed_at) == (START, clock.now())
    assert [a.result for a in store.attempts(a1)] == [AttemptResult.RETRY, AttemptResult.RETRY]
    assert [a.error for a in store.attempts(a1)] == [UNAVAILABLE, UNAVAILABLE]
    assert statuses(store, [a2]) == [DeliveryStatus.PENDING]


def test_a_deferred_delivery_steps_aside_for_the_rest_of_its_lane(
    store: DeliveryStore, clock: FixedClock
) -> None:
    refund, fulfilment, later = add(store, "A", "A", "A")
    (held,) = claim(store)
    store.defer(held, START + timedelta(seconds=30), NOT_YET)

    deferred = store.get(refund)
    assert (deferred.status, deferred.deferred, deferred.last_error) == (
        DeliveryStatus.PENDING,
        True,
        NOT_YET,
    )
    assert deferred.first_failed_at is None
    (next_in_lane,) = claim(store)
    assert next_in_lane.id == fulfilment
    clock.advance(timedelta(seconds=31))
    assert claim(store) == []
    store.complete(next_in_lane, "shipped")
    (after,) = claim(store)
    assert after.id == later
    assert claim(store) == []
    store.complete(after, "shipped")
    (retried,) = claim(store)
    assert (retried.id, retried.attempt, retried.delivery.deferred) == (refund, 2, True)


def test_deferred_deliveries_of_one_lane_are_retried_oldest_first(
    store: DeliveryStore, clock: FixedClock
) -> None:
    a1, a2 = add(store, "A", "A")
    (first,) = claim(store)
    store.defer(first, START + timedelta(seconds=30), NOT_YET)
    (second,) = claim(store)
    store.defer(second, START + timedelta(seconds=10), NOT_YET)

    clock.advance(timedelta(seconds=10))
    (early,) = claim(store)
    assert early.id == a2
    clock.advance(timedelta(seconds=20))
    assert claim(store) == []
    store.defer(early, clock.now(), NOT_YET)
    (oldest,) = claim(store)
    assert oldest.id == a1
    store.complete(oldest, "1 event applied")
    assert ids(claim(store)) == [a2]


# -- the action center -----------------------------------------------------------------------


def test_a_failed_delivery_goes_to_the_action_center_and_its_lane_moves_on(
    store: DeliveryStore, clock: FixedClock
) -> None:
    a1, a2 = add(store, "A", "A")
    (held,) = claim(store)
    clock.advance(timedelta(seconds=5))

    store.fail(held, UNKNOWN_ORDER)

    (failure,) = store.list_failures()
    assert (failure.id, failure.status, failure.last_error) == (
        a1,
        DeliveryStatus.FAILED,
        UNKNOWN_ORDER,
    )
    assert (failure.first_failed_at, failure.last_failed_at, failure.finished_at) == (
        clock.now(),
        clock.now(),
        clock.now(),
    )
    assert ids(claim(store)) == [a2]


def test_the_action_center_filters_by_platform_store_and_time(
    store: DeliveryStore, clock: FixedClock
) -> None:
    made = [
        store.append(new("A", platform="shopify", store="shop-1")).id,
        store.append(new("B", platform="woocommerce", store="shop-1")).id,
        store.append(new("C", platform="shopify", store="shop-2")).id,
        store.append(new("D", platform="shopify", store="shop-1")).id,
    ]
    held = {c.id: c for c in claim(store)}
    for delivery_id in made[:3]:
        store.fail(held[delivery_id], UNKNOWN_ORDER)
        clock.advance(timedelta(hours=1))
    store.complete(held[made[3]], "1 event applied")

    def listed(**filters: str | datetime) -> list[int]:
        return [d.id for d in store.list_failures(**filters)]  # type: ignore[arg-type]

    assert listed() == made[:3]
    assert listed(platform="shopify") == [made[0], made[2]]
    assert listed(store="shop-1") == [made[0], made[1]]
    assert listed(since=START + timedelta(hours=1)) == [made[1], made[2]]
    assert listed(platform="shopify", store="shop-2", since=START) == [made[2]]
    assert listed(platform="sage") == []


def test_requeue_puts_a_failure_back_with_its_history(
    store: DeliveryStore, clock: FixedClock
) -> None:
    (a1,) = add(store, "A")
    (held,) = claim(store)
    store.fail(held, UNKNOWN_ORDER)
    clock.advance(timedelta(hours=2))

    store.requeue([a1], note="order created at the back end")

    back = store.get(a1)
    assert (back.status, back.attempts, back.next_attempt_at, back.finished_at) == (
        DeliveryStatus.PENDING,
        1,
        clock.now(),
        None,
    )
    assert store.list_failures() == []
    assert store.notes(a1) == [
        Note(at=clock.now(), action=NoteAction.REQUEUED, text="order created at the back end")
    ]
    (retried,) = claim(store)
    assert (retried.id, retried.attempt) == (a1, 2)


def test_a_requeued_delivery_goes_before_later_ones_once_its_lane_is_free(
    store: DeliveryStore,
) -> None:
    a1, a2, a3 = add(store, "A", "A", "A")
    (first,) = claim(store)
    store.fail(first, UNKNOWN_ORDER)
    (second,) = claim(store)
    assert second.id == a2

    store.requeue([a1])

    assert claim(store) == []
    store.complete(second, "1 event applied")
    assert ids(claim(store)) == [a1]
    assert statuses(store, [a3]) == [DeliveryStatus.PENDING]


def test_dismiss_takes_a_failure_out_of_the_action_center(
    store: DeliveryStore, clock: FixedClock
) -> None:
    a1, a2 = add(store, "A", "B")
    for held in claim(store):
        store.fail(held, UNKNOWN_ORDER)

    store.dismiss([a1], "refunded by hand in the back office")

    assert [d.id for d in store.list_failures()] == [a2]
    dismissed = store.list_failures(include_dismissed=True)
    assert [(d.id, d.status) for d in dismissed] == [
        (a1, DeliveryStatus.DISMISSED),
        (a2, DeliveryStatus.FAILED),
    ]
    assert store.notes(a1) == [
        Note(clock.now(), NoteAction.DISMISSED, "refunded by hand in the back office")
    ]
    store.requeue([a1])
    assert ids(claim(store)) == [a1]


def test_action_center_operations_are_all_or_nothing(store: DeliveryStore) -> None:
    done, waiting, failed = add(store, "A", "B", "C")
    held = {c.id: c for c in claim(store, limit=3)}
    store.complete(held[done], "1 event applied")
    store.retry_later(held[waiting], START + LEASE, UNAVAILABLE)
    store.fail(held[failed], UNKNOWN_ORDER)

    with pytest.raises(DeliveryStateError) as refused:
        store.requeue([failed, done, waiting])
    assert str(refused.value) == (
        f"cannot requeue delivery {done} (done), {waiting} (pending): only failed or dismissed"
        " deliveries can be requeued; nothing was requeued"
    )
    with pytest.raises(DeliveryNotFoundError) as missing:
        store.requeue([failed, 999])
    assert str(missing.value) == "no delivery 999; nothing was requeued"
    with pytest.raises(DeliveryStateError) as not_failed:
        store.dismiss([failed, done], "handled by hand")
    assert str(not_failed.value) == (
        f"cannot dismiss delivery {done} (done): only failed deliveries can be dismissed;"
        " nothing was dismissed"
    )
    with pytest.raises(ValueError, match=r"^a dismissal needs a note saying why$"):
        store.dismiss([failed], "  ")

    assert statuses(store, [done, waiting, failed]) == [
        DeliveryStatus.DONE,
        DeliveryStatus.PENDING,
        DeliveryStatus.FAILED,
    ]
    assert store.notes(failed) == []


def test_replay_requeues_finished_deliveries_in_their_original_order(
    store: DeliveryStore, clock: FixedClock
) -> None:
    a1, a2, a3, a4, b1, a5 = add(store, "A", "A", "A", "A", "B", "A")
    (c1,) = claim(store, limit=1)
    store.complete(c1, "1 event applied")
    (c2,) = claim(store, limit=1)
    store.ignore(c2, "topic not handled")
    (c3,) = claim(store, limit=1)
    store.fail(c3, UNKNOWN_ORDER)
    (c4,) = claim(store, limit=1)
    store.fail(c4, UNKNOWN_ORDER)
    store.dismiss([a4], "handled by hand")
    (cb,) = claim(store, limit=1)
    store.complete(cb, "1 event applied")
    assert statuses(store, [a5]) == [DeliveryStatus.PENDING]

    assert store.requeue_for_replay(ordering_key="A", note="after the SKU fix") == 3

    assert statuses(store, [a1, a2, a3, a4, a5, b1]) == [
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
        DeliveryStatus.DISMISSED,
        DeliveryStatus.PENDING,
        DeliveryStatus.DONE,
    ]
    assert store.notes(a1) == [Note(clock.now(), NoteAction.REPLAYED, "after the SKU fix")]
    order = []
    while claims := claim(store):
        (replayed,) = claims
        order.append(replayed.id)
        store.complete(replayed, "1 event applied")
    assert order == [a1, a2, a3, a5]
    assert store.get(a1).attempts == 2


def test_replay_since_a_time_leaves_older_deliveries_alone(store: DeliveryStore) -> None:
    old = store.append(new("A", at=START - timedelta(hours=2))).id
    recent = store.append(new("B", at=START - timedelta(hours=1))).id
    for held in claim(store):
        store.complete(held, "1 event applied")

    assert store.requeue_for_replay(since=START - timedelta(hours=1)) == 1
    assert statuses(store, [old, recent]) == [DeliveryStatus.DONE, DeliveryStatus.PENDING]
    assert store.requeue_for_replay(platform="woocommerce") == 0


def test_stats_count_deliveries_per_status(store: DeliveryStore) -> None:
    assert store.stats() == dict.fromkeys(DeliveryStatus, 0)
    add(store, "A", "B", "C", "C")
    held = {c.delivery.ordering_key: c for c in claim(store)}
    store.complete(held["A"], "1 event applied")
    store.fail(held["B"], UNKNOWN_ORDER)

    assert store.stats() == {
        DeliveryStatus.PENDING: 1,
        DeliveryStatus.PROCESSING: 1,
        DeliveryStatus.DONE: 1,
        DeliveryStatus.IGNORED: 0,
        DeliveryStatus.FAILED: 1,
        DeliveryStatus.DISMISSED: 0,
    }


def test_the_backlog_counts_what_waits_and_dates_the_oldest(
    store: DeliveryStore, clock: FixedClock
) -> None:
    assert store.backlog() == Backlog(pending=0, deferred=0, processing=0, oldest_received_at=None)
    first = store.append(new("A", at=START - timedelta(hours=3))).id
    store.append(new("B", at=START - timedelta(hours=2), platform="woocommerce"))
    store.append(new("C", at=START - timedelta(hours=1)))
    done = store.append(new("D")).id
    held = {c.id: c for c in claim(store)}
    store.defer(held[first], START + timedelta(hours=1), NOT_YET)
    store.complete(held[done], "1 event applied")

    # The deferred delivery is still the oldest waiting; the one done no longer waits.
    assert store.backlog() == Backlog(
        pending=0, deferred=1, processing=2, oldest_received_at=START - timedelta(hours=3)
    )
    assert [d.id for d in store.list_waiting(deferred=True)] == [first]
    assert [d.ordering_key for d in store.list_waiting(deferred=False)] == ["B", "C"]
    assert [d.ordering_key for d in store.list_waiting(platform="woocommerce")] == ["B"]
    assert [d.ordering_key for d in store.list_waiting(store="shop-2")] == []


def test_an_unknown_delivery_is_named(store: DeliveryStore) -> None:
    for lookup in (store.get, store.attempts, store.notes):
        with pytest.raises(DeliveryNotFoundError, match=r"^no delivery 42$"):
            lookup(42)


# -- versions --------------------------------------------------------------------------------

T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 10, 0, 0, 1, tzinfo=UTC)


def test_a_newer_version_is_recorded(store: DeliveryStore) -> None:
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T1) is None
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T2) is None
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T1) == T2


def test_an_older_version_is_stale_and_changes_nothing(store: DeliveryStore) -> None:
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T2) is None

    # Another time zone, same instant as T1: compared as instants.
    older = T1.astimezone(timezone(timedelta(hours=-5)))
    assert store.record_version("shopify", "shop-1", "fulfillment:1", older) == T2
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T2) is None


def test_an_equal_version_is_not_stale(store: DeliveryStore) -> None:
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T1) is None
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T1) is None


def test_versions_are_kept_per_platform_store_and_subject(store: DeliveryStore) -> None:
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T2) is None
    for platform, shop, subject in (
        ("woocommerce", "shop-1", "fulfillment:1"),
        ("shopify", "shop-2", "fulfillment:1"),
        ("shopify", "shop-1", "fulfillment:2"),
        ("shopify", "shop-1", "order:1"),
    ):
        assert store.record_version(platform, shop, subject, T1) is None, (platform, shop, subject)
    assert store.record_version("shopify", "shop-1", "fulfillment:1", T1) == T2


def test_a_version_needs_a_subject_and_an_aware_time(store: DeliveryStore) -> None:
    with pytest.raises(ValueError, match=r"^version subject must be a non-empty string$"):
        store.record_version("shopify", "shop-1", "", T1)
    with pytest.raises(ValueError, match=r"^version as_of must be a time-zone aware datetime$"):
        store.record_version("shopify", "shop-1", "order:1", T1.replace(tzinfo=None))


# -- opening and closing ---------------------------------------------------------------------


def test_opening_twice_migrates_once_and_keeps_the_data(
    schema_versions: Callable[[str], list[int]], store_url: str, clock: FixedClock
) -> None:
    with open_store(store_url, clock=clock) as first:
        appended = first.append(new("A"))
    with open_store(store_url, clock=clock) as second:
        assert second.get(appended.id).ordering_key == "A"
        assert second.append(new("B")).id == appended.id + 1

    known = migrations("sqlite" if store_url.startswith("sqlite:") else "postgresql")
    assert schema_versions(store_url) == [migration.version for migration in known]


def test_two_stores_may_share_one_database(store_url: str, clock: FixedClock) -> None:
    with open_store(store_url, clock=clock) as one, open_store(store_url, clock=clock) as two:
        a1, a2 = (one.append(new("A")).id, two.append(new("A")).id)
        (held,) = one.claim("worker-1", limit=5, lease=LEASE)
        assert two.claim("worker-2", limit=5, lease=LEASE) == []
        two.complete(held, "1 event applied")
        assert ids(two.claim("worker-2", limit=5, lease=LEASE)) == [a2]
        assert one.get(a1).status is DeliveryStatus.DONE


def test_a_closed_store_refuses_work(store_url: str, clock: FixedClock) -> None:
    closed = open_store(store_url, clock=clock)
    closed.close()
    closed.close()

    with pytest.raises(StoreClosedError, match=r"is closed$"):
        closed.append(new("A"))
    with pytest.raises(StoreClosedError, match=r"is closed$"):
        closed.stats()
    with pytest.raises(StoreClosedError, match=r"is closed$"):
        closed.ping()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://user:secret@db.example/passerelle",
            "store URL 'mysql://***@db.example/passerelle' must start with sqlite:/// or "
            "postgresql://",
        ),
        (
            "sqlite://",
            "store URL 'sqlite://' must name a database file, as in sqlite:///inbox.db (relative) "
            "or sqlite:////var/lib/passerelle/inbox.db (absolute)",
        ),
        (
            "sqlite://:memory:",
            "store URL 'sqlite://:memory:' must name a database file, as in sqlite:///inbox.db "
            "(relative) or sqlite:////var/lib/passerelle/inbox.db (absolute)",
        ),
    ],
)
def test_open_store_names_what_is_wrong_with_the_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        open_store(url)


def test_claim_refuses_nonsense(store: DeliveryStore) -> None:
    with pytest.raises(ValueError, match=r"^claim limit must be at least 1, got 0$"):
        store.claim("worker-1", limit=0, lease=LEASE)
    with pytest.raises(ValueError, match=r"^lease must be positive, got 0:00:00$"):
        store.claim("worker-1", limit=1, lease=timedelta(0))
    with pytest.raises(ValueError, match=r"^now must be a time-zone aware datetime$"):
        store.claim("worker-1", limit=1, lease=LEASE, now=datetime(2026, 3, 2))


# -- the lane rules, for any sequence of operations ----------------------------------------


@dataclasses.dataclass
class _Model:
    """What the module documentation promises, kept in plain Python."""

    lane: str | None
    status: DeliveryStatus = DeliveryStatus.PENDING
    deferred: bool = False
    due: datetime = START
    lease_until: datetime | None = None
    attempt: int = 0

    def ready(self, now: datetime) -> bool:
        if self.status is DeliveryStatus.PENDING:
            return self.due <= now
        return (
            self.status is DeliveryStatus.PROCESSING
            and self.lease_until is not None
            and (self.lease_until <= now)
        )


def _expected_claims(model: dict[int, _Model], now: datetime, limit: int) -> list[int]:
    def blocked(delivery_id: int, item: _Model) -> bool:
        for other_id, other in model.items():
            if other_id == delivery_id or other.lane != item.lane:
                continue
            if other.status not in (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING):
                continue
            live = other.status is DeliveryStatus.PROCESSING and other.lease_until is not None
            if live and other.lease_until > now:  # type: ignore[operator]
                return True
            if not other.deferred and (other_id < delivery_id or item.deferred):
                return True
            if other.deferred and item.deferred and other_id < delivery_id and other.ready(now):
                return True
        return False

    chosen = [
        delivery_id
        for delivery_id, item in sorted(model.items())
        if item.ready(now) and (item.lane is None or not blocked(delivery_id, item))
    ]
    return chosen[:limit]


# Few lanes and frequent settling, so that histories crowd lanes with deferred, retried and
# expired deliveries.
_LANES = ["A", "A", "B", None]
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, len(_LANES) - 1)),
        st.tuples(st.just("claim"), st.integers(1, 3)),
        st.tuples(
            st.just("settle"),
            st.integers(0, 20),
            st.sampled_from(["complete", "fail", "retry", "defer", "defer"]),
            st.integers(0, 2),
        ),
        st.tuples(st.just("advance"), st.integers(1, 3)),
        st.tuples(st.just("requeue"), st.integers(0, 20)),
    ),
    min_size=20,
    max_size=60,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=_operations)
def test_claims_follow_the_lane_rules_for_any_history(
    new_store_url: Callable[[], contextlib.AbstractContextManager[str]],
    operations: list[tuple[object, ...]],
) -> None:
    clock = FixedClock(START)
    lease = timedelta(seconds=25)
    step = timedelta(seconds=10)
    model: dict[int, _Model] = {}
    held: list[Claim] = []
    with new_store_url() as url, open_store(url, clock=clock) as store:
        for operation in operations:
            match operation:
                case ("append", int(lane)):
                    model[store.append(new(_LANES[lane])).id] = _Model(_LANES[lane])
                case ("claim", int(limit)):
                    expected = _expected_claims(model, clock.now(), limit)
                    claims = store.claim("worker", limit=limit, lease=lease)
                    assert ids(claims) == expected
                    for c in claims:
                        item = model[c.id]
                        item.status, item.lease_until = (
                            DeliveryStatus.PROCESSING,
                            clock.now() + lease,
                        )
                        item.attempt += 1
                        assert c.attempt == item.attempt
                    held.extend(claims)
                case ("settle", int(pick), str(how), int(delay)) if held:
                    c = held.pop(pick % len(held))
                    item = model[c.id]
                    at = clock.now() + step * delay
                    still_held = (
                        item.status is DeliveryStatus.PROCESSING and item.attempt == c.attempt
                    )
                    try:
                        if how == "complete":
                            store.complete(c, "done")
                        elif how == "fail":
                            store.fail(c, UNKNOWN_ORDER)
                        elif how == "retry":
                            store.retry_later(c, at, UNAVAILABLE)
                        else:
                            store.defer(c, at, NOT_YET)
                    except LeaseLostError:
                        assert not still_held
                        continue
                    assert still_held
                    item.lease_until = None
                    item.status = {
                        "complete": DeliveryStatus.DONE,
                        "fail": DeliveryStatus.FAILED,
                    }.get(how, DeliveryStatus.PENDING)
                    item.due = at if how in ("retry", "defer") else item.due
                    item.deferred = item.deferred or how == "defer"
                case ("advance", int(steps)):
                    clock.advance(step * steps)
                case ("requeue", int(pick)):
                    failed = [i for i, m in model.items() if m.status is DeliveryStatus.FAILED]
                    if failed:
                        chosen = failed[pick % len(failed)]
                        store.requeue([chosen])
                        model[chosen].status = DeliveryStatus.PENDING
                        model[chosen].deferred = False
                        model[chosen].due = clock.now()
        assert {d: store.get(d).status for d in model} == {d: m.status for d, m in model.items()}


def test_sqlite_urls_follow_the_usual_relative_and_absolute_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///relative.db"):
        pass
    assert (tmp_path / "relative.db").is_file()
    absolute = tmp_path / "sub" / "absolute.db"
    absolute.parent.mkdir()
    with open_store(f"sqlite:///{absolute}"):  # the path's own slash makes four
        pass
    assert absolute.is_file()


# -- SQLite's files --------------------------------------------------------------------------


def test_sqlite_bodies_stored_before_the_encoding_tag_stay_readable(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "inbox.db"
    first = migrations("sqlite")[0]
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.executescript(first.sql)
        old.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at INTEGER NOT NULL)"
        )
        old.execute("INSERT INTO schema_version VALUES (1, ?, 0)", (first.name,))
        old.execute(
            "INSERT INTO deliveries (platform, store, delivery_key, headers, body, received_at,"
            " next_attempt_at) VALUES ('shopify', 'shop-1', 'k-1', '[]', ?, 0, 0)",
            (b"\x01not zlib, the bytes as received",),
        )

    with open_store(f"sqlite:///{path}", clock=clock) as store:
        (delivery,) = (store.get(1),)
        assert delivery.body == b"\x01not zlib, the bytes as received"


def test_sqlite_bodies_are_stored_as_received_and_older_zlib_bodies_stay_readable(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "inbox.db"
    body = b'{"id": 1, "note": "' + b"wool " * 400 + b'"}'
    with SQLiteStore(path, clock=clock) as store:
        fresh = store.append(new("A", body=body)).id
        older = store.append(new("A", body=b"replaced below")).id
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
        (kept,) = raw.execute("SELECT body FROM deliveries WHERE id = ?", (fresh,)).fetchone()
        raw.execute(
            "UPDATE deliveries SET body = ? WHERE id = ?", (b"\x01" + zlib.compress(body), older)
        )

    assert kept == b"\x00" + body
    with SQLiteStore(path, clock=clock) as store:
        assert store.get(fresh).body == body
        assert store.get(older).body == body


@pytest.mark.anyio
async def test_a_failing_append_spoils_none_of_the_appends_committed_with_it(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "inbox.db"
    with SQLiteStore(path, clock=clock) as store:
        store.write(
            lambda tx: tx.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON deliveries"
                " WHEN NEW.delivery_key = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
        keys = [f"k-{n}" for n in range(20)]
        keys.insert(7, "refused")
        results = await asyncio.gather(
            *(store.append_async(new("A", key=key)) for key in keys), return_exceptions=True
        )

        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1
        assert isinstance(failures[0], StoreError)
        assert "refused" in str(failures[0])
        assert store.stats()[DeliveryStatus.PENDING] == 20
        stored = [store.get(r.id).delivery_key for r in results if isinstance(r, AppendResult)]
        assert stored == [key for key in keys if key != "refused"]


def test_the_sqlite_wal_stays_bounded_under_steady_writes(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "inbox.db"
    limit = 64 * 1024
    # Each delivery adds about 12 KB to the WAL.
    bodies = [bytes(random.Random(n).randbytes(11 * 1024)) for n in range(150)]
    sizes = []
    with SQLiteStore(path, clock=clock, wal_limit_bytes=limit, checkpoint_interval=None) as store:
        for body in bodies:
            store.append(new("A", body=body))
            sizes.append(os.path.getsize(f"{path}-wal"))
        assert [store.get(n).body for n in (1, 75, 150)] == [bodies[0], bodies[74], bodies[149]]

    assert max(sizes) < limit + 32 * 1024


def test_a_claim_carries_the_history_its_worker_judges_it_by(
    store: DeliveryStore, clock: FixedClock
) -> None:
    (delivery,) = add(store, "order-1")
    error = ErrorInfo("unknown_order", "not at the back end yet")
    first = claim(store)[0]
    assert (first.attempts_since_action, first.waiting_since, first.abnormal_ends) == (1, None, 0)
    deferred_at = clock.now()
    store.defer(first, clock.now(), error)
    # Two workers die holding it: their leases run out unsettled.
    for _ in range(2):
        clock.advance(timedelta(seconds=1))
        claim(store)
        clock.advance(LEASE)
    fourth = claim(store)[0]
    assert fourth.attempt == 4
    assert fourth.attempts_since_action == 4
    assert fourth.waiting_since == deferred_at
    assert fourth.abnormal_ends == 2
    assert fourth.redispatches == 0
    store.fail(fourth, error)

    clock.advance(timedelta(minutes=1))
    store.requeue([delivery], note="the order exists now")
    again = claim(store)[0]
    # A retry by hand starts the count afresh; the delivery is re-sent once.
    assert (again.attempt, again.attempts_since_action) == (5, 1)
    assert (again.waiting_since, again.abnormal_ends, again.redispatches) == (None, 0, 1)
    store.retry_later(again, clock.now(), error)
    clock.advance(timedelta(seconds=1))
    sixth = claim(store)[0]
    assert (sixth.attempts_since_action, sixth.abnormal_ends) == (2, 0)
