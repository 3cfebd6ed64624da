from __future__ import annotations

import itertools
import re
from dataclasses import replace

import pytest
from pydantic import ValidationError

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
    CancelExceedsOrderedError,
    CartStart,
    DuplicateLineError,
    Effect,
    EventNotYetApplicable,
    InvalidCartError,
    InvalidRefundError,
    LedgerError,
    Line,
    LineAlreadyShippedError,
    LineState,
    NotAProductLineError,
    Order,
    OrderAlreadyShippedError,
    OrderCurrencyMismatchError,
    OrderLedger,
    OrderMismatchError,
    RefundExceedsCapturedError,
    ReturnExceedsShippedError,
    ShipExceedsOrderedError,
    UnknownLineError,
)


def cad(amount: str) -> Money:
    return Money.of(amount, "CAD")


def line(
    reference: str,
    price: str,
    quantity: int = 1,
    kind: LineType = LineType.PRODUCT,
    *,
    code: str = "CAD",
    name: str | None = None,
) -> Line:
    return Line(
        reference=reference,
        name=name or f"Item {reference}",
        type=kind,
        unit_price=Money.of(price, code),
        quantity=quantity,
    )


def qty(reference: str, quantity: int) -> LineQuantity:
    return LineQuantity(line=reference, quantity=quantity)


def ship(id: str, *lines: LineQuantity, everything: bool = False) -> OrderShipped:
    return OrderShipped(order="1001", id=id, lines=None if everything else lines)


def cancel(id: str, *lines: LineQuantity, everything: bool = False) -> OrderCancelled:
    return OrderCancelled(order="1001", id=id, lines=None if everything else lines)


def give_back(id: str, refund: Money, *lines: LineQuantity) -> OrderReturned:
    return OrderReturned(order="1001", id=id, lines=lines, refund=refund)


def edit(id: str, *cart: Line) -> OrderEdited:
    return OrderEdited(order="1001", id=id, cart=cart)


# SKU-1 2 x 10.00, SKU-2 1 x 5.00, handling 7.00, discount -3.00: total 29.00 CAD.
def mug_order() -> Order:
    return Order(
        reference="1001",
        currency="CAD",
        lines=(
            line("SKU-1", "10.00", 2),
            line("SKU-2", "5.00"),
            line("SHIP", "7.00", kind=LineType.HANDLING),
            line("DISC", "-3.00", kind=LineType.DISCOUNT),
        ),
    )


def run(ledger: OrderLedger, *events: OrderEvent) -> tuple[OrderLedger, list[Effect]]:
    effects = []
    for event in events:
        ledger, effect = ledger.apply(event)
        effects.append(effect)
    return ledger, effects


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def rejected(ledger: OrderLedger, event: OrderEvent) -> LedgerError:
    """Apply an event that must be refused; check that nothing changed and return the error."""
    before = (ledger.lines, ledger.authorized, ledger.captured, ledger.refunded, ledger.applied)
    with pytest.raises(LedgerError) as excinfo:
        ledger.apply(event)
    after = (ledger.lines, ledger.authorized, ledger.captured, ledger.refunded, ledger.applied)
    assert after == before
    return excinfo.value


@pytest.fixture
def ledger() -> OrderLedger:
    return OrderLedger.open(mug_order())


# Orders ------------------------------------------------------------------------------------------


