"""Ledger rules that must hold for every order and every sequence of events."""

from __future__ import annotations

import contextlib
import copy
from collections import deque
from collections.abc import Iterable
from fractions import Fraction

from hypothesis import event as event_label
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.events import (
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
    Effect,
    EventNotYetApplicable,
    LedgerError,
    Line,
    LineState,
    Order,
    OrderLedger,
)

PROPERTY = settings(max_examples=200, deadline=None)
CURRENCIES = ("CAD", "JPY", "BHD", "USD")
IDS = ("1", "2", "3", "4", "5", "6")  # few, so that ids repeat within and across kinds


@st.composite
def orders(draw: st.DrawFn) -> Order:
    code = draw(st.sampled_from(CURRENCIES))
    lines = [
        Line(
            reference=f"SKU-{i}",
            name=f"Item {i}",
            unit_price=Money.from_minor(draw(st.integers(0, 20_000)), code),
            quantity=draw(st.integers(1, 4)),
        )
        for i in range(draw(st.integers(1, 4)))
    ]
    for reference, kind, most in (
        ("HANDLING", LineType.HANDLING, 3000),
        ("FEE", LineType.FEE, 500),
    ):
        if draw(st.booleans()):
            price = Money.from_minor(draw(st.integers(0, most)), code)
            lines.append(
                Line(reference=reference, name=reference, type=kind, unit_price=price, quantity=1)
            )
    positive = sum(line.total.minor for line in lines)
    if positive and draw(st.booleans()):
        price = Money.from_minor(-draw(st.integers(0, positive)), code)
        lines.append(
            Line(
                reference="DISCOUNT",
                name="Discount",
                type=LineType.DISCOUNT,
                unit_price=price,
                quantity=1,
            )
        )
    return Order(reference="1001", currency=code, lines=tuple(lines))


def draw_lines(data: st.DataObject, ledger: OrderLedger) -> tuple[LineQuantity, ...]:
    # Products three times as likely as adjustments or an unknown line.
    products = [s.reference for s in ledger.lines if s.is_product]
    others = [s.reference for s in ledger.lines if not s.is_product] + ["NOPE"]
    drawn = data.draw(st.lists(st.sampled_from(products * 3 + others), min_size=1, max_size=3))
    references = dict.fromkeys(drawn)
    return tuple(LineQuantity(line=r, quantity=data.draw(st.integers(1, 3))) for r in references)


def draw_cart(data: st.DataObject, ledger: OrderLedger) -> tuple[Line, ...]:
    code = ledger.currency
    cart: list[Line] = []
    for state in ledger.lines:
        if not state.is_product or not data.draw(st.booleans()):
            continue
        price = state.line.unit_price
        # A shipped line's price is kept, but now and then an edit tries to change it.
        if not state.shipped or data.draw(st.integers(0, 9)) == 0:
            price = Money.from_minor(data.draw(st.integers(0, 20_000)), code)
        quantity = data.draw(st.integers(1, 3))
        cart.append(state.line.model_copy(update={"unit_price": price, "quantity": quantity}))
    if data.draw(st.booleans()):
        price = Money.from_minor(data.draw(st.integers(0, 20_000)), code)
        cart.append(
            Line(reference=f"NEW-{len(ledger.lines)}", name="New", unit_price=price, quantity=1)
        )
    if data.draw(st.booleans()):
        price = Money.from_minor(data.draw(st.integers(0, 3000)), code)
        cart.append(
            Line(
                reference="HANDLING",
                name="Shipping",
                type=LineType.HANDLING,
                unit_price=price,
                quantity=1,
            )
        )
    value = sum(line.total.minor for line in cart)
    if value and data.draw(st.booleans()):
        price = Money.from_minor(-data.draw(st.integers(0, value + 100)), code)
        cart.append(
            Line(
                reference="DISCOUNT",
                name="Discount",
                type=LineType.DISCOUNT,
                unit_price=price,
                quantity=1,
            )
        )
    return tuple(cart)


