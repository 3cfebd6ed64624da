"""`cap_refunds`: refunds inferred from snapshots stay within what the ledger can refund."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from passerelle.events import (
    CartLine,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderReturned,
    OrderShipped,
)
from passerelle.money import Money
from passerelle.orders import Order, OrderLedger
from passerelle.plugin import cap_refunds

LINES = (
    CartLine(reference="a", name="A", unit_price=Money.of("3.00", "USD"), quantity=2),
    CartLine(reference="b", name="B", unit_price=Money.of("12.00", "USD"), quantity=1),
    CartLine(
        reference="ship",
        name="Shipping",
        type=LineType.HANDLING,
        unit_price=Money.of("10.00", "USD"),
        quantity=1,
    ),
)
CANCEL = OrderCancelled(order="1", id="r1", lines=(LineQuantity(line="a", quantity=1),))
SHIP = OrderShipped(order="1", id="s")


def returned(id: str, amount: str) -> OrderReturned:
    return OrderReturned(order="1", id=id, refund=Money.of(amount, "USD"), reason="asked")


def test_a_refund_beyond_what_was_captured_is_capped_and_says_so() -> None:
    events = cap_refunds("1", "USD", LINES, (CANCEL, SHIP, returned("r2", "27.00")))
    # The cancelled unit released 3.00 plus its share of shipping: 26.00 x 15/18 = 23.33 stay.
    assert events[:2] == (CANCEL, SHIP)
    assert events[2] == OrderReturned(
        order="1",
        id="r2",
        refund=Money.of("23.33", "USD"),
        reason="asked; refund capped at 23.33 USD captured and not refunded; "
        "the platform refunded 27.00 USD",
    )


def test_a_refund_before_everything_shipped_is_left_for_the_ledger_to_wait() -> None:
    events = (returned("r2", "27.00"), SHIP)
    assert cap_refunds("1", "USD", LINES, events) == events


def test_after_an_event_the_ledger_refuses_nothing_is_changed() -> None:
    refused = OrderShipped(order="1", id="x", lines=(LineQuantity(line="a", quantity=5),))
    events = (refused, returned("r2", "99.00"))
    assert cap_refunds("1", "USD", LINES, events) == events


@given(amounts=st.lists(st.integers(0, 3000), max_size=4))
def test_capped_refunds_always_apply(amounts: list[int]) -> None:
    events = (CANCEL, SHIP, *(returned(f"r{n}", f"{a / 100:.2f}") for n, a in enumerate(amounts)))
    ledger = OrderLedger.open(Order(reference="1", currency="USD", lines=LINES))
    for event in cap_refunds("1", "USD", LINES, events):
        ledger, _ = ledger.apply(event)
    assert ledger.refunded <= ledger.captured
