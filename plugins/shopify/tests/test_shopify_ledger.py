"""Translations applied to the order ledger: repeats change nothing, and any order of arrival
(with duplicates, and retries of what is not applicable yet) ends in the same state."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shopify_support import (
    LINE_BOTTLE,
    LINE_SHOES,
    LINE_SOCKS,
    ORDER_ID,
    RECEIVED_AT,
    charge,
    context,
    dumps,
    fixture,
    fixture_order,
    request,
)
from shopify_support import store as shopify_store

from passerelle.events import (
    CartLine,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
    OrderEvent,
    OrderReturned,
    OrderShipped,
)
from passerelle.money import Money
from passerelle.orders import (
    EventNotYetApplicable,
    Order,
    OrderLedger,
)
from passerelle.platforms import Translation
from passerelle.testing.dispatching import dispatched
from passerelle_shopify import FulfillmentReversedError, ShopifyPlatform

ORDER = str(ORDER_ID)
PLATFORM = ShopifyPlatform()


def events_of(translation: Translation) -> tuple[OrderEvent, ...]:
    events = translation.events
    kinds = OrderShipped | OrderCancelled | OrderReturned | OrderEdited
    return tuple(event for event in events if isinstance(event, kinds))


def apply_all(ledger: OrderLedger, events: Iterable[OrderEvent]) -> tuple[OrderLedger, list[bool]]:
    noops = []
    for event in events:
        ledger, effect = ledger.apply(event)
        noops.append(effect.is_noop)
    return ledger, noops


def test_a_late_duplicate_changes_nothing(http: httpx.Client) -> None:
    body = fixture("fulfillments_create.partial.json")
    first = request(body, "fulfillments/create", triggered_at="2026-01-14T15:15:01Z")
    late = request(
        body,
        "fulfillments/create",
        webhook_id="a9b2c1d0-0000-4000-8000-000000000002",
        triggered_at="2026-01-15T15:14:00Z",
        received_at=RECEIVED_AT + timedelta(days=1),
    )
    assert PLATFORM.delivery_key(late) == PLATFORM.delivery_key(first)
    on_time = PLATFORM.translate(first, context(http))
    again = PLATFORM.translate(late, context(http))
    # Deterministic: the act's own time, not the redelivery's.
    assert again == on_time

    ledger, noops = apply_all(OrderLedger.open(fixture_order()), events_of(on_time))
    assert noops == [False]
    after, noops = apply_all(ledger, events_of(again))
    assert noops == [True]
    assert after.lines == ledger.lines
    assert after.captured == ledger.captured

    # The order-level topic reporting the same fulfillment a day later ships nothing new.
    snapshot = PLATFORM.translate(
        request(fixture("orders_partially_fulfilled.multi.json"), "orders/partially_fulfilled"),
        context(http),
    )
    after, noops = apply_all(ledger, events_of(snapshot))
    assert noops == [True]
    assert after.lines == ledger.lines


def translated(http: httpx.Client, name: str, topic: str) -> tuple[OrderEvent, ...]:
    return events_of(PLATFORM.translate(request(fixture(name), topic), context(http)))


def test_the_fixture_story_settles_the_order(http: httpx.Client) -> None:
    ledger = OrderLedger.open(fixture_order(tax="31.20"))
    # The refund arrives before the fulfillment it returns: not applicable yet.
    refund = translated(http, "refunds_create.return.json", "refunds/create")
    with pytest.raises(EventNotYetApplicable) as waiting:
        apply_all(ledger, refund)
    assert waiting.value.line == str(LINE_SHOES)
    ledger, _ = apply_all(
        ledger, translated(http, "fulfillments_create.partial.json", "fulfillments/create")
    )
    ledger, _ = apply_all(ledger, refund)
    ledger, noops = apply_all(
        ledger, translated(http, "orders_cancelled.after_shipment.json", "orders/cancelled")
    )
    # Shipment and refund again (no-ops), the rest cancelled, the socks returned: the goods
    # come back, but the body lists no refund for them, so no money moves for them.
    assert noops == [True, True, False, False]
    counts = {
        s.reference: (s.shipped, s.cancelled, s.returned) for s in ledger.lines if s.is_product
    }
    assert counts == {
        str(LINE_SHOES): (1, 1, 1),
        str(LINE_SOCKS): (3, 0, 3),
        str(LINE_BOTTLE): (0, 1, 0),
    }
    assert ledger.refunded == Money.of("135.60", "USD")
    assert ledger.to_ship == 0
    assert ledger.authorized == ledger.captured


def test_a_cancel_after_shipment_moves_no_money_shopify_did_not_refund(
    http: httpx.Client,
) -> None:
    ledger = OrderLedger.open(fixture_order())
    for name, topic in [
        ("fulfillments_create.partial.json", "fulfillments/create"),
        ("refunds_create.return.json", "refunds/create"),
    ]:
        ledger, _ = apply_all(ledger, translated(http, name, topic))
    refunded, captured = ledger.refunded, ledger.captured
    ledger, _ = apply_all(
        ledger, translated(http, "orders_cancelled.after_shipment.json", "orders/cancelled")
    )
    socks = next(line for line in ledger.lines if line.reference == str(LINE_SOCKS))
    assert (socks.shipped, socks.returned) == (3, 3)
    assert (ledger.refunded, ledger.captured) == (refunded, captured)


# Random histories ---------------------------------------------------------------------------
#
# A history is what Shopify would send for one order: fulfillments (some opened and cancelled
# before they shipped), refunds of every restock type, order snapshots, a cancellation, each
# body the state as of its act. Its deliveries are dispatched by the real dispatcher (stale
# check, translation, ledger, deferral) over a real inbox, in the order they happened and in
# drawn orders with duplicates; every run must end in the same ledger with the same deliveries
# in the action center, and none of them for a ledger rule.
#
# A fulfillment that succeeds and is then cancelled is left out on purpose: in order its units
# ship (Passerelle never un-ships) and the cancellation goes to a person; the other way round
# the success is stale and nothing ships. That divergence is by design (tests above and in
# test_shopify_stale.py), so it cannot be part of a same-end-state property.

ORDER_TIME = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
Delivery = tuple[str, bytes]


class History:
    """A valid Shopify history for one order, kept alongside the ledger it leads to in order."""

    def __init__(self, order: Order, http: httpx.Client) -> None:
        self.order = order
        self.http = http
        self.truth = OrderLedger.open(order)
        self.deliveries: list[Delivery] = []
        self.fulfillments: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.cancelled = False
        self.ids = itertools.count(9007199254750001, 2)
        self.clock = itertools.count()

    def products(self) -> dict[str, CartLine]:
        return {line.reference: line for line in self.order.lines if line.type is LineType.PRODUCT}

    def state(self, line: str) -> tuple[int, int, int, int]:
        s = self.truth.line(line)
        return s.ordered, s.shipped, s.cancelled, s.returned

    def stamp(self) -> str:
        return (ORDER_TIME + timedelta(minutes=next(self.clock))).isoformat()

    def record(self, topic: str, body: dict[str, Any]) -> None:
        raw = dumps(body)
        try:
            translation = PLATFORM.translate(request(raw, topic), context(self.http))
        except FulfillmentReversedError:
            translation = Translation()  # for a person; the ledger does not change
        self.truth, _ = apply_all(self.truth, events_of(translation))
        self.deliveries.append((topic, raw))

    def line_item(self, line: str, quantity: int) -> dict[str, Any]:
        ordered, shipped, cancelled, _ = self.state(line)
        price = str(self.products()[line].unit_price.amount)
        to_ship = ordered - shipped - cancelled
        status = None if shipped == 0 else ("fulfilled" if to_ship == 0 else "partial")
        return {
            "id": int(line),
            "quantity": quantity,
            "fulfillable_quantity": to_ship,
            "fulfillment_status": status,
            "price": price,
            "price_set": _bag(price),
        }

    def fulfil(self, units: dict[str, int], *, opened_then_cancelled: bool = False) -> None:
        body = {
            "id": next(self.ids),
            "order_id": ORDER_ID,
            "status": "open" if opened_then_cancelled else "success",
            "updated_at": self.stamp(),
            "tracking_company": "UPS",
            "tracking_number": f"1Z{len(self.fulfillments):06d}",
            "line_items": [self.line_item(line, q) for line, q in units.items()],
        }
        self.fulfillments.append(body)
        self.record("fulfillments/create", body)
        if opened_then_cancelled:
            body = {**body, "status": "cancelled", "updated_at": self.stamp()}
            self.fulfillments[-1] = body
            self.record("fulfillments/update", body)
        else:
            # A later update of the same fulfillment (tracking added): the same act again.
            self.record("fulfillments/update", {**body, "updated_at": self.stamp()})

    def refund(
        self, lines: dict[str, tuple[int, str]], amount: Money, shipping: Money | None = None
    ) -> None:
        def refund_line(line: str, quantity: int, restock: str) -> dict[str, Any]:
            value = str((self.products()[line].unit_price * quantity).amount)
            return {
                "line_item_id": int(line),
                "quantity": quantity,
                "restock_type": restock,
                "subtotal": float(value),
                "subtotal_set": _bag(value),
                "total_tax_set": _bag("0.00"),
                "line_item": self.line_item(line, self.state(line)[0]),
            }

        body: dict[str, Any] = {
            "id": next(self.ids),
            "order_id": ORDER_ID,
            "processed_at": self.stamp(),
            "refund_line_items": [refund_line(line, q, r) for line, (q, r) in lines.items()],
            "transactions": [
                {
                    "id": next(self.ids),
                    "kind": "refund",
                    "status": "success",
                    "amount": str(amount.amount),
                    "currency": "USD",
                }
            ],
            "refund_shipping_lines": []
            if shipping is None
            else [{"subtotal_amount_set": _bag(str(shipping.amount))}],
        }
        self.refunds.append(body)
        self.record("refunds/create", body)

    def snapshot(self, topic: str, reason: str | None = None) -> None:
        updated = self.stamp()
        body = {
            "id": ORDER_ID,
            "presentment_currency": "USD",
            "updated_at": updated,
            "cancel_reason": reason,
            "cancelled_at": updated if reason else None,
            "line_items": [self.line_item(line, self.state(line)[0]) for line in self.products()],
            "fulfillments": list(self.fulfillments),
            "refunds": list(self.refunds),
        }
        self.record(topic, json.loads(json.dumps(body)))


def _bag(amount: str) -> dict[str, Any]:
    money = {"amount": amount, "currency_code": "USD"}
    return {"shop_money": money, "presentment_money": money}


@st.composite
def orders(draw: st.DrawFn) -> Order:
    count = draw(st.integers(1, 3))
    lines = [
        CartLine(
            reference=str(9007199254740995 + 2 * i),
            name=f"Product {i}",
            unit_price=Money.from_minor(draw(st.integers(1, 20_000)), "USD"),
            quantity=draw(st.integers(1, 3)),
        )
        for i in range(count)
    ]
    shipping = draw(st.sampled_from([0, 1, 999, 1500]))
    if shipping:
        price = Money.from_minor(shipping, "USD")
        lines.append(charge("shipping:1", "Shipping", LineType.HANDLING, price))
    return Order(reference=ORDER, currency="USD", lines=tuple(lines))


def draw_refund(data: st.DataObject, history: History) -> None:
    """A refund of some units, each with a restock type Shopify would give it, and money."""
    lines: dict[str, tuple[int, str]] = {}
    returned_value = cancelled_value = 0
    for line, product in history.products().items():
        ordered, shipped, cancelled, returned = history.state(line)
        to_ship, returnable = ordered - shipped - cancelled, shipped - returned
        if history.cancelled:
            to_ship = 0
        kinds = []
        if returnable:
            kinds.append("return")
        if to_ship:
            kinds.append("cancel")
        # no_restock says nothing: the line's status decides, and a partly shipped line (its
        # shipped units known from quantity less fulfillable_quantity) returns them first.
        if (returnable and not to_ship) or (to_ship and not shipped):
            kinds += ["no_restock", "legacy_restock"]
        elif returnable and to_ship and not cancelled and not returned:
            kinds.append("no_restock")
        if not kinds or not data.draw(st.booleans()):
            continue
        restock = data.draw(st.sampled_from(kinds))
        most = {"return": returnable, "cancel": to_ship}.get(restock, returnable + to_ship)
        quantity = data.draw(st.integers(1, most))
        back = {"return": quantity, "cancel": 0}.get(restock, min(quantity, returnable))
        lines[line] = (quantity, restock)
        returned_value += product.unit_price.minor * back
        cancelled_value += product.unit_price.minor * (quantity - back)
    if not lines:
        return
    # Up to the returned goods' value, plus the cancelled goods' value or not (a shop that
    # captured at checkout refunds it, one that did not has nothing to refund for them).
    amount = data.draw(st.integers(0, returned_value)) + data.draw(
        st.sampled_from([0, cancelled_value])
    )
    history.refund(lines, Money.from_minor(amount, "USD"))


def draw_history(data: st.DataObject, http: httpx.Client) -> History:
    history = History(data.draw(orders()), http)
    for _ in range(data.draw(st.integers(1, 8))):
        to_ship = {
            line: o - s - c for line in history.products() for o, s, c, _ in [history.state(line)]
        }
        acts = ["refund"]
        if not history.cancelled and any(to_ship.values()):
            acts += ["fulfil", "fulfil", "open_then_cancel"]
        if history.fulfillments and not history.cancelled:
            acts += ["partially_fulfilled"]
        if not history.cancelled:
            acts += ["cancel"]
        if not history.truth.refundable.is_zero():
            acts += ["shipping_refund"]
        act = data.draw(st.sampled_from(acts))
        if act in ("fulfil", "open_then_cancel"):
            units = {
                line: data.draw(st.integers(0, left)) for line, left in to_ship.items() if left
            }
            units = {line: q for line, q in units.items() if q} or {
                next(line for line, left in to_ship.items() if left): 1
            }
            history.fulfil(units, opened_then_cancelled=act == "open_then_cancel")
        elif act == "refund":
            draw_refund(data, history)
        elif act == "shipping_refund":
            # Never more than what the goods still out do not need.
            products = history.products()
            kept = sum(
                products[line].unit_price.minor * (s - r)
                for line in products
                for _, s, _, r in [history.state(line)]
            )
            spare = history.truth.refundable.minor - kept
            if spare > 0:
                shipping = Money.from_minor(data.draw(st.integers(1, spare)), "USD")
                history.refund({}, shipping, shipping=shipping)
        elif act == "partially_fulfilled":
            history.snapshot("orders/partially_fulfilled")
        else:
            reason = data.draw(st.sampled_from(["customer", "inventory", "fraud", "other"]))
            history.snapshot("orders/cancelled", reason)
            history.cancelled = True
    return history


@dataclass(frozen=True)
class Outcome:
    """How a run ended: the ledger, and which deliveries (topic, body) went to a person, why."""

    ledger: OrderLedger
    failed: frozenset[tuple[str, bytes, str]]


def dispatch(order: Order, arrivals: Iterable[tuple[Delivery, str]]) -> Outcome:
    """Receive `arrivals` (a delivery and its Shopify event id) into a fresh inbox and dispatch
    them as `passerelle serve` does, waiting out deferrals on a clock, until all are settled."""
    run = dispatched(
        PLATFORM,
        shopify_store(),
        order,
        (
            request(body, topic, event_id=event_id, webhook_id=f"webhook-{event_id}")
            for (topic, body), event_id in arrivals
        ),
        now=ORDER_TIME + timedelta(days=1),
    )
    failed = frozenset(
        (d.to_request().headers.get("X-Shopify-Topic", ""), d.body, d.last_error.code)
        for d in run.failed
        if d.last_error is not None
    )
    return Outcome(run.ledger, failed)


def arrivals(
    data: st.DataObject, deliveries: list[Delivery], *, shuffle: bool
) -> list[tuple[Delivery, str]]:
    """The deliveries, as they happened or shuffled, each under its own event id, with
    duplicates mixed in: the same event again (the inbox keeps one) or the same act under
    another event id (a second subscription: dispatched, a no-op)."""
    received = [(delivery, f"ev-{n}") for n, delivery in enumerate(deliveries)]
    if shuffle:
        received = data.draw(st.permutations(received))
    for n in range(data.draw(st.integers(0, 3)) if received else 0):
        delivery, event_id = data.draw(st.sampled_from(received))
        again = event_id if data.draw(st.booleans()) else f"{event_id}-again-{n}"
        received.insert(data.draw(st.integers(0, len(received))), (delivery, again))
    return received


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_arrival_order_with_duplicates_ends_in_the_same_state(data: st.DataObject) -> None:
    with httpx.Client() as http:
        history = draw_history(data, http)
    deliveries = history.deliveries
    in_order = dispatch(history.order, arrivals(data, deliveries, shuffle=False))
    truth = history.truth
    # (The dispatcher keeps no ledger for an event that changes nothing, so `applied` is
    # compared between dispatched runs only.)
    assert in_order.ledger.lines == truth.lines
    assert (in_order.ledger.authorized, in_order.ledger.captured, in_order.ledger.refunded) == (
        truth.authorized,
        truth.captured,
        truth.refunded,
    )
    # Only the fulfillments cancelled in Shopify wait for a person; no ledger rule is broken.
    cancelled = {
        (topic, body)
        for topic, body in deliveries
        if topic == "fulfillments/update" and b'"status": "cancelled"' in body
    }
    assert {(topic, body) for topic, body, _ in in_order.failed} == cancelled
    assert {code for _, _, code in in_order.failed} <= {"fulfillment_cancelled"}
    for _ in range(data.draw(st.integers(1, 3))):
        shuffled = dispatch(history.order, arrivals(data, deliveries, shuffle=True))
        assert shuffled == in_order


def test_partial_capture_does_not_depend_on_arrival_order() -> None:
    def product(reference: str, price: str) -> CartLine:
        return CartLine(
            reference=reference, name=reference, unit_price=Money.of(price, "USD"), quantity=1
        )

    order = Order(
        reference=ORDER,
        currency="USD",
        lines=(
            product("1", "0.01"),
            product("2", "0.02"),
            product("3", "0.01"),
            CartLine(
                reference="shipping:1",
                name="Shipping",
                type=LineType.HANDLING,
                unit_price=Money.of("9.99", "USD"),
                quantity=1,
            ),
        ),
    )
    first, second = (
        OrderShipped(order=ORDER, id=line, lines=(LineQuantity(line=line, quantity=1),))
        for line in ("1", "2")
    )
    in_order, _ = apply_all(OrderLedger.open(order), [first, second])
    reversed_, _ = apply_all(OrderLedger.open(order), [second, first])
    assert in_order.captured == reversed_.captured
