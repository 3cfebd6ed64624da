"""The cart a WooCommerce order stands for, as the checkout gives it to the back end
(``POST /v1/orders``), exact to the currency's minor unit.

Amounts come from the string fields only (``line_items[].price`` is a float and never read).
WooCommerce's REST fields are before tax whatever ``prices_include_tax`` says (it only changes
how prices were entered and shown), so each amount is taken with its own tax:

- each product line at its ``subtotal`` (before coupons) over its quantity, reference its id;
- the products' tax (``subtotal_tax``) as one fee line ``tax``;
- the coupons (``discount_total`` plus ``discount_tax``) as one discount line ``discount``;
- each shipping line as a handling line ``shipping:<id>`` and each fee line as a fee line
  ``fee:<id>``, each with its tax.

These add up to the order's ``total``, or the order is refused naming ``total``.
"""

from __future__ import annotations

from decimal import Decimal

from passerelle.plugin import (
    EXACT,
    CartLine,
    LineType,
    Money,
    TranslationError,
    amount_in,
    amount_of,
    known_currency,
    parse_model,
)
from passerelle_woocommerce.payloads import OrderSnapshot

__all__ = ["checkout_lines", "checkout_lines_of"]


def checkout_lines_of(body: bytes) -> tuple[str, tuple[CartLine, ...]]:
    """The currency and the cart lines of the order resource `body`."""
    order = parse_model(body, OrderSnapshot, "order")
    return order.currency.upper(), checkout_lines(order)


def checkout_lines(order: OrderSnapshot) -> tuple[CartLine, ...]:
    """The cart lines of `order` (see the module documentation)."""
    currency = known_currency(order.currency, "currency")
    lines: list[CartLine] = []
    tax = Decimal(0)
    for index, item in enumerate(order.line_items):
        at = f"line_items[{index}]"
        if not item.quantity:
            continue
        subtotal = amount_of(item.subtotal, currency, f"{at}.subtotal")
        minor = int(subtotal / currency.quantum)  # exact: amount_of checked its decimals
        if minor % item.quantity:
            raise TranslationError(
                f"{subtotal} does not divide into {item.quantity} equal unit prices",
                field=f"{at}.subtotal",
            )
        tax = EXACT.add(tax, amount_of(item.subtotal_tax, currency, f"{at}.subtotal_tax"))
        lines.append(
            CartLine(
                reference=str(item.id),
                name=(item.name or f"line {item.id}").strip()[:255] or f"line {item.id}",
                unit_price=amount_in(
                    minor // item.quantity * currency.quantum, currency, f"{at}.subtotal"
                ),
                quantity=item.quantity,
            )
        )
    if tax:
        lines.append(_one("tax", "Tax", LineType.FEE, Money.of(tax, currency.code)))
    discount = EXACT.add(
        amount_of(order.discount_total, currency, "discount_total"),
        amount_of(order.discount_tax, currency, "discount_tax"),
    )
    if discount:
        price = Money.of(-abs(discount), currency.code)
        lines.append(_one("discount", "Coupons", LineType.DISCOUNT, price))
    for kind, charges, line_type in (
        ("shipping", order.shipping_lines, LineType.HANDLING),
        ("fee", order.fee_lines, LineType.FEE),
    ):
        for index, charge in enumerate(charges):
            at = f"{kind}_lines[{index}]"
            amount = EXACT.add(
                amount_of(charge.total, currency, f"{at}.total"),
                amount_of(charge.total_tax, currency, f"{at}.total_tax"),
            )
            name = (charge.method_title or charge.name or kind).strip()[:255] or kind
            lines.append(
                _one(f"{kind}:{charge.id}", name, line_type, Money.of(amount, currency.code))
            )
    total = sum((line.total.amount for line in lines), Decimal(0))
    expected = amount_of(order.total, currency, "total")
    if total != expected:
        raise TranslationError(
            f"the order's lines, tax, coupons, shipping and fees add up to {total}, not {expected}",
            field="total",
        )
    return tuple(lines)


def _one(reference: str, name: str, kind: LineType, price: Money) -> CartLine:
    return CartLine(reference=reference, name=name, type=kind, unit_price=price, quantity=1)
