"""The money split of a refund holds for any amounts."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from passerelle.events import OrderCancelled, OrderReturned
from passerelle.money import Money
from passerelle_shopify.payloads import Refund
from passerelle_shopify.refunds import refund_events, split_refund

cents = st.integers(min_value=0, max_value=10_000_000)


def usd(minor: int) -> str:
    return str(Money.from_minor(minor, "USD").amount)


def refund_line(line: int, restock: str, minor: int) -> dict[str, Any]:
    amount = {"amount": usd(minor), "currency_code": "USD"}
    return {
        "line_item_id": line,
        "quantity": 1,
        "restock_type": restock,
        "subtotal_set": {"shop_money": amount, "presentment_money": amount},
    }


@given(
    returned=st.lists(cents, max_size=3),
    cancelled=st.lists(cents, max_size=3),
    shipping=cents,
    transactions=st.lists(cents, min_size=1, max_size=3),
)
def test_the_split_is_exact_and_pays_returned_goods_first(
    returned: list[int], cancelled: list[int], shipping: int, transactions: list[int]
) -> None:
    shipping_amount = {"amount": usd(shipping), "currency_code": "USD"}
    refund = Refund.model_validate(
        {
            "id": 1,
            "order_id": 2,
            "refund_line_items": [
                *(refund_line(10 + i, "return", m) for i, m in enumerate(returned)),
                *(refund_line(20 + i, "cancel", m) for i, m in enumerate(cancelled)),
            ],
            "refund_shipping_lines": [
                {
                    "subtotal_amount_set": {
                        "shop_money": shipping_amount,
                        "presentment_money": shipping_amount,
                    }
                }
            ],
            "transactions": [
                {"kind": "refund", "status": "success", "amount": usd(m), "currency": "USD"}
                for m in transactions
            ],
        }
    )
    split = split_refund(refund)
    refunded = sum(transactions)
    captured_part = sum(returned) + shipping
    assert split.refunded.minor == refunded
    assert split.return_refund + split.cancel_credit == split.refunded
    # Returned goods and shipping are paid in full before the cancellation takes anything.
    assert split.return_refund.minor >= min(refunded, captured_part)
    assert 0 <= split.cancel_credit.minor <= sum(cancelled)
    # Whatever the cancelled goods do not cover stays with the return.
    if refunded > captured_part + sum(cancelled):
        assert split.cancel_credit.minor == sum(cancelled)
    events = refund_events(refund, order="2")
    refunds = [e.refund for e in events if isinstance(e, OrderReturned)]
    has_return = bool(returned) or not split.return_refund.is_zero()
    assert refunds == ([split.return_refund] if has_return else [])
    assert any(isinstance(e, OrderCancelled) for e in events) == bool(cancelled)