def test_order_total_sums_all_lines() -> None:
    assert mug_order().total == cad("29.00")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((line("A", "1.00"), line("A", "2.00")), "line A: it is named more than once"),
        (
            (line("A", "1.00"), line("B", "1.00", code="USD")),
            "line B: its price 1.00 USD is not in the order's currency CAD",
        ),
        (
            (line("A", "1.00"), line("D", "1.00", kind=LineType.DISCOUNT)),
            "line D: a discount line needs a unit price of zero or less, not 1.00 CAD",
        ),
        (
            (line("A", "1.00"), line("H", "-1.00", kind=LineType.HANDLING)),
            "line H: a handling line needs a unit price of zero or more, not -1.00 CAD",
        ),
        ((line("F", "1.00", kind=LineType.FEE),), "an order needs at least one product line"),
        (
            (line("A", "1.00"), line("D", "-2.00", kind=LineType.DISCOUNT)),
            "the order total -1.00 CAD must not be negative",
        ),
    ],
)
def test_order_rejects_inconsistent_lines(lines: tuple[Line, ...], message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Order(reference="1001", currency="CAD", lines=lines)
    assert excinfo.value.errors()[0]["msg"] == f"Value error, {message}"


def test_order_rejects_an_unknown_currency_and_no_lines() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Order(reference="1001", currency="XYZ", lines=())
    messages = {error["loc"][0]: error["msg"] for error in excinfo.value.errors()}
    assert messages == {
        "currency": "Value error, unknown currency 'XYZ': expected an ISO 4217 code such as CAD",
        "lines": "Tuple should have at least 1 item after validation, not 0",
    }


def test_order_round_trips_through_json() -> None:
    order = mug_order()
    assert Order.model_validate_json(order.model_dump_json()) == order


# Opening and reading -----------------------------------------------------------------------------


def test_a_new_ledger_authorizes_the_total_and_ships_nothing(ledger: OrderLedger) -> None:
    assert ledger.authorized == cad("29.00")
    assert ledger.captured == ledger.refunded == cad("0.00")
    assert ledger.remaining_authorization == cad("29.00")
    assert ledger.to_ship == 3
    assert not ledger.is_fully_shipped
    assert not ledger.is_cancelled
    assert ledger.order == mug_order()
    assert ledger.line("SKU-1") == LineState(line("SKU-1", "10.00", 2))
    assert ledger.line("SHIP").to_ship == 0


def test_reading_an_unknown_line(ledger: OrderLedger) -> None:
    with pytest.raises(UnknownLineError) as excinfo:
        ledger.line("SKU-9")
    assert str(excinfo.value) == "order 1001 has no line SKU-9"
    assert (excinfo.value.order, excinfo.value.line) == ("1001", "SKU-9")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"captured": cad("30.00")},
            "order 1001 needs 0 <= refunded <= captured <= authorized, not refunded 0.00 CAD, "
            "captured 30.00 CAD, authorized 29.00 CAD",
        ),
        (
            {"lines": (LineState(line("SKU-1", "10.00", 2), shipped=2),)},
            "order 1001 has nothing left to ship but 29.00 CAD authorized and only 0.00 CAD "
            "captured",
        ),
        (
            {"lines": (LineState(line("SHIP", "7.00", kind=LineType.HANDLING)),)},
            "order 1001 has no product line",
        ),
        (
            {"currency": "USD"},
            "line SKU-1 of order 1001: its price 10.00 CAD is not in the order's currency USD",
        ),
    ],
)
def test_a_mirrored_ledger_must_be_consistent(
    ledger: OrderLedger, changes: dict[str, object], message: str
) -> None:
    fields = {
        "reference": ledger.reference,
        "currency": ledger.currency,
        "lines": ledger.lines,
        "authorized": ledger.authorized,
        "captured": ledger.captured,
        "refunded": ledger.refunded,
    }
    with pytest.raises(ValueError, match=exactly(message)):
        OrderLedger(**(fields | changes))  # type: ignore[arg-type]


def test_a_line_state_must_be_consistent() -> None:
    with pytest.raises(
        ValueError,
        match=exactly(
            "line SKU-1 has inconsistent quantities (ordered 2, shipped 2, cancelled 1, returned 0)"
        ),
    ):
        LineState(line("SKU-1", "10.00", 2), shipped=2, cancelled=1)
    with pytest.raises(
        ValueError,
        match=exactly(
            "line SHIP is a handling line: it has no shipped, cancelled or returned units "
            "(ordered 1, shipped 1, cancelled 0, returned 0)"
        ),
    ):
        LineState(line("SHIP", "7.00", kind=LineType.HANDLING), shipped=1)


# Shipping ----------------------------------------------------------------------------------------


def test_a_partial_shipment_captures_its_pro_rata_share(ledger: OrderLedger) -> None:
    shipped, effect = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    # 10.00 of the 25.00 of products: 10/25 of the 29.00 authorized.
    assert effect == Effect(
        order="1001", id="F-1", kind="order_shipped", lines=(qty("SKU-1", 1),), amount=cad("11.60")
    )
    assert shipped.captured == cad("11.60")
    assert shipped.remaining_authorization == cad("17.40")
    assert shipped.line("SKU-1").shipped == 1
    assert shipped.to_ship == 2
    assert ledger.captured == cad("0.00")


def test_shipping_everything_left_captures_the_rest_exactly(ledger: OrderLedger) -> None:
    done, effects = run(ledger, ship("F-1", qty("SKU-1", 1)), ship("F-2", everything=True))
    assert effects[1].lines == (qty("SKU-1", 1), qty("SKU-2", 1))
    assert effects[1].amount == cad("17.40")
    assert done.captured == done.authorized == cad("29.00")
    assert done.is_fully_shipped
    assert done.to_ship == 0


def test_amounts_are_rounded_from_the_whole_cart_in_yen() -> None:
    order = Order(
        reference="1001",
        currency="JPY",
        lines=(
            line("A", "100", code="JPY"),
            line("B", "100", 2, code="JPY"),
            line("SHIP", "500", kind=LineType.HANDLING, code="JPY"),
        ),
    )
    done, effects = run(
        OrderLedger.open(order),
        ship("F-1", qty("A", 1)),
        ship("F-2", qty("B", 1)),
        ship("F-3", qty("B", 1)),
    )
    # Captured after each: 800 x 100/300 = 266.67 -> 267, 800 x 200/300 = 533.33 -> 533, 800.
    assert [e.amount for e in effects] == [Money.of(n, "JPY") for n in ("267", "266", "267")]
    assert done.captured == order.total == Money.of("800", "JPY")


