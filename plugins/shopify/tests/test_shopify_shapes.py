"""Shopify delivery shapes across API versions, and bodies that must be refused, not guessed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from shopify_support import LINE_SHOES, LINE_SOCKS, ORDER_ID, context, dumps, request, sample

from passerelle.events import CartLine, LineType
from passerelle.money import Money
from passerelle.platforms import TranslationError
from passerelle_shopify import ShopifyPlatform
from passerelle_shopify.cart import cart_of
from passerelle_shopify.payloads import Order


def money_set(amount: str, currency: str = "USD") -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": "USD"},
        "presentment_money": {"amount": amount, "currency_code": currency},
    }


def edited_order(*, with_current_quantity: bool, **extra: Any) -> Order:
    """Shoes: 3 ordered, 1 removed by an order edit, 1 shipped, 1 left; socks: 1, unshipped;
    10.00 of shipping. What is left is worth 30.00 of 40.00 still ordered: 7.50 of shipping."""
    shoes: dict[str, Any] = {
        "id": LINE_SHOES,
        "name": "Shoes",
        "quantity": 3,
        "fulfillable_quantity": 1,
        "price_set": money_set("10.00"),
    }
    socks: dict[str, Any] = {
        "id": LINE_SOCKS,
        "name": "Socks",
        "quantity": 1,
        "fulfillable_quantity": 1,
        "price_set": money_set("20.00"),
    }
    if with_current_quantity:  # API 2024-01 and later
        shoes["current_quantity"] = 2
        socks["current_quantity"] = 1
    return Order.model_validate(
        {
            "id": ORDER_ID,
            "currency": "USD",
            "presentment_currency": "USD",
            "line_items": [shoes, socks],
            "shipping_lines": [{"id": 1, "title": "Post", "price_set": money_set("10.00")}],
            "fulfillments": [
                {
                    "id": 7,
                    "order_id": ORDER_ID,
                    "status": "success",
                    "line_items": [{"id": LINE_SHOES, "quantity": 1}],
                },
                {
                    "id": 8,
                    "order_id": ORDER_ID,
                    "status": "cancelled",
                    "line_items": [{"id": LINE_SHOES, "quantity": 1}],
                },
            ],
            **extra,
        }
    )


def shipping_of(cart: tuple[CartLine, ...]) -> Money:
    (line,) = (line for line in cart if line.type is LineType.HANDLING)
    return line.unit_price


@pytest.mark.parametrize("with_current_quantity", [True, False], ids=["2024-01+", "2023-10"])
def test_units_removed_by_an_edit_are_not_counted_as_shipped(with_current_quantity: bool) -> None:
    cart = cart_of(edited_order(with_current_quantity=with_current_quantity))
    assert shipping_of(cart) == Money.of("7.50", "USD")
    assert [(line.reference, line.quantity) for line in cart if line.type is LineType.PRODUCT] == [
        (str(LINE_SHOES), 1),
        (str(LINE_SOCKS), 1),
    ]


def bare_priced_order(shop_currency: str) -> Order:
    return Order.model_validate(
        {
            "id": ORDER_ID,
            "currency": shop_currency,
            "presentment_currency": "USD",
            "line_items": [
                {"id": LINE_SOCKS, "quantity": 1, "fulfillable_quantity": 1, "price": "20.00"}
            ],
        }
    )


def test_a_bare_amount_in_the_shop_currency_is_never_relabelled() -> None:
    with pytest.raises(TranslationError) as caught:
        cart_of(bare_priced_order("CAD"))
    assert caught.value.field == "order.line_items[0].price_set"
    assert "shop currency CAD, not the presentment currency USD" in str(caught.value)


def test_a_bare_amount_of_a_single_currency_shop_is_read() -> None:
    (line,) = cart_of(bare_priced_order("USD"))
    assert line.unit_price == Money.of("20.00", "USD")


def taxed(order: Order, included: bool | None) -> Order:
    data = order.model_dump(mode="json")
    data["taxes_included"] = included
    data["line_items"][0]["tax_lines"] = [{"price_set": money_set("3.00")}]
    data["line_items"][1]["tax_lines"] = [{"price_set": money_set("2.00")}]
    data["shipping_lines"][0]["tax_lines"] = [{"price_set": money_set("1.00")}]
    return Order.model_validate(data)


def test_a_tax_exclusive_cart_carries_the_tax_of_what_is_left() -> None:
    cart = cart_of(taxed(edited_order(with_current_quantity=True), included=False))
    (tax,) = (line for line in cart if line.reference == "taxes")
    # Shoes: 1 of 2 units left, 1.50; socks 2.00; shipping 1.00 x 30/40 = 0.75.
    assert (tax.type, tax.unit_price) == (LineType.FEE, Money.of("4.25", "USD"))
    total = sum((line.unit_price.amount * line.quantity for line in cart), Decimal(0))
    assert total == Decimal("41.75")  # 10 + 20 + 7.50 shipping + 4.25 tax


@pytest.mark.parametrize("included", [True, None])
def test_a_tax_inclusive_cart_has_its_tax_in_its_prices(included: bool | None) -> None:
    cart = cart_of(taxed(edited_order(with_current_quantity=True), included=included))
    assert [line.reference for line in cart if line.type is LineType.FEE] == []


def test_a_negative_price_is_refused_naming_the_field() -> None:
    order = bare_priced_order("USD").model_dump(mode="json")
    order["line_items"][0]["price"] = "-20.00"
    with pytest.raises(TranslationError) as caught:
        cart_of(Order.model_validate(order))
    assert caught.value.field == "order.line_items[0].price"


def translate(body: bytes, topic: str) -> TranslationError:
    with (
        httpx.Client() as http,
        pytest.raises(TranslationError) as caught,
    ):
        ShopifyPlatform().translate(request(body, topic), context(http))
    return caught.value


def test_a_negative_refund_transaction_is_refused() -> None:
    refund = json.loads(sample("refunds_create.json"))
    for transaction in refund["transactions"]:
        transaction["amount"] = "-" + str(transaction["amount"]).lstrip("-")
    error = translate(dumps(refund), "refunds/create")
    assert error.field is not None
    assert error.field.startswith("transactions[")
    assert error.field.endswith("].amount")
    assert "negative amount" in str(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda order: {**order, "cancelled_at": None}, "cancelled_at"),
        (lambda order: {"id": order["id"], "cancelled_at": order["cancelled_at"]}, "line_items"),
        (lambda order: {"id": order["id"]}, "cancelled_at"),
    ],
    ids=["cancelled_at-null", "no-line-items", "only-an-id"],
)
def test_a_cancellation_without_what_a_real_one_carries_cancels_nothing(
    change: Any, field: str
) -> None:
    order = json.loads(sample("orders_cancelled.json"))
    assert translate(dumps(change(order)), "orders/cancelled").field == field


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("id",), int("9" * 256), "id"),
        (("line_items", 0, "price"), "1" * 28 + ".00", "line_items[0].price"),
        (("order_id",), "1" * 300, "order_id"),
    ],
)
def test_outsized_ids_and_amounts_are_translation_errors(
    path: tuple[str | int, ...], value: object, field: str
) -> None:
    topic = "refunds/create" if path == ("order_id",) else "orders/cancelled"
    body = json.loads(
        sample("refunds_create.json" if topic == "refunds/create" else "orders_cancelled.json")
    )
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    error = translate(dumps(body), topic)
    assert error.field == field
