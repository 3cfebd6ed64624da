"""The parts of Shopify's webhook and Admin API bodies Passerelle reads, as pydantic models,
read with `passerelle.plugin.parse_model` (exact amounts and ids; a missing or malformed field is
a `TranslationError` naming its path). Unknown fields are ignored.
"""

from __future__ import annotations

from datetime import datetime

from passerelle.plugin import Amount, Body, Count, Id, Items

__all__ = [
    "DiscountAllocation",
    "Fulfillment",
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
]


class ShopMoney(Body):
    amount: Amount
    currency_code: str


class MoneyBag(Body):
    """A ``*_set`` field: the amount in the customer's (presentment) currency, and in the
    shop's (``shop_money``), whose currency alone is read: it says whether a bare amount
    elsewhere in the body, which is in the shop's currency, is also in the presentment one."""

    presentment_money: ShopMoney
    shop_money: ShopMoney | None = None


class DiscountAllocation(Body):
    amount: Amount | None = None
    amount_set: MoneyBag | None = None


class TaxLine(Body):
    price: Amount | None = None
    price_set: MoneyBag | None = None


class LineItem(Body):
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


class Fulfillment(Body):
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


class RefundedLineItem(Body):
    """The order line a refund line refunds: only what tells a return from a cancellation and
    what prices the line when the refund line carries no subtotal."""

    id: Id
    fulfillment_status: str | None = None
    quantity: Count | None = None
    fulfillable_quantity: Count | None = None
    price: Amount | None = None
    price_set: MoneyBag | None = None


class RefundLineItem(Body):
    line_item_id: Id
    quantity: Count
    restock_type: str | None = None
    subtotal: Amount | None = None
    total_tax: Amount | None = None
    subtotal_set: MoneyBag | None = None
    total_tax_set: MoneyBag | None = None
    line_item: RefundedLineItem | None = None


class Transaction(Body):
    id: Id | None = None
    kind: str
    status: str | None = None
    amount: Amount
    currency: str | None = None


class OrderAdjustment(Body):
    kind: str | None = None
    amount: Amount | None = None
    tax_amount: Amount | None = None
    amount_set: MoneyBag | None = None
    tax_amount_set: MoneyBag | None = None


class RefundShippingLine(Body):
    subtotal_amount_set: MoneyBag | None = None
    tax_amount_set: MoneyBag | None = None


class Refund(Body):
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


class ShippingLine(Body):
    id: Id
    title: str | None = None
    price: Amount | None = None
    price_set: MoneyBag | None = None
    is_removed: bool | None = None
    discount_allocations: Items[DiscountAllocation] = ()
    tax_lines: Items[TaxLine] = ()


class Order(Body):
    id: Id
    name: str | None = None
    currency: str | None = None
    presentment_currency: str | None = None
    taxes_included: bool | None = None
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    updated_at: datetime | None = None
    line_items: Items[LineItem] = ()
    fulfillments: Items[Fulfillment] = ()
    refunds: Items[Refund] = ()
    shipping_lines: Items[ShippingLine] = ()


class OrderEdit(Body):
    id: Id
    order_id: Id
    created_at: datetime | None = None
    committed_at: datetime | None = None


class OrderEditBody(Body):
    """The body of ``orders/edited``: the edit's deltas, without amounts."""

    order_edit: OrderEdit


class OrderResponse(Body):
    """The Admin API's answer to ``GET /orders/{id}.json``."""

    order: Order
