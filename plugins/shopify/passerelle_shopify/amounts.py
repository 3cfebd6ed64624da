"""Shopify amounts as `Money`, always in the presentment currency (the one the customer paid in).

A ``*_set`` field holds an amount in the shop's currency and in the presentment currency; only the
latter is read. Bare amounts (``"price": "12.34"``, ``"subtotal": 12.34``) are in the shop's
currency, so they are read only where no ``*_set`` exists (old API versions, single-currency
shops) and taken to be in the presentment currency.
"""

from __future__ import annotations

from decimal import Decimal

from passerelle.money import Money, MoneyError, currency
from passerelle.platforms import TranslationError
from passerelle_shopify.payloads import MoneyBag

__all__ = ["currency_code", "money", "presentment"]


def currency_code(code: str, field: str) -> str:
    """The ISO 4217 code `code` upper-cased; a `TranslationError` on `field` when unknown."""
    try:
        return currency(code).code
    except MoneyError as exc:
        raise TranslationError(str(exc), field=field) from None


def money(amount: Decimal, code: str, field: str) -> Money:
    """`amount` in currency `code`; a `TranslationError` on `field` when it cannot be money."""
    try:
        return Money.of(amount, code)
    except MoneyError as exc:
        raise TranslationError(str(exc), field=field) from None


def presentment(bag: MoneyBag, code: str, field: str) -> Money:
    """The presentment amount of the ``*_set`` field `bag` at `field`, checked to be in
    currency `code`."""
    value = bag.presentment_money
    where = f"{field}.presentment_money"
    if value.currency_code.upper() != code.upper():
        raise TranslationError(
            f"amount {value.amount} {value.currency_code} is not in the presentment currency "
            f"{code}",
            field=f"{where}.currency_code",
        )
    return money(value.amount, code, f"{where}.amount")