def draw_event(data: st.DataObject, ledger: OrderLedger, accepted: list[OrderEvent]) -> OrderEvent:
    kinds = ["ship", "ship", "cancel", "return", "return", "edit"] + (
        ["replay"] if accepted else []
    )
    kind = data.draw(st.sampled_from(kinds))
    id = data.draw(st.sampled_from(IDS))
    everything = data.draw(st.integers(0, 3)) == 0
    if kind == "replay":
        return data.draw(st.sampled_from(accepted))
    if kind == "ship":
        return OrderShipped(
            order="1001", id=id, lines=None if everything else draw_lines(data, ledger)
        )
    if kind == "cancel":
        return OrderCancelled(
            order="1001", id=id, lines=None if everything else draw_lines(data, ledger)
        )
    if kind == "return":
        most = max(ledger.refundable.minor, ledger.authorized.minor - ledger.refunded.minor)
        refund = Money.from_minor(data.draw(st.integers(0, most + 1)), ledger.currency)
        lines = () if data.draw(st.booleans()) else draw_lines(data, ledger)
        return OrderReturned(order="1001", id=id, lines=lines, refund=refund)
    return OrderEdited(order="1001", id=id, cart=draw_cart(data, ledger))


def assert_invariants(ledger: OrderLedger) -> None:
    zero = Money.zero(ledger.currency)
    for state in ledger.lines:
        assert 0 <= state.returned <= state.shipped
        assert state.cancelled >= 0
        assert state.shipped + state.cancelled <= state.ordered
    assert zero <= ledger.refunded <= ledger.captured <= ledger.authorized
    if ledger.to_ship == 0:
        assert ledger.remaining_authorization == zero


def shipped_units(ledger: OrderLedger) -> dict[str, int]:
    return {s.reference: s.shipped for s in ledger.lines if s.shipped}


def assert_effect_matches(
    event: OrderEvent, before: OrderLedger, after: OrderLedger, amount: Money, void: bool
) -> None:
    """The effect says exactly what changed, and edits never touch shipped units."""
    for reference, shipped in shipped_units(before).items():
        assert after.line(reference).shipped >= shipped
    if isinstance(event, OrderShipped):
        assert Money.zero(before.currency) <= amount <= before.remaining_authorization
        assert after.captured - before.captured == amount
        assert after.authorized == before.authorized
    elif isinstance(event, OrderCancelled):
        assert Money.zero(before.currency) <= amount <= before.remaining_authorization
        assert before.authorized - after.authorized == amount
        assert void == (after.to_ship == 0 < before.to_ship)
        if void:
            assert amount == before.remaining_authorization
    elif isinstance(event, OrderReturned):
        assert after.refunded - before.refunded == amount == event.refund
    else:
        assert shipped_units(after) == shipped_units(before)
        assert after.authorized - before.authorized == amount
        assert after.remaining_authorization == Money.sum(
            (line.total for line in event.cart), before.currency
        )


class Cart:
    """What the current cart carries: its total over its product value (or units if all free)."""

    def __init__(self, lines: Iterable[Line], currency_code: str) -> None:
        lines = list(lines)
        self.total = Money.sum((line.total for line in lines), currency_code).minor
        products = [line for line in lines if line.type is LineType.PRODUCT]
        self.by_value = sum(line.total.minor for line in products) > 0
        self.prices = {line.reference: line.unit_price.minor for line in products}
        self.size = sum(self.weight(line.reference) * line.quantity for line in products)

    def weight(self, reference: str) -> int:
        return self.prices[reference] if self.by_value else 1

    def exact_share(self, effect: Effect) -> Fraction:
        """The exact part of the cart total that the units of a shipment or cancellation carry."""
        measure = sum(self.weight(lq.line) * lq.quantity for lq in effect.lines)
        return Fraction(self.total * measure, self.size)


@PROPERTY
@given(order=orders(), data=st.data())
def test_random_events_never_break_an_invariant(order: Order, data: st.DataObject) -> None:
    ledger = OrderLedger.open(order)
    cart = Cart(order.lines, order.currency)
    accepted: list[OrderEvent] = []
    untouched = True  # no cancellation or edit has changed the order yet
    for _ in range(data.draw(st.integers(1, 15), label="steps")):
        event = draw_event(data, ledger, accepted)
        snapshot = copy.deepcopy(ledger)
        try:
            after, effect = ledger.apply(event)
        except EventNotYetApplicable:
            event_label(f"{event.kind}: not yet")
            # Only goods still to ship can make a deferred event applicable later.
            assert ledger.to_ship > 0
            assert ledger == snapshot
            continue
        except LedgerError as error:
            event_label(f"{event.kind}: {error.code}")
            assert ledger == snapshot
            continue
        assert_invariants(after)
        event_label(f"{event.kind}: {'no-op' if effect.is_noop else 'applied'}")
        if (event.kind, event.id) in ledger.applied:
            assert effect.is_noop
            assert after is ledger
        else:
            assert_effect_matches(event, ledger, after, effect.amount, effect.void)
        if isinstance(event, OrderEdited) and not effect.is_noop:
            cart = Cart(event.cart, order.currency)
        elif isinstance(event, OrderShipped | OrderCancelled) and not effect.is_noop:
            # Rounded from the whole cart: each act is within a minor unit of its exact share.
            assert abs(effect.amount.minor - cart.exact_share(effect)) < 1
        twice, repeated = after.apply(event)
        assert twice == after
        assert repeated.is_noop
        accepted.append(event)
        if event.kind in ("order_cancelled", "order_edited") and not effect.is_noop:
            untouched = False
        if untouched and after.is_fully_shipped:
            assert after.captured == order.total
        ledger = after


