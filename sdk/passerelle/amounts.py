"""Money read from a delivery: Decimal amounts with a currency, every failure a
`TranslationError` naming the field.

Amounts are often added up before they become `Money`: `EXACT` is a decimal context that never
rounds, and `amount_of` checks one amount against its currency without building `Money`, which
is most of the work when a body holds many amounts.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Final

from passerelle.money import Currency, Money, MoneyError, currency
from passerelle.platforms import TranslationError

__all__ = [
    "EXACT",
    "amount_in",
    "amount_of",
    "currency_code",
    "fits",
    "known_currency",
]

EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""A decimal context that never rounds: sums of checked amounts in it are exact."""


def currency_code(code: object, field: str) -> str:
    """The ISO 4217 code `code` upper-cased; a `TranslationError` on `field` when unknown."""
    try:
        return currency(code).code  # type: ignore[arg-type]
    except MoneyError as exc:
        raise TranslationError(str(exc), field=field) from None


def known_currency(code: object, field: str) -> Currency:
    """The ISO 4217 currency `code`; a `TranslationError` on `field` when unknown."""
    return currency(currency_code(code, field))


def amount_in(amount: Decimal, cur: Currency | str, field: str) -> Money:
    """`amount` as `Money` of `cur`; a `TranslationError` on `field` when it cannot be (too
    many decimals for the currency, too large, not finite)."""
    code = cur.code if isinstance(cur, Currency) else currency_code(cur, field)
    try:
        return Money.of(amount, code)
    except MoneyError as exc:
        raise TranslationError(str(exc), field=field) from None


def amount_of(amount: Decimal, cur: Currency, field: str) -> Decimal:
    """`amount` checked to be an amount of `cur` (no more decimals than it allows), as a plain
    Decimal to add up (in `EXACT`) before making `Money` of the total; a `TranslationError` on
    `field` otherwise."""
    return amount if fits(amount, cur) else amount_in(amount, cur, field).amount


def fits(amount: Decimal, cur: Currency) -> bool:
    """Whether `amount` has no more decimals than `cur` allows."""
    try:
        return amount.quantize(cur.quantum) == amount
    except ArithmeticError:
        return False  # too many digits to quantize: `amount_in` says so, naming the field
