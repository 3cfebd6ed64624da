"""Shopify amounts as `Money`, always in the presentment currency (the one the customer paid in).

A ``*_set`` field holds an amount in the shop's currency and in the presentment currency; only the
latter is read. Bare amounts (``"price": "12.34"``, ``"subtotal": 12.34``) are in the shop's
currency, so they are read only where no ``*_set`` exists (old API versions, single-currency
shops) and taken to be in the presentment currency.
"""

from __future__ import annotations

from decimal import Decimal

from passerelle.plugin import Currency, Money, TranslationError, amount_in, fits
from passerelle_shopify.payloads import MoneyBag, ShopMoney

__all__ = ["bare", "presentment", "presentment_amount"]


def presentment(bag: MoneyBag, code: str, field: str) -> Money:
    """The presentment amount of the ``*_set`` field `bag` at `field`, checked to be in
    currency `code`."""
    value = _presentment_money(bag, code, field)
    return amount_in(value.amount, code, f"{field}.presentment_money.amount")


def presentment_amount(bag: MoneyBag, cur: Currency, field: str) -> Decimal:
    """`presentment` as a plain Decimal checked by `passerelle.plugin.amount_of`."""
    amount = _presentment_money(bag, cur.code, field).amount
    if fits(amount, cur):
        return amount
    return amount_in(amount, cur, f"{field}.presentment_money.amount").amount


def bare(amount: Decimal, cur: Currency | str, shop: str | None, field: str, names: str) -> Money:
    """The bare amount `amount` at `field` (`names`: its name, then its ``*_set``'s), which is in
    the shop's currency `shop`, as a presentment amount in `cur`: only when the two currencies
    are one (or the shop's is not given), never a relabelled amount."""
    bare_name, set_name = names.split()
    code = cur.code if isinstance(cur, Currency) else cur
    if shop is not None and shop.upper() != code.upper():
        raise TranslationError(
            f"has no {set_name}, and {bare_name} is in the shop currency {shop}, not the "
            f"presentment currency {code}",
            field=f"{field}.{set_name}",
        )
    return amount_in(amount, cur, f"{field}.{bare_name}")


def _presentment_money(bag: MoneyBag, code: str, field: str) -> ShopMoney:
    value = bag.presentment_money
    if value.currency_code != code and value.currency_code.upper() != code.upper():
        raise TranslationError(
            f"amount {value.amount} {value.currency_code} is not in the presentment currency "
            f"{code}",
            field=f"{field}.presentment_money.currency_code",
        )
    return value
