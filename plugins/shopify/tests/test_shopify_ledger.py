"""Translations applied to the order ledger: repeats change nothing, and any order of arrival
(with duplicates, and retries of what is not applicable yet) ends in the same state."""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable
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
    context,
    dumps,
    fixture,
    request,
)

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
from passerelle.orders import EventNotYetApplicable, Order, OrderLedger
from passerelle.platforms import Translation
from passerelle_shopify import ShopifyPlatform

ORDER = str(ORDER_ID)
PLATFORM = ShopifyPlatform()


def fixture_order() -> Order:
    """The fixtures' order as created at checkout, in the customer's currency."""

    def product(line: int, name: str, price: str, quantity: int) -> CartLine:
        return CartLine(
            reference=str(line), name=name, unit_price=Money.of(price, "USD"), quantity=quantity
        )

    return Order(
        reference=ORDER,
        currency="USD",
        lines=(
            product(LINE_SHOES, "Trail Runner Shoes", "120.00", 2),
            product(LINE_SOCKS, "Wool Socks", "12.50", 3),
            product(LINE_BOTTLE, "Water Bottle", "25.00", 1),
            CartLine(
                reference="shipping:9007199254741501",
                name="Standard",
                type=LineType.HANDLING,
                unit_price=Money.of("15.00", "USD"),
                quantity=1,
            ),
        ),
    )


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


def test_the_fixture_story_settles_the_order(http: httpx.Client) -> None:
    def translated(name: str, topic: str) -> tuple[OrderEvent, ...]:
        return events_of(PLATFORM.translate(request(fixture(name), topic), context(http)))

    ledger = OrderLedger.open(fixture_order())
    # The refund arrives before the fulfillment it returns: not applicable yet.
    refund = translated("refunds_create.return.json", "refunds/create")
    with pytest.raises(EventNotYetApplicable) as waiting:
        apply_all(ledger, refund)
    assert waiting.value.line == str(LINE_SHOES)
    ledger, _ = apply_all(
        ledger, translated("fulfillments_create.partial.json", "fulfillments/create")
    )
    ledger, _ = apply_all(ledger, refund)
    ledger, noops = apply_all(
        ledger, translated("orders_cancelled.after_shipment.json", "orders/cancelled")
    )
    assert noops == [True, True, False]
    counts = {
        s.reference: (s.shipped, s.cancelled, s.returned) for s in ledger.lines if s.is_product
    }
    assert counts == {
        str(LINE_SHOES): (1, 1, 1),
        str(LINE_SOCKS): (3, 0, 0),
        str(LINE_BOTTLE): (0, 1, 0),
    }
    assert ledger.refunded == Money.of("135.60", "USD")
    assert ledger.to_ship == 0
    assert ledger.authorized == ledger.captured


# Random histories ---------------------------------------------------------------------------

ORDER_TIME = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


