"""Snapshot histories through the real dispatcher: whatever the arrival order, with repeats,
merges (intermediate snapshots never sent) and stale snapshots, the order ends in the one state
its last snapshot describes, and no delivery waits for a person."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from woo_support import checkout_order, context, request, store

from passerelle.events import BatchFileEdited
from passerelle.orders import Order, OrderLedger
from passerelle.serving import BackgroundServer
from passerelle.testing.dispatching import dispatched
from passerelle_woocommerce import WooCommercePlatform
from passerelle_woocommerce.fake_rest import FakeRestApi, refund_resource

PLATFORM = WooCommercePlatform()
ORDER_ID = 4242
START = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def api() -> Iterator[FakeRestApi]:
    served = FakeRestApi()
    with BackgroundServer(served) as server:
        served.base_url = f"{server.url}/wp-json/wc/v3"
        yield served


def cents(amount: int) -> str:
    return f"{Decimal(amount) / 100:.2f}"


class History:
    """A WooCommerce order's life, as the snapshots WooCommerce would build after each act."""

    def __init__(self, prices: list[tuple[int, int]], shipping: int, api: FakeRestApi) -> None:
        self.prices = {100 + n: price for n, (price, _) in enumerate(prices)}
        self.ordered = {100 + n: quantity for n, (_, quantity) in enumerate(prices)}
        self.shipping = shipping
        self.total = sum(p * self.ordered[line] for line, p in self.prices.items()) + shipping
        self.api = api
        self.refunded_units = dict.fromkeys(self.ordered, 0)
        self.refunded = 0
        self.refunds: list[dict[str, Any]] = []
        self.status = "processing"
        self.completed: str | None = None
        self.minutes = 0
        self.snapshots: list[bytes] = []
        self.snapshot()

    def now(self) -> str:
        self.minutes += 1
        return (START + timedelta(minutes=self.minutes)).strftime("%Y-%m-%dT%H:%M:%S")

    def snapshot(self) -> None:
        body = {
            "id": ORDER_ID,
            "status": self.status,
            "currency": "USD",
            "prices_include_tax": False,
            "total": cents(self.total),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "date_modified_gmt": self.now(),
            "date_completed_gmt": self.completed,
            "line_items": [
                {
                    "id": line,
                    "name": f"Product {line}",
                    "quantity": quantity,
                    "subtotal": cents(self.prices[line] * quantity),
                    "subtotal_tax": "0.00",
                    "total": cents(self.prices[line] * quantity),
                    "total_tax": "0.00",
                    "price": self.prices[line] / 100,
                }
                for line, quantity in self.ordered.items()
            ],
            "shipping_lines": [
                {"id": 900, "method_title": "Flat rate", "total": cents(self.shipping)}
            ]
            if self.shipping
            else [],
            "refunds": [
                {"id": r["id"], "reason": r["reason"], "total": f"-{r['amount']}"}
                for r in reversed(self.refunds)
            ],
            "meta_data": [],
        }
        self.snapshots.append(json.dumps(body).replace("/", "\\/").encode())

    def refund(self, units: dict[int, int], extra: int) -> None:
        value = sum(self.prices[line] * q for line, q in units.items())
        refund_id = 5000 + len(self.refunds)
        resource = refund_resource(
            refund_id,
            self.now(),
            cents(value + extra),
            {line: (q, cents(self.prices[line] * q)) for line, q in units.items()},
            f"refund {len(self.refunds)}",
        )
        self.refunds.append(resource)
        self.api.refunds[(ORDER_ID, refund_id)] = resource
        for line, q in units.items():
            self.refunded_units[line] += q
        self.refunded += value + extra
        if self.refunded == self.total:
            self.status = "refunded"  # WooCommerce's own rule: refunds reaching the total
        self.snapshot()

    def spare(self) -> int:
        """Money refundable beyond the value of every unit not refunded yet."""
        left = sum(
            self.prices[line] * (self.ordered[line] - self.refunded_units[line])
            for line in self.ordered
        )
        return self.total - self.refunded - left


@st.composite
def histories(draw: st.DrawFn, api: FakeRestApi) -> History:
    prices = draw(
        st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 3)), min_size=1, max_size=3)
    )
    history = History(prices, draw(st.sampled_from([0, 1, 599])), api)
    for _ in range(draw(st.integers(1, 6))):
        if history.status in ("cancelled", "refunded"):
            break
        acts = ["refund", "note"] + (["complete"] if history.completed is None else [])
        acts += ["cancel", "refund_all"]
        act = draw(st.sampled_from(acts))
        if act == "complete":
            history.status = "completed"
            history.completed = history.now()
            history.snapshot()
        elif act == "note":  # a change that moves nothing (a note, an address)
            history.snapshot()
        elif act == "cancel":
            history.status = "cancelled"
            history.snapshot()
        elif act == "refund_all":
            history.refund({}, history.total - history.refunded)
            history.status = "refunded"
            history.snapshot()
        else:
            units = {
                line: draw(st.integers(0, history.ordered[line] - history.refunded_units[line]))
                for line in history.ordered
            }
            units = {line: q for line, q in units.items() if q}
            extra = draw(st.integers(0, max(history.spare(), 0)))
            if units or extra:
                history.refund(units, extra)
    return history