def test_free_products_share_the_handling_by_units() -> None:
    order = Order(
        reference="1001",
        currency="CAD",
        lines=(
            line("GIFT", "0.00", 3),
            line("SHIP", "1.00", kind=LineType.HANDLING),
        ),
    )
    done, effects = run(
        OrderLedger.open(order), ship("F-1", qty("GIFT", 1)), ship("F-2", qty("GIFT", 2))
    )
    assert [e.amount for e in effects] == [cad("0.33"), cad("0.67")]
    assert done.captured == cad("1.00")


def test_shipping_a_free_line_among_paid_ones_captures_nothing() -> None:
    order = Order(
        reference="1001",
        currency="CAD",
        lines=(line("A", "10.00"), line("GIFT", "0.00"), line("SHIP", "2.00", kind=LineType.FEE)),
    )
    _, effects = run(OrderLedger.open(order), ship("F-1", qty("GIFT", 1)), ship("F-2", qty("A", 1)))
    assert [e.amount for e in effects] == [cad("0.00"), cad("12.00")]
    assert not effects[0].is_noop


def test_shipping_the_same_fulfillment_again_is_a_noop(ledger: OrderLedger) -> None:
    # fulfillments/create then orders/fulfilled: both carry fulfillment F-1.
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 2)))
    again, effect = shipped.apply(ship("F-1", everything=True))
    assert again is shipped
    assert effect == Effect(
        order="1001", id="F-1", kind="order_shipped", lines=(), amount=cad("0.00"), is_noop=True
    )
    assert shipped.has_applied("order_shipped", "F-1")
    assert not shipped.has_applied("order_cancelled", "F-1")


def test_shipping_everything_when_nothing_is_left_is_a_noop(ledger: OrderLedger) -> None:
    done, _ = ledger.apply(ship("F-1", everything=True))
    after, effect = done.apply(ship("F-2", everything=True))
    assert effect.is_noop
    assert effect.amount == cad("0.00")
    assert after.captured == done.captured
    assert after.has_applied("order_shipped", "F-2")


def test_cannot_ship_more_than_is_left(ledger: OrderLedger) -> None:
    partly, _ = run(ledger, ship("F-1", qty("SKU-1", 1)))
    error = rejected(partly, ship("F-2", qty("SKU-1", 2)))
    assert isinstance(error, ShipExceedsOrderedError)
    assert error.code == "ship_exceeds_ordered"
    assert str(error) == (
        "cannot ship 2 of line SKU-1 of order 1001: only 1 left to ship "
        "(ordered 2, shipped 1, cancelled 0, returned 0)"
    )


def test_cannot_ship_a_cancelled_unit(ledger: OrderLedger) -> None:
    cancelled, _ = ledger.apply(cancel("C-1", qty("SKU-2", 1)))
    error = rejected(cancelled, ship("F-1", qty("SKU-2", 1)))
    assert isinstance(error, ShipExceedsOrderedError)
    assert str(error) == (
        "cannot ship 1 of line SKU-2 of order 1001: only 0 left to ship "
        "(ordered 1, shipped 0, cancelled 1, returned 0)"
    )


@pytest.mark.parametrize(
    ("event", "error_type", "message"),
    [
        (
            ship("F-1", qty("SKU-9", 1)),
            UnknownLineError,
            "cannot ship line SKU-9 of order 1001: the order has no such line",
        ),
        (
            cancel("C-1", qty("SKU-9", 1)),
            UnknownLineError,
            "cannot cancel line SKU-9 of order 1001: the order has no such line",
        ),
        (
            give_back("R-1", cad("0.00"), qty("SKU-9", 1)),
            UnknownLineError,
            "cannot return line SKU-9 of order 1001: the order has no such line",
        ),
        (
            ship("F-1", qty("SHIP", 1)),
            NotAProductLineError,
            "cannot ship line SHIP of order 1001: it is a handling line; only product lines are "
            "shipped, cancelled or returned",
        ),
        (
            cancel("C-1", qty("DISC", 1)),
            NotAProductLineError,
            "cannot cancel line DISC of order 1001: it is a discount line; only product lines are "
            "shipped, cancelled or returned",
        ),
        (
            ship("F-1", qty("SKU-1", 1), qty("SKU-1", 1)),
            DuplicateLineError,
            "cannot ship line SKU-1 of order 1001: it is named more than once",
        ),
        (
            OrderShipped(order="1002", id="F-1"),
            OrderMismatchError,
            "order_shipped F-1 is for order 1002, not order 1001",
        ),
    ],
)
def test_events_must_name_lines_of_this_order(
    ledger: OrderLedger, event: OrderEvent, error_type: type[LedgerError], message: str
) -> None:
    error = rejected(ledger, event)
    assert type(error) is error_type
    assert str(error) == message
    assert error.order == "1001"


