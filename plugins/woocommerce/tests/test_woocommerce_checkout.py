"""The cart an order resource stands for: exact amounts from the string fields, coupons, fees,
shipping and tax, adding up to the order's total."""

from __future__ import annotations

import json
from typing import Any

import pytest
from woo_support import sample

from passerelle.money import Money
from passerelle.platforms import TranslationError
from passerelle_woocommerce.checkout import checkout_lines_of


def order(**changes: Any) -> bytes:
    body = json.loads(sample("order.created.rest-docs.json"))
    body.update(changes)
    return json.dumps(body).encode()


def priced(body: bytes) -> dict[str, tuple[str, str, int]]:
    _, lines = checkout_lines_of(body)
    return {
        line.reference: (line.type.value, str(line.unit_price), line.quantity) for line in lines
    }


def test_coupons_fees_and_shipping_each_become_a_line_with_their_tax() -> None:
    body = order(
        discount_total="2.00",
        discount_tax="0.15",
        fee_lines=[{"id": 400, "name": "Gift wrap", "total": "1.50", "total_tax": "0.11"}],
        total="28.81",
        # The float price is never read, however wrong.
        line_items=[
            {**item, "price": 0.1 + 0.2}
            for item in json.loads(sample("order.created.rest-docs.json"))["line_items"]
        ],
    )
    assert priced(body) == {
        "315": ("product", "3.00 USD", 2),
        "316": ("product", "12.00 USD", 1),
        "tax": ("fee", "1.35 USD", 1),
        "discount": ("discount", "-2.15 USD", 1),
        "shipping:317": ("handling", "10.00 USD", 1),
        "fee:400": ("fee", "1.61 USD", 1),
    }


def test_prices_entered_with_tax_read_the_same_fields() -> None:
    assert priced(order(prices_include_tax=True)) == priced(order())


def test_lines_that_do_not_add_up_to_the_total_are_refused() -> None:
    with pytest.raises(TranslationError, match=r"add up to 29\.35, not 30\.00") as raised:
        checkout_lines_of(order(total="30.00"))
    assert raised.value.field == "total"


def test_a_subtotal_that_does_not_divide_into_unit_prices_is_refused() -> None:
    items = json.loads(sample("order.created.rest-docs.json"))["line_items"]
    items[0] = {**items[0], "quantity": 3, "subtotal": "10.00"}
    with pytest.raises(TranslationError) as raised:
        checkout_lines_of(order(line_items=items, total="33.35"))
    assert raised.value.field == "line_items[0].subtotal"


def test_amounts_finer_than_the_currency_are_refused() -> None:
    with pytest.raises(TranslationError) as raised:
        checkout_lines_of(order(shipping_lines=[{"id": 317, "total": "10.001"}]))
    assert raised.value.field == "shipping_lines[0].total"


def test_the_currency_is_the_orders() -> None:
    currency, lines = checkout_lines_of(sample("order.created.on-hold.wc5.json"))
    assert currency == "INR"
    assert sum((line.total for line in lines), Money.zero("INR")) == Money.of("17.70", "INR")
