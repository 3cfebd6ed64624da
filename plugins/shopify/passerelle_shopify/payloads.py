"""The parts of Shopify's webhook and Admin API bodies Passerelle reads, as pydantic models.

Bodies are parsed with every JSON number that has a fraction or an exponent read as a `Decimal`,
never a float: amounts stay exact, and an id that is not a JSON integer is refused instead of
being rounded (Shopify's ids exceed 2^53). Unknown fields are ignored; a field Passerelle needs
that is missing or malformed is a `TranslationError` naming its path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from passerelle.platforms import TranslationError

__all__ = [
    "Amount",
    "DiscountAllocation",
    "Fulfillment",
    "Id",
    "LineItem",
    "MoneyBag",
    "Order",
    "OrderAdjustment",
    "OrderEdit",
    "OrderEditBody",
    "OrderResponse",
    "Refund",
    "RefundLineItem",
    "RefundShippingLine",
    "RefundedLineItem",
    "ShippingLine",
    "ShopMoney",
    "TaxLine",
    "Transaction",
    "field_path",
    "loads",
    "parse",
    "path_at",
]


def _id(value: object) -> object:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise ValueError("an id must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, Decimal):
        raise ValueError(f"an id must be a JSON integer, without fraction or exponent; got {value}")
    raise ValueError(f"an id must be an integer, not {type(value).__name__}")


def _items(value: object) -> object:
    # Shopify sends null for some empty lists.
    return () if value is None else value


Id = Annotated[int, BeforeValidator(_id)]
"""A Shopify id: a JSON integer (or a string of digits), kept exact."""
Amount = Annotated[Decimal, Field(allow_inf_nan=False)]
"""A decimal amount, from a string ("12.34") or a JSON number. `loads` reads every JSON number
with a fraction as a Decimal, so no float reaches it; pydantic refuses booleans, inf and NaN."""
Count = Annotated[int, Field(strict=True, ge=0)]

T = TypeVar("T")
Items = Annotated[tuple[T, ...], BeforeValidator(_items)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ShopMoney(_Body):
    amount: Amount
    currency_code: str


class MoneyBag(_Body):
    """A ``*_set`` field: the amount in the customer's (presentment) currency.

    Shopify also sends the amount in the shop's currency (``shop_money``); Passerelle never reads
    it, so it is not validated either.
    """

    presentment_money: ShopMoney


class DiscountAllocation(_Body):
    amount: Amount | None = None
    amount_set: MoneyBag | None = None


class TaxLine(_Body):
    price: Amount | None = None
    price_set: MoneyBag | None = None


class LineItem(_Body):
    id: Id
    quantity: Count
    name: str | None = None
    title: str | None = None
    price: Amount | None = None
    price_set: MoneyBag | None = None
    fulfillable_quantity: Count | None = None
    current_quantity: Count | None = None
    fulfillment_status: str | None = None
    discount_allocations: Items[DiscountAllocation] = ()
    tax_lines: Items[TaxLine] = ()


class Fulfillment(_Body):
    id: Id
    order_id: Id
    status: str | None = None
    name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    line_items: Items[LineItem] = ()
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_numbers: Items[str | None] = ()
    tracking_url: str | None = None
    tracking_urls: Items[str | None] = ()


class RefundedLineItem(_Body):
    """The order line a refund line refunds: only what tells a return from a cancellation and
    what prices the line when the refund line carries no subtotal."""

    id: Id
    fulfillment_status: str | None = None
    quantity: Count | None = None
    fulfillable_quantity: Count | None = None
    price: Amount | None = None
    price_set: MoneyBag | None = None


class RefundLineItem(_Body):
    line_item_id: Id
    quantity: Count
    restock_type: str | None = None
    subtotal: Amount | None = None
    total_tax: Amount | None = None
    subtotal_set: MoneyBag | None = None
    total_tax_set: MoneyBag | None = None
    line_item: RefundedLineItem | None = None


class Transaction(_Body):
    id: Id | None = None
    kind: str
    status: str | None = None
    amount: Amount
    currency: str | None = None


class OrderAdjustment(_Body):
    kind: str | None = None
    amount: Amount | None = None
    tax_amount: Amount | None = None
    amount_set: MoneyBag | None = None
    tax_amount_set: MoneyBag | None = None


class RefundShippingLine(_Body):
    subtotal_amount_set: MoneyBag | None = None
    tax_amount_set: MoneyBag | None = None


class Refund(_Body):
    id: Id
    order_id: Id
    created_at: datetime | None = None
    processed_at: datetime | None = None
    note: str | None = None
    restock: bool | None = None
    refund_line_items: Items[RefundLineItem] = ()
    transactions: Items[Transaction] = ()
    order_adjustments: Items[OrderAdjustment] = ()
    refund_shipping_lines: Items[RefundShippingLine] = ()


class ShippingLine(_Body):
    id: Id
    title: str | None = None
    price: Amount | None = None
    price_set: MoneyBag | None = None
    is_removed: bool | None = None
    discount_allocations: Items[DiscountAllocation] = ()


class Order(_Body):
    id: Id
    name: str | None = None
    currency: str | None = None
    presentment_currency: str | None = None
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    updated_at: datetime | None = None
    line_items: Items[LineItem] = ()
    fulfillments: Items[Fulfillment] = ()
    refunds: Items[Refund] = ()
    shipping_lines: Items[ShippingLine] = ()


class OrderEdit(_Body):
    id: Id
    order_id: Id
    created_at: datetime | None = None
    committed_at: datetime | None = None


class OrderEditBody(_Body):
    """The body of ``orders/edited``: the edit's deltas, without amounts."""

    order_edit: OrderEdit


