"""The unshipped part of a Shopify order as a cart: what ``OrderEdited`` carries.

Product lines are the line items with units left to fulfil (``fulfillable_quantity``), at their
unit price in the presentment currency. Shipping lines become handling lines
(``shipping:<id>``) and every discount allocated to those lines and units becomes one discount
line (``discounts``). Once some units have shipped, the shipping charges and discounts are taken
pro rata to the unshipped product value, as the ledger captures them with the products: only the
part not captured yet belongs to the cart.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from passerelle.plugin import CartLine, LineType, Money, TranslationError, amount_in, currency_code
from passerelle_shopify.amounts import presentment
from passerelle_shopify.payloads import DiscountAllocation, LineItem, MoneyBag, Order, TaxLine

__all__ = [
    "DISCOUNT_REFERENCE",
    "cart_of",
    "discounts",
    "presentment_currency",
    "shipping_reference",
    "taxes",
    "unit_price",
]

DISCOUNT_REFERENCE = "discounts"
_NAME_MAX = 255


def shipping_reference(shipping_line_id: int) -> str:
    """The cart reference of a shipping line."""
    return f"shipping:{shipping_line_id}"


def cart_of(order: Order, *, at: str = "order.") -> tuple[CartLine, ...]:
    """The cart of `order`'s unshipped units; `at` prefixes field paths in errors."""
    currency = presentment_currency(order, at)
    zero = Money.zero(currency)
    cart: list[CartLine] = []
    unshipped_value = shipped_value = zero
    discount = zero
    for index, item in enumerate(order.line_items):
        field = f"{at}line_items[{index}]"
        if item.fulfillable_quantity is None:
            raise TranslationError(
                f"line {item.id} of order {order.id} does not say how many units are left to ship",
                field=f"{field}.fulfillable_quantity",
            )
        to_ship = item.fulfillable_quantity
        current = item.quantity if item.current_quantity is None else item.current_quantity
        shipped = max(current - to_ship, 0)
        if to_ship == 0 and shipped == 0:
            continue
        price = unit_price(item, currency, field)
        unshipped_value += price * to_ship
        shipped_value += price * shipped
        line_discount = discounts(item.discount_allocations, currency, field)
        discount += _unshipped_share(line_discount, to_ship, shipped)
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
    for index, shipping in enumerate(order.shipping_lines):
        if shipping.is_removed:
            continue
        field = f"{at}shipping_lines[{index}]"
        if shipping.price_set is not None:
            price = presentment(shipping.price_set, currency, f"{field}.price_set")
        elif shipping.price is not None:
            price = amount_in(shipping.price, currency, f"{field}.price")
        else:
            raise TranslationError(
                f"shipping line {shipping.id} of order {order.id} has no price",
                field=f"{field}.price_set",
            )
        share = _unshipped_share(price, unshipped_value.minor, shipped_value.minor)
        discount += _unshipped_share(
            discounts(shipping.discount_allocations, currency, field),
            unshipped_value.minor,
            shipped_value.minor,
        )
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


def unit_price(item: LineItem, currency: str, field: str) -> Money:
    """The presentment unit price of the line item at `field`."""
    if item.price_set is not None:
        return presentment(item.price_set, currency, f"{field}.price_set")
    if item.price is not None:
        return amount_in(item.price, currency, f"{field}.price")
    raise TranslationError(f"line {item.id} has no price", field=f"{field}.price_set")


def discounts(allocations: tuple[DiscountAllocation, ...], currency: str, field: str) -> Money:
    """The total of the discount allocations of the line at `field`."""
    pairs = ((a.amount_set, a.amount) for a in allocations)
    return _total(pairs, currency, f"{field}.discount_allocations", ("amount_set", "amount"))


def taxes(tax_lines: tuple[TaxLine, ...], currency: str, field: str) -> Money:
    """The total of the tax lines of the line at `field`."""
    pairs = ((t.price_set, t.price) for t in tax_lines)
    return _total(pairs, currency, f"{field}.tax_lines", ("price_set", "price"))


def _total(
    amounts: Iterable[tuple[MoneyBag | None, Decimal | None]],
    currency: str,
    field: str,
    names: tuple[str, str],
) -> Money:
    """The total of a list at `field` whose items hold a ``*_set`` amount (read first) and a
    bare one, named `names`."""
    total = Money.zero(currency)
    for index, (bag, bare) in enumerate(amounts):
        where = f"{field}[{index}]"
        if bag is not None:
            total += presentment(bag, currency, f"{where}.{names[0]}")
        elif bare is not None:
            total += amount_in(bare, currency, f"{where}.{names[1]}")
    return total


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