class History:
    """A valid Shopify history for one order, kept alongside the ledger it leads to in order."""

    def __init__(self, order: Order, http: httpx.Client) -> None:
        self.order = order
        self.http = http
        self.truth = OrderLedger.open(order)
        self.deliveries: list[tuple[str, bytes]] = []
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
        events = events_of(PLATFORM.translate(request(raw, topic), context(self.http)))
        self.truth, _ = apply_all(self.truth, events)
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

    def fulfil(self, units: dict[str, int]) -> None:
        body = {
            "id": next(self.ids),
            "order_id": ORDER_ID,
            "status": "success",
            "updated_at": self.stamp(),
            "tracking_company": "UPS",
            "tracking_number": f"1Z{len(self.fulfillments):06d}",
            "line_items": [self.line_item(line, q) for line, q in units.items()],
        }
        self.fulfillments.append(body)
        self.record("fulfillments/create", body)

    def refund(
        self,
        returned: dict[str, tuple[int, str]],
        cancelled: dict[str, tuple[int, str]],
        amount: Money,
        shipping: Money | None = None,
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
            "refund_line_items": [
                *(refund_line(line, q, r) for line, (q, r) in returned.items()),
                *(refund_line(line, q, r) for line, (q, r) in cancelled.items()),
            ],
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
        body = {
            "id": ORDER_ID,
            "presentment_currency": "USD",
            "updated_at": self.stamp(),
            "cancel_reason": reason,
            "cancelled_at": self.stamp() if reason else None,
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
        lines.append(
            CartLine(
                reference="shipping:1",
                name="Shipping",
                type=LineType.HANDLING,
                unit_price=Money.from_minor(shipping, "USD"),
                quantity=1,
            )
        )
    return Order(reference=ORDER, currency="USD", lines=tuple(lines))


def draw_history(data: st.DataObject, http: httpx.Client) -> History:
    history = History(data.draw(orders()), http)
    for _ in range(data.draw(st.integers(1, 7))):
        to_ship = {
            line: o - s - c for line in history.products() for o, s, c, _ in [history.state(line)]
        }
        returnable = {
            line: s - r for line in history.products() for _, s, _, r in [history.state(line)]
        }
        acts = []
        if not history.cancelled and any(to_ship.values()):
            acts += ["fulfil", "refund"]
        if any(returnable.values()):
            acts += ["refund"]
        if history.fulfillments:
            acts += ["partially_fulfilled"]
        if not history.cancelled:
            acts += ["cancel"]
        if not history.truth.refundable.is_zero():
            acts += ["shipping_refund"]
        if not acts:
            break
        act = data.draw(st.sampled_from(acts))
        if act == "fulfil":
            units = {
                line: data.draw(st.integers(0, left)) for line, left in to_ship.items() if left
            }
            units = {line: q for line, q in units.items() if q} or {
                next(line for line, left in to_ship.items() if left): 1
            }
            history.fulfil(units)
        elif act == "refund":
            returned: dict[str, tuple[int, str]] = {}
            for line, left in returnable.items():
                quantity = data.draw(st.integers(0, left)) if left else 0
                if quantity:
                    fully = to_ship[line] == 0
                    kinds = ["return", "no_restock", "legacy_restock"] if fully else ["return"]
                    returned[line] = (quantity, data.draw(st.sampled_from(kinds)))
            cancelled: dict[str, tuple[int, str]] = {}
            if not history.cancelled:
                for line, left in to_ship.items():
                    quantity = data.draw(st.integers(0, left)) if left else 0
                    if quantity:
                        never_shipped = history.state(line)[1] == 0
                        kinds = ["cancel", "no_restock"] if never_shipped else ["cancel"]
                        cancelled[line] = (quantity, data.draw(st.sampled_from(kinds)))
            if not returned and not cancelled:
                continue
            products = history.products()
            returned_value = sum(
                products[line].unit_price.minor * q for line, (q, _) in returned.items()
            )
            cancelled_value = sum(
                products[line].unit_price.minor * q for line, (q, _) in cancelled.items()
            )
            # What the customer gets: up to the returned goods' value, plus the cancelled
            # goods' value or not (a shop that captured at checkout refunds it, one that did
            # not has nothing to refund for them).
            amount = data.draw(st.integers(0, returned_value)) + data.draw(
                st.sampled_from([0, cancelled_value])
            )
            history.refund(returned, cancelled, Money.from_minor(amount, "USD"))
        elif act == "shipping_refund":
            # Never more than what the goods still out do not need.
            products = history.products()
            kept = sum(products[line].unit_price.minor * q for line, q in returnable.items())
            spare = history.truth.refundable.minor - kept
            if spare <= 0:
                continue
            shipping = Money.from_minor(data.draw(st.integers(1, spare)), "USD")
            history.refund({}, {}, shipping, shipping=shipping)
        elif act == "partially_fulfilled":
            history.snapshot("orders/partially_fulfilled")
        else:
            reason = data.draw(st.sampled_from(["customer", "inventory", "fraud", "other"]))
            history.snapshot("orders/cancelled", reason)
            history.cancelled = True
    return history


def deliver(
    order: Order, deliveries: Iterable[tuple[str, bytes]], http: httpx.Client
) -> OrderLedger:
    """Apply deliveries as the dispatcher would: what is not applicable yet goes back in line."""
    ledger = OrderLedger.open(order)
    queue = deque(deliveries)
    waiting = 0
    while queue:
        topic, body = queue.popleft()
        before = ledger
        events = events_of(PLATFORM.translate(request(body, topic), context(http)))
        try:
            for event in events:
                ledger, _ = ledger.apply(event)
        except EventNotYetApplicable:
            queue.append((topic, body))
            waiting = 0 if ledger != before else waiting + 1
            assert waiting <= len(queue), f"deliveries never became applicable: {list(queue)}"
        else:
            waiting = 0
    return ledger


def arrival_orders(
    data: st.DataObject, deliveries: list[tuple[str, bytes]]
) -> list[list[tuple[str, bytes]]]:
    """The deliveries newest first (every one before what it depends on), and shuffled; each
    with a few duplicates mixed in."""
    shuffled = data.draw(st.randoms(use_true_random=False)).sample(deliveries, len(deliveries))
    orders = []
    for arrivals in (deliveries[::-1], shuffled):
        arrived = list(arrivals)
        if deliveries:
            for duplicate in data.draw(st.lists(st.sampled_from(deliveries), max_size=3)):
                arrived.insert(data.draw(st.integers(0, len(arrived))), duplicate)
        orders.append(arrived)
    return orders


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_arrival_order_with_duplicates_ends_in_the_same_state(data: st.DataObject) -> None:
    with httpx.Client() as http:
        history = draw_history(data, http)
        finals = [
            deliver(history.order, arrived, http)
            for arrived in arrival_orders(data, history.deliveries)
        ]
    truth = history.truth
    for final in finals:
        assert final.lines == truth.lines
        assert final.refunded == truth.refunded
        assert final.applied == truth.applied
        assert (final.authorized, final.captured) == (truth.authorized, truth.captured)


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