# Cancelling --------------------------------------------------------------------------------------


def test_a_partial_cancel_releases_its_share_of_the_authorization(ledger: OrderLedger) -> None:
    cancelled, effect = ledger.apply(cancel("C-1", qty("SKU-2", 1)))
    # 5.00 of the 25.00 of products: 5/25 of the 29.00 authorized.
    assert effect == Effect(
        order="1001", id="C-1", kind="order_cancelled", lines=(qty("SKU-2", 1),), amount=cad("5.80")
    )
    assert cancelled.authorized == cad("23.20")
    assert cancelled.line("SKU-2").cancelled == 1
    done, last = cancelled.apply(ship("F-1", everything=True))
    assert last.amount == cad("23.20")
    assert done.captured == done.authorized
    assert done.is_fully_shipped


def test_cancelling_everything_unshipped_voids_the_whole_remaining_authorization(
    ledger: OrderLedger,
) -> None:
    partly, _ = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    voided, effect = partly.apply(cancel("C-1", everything=True))
    assert effect.void
    assert effect.lines == (qty("SKU-1", 1), qty("SKU-2", 1))
    assert effect.amount == partly.remaining_authorization == cad("17.40")
    assert voided.authorized == voided.captured == cad("11.60")
    assert voided.remaining_authorization == cad("0.00")
    assert voided.is_fully_shipped


def test_cancelling_the_last_lines_by_name_is_a_void_too(ledger: OrderLedger) -> None:
    voided, effect = ledger.apply(cancel("C-1", qty("SKU-1", 2), qty("SKU-2", 1)))
    assert effect.void
    assert effect.amount == cad("29.00")
    assert voided.is_cancelled
    assert voided.authorized == cad("0.00")


def test_cancelling_everything_when_nothing_is_unshipped_is_a_noop(ledger: OrderLedger) -> None:
    done, _ = ledger.apply(ship("F-1", everything=True))
    after, effect = done.apply(cancel("C-1", everything=True))
    assert effect.is_noop
    assert not effect.void
    assert after.authorized == after.captured == cad("29.00")


def test_cannot_cancel_shipped_goods(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 2)))
    error = rejected(shipped, cancel("C-1", qty("SKU-1", 2)))
    assert isinstance(error, OrderAlreadyShippedError)
    assert error.code == "order_already_shipped"
    assert error.line == "SKU-1"
    assert str(error) == (
        "cannot cancel 2 of line SKU-1 of order 1001: 2 of 2 already shipped; handle it as a return"
    )


def test_cannot_cancel_more_than_was_ordered(ledger: OrderLedger) -> None:
    partly, _ = ledger.apply(cancel("C-1", qty("SKU-1", 1)))
    error = rejected(partly, cancel("C-2", qty("SKU-1", 3)))
    assert isinstance(error, CancelExceedsOrderedError)
    assert error.code == "cancel_exceeds_ordered"
    assert str(error) == (
        "cannot cancel 3 of line SKU-1 of order 1001: only 1 left to cancel "
        "(ordered 2, shipped 0, cancelled 1, returned 0)"
    )


# Returning ---------------------------------------------------------------------------------------


def test_a_return_refunds_any_amount_up_to_what_was_captured(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 2)))
    assert shipped.captured == cad("23.20")
    returned, effect = shipped.apply(give_back("R-1", cad("9.99"), qty("SKU-1", 1)))
    assert effect == Effect(
        order="1001", id="R-1", kind="order_returned", lines=(qty("SKU-1", 1),), amount=cad("9.99")
    )
    assert returned.refunded == cad("9.99")
    assert returned.refundable == cad("13.21")
    assert returned.line("SKU-1").returned == 1
    assert returned.line("SKU-1").returnable == 1
    # A refund without goods (shipping, a goodwill credit) takes the rest.
    settled, _ = returned.apply(give_back("R-2", cad("13.21")))
    assert settled.refunded == settled.captured


