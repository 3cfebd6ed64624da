"""Shopify amounts as `Money`, always in the presentment currency (the one the customer paid in).

A ``*_set`` field holds an amount in the shop's currency and in the presentment currency; only the
latter is read. Bare amounts (``"price": "12.34"``, ``"subtotal": 12.34``) are in the shop's
currency, so they are read only where no ``*_set`` exists (old API versions, single-currency
shops) and taken to be in the presentment currency.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

from passerelle.money import Currency, Money, MoneyError, currency
from passerelle.platforms import TranslationError
from passerelle_shopify.payloads import MoneyBag, ShopMoney

__all__ = [
    "EXACT",
    "amount_of",
    "currency_code",
    "fits",
    "known_currency",
    "money",
    "presentment",
    "presentment_amount",
]

# Amounts are added up as Decimals and made `Money` once per total: a `Money` per amount is most
# of the work otherwise. Each amount is checked against the currency first, and this context
# never rounds, so the totals are exact.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def currency_code(code: str, field: str) -> str:
    """The ISO 4217 code `code` upper-cased; a `TranslationError` on `field` when unknown."""
    try:
        return currency(code).code
    except MoneyError as exc:
        raise TranslationError(str(exc), field=field) from None


def known_currency(code: str, field: str) -> Currency:
    """The ISO 4217 currency `code`; a `TranslationError` on `field` when unknown."""
    return currency(currency_code(code, field))


def money(amount: Decimal, code: str, field: str) -> Money:
    """`amount` in currency `code`; a `TranslationError` on `field` when it cannot be money."""
    try:
        return Money.of(amount, code)
    except MoneyError as exc:
        raise TranslationError(str(exc), field=field) from None


def amount_of(amount: Decimal, cur: Currency, field: str) -> Decimal:
    """`amount` checked to be an amount of `cur` (no more decimals than it allows), as a plain
    Decimal to add up before making `Money` of the total; a `TranslationError` on `field`."""
    return amount if fits(amount, cur) else money(amount, cur.code, field).amount


def fits(amount: Decimal, cur: Currency) -> bool:
    """Whether `amount` has no more decimals than `cur` allows."""
    try:
        return amount.quantize(cur.quantum) == amount
    except ArithmeticError:
        return False  # too many digits to quantize: `money` says so, naming the field


def presentment(bag: MoneyBag, code: str, field: str) -> Money:
    """The presentment amount of the ``*_set`` field `bag` at `field`, checked to be in
    currency `code`."""
    value = _presentment_money(bag, code, field)
    return money(value.amount, code, f"{field}.presentment_money.amount")


def presentment_amount(bag: MoneyBag, cur: Currency, field: str) -> Decimal:
    """`presentment` as a plain Decimal checked by `amount_of`."""
    amount = _presentment_money(bag, cur.code, field).amount
    if fits(amount, cur):
        return amount
    return money(amount, cur.code, f"{field}.presentment_money.amount").amount


def _presentment_money(bag: MoneyBag, code: str, field: str) -> ShopMoney:
    value = bag.presentment_money
    if value.currency_code != code and value.currency_code.upper() != code.upper():
        raise TranslationError(
            f"amount {value.amount} {value.currency_code} is not in the presentment currency "
            f"{code}",
            field=f"{field}.presentment_money.currency_code",
        )
    return value