class OrderResponse(_Body):
    """The Admin API's answer to ``GET /orders/{id}.json``."""

    order: Order


M = TypeVar("M", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def loads(body: bytes) -> Any:
    """JSON with fractions read as `Decimal` and integers kept exact; raises `ValueError`."""
    # What json.loads does with bytes, minus building a decoder for every body.
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def parse(body: bytes, model: type[M], what: str) -> M:
    """`body` read as `model`; a `TranslationError` quoting the problem and its field path.

    `what` names the body in messages (``"fulfillments/create body"``).
    """
    try:
        data = loads(body)
    except json.JSONDecodeError as exc:
        raise TranslationError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(character {exc.pos})",
            field=path_at(exc.doc, exc.pos),
        ) from None
    except UnicodeDecodeError as exc:
        raise TranslationError(
            f"{what} is not JSON: it is not {exc.encoding} text ({exc.reason} at byte {exc.start})"
        ) from None
    except ValueError as exc:
        raise TranslationError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise TranslationError(f"{what} is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise TranslationError(f"{what} is not a JSON object but a {_json_type(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        message = error["msg"].removeprefix("Value error, ")
        raise TranslationError(f"{message} in the {what}", field=field_path(error["loc"])) from None


def path_at(text: str, pos: int) -> str | None:
    """The path of the value a JSON text was reading at `pos` (``refunds[0].amount``), as far
    as the text before it tells; None at the top level. Only read for an error message."""
    stack: list[str | int | None] = []  # per open container: the key, the index
    key: str | None = None
    i = 0
    while i < min(pos, len(text)):
        char = text[i]
        if char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if stack and not isinstance(stack[-1], int) and stack[-1] is None:
                key = text[i + 1 : end]
            i = end
        elif char == ":" and stack and not isinstance(stack[-1], int):
            stack[-1] = key
        elif char in "{[":
            stack.append(0 if char == "[" else None)
        elif char in "}]" and stack:
            stack.pop()
        elif char == "," and stack:
            stack[-1] = stack[-1] + 1 if isinstance(stack[-1], int) else None
        i += 1
    parts = [part for part in stack if part is not None]
    return field_path(parts) if parts else None


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a path: ``refund_line_items[0].quantity``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(body)"


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