def test_a_return_with_neither_goods_nor_money_is_a_noop(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", everything=True))
    after, effect = shipped.apply(give_back("R-1", cad("0.00")))
    assert effect.is_noop
    assert after.refunded == cad("0.00")


def test_cannot_return_more_than_shipped_and_not_returned(ledger: OrderLedger) -> None:
    shipped, _ = run(
        ledger, ship("F-1", everything=True), give_back("R-1", cad("1.00"), qty("SKU-1", 1))
    )
    error = rejected(shipped, give_back("R-2", cad("1.00"), qty("SKU-1", 2)))
    assert isinstance(error, ReturnExceedsShippedError)
    assert error.code == "return_exceeds_shipped"
    assert str(error) == (
        "cannot return 2 of line SKU-1 of order 1001: only 1 shipped and not returned "
        "(ordered 2, shipped 2, cancelled 0, returned 1)"
    )


def test_returning_a_cancelled_line_is_a_violation_not_a_wait(ledger: OrderLedger) -> None:
    cancelled, _ = ledger.apply(cancel("C-1", qty("SKU-2", 1)))
    error = rejected(cancelled, give_back("R-1", cad("0.00"), qty("SKU-2", 1)))
    assert type(error) is ReturnExceedsShippedError
    assert str(error) == (
        "cannot return 1 of line SKU-2 of order 1001: only 0 shipped and not returned "
        "(ordered 1, shipped 0, cancelled 1, returned 0)"
    )


def test_returning_more_than_was_ever_ordered_is_a_violation(ledger: OrderLedger) -> None:
    error = rejected(ledger, give_back("R-1", cad("0.00"), qty("SKU-1", 3)))
    assert type(error) is ReturnExceedsShippedError


def test_a_return_before_its_shipment_is_not_yet_applicable(ledger: OrderLedger) -> None:
    error = rejected(ledger, give_back("R-1", cad("0.00"), qty("SKU-1", 1)))
    assert type(error) is EventNotYetApplicable
    assert error.code == "not_yet_applicable"
    assert str(error) == (
        "cannot return 1 of line SKU-1 of order 1001 yet: only 0 shipped and not returned, "
        "2 still to ship (ordered 2, shipped 0, cancelled 0, returned 0)"
    )
    # Once the shipment arrives, the deferred return applies.
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    returned, effect = shipped.apply(give_back("R-1", cad("0.00"), qty("SKU-1", 1)))
    assert effect.lines == (qty("SKU-1", 1),)
    assert returned.line("SKU-1").returned == 1


def test_a_refund_before_its_capture_is_not_yet_applicable(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-2", 1)))
    error = rejected(shipped, give_back("R-1", cad("10.00")))
    assert type(error) is EventNotYetApplicable
    assert str(error) == (
        "cannot refund 10.00 CAD on order 1001 yet: only 5.80 CAD captured and not refunded, "
        "23.20 CAD still to capture"
    )


def test_a_violation_wins_over_a_wait(ledger: OrderLedger) -> None:
    event = give_back("R-1", cad("0.00"), qty("SKU-2", 1), qty("SKU-1", 3))
    assert type(rejected(ledger, event)) is ReturnExceedsShippedError


def test_cannot_refund_more_than_captured_minus_refunded(ledger: OrderLedger) -> None:
    refunded, _ = run(ledger, ship("F-1", everything=True), give_back("R-1", cad("5.00")))
    error = rejected(refunded, give_back("R-2", cad("24.01")))
    assert isinstance(error, RefundExceedsCapturedError)
    assert error.code == "refund_exceeds_captured"
    assert str(error) == (
        "cannot refund 24.01 CAD on order 1001: only 24.00 CAD captured and not refunded "
        "(captured 29.00 CAD, refunded 5.00 CAD)"
    )


def test_a_refund_beyond_even_the_authorization_is_a_violation(ledger: OrderLedger) -> None:
    error = rejected(ledger, give_back("R-1", cad("29.01")))
    assert type(error) is RefundExceedsCapturedError
    assert str(error) == (
        "cannot refund 29.01 CAD on order 1001: only 0.00 CAD captured and not refunded "
        "(captured 0.00 CAD, refunded 0.00 CAD)"
    )


def test_a_refund_must_be_in_the_orders_currency(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", everything=True))
    error = rejected(shipped, give_back("R-1", Money.of("1.00", "USD")))
    assert isinstance(error, OrderCurrencyMismatchError)
    assert error.code == "currency_mismatch"
    assert str(error) == "cannot refund 1.00 USD on order 1001: the order is in CAD"


def test_a_refund_must_not_be_negative(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", everything=True))
    error = rejected(shipped, give_back("R-1", cad("-1.00")))
    assert isinstance(error, InvalidRefundError)
    assert error.code == "invalid_refund"
    assert str(error) == "cannot refund -1.00 CAD on order 1001: a refund must not be negative"


# Editing -----------------------------------------------------------------------------------------


def test_an_edit_before_shipping_replaces_the_cart(ledger: OrderLedger) -> None:
    edited, effect = ledger.apply(
        edit(
            "E-1",
            line("SKU-1", "12.00", 1, name="Big mug"),
            line("SKU-3", "4.00", 2),
            line("SHIP", "7.00", kind=LineType.HANDLING),
        )
    )
    assert effect == Effect(
        order="1001",
        id="E-1",
        kind="order_edited",
        lines=(qty("SKU-1", 1), qty("SKU-3", 2), qty("SHIP", 1)),
        amount=cad("-2.00"),
    )
    assert edited.authorized == cad("27.00")
    assert edited.order.lines == (
        line("SKU-1", "12.00", 1, name="Big mug"),
        line("SHIP", "7.00", kind=LineType.HANDLING),
        line("SKU-3", "4.00", 2),
    )
    done, last = edited.apply(ship("F-1", everything=True))
    assert last.amount == done.captured == cad("27.00")


def test_an_edit_after_a_shipment_keeps_the_shipped_units(ledger: OrderLedger) -> None:
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    edited, effect = shipped.apply(
        edit("E-1", line("SKU-1", "10.00", 3), line("SHIP", "2.00", kind=LineType.HANDLING))
    )
    # captured 11.60 + the new unshipped part 3 x 10.00 + 2.00.
    assert edited.authorized == cad("43.60")
    assert effect.amount == cad("14.60")
    assert edited.line("SKU-1") == LineState(line("SKU-1", "10.00", 4), shipped=1)
    with pytest.raises(UnknownLineError):
        edited.line("SKU-2")
    with pytest.raises(UnknownLineError):
        edited.line("DISC")
    done, _ = edited.apply(ship("F-2", everything=True))
    assert done.captured == cad("43.60")


def test_an_edit_may_empty_the_unshipped_part(ledger: OrderLedger) -> None:
    shipped, _ = run(ledger, ship("F-1", qty("SKU-2", 1)), cancel("C-1", qty("SKU-1", 1)))
    edited, effect = shipped.apply(edit("E-1"))
    assert effect.amount == -shipped.remaining_authorization
    assert edited.authorized == edited.captured == cad("5.80")
    assert edited.line("SKU-1") == LineState(line("SKU-1", "10.00", 1), cancelled=1)
    assert edited.is_fully_shipped


def test_an_edit_that_changes_nothing_is_a_noop(ledger: OrderLedger) -> None:
    edited, effect = ledger.apply(edit("E-1", *mug_order().lines))
    assert effect.is_noop
    assert effect.amount == cad("0.00")
    assert edited.lines == ledger.lines


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (
            line("SKU-1", "11.00", 1),
            "cannot edit line SKU-1 of order 1001: 1 already shipped at 10.00 CAD; its price "
            "cannot change to 11.00 CAD",
        ),
        (
            line("SKU-1", "10.00", 1, kind=LineType.FEE),
            "cannot edit line SKU-1 of order 1001: 1 already shipped as a product line; its type "
            "cannot change to fee",
        ),
        (
            line("SKU-1", "10.00", 1, name="Cup"),
            "cannot edit line SKU-1 of order 1001: 1 already shipped as 'Item SKU-1'; its name "
            "cannot change to 'Cup'",
        ),
    ],
)
def test_an_edit_cannot_rewrite_a_shipped_line(
    ledger: OrderLedger, changed: Line, message: str
) -> None:
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    error = rejected(shipped, edit("E-1", changed))
    assert isinstance(error, LineAlreadyShippedError)
    assert error.code == "line_already_shipped"
    assert error.line == "SKU-1"
    assert str(error) == message


@pytest.mark.parametrize(
    ("cart", "error_type", "message"),
    [
        (
            (line("SKU-1", "1.00"), line("SKU-1", "2.00")),
            DuplicateLineError,
            "cannot edit line SKU-1 of order 1001: it is named more than once",
        ),
        (
            (line("SKU-1", "1.00", code="USD"),),
            OrderCurrencyMismatchError,
            "cannot edit line SKU-1 of order 1001: its price 1.00 USD is not in the order's "
            "currency CAD",
        ),
        (
            (line("SKU-1", "1.00"), line("DISC", "2.00", kind=LineType.DISCOUNT)),
            InvalidCartError,
            "cannot edit line DISC of order 1001: a discount line needs a unit price of zero or "
            "less, not 2.00 CAD",
        ),
        (
            (line("SKU-1", "-1.00"),),
            InvalidCartError,
            "cannot edit line SKU-1 of order 1001: a product line needs a unit price of zero or "
            "more, not -1.00 CAD",
        ),
        (
            (line("SKU-1", "1.00"), line("DISC", "-2.00", kind=LineType.DISCOUNT)),
            InvalidCartError,
            "cannot edit order 1001: the new cart totals -1.00 CAD; it must not be negative",
        ),
        (
            (line("SHIP", "7.00", kind=LineType.HANDLING),),
            InvalidCartError,
            "cannot edit order 1001: the new cart has 7.00 CAD to pay but no product line to ship",
        ),
        (
            (),
            InvalidCartError,
            "cannot edit order 1001: the edit leaves the order without any product line; cancel "
            "it instead",
        ),
    ],
)
def test_an_edit_needs_a_valid_cart(
    ledger: OrderLedger, cart: tuple[Line, ...], error_type: type[LedgerError], message: str
) -> None:
    error = rejected(ledger, edit("E-1", *cart))
    assert type(error) is error_type
    assert str(error) == message


def test_an_edit_cannot_change_the_type_of_a_cancelled_line(ledger: OrderLedger) -> None:
    cancelled, _ = ledger.apply(cancel("C-1", qty("SKU-1", 1)))
    error = rejected(
        cancelled, edit("E-1", line("SKU-1", "1.00", kind=LineType.FEE), line("X", "1.00"))
    )
    assert type(error) is InvalidCartError
    assert str(error) == (
        "cannot edit line SKU-1 of order 1001: 1 already cancelled as a product line; its type "
        "cannot change to fee"
    )


# Order of arrival and the cart ------------------------------------------------------------------


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


# Products of 0.01, 0.02 and 0.01 USD with 9.99 shipping: 10.03 over 4 cents of products, so each
# cent of products carries 2.5075; rounding what is left after each act would depend on the order.
def cents_order() -> Order:
    return Order(
        reference="1001",
        currency="USD",
        lines=(
            line("A", "0.01", code="USD"),
            line("B", "0.02", code="USD"),
            line("C", "0.01", code="USD"),
            line("SHIP", "9.99", kind=LineType.HANDLING, code="USD"),
        ),
    )


@pytest.mark.parametrize("acts", list(itertools.permutations(["ship A", "ship B", "cancel C"])))
def test_the_same_acts_in_any_order_end_with_the_same_amounts(acts: tuple[str, ...]) -> None:
    events: dict[str, OrderEvent] = {
        "ship A": ship("F-A", qty("A", 1)),
        "ship B": ship("F-B", qty("B", 1)),
        "cancel C": cancel("C-C", qty("C", 1)),
    }
    done, effects = run(OrderLedger.open(cents_order()), *(events[act] for act in acts))
    amounts = {effect.id: effect.amount for effect in effects}
    # 10.03 x 3/4 = 7.5225: captured once A and B have shipped, whichever came first.
    assert done.captured == done.authorized == usd("7.52")
    assert amounts["C-C"] == usd("2.51")
    # The first shipment rounds its own share (2.5075 or 5.015), the second takes the rest of 7.52.
    if acts.index("ship A") < acts.index("ship B"):
        assert (amounts["F-A"], amounts["F-B"]) == (usd("2.51"), usd("5.01"))
    else:
        assert (amounts["F-A"], amounts["F-B"]) == (usd("2.50"), usd("5.02"))


def edited_after_a_shipment(ledger: OrderLedger) -> OrderLedger:
    shipped, _ = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    edited, _ = shipped.apply(
        edit("E-1", line("SKU-3", "0.01", 3), line("SHIP", "1.00", kind=LineType.HANDLING))
    )
    return edited


def test_an_edit_begins_a_new_cart(ledger: OrderLedger) -> None:
    assert ledger.cart_start == CartStart(captured=cad("0.00"), total=cad("29.00"))
    edited = edited_after_a_shipment(ledger)
    assert edited.cart_start == CartStart(
        captured=cad("11.60"), total=cad("1.03"), shipped=(qty("SKU-1", 1),)
    )
    # 1.03 over 3 cents of products: 0.3433 a unit, whatever the order of the acts.
    shipment, cancellation = ship("F-2", qty("SKU-3", 1)), cancel("C-1", qty("SKU-3", 1))
    for acts in ((shipment, cancellation), (cancellation, shipment)):
        done, effects = run(edited, *acts)
        assert {e.kind: e.amount for e in effects} == {
            "order_shipped": cad("0.34"),
            "order_cancelled": cad("0.34"),
        }
        assert (done.captured, done.authorized) == (cad("11.94"), cad("12.29"))


def test_an_edit_that_changes_nothing_keeps_the_cart() -> None:
    order = Order(reference="1001", currency="CAD", lines=(line("SKU-1", "10.00", 2),))
    shipped, _ = OrderLedger.open(order).apply(ship("F-1", qty("SKU-1", 1)))
    edited, effect = shipped.apply(edit("E-1", line("SKU-1", "10.00", 1)))
    assert effect.is_noop
    assert edited.cart_start == shipped.cart_start == CartStart(cad("0.00"), cad("20.00"))


def mirrored(ledger: OrderLedger) -> OrderLedger:
    """The ledger as a back end's view describes it: without its cart start."""
    return OrderLedger(
        reference=ledger.reference,
        currency=ledger.currency,
        lines=ledger.lines,
        authorized=ledger.authorized,
        captured=ledger.captured,
        refunded=ledger.refunded,
        applied=ledger.applied,
    )


def test_a_mirrored_order_never_edited_keeps_its_cart_from_checkout(ledger: OrderLedger) -> None:
    partly, _ = run(ledger, ship("F-1", qty("SKU-1", 1)), cancel("C-1", qty("SKU-2", 1)))
    assert mirrored(partly) == partly
    assert mirrored(partly).cart_start == CartStart(captured=cad("0.00"), total=cad("29.00"))


def test_a_mirrored_edited_order_begins_its_cart_now(ledger: OrderLedger) -> None:
    edited = edited_after_a_shipment(ledger)
    assert mirrored(edited) == edited
    later, _ = edited.apply(ship("F-2", qty("SKU-3", 1)))
    # A view does not say when the cart began: the rest of it carries what is left to capture.
    assert mirrored(later).cart_start == CartStart(
        captured=cad("11.94"), total=cad("0.69"), shipped=(qty("SKU-1", 1), qty("SKU-3", 1))
    )


def test_a_mirrored_order_that_checkout_does_not_account_for_begins_its_cart_now() -> None:
    # 11.59 captured for 10.00 of 25.00 of products: rounded by some other rule than checkout's.
    odd = OrderLedger(
        reference="1001",
        currency="CAD",
        lines=tuple(
            LineState(line, shipped=1 if line.reference == "SKU-1" else 0)
            for line in mug_order().lines
        ),
        authorized=cad("29.00"),
        captured=cad("11.59"),
        refunded=cad("0.00"),
    )
    assert odd.cart_start == CartStart(
        captured=cad("11.59"), total=cad("17.41"), shipped=(qty("SKU-1", 1),)
    )
    done, effect = odd.apply(ship("F-2", everything=True))
    assert effect.amount == cad("17.41")
    assert done.captured == cad("29.00")


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (
            CartStart(captured=cad("0.00"), total=cad("28.00")),
            "order 1001: its cart start (0.00 CAD captured, 28.00 CAD to capture) makes 11.20 CAD "
            "captured and 28.00 CAD authorized, not 11.60 CAD captured and 29.00 CAD authorized",
        ),
        (
            CartStart(captured=cad("-1.00"), total=cad("29.00")),
            "order 1001: its cart start needs a captured of zero or more in CAD, not -1.00 CAD",
        ),
        (
            CartStart(captured=cad("0.00"), total=usd("29.00")),
            "order 1001: its cart start needs a total of zero or more in CAD, not 29.00 USD",
        ),
        (
            CartStart(captured=cad("0.00"), total=cad("29.00"), shipped=(qty("SKU-1", 2),)),
            "order 1001: its cart start has 2 of line SKU-1 shipped before it, more than the line "
            "has (ordered 2, shipped 1, cancelled 0, returned 0)",
        ),
        (
            CartStart(captured=cad("0.00"), total=cad("29.00"), cancelled=(qty("SHIP", 1),)),
            "order 1001: its cart start counts line SHIP as cancelled before it, but the order has "
            "no such product line",
        ),
        (
            CartStart(
                captured=cad("0.00"),
                total=cad("29.00"),
                shipped=(qty("SKU-1", 1), qty("SKU-1", 1)),
            ),
            "order 1001: its cart start counts line SKU-1 as shipped before it more than once",
        ),
    ],
)
def test_a_cart_start_must_account_for_the_ledger(
    ledger: OrderLedger, start: CartStart, message: str
) -> None:
    partly, _ = ledger.apply(ship("F-1", qty("SKU-1", 1)))
    with pytest.raises(ValueError, match=exactly(message)):
        replace(partly, cart_start=start)