@dataclass(frozen=True)
class Outcome:
    ledger: OrderLedger
    failed: tuple[str, ...]


def dispatch(order: Order, api: FakeRestApi, bodies: list[bytes]) -> Outcome:
    """Receive `bodies` as ``order.updated`` deliveries into a fresh inbox and dispatch them as
    `passerelle serve` does, until every one is settled."""
    run = dispatched(
        PLATFORM,
        store(base_url=api.base_url),
        order,
        [request(body) for body in bodies],
        now=START + timedelta(days=1),
    )
    failed = tuple(
        f"{d.last_error.code}: {d.last_error.message}" for d in run.failed if d.last_error
    )
    return Outcome(run.ledger, failed)


def described(order: Order, api: FakeRestApi, last: bytes) -> OrderLedger:
    """The ledger the last snapshot describes: its events alone, on the order as created."""
    with httpx.Client() as http:
        translation = PLATFORM.translate(request(last), context(http, api.base_url))
    ledger = OrderLedger.open(order)
    for event in translation.events:
        assert not isinstance(event, BatchFileEdited)
        ledger, _ = ledger.apply(event)
    return ledger


def state(ledger: OrderLedger) -> tuple[Any, ...]:
    return (ledger.lines, ledger.authorized, ledger.captured, ledger.refunded)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_arrival_of_the_snapshots_ends_in_the_state_the_last_describes(
    api: FakeRestApi, data: st.DataObject
) -> None:
    history = data.draw(histories(api))
    snapshots = history.snapshots
    order = checkout_order(snapshots[0])
    truth = described(order, api, snapshots[-1])
    in_order = dispatch(order, api, snapshots)
    assert in_order.failed == ()
    assert state(in_order.ledger) == state(truth)
    # Merged: some intermediate snapshots never sent; then any order, with repeats.
    sent = [s for s in snapshots[:-1] if data.draw(st.booleans())] + [snapshots[-1]]
    arrivals = data.draw(st.permutations(sent))
    for _ in range(data.draw(st.integers(0, 3))):
        arrivals.insert(data.draw(st.integers(0, len(arrivals))), data.draw(st.sampled_from(sent)))
    shuffled = dispatch(order, api, arrivals)
    assert shuffled.failed == ()
    assert state(shuffled.ledger) == state(truth)


def test_a_processing_snapshot_after_completed_is_stale_and_unships_nothing(
    api: FakeRestApi,
) -> None:
    history = History([(1500, 2)], 500, api)
    history.status, history.completed = "completed", history.now()
    history.snapshot()
    processing, completed = history.snapshots
    order = checkout_order(processing)
    outcome = dispatch(order, api, [completed, processing])
    assert outcome.failed == ()
    assert outcome.ledger.is_fully_shipped
    assert outcome.ledger.captured == order.total


def test_a_trashed_order_still_holding_money_goes_to_a_person(api: FakeRestApi) -> None:
    history = History([(1500, 2)], 500, api)
    (processing,) = history.snapshots
    order = checkout_order(processing)
    trashed = f'{{"id": {ORDER_ID}}}'.encode()

    run = dispatched(
        PLATFORM,
        store(base_url=api.base_url),
        order,
        [request(processing), request(trashed, "order.deleted")],
        now=START + timedelta(days=1),
    )

    (filed,) = run.failed
    assert filed.last_error is not None
    assert filed.last_error.code == "money_held"
    assert filed.last_error.message == (
        "order.deleted: the order was trashed, which moves no goods and no money, but order"
        f" {ORDER_ID} still holds 35.00 USD authorized and not captured: capture or void it by"
        " hand, then dismiss this delivery"
    )


def test_a_trashed_order_with_nothing_held_or_a_restored_one_is_ignored(api: FakeRestApi) -> None:
    history = History([(1500, 2)], 500, api)
    history.status, history.completed = "completed", history.now()
    history.snapshot()
    processing, completed = history.snapshots
    order = checkout_order(processing)
    trashed = f'{{"id": {ORDER_ID}}}'.encode()

    run = dispatched(
        PLATFORM,
        store(base_url=api.base_url),
        order,
        [
            request(completed),
            request(trashed, "order.deleted"),
            request(trashed, "order.restored"),
        ],
        now=START + timedelta(days=1),
    )

    assert run.failed == ()
    assert [d.status.value for d in run.deliveries] == ["done", "ignored", "ignored"]
    assert run.ledger.captured == order.total
