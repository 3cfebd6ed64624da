"""The unshipped part of a Shopify order as a cart: what ``OrderEdited`` carries.

Product lines are the line items with units left to fulfil (``fulfillable_quantity``), at their
unit price in the presentment currency. Shipping lines become handling lines
(``shipping:<id>``) and every discount allocated to those lines and units becomes one discount
line (``discounts``). Once some units have shipped, the shipping charges and discounts are taken
pro rata to the unshipped product value, as the ledger captures them with the products: only the
part not captured yet belongs to the cart.

Shipped units
    ``current_quantity`` (API 2024-01 and later) less ``fulfillable_quantity``. Older versions
    do not carry it, and their ``quantity`` still counts units an order edit removed: there the
    shipped units are those the order's successful fulfillments list, so a removed unit is not
    taken for a shipped one.

Tax
    The back end captures a cart's total and refunds count a line's tax with it, so the cart
    totals what the customer pays. On a tax-inclusive order (``taxes_included`` true, or not
    stated) the prices already hold the tax. On a tax-exclusive one (``taxes_included: false``)
    the tax of the unshipped units and of the shipping not captured yet becomes one fee line
    (``taxes``), pro rata as the discounts.

Currencies
    Amounts are read from ``*_set`` fields. A bare amount is in the shop's currency: it is read
    only when that is the presentment currency (or the order does not name it); otherwise the
    field is refused, never relabelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from passerelle.plugin import CartLine, LineType, Money, TranslationError, currency_code
from passerelle_shopify.amounts import bare as bare_amount
from passerelle_shopify.amounts import presentment
from passerelle_shopify.payloads import (
    DiscountAllocation,
    LineItem,
    MoneyBag,
    Order,
    ShippingLine,
    TaxLine,
)

__all__ = [
    "DISCOUNT_REFERENCE",
    "TAX_REFERENCE",
    "Pricing",
    "cart_of",
    "presentment_currency",
    "shipping_reference",
]

DISCOUNT_REFERENCE = "discounts"
TAX_REFERENCE = "taxes"
_NAME_MAX = 255


def shipping_reference(shipping_line_id: int) -> str:
    """The cart reference of a shipping line."""
    return f"shipping:{shipping_line_id}"


def cart_of(order: Order, *, at: str = "order.") -> tuple[CartLine, ...]:
    """The cart of `order`'s unshipped units; `at` prefixes field paths in errors."""
    pricing = Pricing.of(order, at)
    zero = Money.zero(pricing.currency)
    shipped_units = _fulfilled_units(order)
    cart: list[CartLine] = []
    unshipped_value = shipped_value = discount = tax = zero
    for index, item in enumerate(order.line_items):
        field = f"{at}line_items[{index}]"
        if item.fulfillable_quantity is None:
            raise TranslationError(
                f"line {item.id} of order {order.id} does not say how many units are left to ship",
                field=f"{field}.fulfillable_quantity",
            )
        to_ship = item.fulfillable_quantity
        if item.current_quantity is not None:
            shipped = max(item.current_quantity - to_ship, 0)
        else:
            shipped = min(shipped_units.get(item.id, 0), max(item.quantity - to_ship, 0))
        if to_ship == 0 and shipped == 0:
            continue
        price = pricing.unit_price(item, field)
        unshipped_value += price * to_ship
        shipped_value += price * shipped
        discount += _unshipped_share(
            pricing.discounts(item.discount_allocations, field), to_ship, shipped
        )
        if pricing.adds_tax:
            tax += _unshipped_share(pricing.taxes(item.tax_lines, field), to_ship, shipped)
        if to_ship:
            cart.append(
                CartLine(
                    reference=str(item.id),
                    name=_name(item.name or item.title, f"line {item.id}"),
                    type=LineType.PRODUCT,
                    unit_price=price,
                    quantity=to_ship,
                )
            )
    weights = (unshipped_value.minor, shipped_value.minor)
    for index, shipping in enumerate(order.shipping_lines):
        if shipping.is_removed:
            continue
        field = f"{at}shipping_lines[{index}]"
        share = _unshipped_share(pricing.shipping_price(shipping, order, field), *weights)
        discount += _unshipped_share(
            pricing.discounts(shipping.discount_allocations, field), *weights
        )
        if pricing.adds_tax:
            tax += _unshipped_share(pricing.taxes(shipping.tax_lines, field), *weights)
        if not share.is_zero():
            cart.append(
                CartLine(
                    reference=shipping_reference(shipping.id),
                    name=_name(shipping.title, "Shipping"),
                    type=LineType.HANDLING,
                    unit_price=share,
                    quantity=1,
                )
            )
    if not tax.is_zero():
        cart.append(
            CartLine(
                reference=TAX_REFERENCE, name="Taxes", type=LineType.FEE, unit_price=tax, quantity=1
            )
        )
    if not discount.is_zero():
        cart.append(
            CartLine(
                reference=DISCOUNT_REFERENCE,
                name="Discounts",
                type=LineType.DISCOUNT,
                unit_price=-discount,
                quantity=1,
            )
        )
    return tuple(cart)