def split_value(ledger: OrderLedger, units: dict[str, int]) -> tuple[int, int]:
    act = sum(s.line.unit_price.minor * units.get(s.reference, 0) for s in ledger.lines)
    rest = sum(
        s.line.unit_price.minor * (s.to_ship - units.get(s.reference, 0)) for s in ledger.lines
    )
    return act, rest


def draw_open_units(data: st.DataObject, ledger: OrderLedger) -> dict[str, int]:
    open_lines = [s for s in ledger.lines if s.to_ship]
    shuffled: list[LineState] = data.draw(st.permutations(open_lines))
    chosen = shuffled[: data.draw(st.integers(1, len(open_lines)))]
    return {s.reference: data.draw(st.integers(1, s.to_ship)) for s in chosen}


@PROPERTY
@given(order=orders(), data=st.data())
def test_any_split_into_shipments_captures_the_total_exactly(
    order: Order, data: st.DataObject
) -> None:
    ledger = OrderLedger.open(order)
    total_value = sum(s.line.total.minor for s in ledger.lines if s.is_product)
    for number in range(ledger.to_ship):
        if not ledger.to_ship:
            break
        units = draw_open_units(data, ledger)
        act, _ = split_value(ledger, units)
        lines = tuple(LineQuantity(line=r, quantity=q) for r, q in units.items())
        after, effect = ledger.apply(OrderShipped(order="1001", id=f"F-{number}", lines=lines))
        assert after.captured <= after.authorized == order.total
        # Pro rata by product value: captured is the total's exact share of the value shipped,
        # rounded to the nearest minor unit, so each shipment is within a unit of its own share.
        value = sum(s.line.unit_price.minor * s.shipped for s in after.lines)
        if total_value:
            exact = Fraction(order.total.minor * value, total_value)
            assert abs(after.captured.minor - exact) <= Fraction(1, 2)
            assert abs(effect.amount.minor - Fraction(order.total.minor * act, total_value)) < 1
        ledger = after
    assert ledger.is_fully_shipped
    assert ledger.captured == order.total


@PROPERTY
@given(order=orders(), data=st.data())
def test_captures_and_releases_always_add_up_to_the_total(
    order: Order, data: st.DataObject
) -> None:
    ledger = OrderLedger.open(order)
    released = Money.zero(order.currency)
    for number in range(ledger.to_ship):
        if not ledger.to_ship:
            break
        act = data.draw(st.sampled_from(["ship", "cancel", "cancel everything"]))
        lines = tuple(
            LineQuantity(line=r, quantity=q) for r, q in draw_open_units(data, ledger).items()
        )
        if act == "ship":
            ledger, _ = ledger.apply(OrderShipped(order="1001", id=str(number), lines=lines))
        else:
            cancelled = OrderCancelled(
                order="1001", id=str(number), lines=None if act == "cancel everything" else lines
            )
            before = ledger.remaining_authorization
            ledger, effect = ledger.apply(cancelled)
            released += effect.amount
            if act == "cancel everything":
                assert effect.void
                assert effect.amount == before
        assert ledger.captured + released + ledger.remaining_authorization == order.total
    assert ledger.to_ship == 0
    assert ledger.captured + released == order.total
    assert ledger.authorized == ledger.captured


# Order of arrival --------------------------------------------------------------------------------