# Error codes -------------------------------------------------------------------------------------


def test_error_codes_are_the_back_ends_problem_codes() -> None:
    errors: list[type[LedgerError]] = [
        EventNotYetApplicable,
        OrderMismatchError,
        UnknownLineError,
        NotAProductLineError,
        DuplicateLineError,
        OrderCurrencyMismatchError,
        ShipExceedsOrderedError,
        OrderAlreadyShippedError,
        CancelExceedsOrderedError,
        ReturnExceedsShippedError,
        RefundExceedsCapturedError,
        InvalidRefundError,
        LineAlreadyShippedError,
        InvalidCartError,
    ]
    assert {error.__name__: error.code for error in errors} == {
        "EventNotYetApplicable": "not_yet_applicable",
        "OrderMismatchError": "order_mismatch",
        "UnknownLineError": "unknown_line",
        "NotAProductLineError": "not_a_product_line",
        "DuplicateLineError": "duplicate_line",
        "OrderCurrencyMismatchError": "currency_mismatch",
        "ShipExceedsOrderedError": "ship_exceeds_ordered",
        "OrderAlreadyShippedError": "order_already_shipped",
        "CancelExceedsOrderedError": "cancel_exceeds_ordered",
        "ReturnExceedsShippedError": "return_exceeds_shipped",
        "RefundExceedsCapturedError": "refund_exceeds_captured",
        "InvalidRefundError": "invalid_refund",
        "LineAlreadyShippedError": "line_already_shipped",
        "InvalidCartError": "invalid_cart",
    }