@dataclass(frozen=True)
class Pricing:
    """How an order's amounts are read: in `currency` (the presentment one), bare amounts only
    when the shop's currency is that one (`amounts.bare`), tax added when `adds_tax`."""

    currency: str
    shop_currency: str | None
    adds_tax: bool

    @classmethod
    def of(cls, order: Order, at: str) -> Pricing:
        currency = presentment_currency(order, at)
        shop = currency_code(order.currency, f"{at}currency") if order.currency else None
        return cls(currency, shop, adds_tax=order.taxes_included is False)

    def amount(self, bag: MoneyBag | None, bare: Decimal | None, field: str, names: str) -> Money:
        """The amount at `field` from its ``*_set`` (`names`: set name, bare name), else its
        bare amount (`amounts.bare`); zero when it has neither."""
        set_name, bare_name = names.split()
        if bag is not None:
            return presentment(bag, self.currency, f"{field}.{set_name}")
        if bare is None:
            return Money.zero(self.currency)
        return bare_amount(
            bare, self.currency, self.shop_currency, field, f"{bare_name} {set_name}"
        )

    def unit_price(self, item: LineItem, field: str) -> Money:
        """The presentment unit price of the line item at `field`; never negative."""
        if item.price_set is None and item.price is None:
            raise TranslationError(f"line {item.id} has no price", field=f"{field}.price_set")
        price = self.amount(item.price_set, item.price, field, "price_set price")
        if price.amount < 0:
            raise TranslationError(f"line {item.id} has a negative price", field=f"{field}.price")
        return price

    def shipping_price(self, shipping: ShippingLine, order: Order, field: str) -> Money:
        """The presentment price of a shipping line; never negative."""
        if shipping.price_set is None and shipping.price is None:
            raise TranslationError(
                f"shipping line {shipping.id} of order {order.id} has no price",
                field=f"{field}.price_set",
            )
        price = self.amount(shipping.price_set, shipping.price, field, "price_set price")
        if price.amount < 0:
            raise TranslationError(
                f"shipping line {shipping.id} has a negative price", field=f"{field}.price"
            )
        return price

    def discounts(self, allocations: tuple[DiscountAllocation, ...], field: str) -> Money:
        """The total of the discount allocations of the line at `field`."""
        pairs = ((a.amount_set, a.amount) for a in allocations)
        return self._total(pairs, f"{field}.discount_allocations", "amount_set amount")

    def taxes(self, tax_lines: tuple[TaxLine, ...], field: str) -> Money:
        """The total of the tax lines of the line at `field`."""
        pairs = ((t.price_set, t.price) for t in tax_lines)
        return self._total(pairs, f"{field}.tax_lines", "price_set price")

    def _total(
        self, amounts: Iterable[tuple[MoneyBag | None, Decimal | None]], field: str, names: str
    ) -> Money:
        total = Money.zero(self.currency)
        for index, (bag, bare) in enumerate(amounts):
            total += self.amount(bag, bare, f"{field}[{index}]", names)
        return total


def presentment_currency(order: Order, at: str = "") -> str:
    """The currency `order` was paid in: as stated, else as its line prices state it."""
    if order.presentment_currency:
        return currency_code(order.presentment_currency, f"{at}presentment_currency")
    for index, item in enumerate(order.line_items):
        if item.price_set is not None:
            return currency_code(
                item.price_set.presentment_money.currency_code,
                f"{at}line_items[{index}].price_set.presentment_money.currency_code",
            )
    if order.currency:
        return currency_code(order.currency, f"{at}currency")
    raise TranslationError(
        f"order {order.id} names no presentment currency", field=f"{at}presentment_currency"
    )


def _fulfilled_units(order: Order) -> dict[int, int]:
    """Units of each line item the order's successful fulfillments shipped."""
    units: dict[int, int] = {}
    for fulfillment in order.fulfillments:
        if (fulfillment.status or "").lower() == "success":
            for item in fulfillment.line_items:
                units[item.id] = units.get(item.id, 0) + item.quantity
    return units


def _unshipped_share(amount: Money, unshipped: int, shipped: int) -> Money:
    """The part of `amount` that belongs to the unshipped weight (exact, largest remainder)."""
    if shipped == 0:
        return amount
    if unshipped == 0:
        return Money.zero(amount.currency)
    return amount.allocate([unshipped, shipped])[0]


def _name(name: str | None, fallback: str) -> str:
    text = (name or "").strip() or fallback
    return text[:_NAME_MAX]