def draw_acts(data: st.DataObject, ledger: OrderLedger) -> tuple[OrderLedger, list[OrderEvent]]:
    """A valid history of shipments, cancellations and returns that name their lines, from
    `ledger`; with the ledger it leads to in that order."""
    acts: list[OrderEvent] = []
    for number in range(data.draw(st.integers(1, 8), label="acts")):
        kinds = []
        if ledger.to_ship:
            kinds += ["ship", "ship", "cancel"]
        if any(s.returnable for s in ledger.lines) or not ledger.refundable.is_zero():
            kinds += ["return"]
        if not kinds:
            break
        kind = data.draw(st.sampled_from(kinds))
        id = f"A-{number}"
        if kind == "return":
            returnable = [s for s in ledger.lines if s.returnable]
            chosen = (
                data.draw(st.lists(st.sampled_from(returnable), unique=True)) if returnable else []
            )
            lines = tuple(
                LineQuantity(line=s.reference, quantity=data.draw(st.integers(1, s.returnable)))
                for s in chosen
            )
            refund = Money.from_minor(
                data.draw(st.integers(0, ledger.refundable.minor)), ledger.currency
            )
            event: OrderEvent = OrderReturned(order="1001", id=id, lines=lines, refund=refund)
        else:
            lines = tuple(
                LineQuantity(line=r, quantity=q) for r, q in draw_open_units(data, ledger).items()
            )
            if kind == "ship":
                event = OrderShipped(order="1001", id=id, lines=lines)
            else:
                event = OrderCancelled(order="1001", id=id, lines=lines)
        ledger, _ = ledger.apply(event)
        acts.append(event)
    return ledger, acts


def mirrored(ledger: OrderLedger) -> OrderLedger:
    """The ledger rebuilt from what a back end's view of the order says."""
    return OrderLedger(
        reference=ledger.reference,
        currency=ledger.currency,
        lines=ledger.lines,
        authorized=ledger.authorized,
        captured=ledger.captured,
        refunded=ledger.refunded,
        applied=ledger.applied,
    )


def deliver(
    ledger: OrderLedger, arrivals: Iterable[OrderEvent], *, rebuild: bool = False
) -> tuple[OrderLedger, dict[str, Money]]:
    """Apply events as the dispatcher does: what is not applicable yet goes back in line.
    With `rebuild`, the ledger is rebuilt from its view after every act, as a back end that
    stores only its view would. Returns the ledger and the amounts of the acts that applied."""
    queue = deque(arrivals)
    amounts: dict[str, Money] = {}
    waiting = 0
    while queue:
        event = queue.popleft()
        try:
            after, effect = ledger.apply(event)
        except EventNotYetApplicable:
            event_label("an act waited for another")
            queue.append(event)
            waiting += 1
            assert waiting <= len(queue), f"never applicable: {list(queue)}"
            continue
        waiting = 0
        assert_invariants(after)
        if not effect.is_noop:
            amounts[f"{event.kind} {event.id}"] = effect.amount
        ledger = mirrored(after) if rebuild else after
    return ledger, amounts


def arrival(data: st.DataObject, acts: list[OrderEvent]) -> list[OrderEvent]:
    """The acts shuffled, with a few of them delivered twice."""
    arrived: list[OrderEvent] = data.draw(st.permutations(acts))
    if acts:
        for duplicate in data.draw(st.lists(st.sampled_from(acts), max_size=3)):
            arrived.insert(data.draw(st.integers(0, len(arrived))), duplicate)
    return arrived


@PROPERTY
@given(order=orders(), data=st.data())
def test_the_same_acts_in_any_order_end_in_the_same_ledger(
    order: Order, data: st.DataObject
) -> None:
    # Some history first, edits included, so that the acts may start from any cart.
    ledger = OrderLedger.open(order)
    for _ in range(data.draw(st.integers(0, 4), label="history")):
        with contextlib.suppress(LedgerError):
            ledger, _ = ledger.apply(draw_event(data, ledger, []))
    truth, acts = draw_acts(data, ledger)
    edited = any(kind == "order_edited" for kind, _ in ledger.applied)
    event_label("acts on an edited cart" if edited else "acts on the checkout cart")
    in_order, amounts = deliver(ledger, acts)
    assert in_order == truth
    for arrived in (arrival(data, acts), arrival(data, acts)):
        final, other_amounts = deliver(ledger, arrived)
        # Quantities, amounts, applied events and cart: all equal.
        assert final == truth
        # Every act that changed the order moved money as in any other order, up to a minor
        # unit of rounding each (the totals are equal: the ledgers are).
        assert other_amounts.keys() == amounts.keys()
        for key, amount in amounts.items():
            assert abs(other_amounts[key].minor - amount.minor) <= 1
    if not edited:
        # A back end that keeps only its view ends the same too: checkout is derived again.
        rebuilt, _ = deliver(ledger, arrival(data, acts), rebuild=True)
        assert rebuilt == truth
