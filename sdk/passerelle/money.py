"""Money: a Decimal amount in one ISO 4217 currency. Floats never get in.

`Money` is exact: an amount never carries more decimals than its currency's minor unit allows,
arithmetic only happens within one currency, and splitting an amount (`allocate`) always returns
parts that sum to the whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Any, Self

from pydantic import AfterValidator, GetCoreSchemaHandler, StringConstraints
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["Currency", "CurrencyCode", "CurrencyMismatchError", "Money", "MoneyError", "currency"]

# ISO 4217 (list one) minor units: every active code with minor units, and the few withdrawn
# lately that old orders may still carry (ANG, CUC, SLL, ZWL). Metals and testing codes have none.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN
        BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB
        EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR
        KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR
        MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK
        SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN
        UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL""".split(),
        2,
    ),
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}


class MoneyError(ValueError):
    """An amount that cannot be money: a float, too many decimals, an unknown currency."""


class CurrencyMismatchError(MoneyError):
    """Arithmetic or comparison between two currencies."""


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency and the number of decimals of its minor unit."""

    code: str
    exponent: int

    @property
    def quantum(self) -> Decimal:
        """The value of one minor unit (`Decimal("0.01")` for CAD)."""
        return _QUANTA[self.exponent]


_QUANTA = {exponent: Decimal(1).scaleb(-exponent) for exponent in set(_EXPONENTS.values())}
_CURRENCIES: dict[str, Currency] = {code: Currency(code, e) for code, e in _EXPONENTS.items()}

# Below this magnitude a sum or difference of two amounts holds at most 22 digits, well within the
# 28 of the default decimal context: it is exact, so arithmetic can skip re-validation.
_EXACT_SUM_LIMIT = 18


def currency(code: str) -> Currency:
    """The `Currency` for an ISO 4217 code; raises `MoneyError` for an unknown code."""
    found = _CURRENCIES.get(code) if isinstance(code, str) else None
    if found is not None:
        return found
    if not isinstance(code, str):
        raise MoneyError(f"currency must be an ISO 4217 code string, not {type(code).__name__}")
    try:
        return _CURRENCIES[code.upper()]
    except KeyError:
        raise MoneyError(
            f"unknown currency {code!r}: expected an ISO 4217 code such as CAD"
        ) from None


def _known_code(code: str) -> str:
    currency(code)  # a MoneyError, a ValueError, naming the code
    return code


CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_code)]
"""A pydantic field type: an upper-case ISO 4217 code that `currency` knows."""


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, (bool, float)):
        raise MoneyError(f"amount {value!r} is a {type(value).__name__}: use a decimal string")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise MoneyError(f"amount {value!r} is not a decimal number") from None
    else:
        raise MoneyError(
            f"amount must be a decimal string, int or Decimal, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise MoneyError(f"amount {value!r} is not a finite number")
    return result


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount of one currency.

    Build it with `Money.of("12.34", "CAD")` or `Money.from_minor(1234, "CAD")`. The amount is
    normalised to the currency's exponent (`Money.of("5", "CAD").amount == Decimal("5.00")`).
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        cur = currency(self.currency)
        amount = self.amount
        if type(amount) is not Decimal or not amount.is_finite():
            amount = _to_decimal(amount)
        try:
            quantized = amount.quantize(cur.quantum)
        except InvalidOperation:
            raise MoneyError(f"amount {amount} is too large") from None
        if quantized != amount:
            raise MoneyError(
                f"amount {amount} has more decimals than {cur.code} allows ({cur.exponent})"
            )
        # "-0.00" would otherwise survive parsing and reach the wire.
        object.__setattr__(
            self, "amount", quantized.copy_abs() if quantized.is_zero() else quantized
        )
        object.__setattr__(self, "currency", cur.code)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency_code: str) -> Self:
        """Money from a decimal string, an int or a Decimal, in major units ("12.34")."""
        return cls(_to_decimal(amount), currency_code)

    @classmethod
    def from_minor(cls, minor: int, currency_code: str) -> Self:
        """Money from an integer count of minor units (1234 CAD cents is 12.34 CAD)."""
        if isinstance(minor, bool) or not isinstance(minor, int):
            raise MoneyError(f"minor units must be an int, not {type(minor).__name__}")
        cur = currency(currency_code)
        return cls(Decimal(minor).scaleb(-cur.exponent), cur.code)

    @classmethod
    def zero(cls, currency_code: str) -> Self:
        return cls(Decimal(0), currency_code)

    @classmethod
    def sum(cls, items: Iterable[Money], currency_code: str) -> Money:
        """The total of `items`, all in `currency_code` (zero when empty)."""
        total = cls.zero(currency_code)
        for item in items:
            total = total + item
        return total

    @property
    def minor(self) -> int:
        """The amount as an integer count of minor units."""
        return int(self.amount.scaleb(currency(self.currency).exponent))

    def is_zero(self) -> bool:
        return self.amount == 0

    def _same(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {op} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot {op} {self} and {other}: currencies differ")
        return other

    @classmethod
    def _exact(cls, amount: Decimal, currency_code: str) -> Money:
        """`amount` already exact in `currency_code` (a known code), without re-validation."""
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount.copy_abs() if amount.is_zero() else amount)
        object.__setattr__(money, "currency", currency_code)
        return money

    def _combine(self, amount: Decimal, other: Money) -> Money:
        # Both amounts are quantized to the same exponent, so their sum is too, unless it is
        # so large that the decimal context would round it: then validate in full.
        if max(self.amount.adjusted(), other.amount.adjusted()) < _EXACT_SUM_LIMIT:
            return Money._exact(amount, self.currency)
        return Money(amount, self.currency)

    def __add__(self, other: Money) -> Money:
        return self._combine(self.amount + self._same(other, "add").amount, other)

    def __sub__(self, other: Money) -> Money:
        return self._combine(self.amount - self._same(other, "subtract").amount, other)

    def __neg__(self) -> Money:
        return Money._exact(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int; use allocate() to split it")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other, "compare").amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other, "compare").amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other, "compare").amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other, "compare").amount

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def max(self, other: Money) -> Money:
        return self if self >= other else other

    def allocate(self, weights: Sequence[int | Decimal | Money]) -> list[Money]:
        """Split this amount across `weights` so that the parts sum exactly to it.

        Largest remainder: each part gets the floor of its proportional share in minor units, and
        the minor units left over go one each to the parts with the largest remainders (ties to the
        earliest). Every part differs from its exact proportional share by less than one minor
        unit. Weights must be non-negative with a positive total; Money weights must share this
        currency. A negative amount is split as its magnitude, negated.
        """
        if not weights:
            raise MoneyError("cannot allocate over no weights")
        values: list[Decimal] = []
        for w in weights:
            if isinstance(w, Money):
                values.append(self._same(w, "allocate by").amount)
            elif isinstance(w, (bool, float)):
                raise MoneyError(f"weight {w!r} is a {type(w).__name__}: use int or Decimal")
            elif isinstance(w, int | Decimal) and Decimal(w).is_finite():
                values.append(Decimal(w))
            else:
                raise MoneyError(f"weight {w!r} is not a finite int or Decimal")
        if any(v < 0 for v in values):
            raise MoneyError(f"weights must not be negative: {[str(v) for v in values]}")
        # Fractions, not Decimal arithmetic: a sum or share rounded to the context's precision
        # could land on the wrong side of an integer and break the exact sum.
        shares = [Fraction(v) for v in values]
        total_weight = sum(shares, Fraction(0))
        if total_weight == 0:
            raise MoneyError("cannot allocate over weights that sum to zero")
        sign = -1 if self.amount < 0 else 1
        minor_total = abs(self.minor)
        exact = [minor_total * share / total_weight for share in shares]
        floors = [math.floor(e) for e in exact]
        left = minor_total - sum(floors)
        by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
        for i in by_remainder[:left]:
            floors[i] += 1
        return [Money.from_minor(sign * part, self.currency) for part in floors]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"

    # pydantic: Money is a field type. It validates from a Money or from
    # {"amount": "12.34", "currency": "CAD"} (amount as a decimal string or int, never a float)
    # and serialises to that mapping with the amount as a string.
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> Money:
            if isinstance(value, Money):
                return value
            if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
                raise PydanticCustomError(
                    "money_type",
                    "money must be an object with exactly 'amount' and 'currency'",
                )
            try:
                return Money.of(value["amount"], value["currency"])
            except MoneyError as exc:
                raise PydanticCustomError("money_value", str(exc)) from None

        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=core_schema.typed_dict_schema(
                {
                    "amount": core_schema.typed_dict_field(
                        core_schema.str_schema(pattern=r"^-?\d+(\.\d+)?$")
                    ),
                    "currency": core_schema.typed_dict_field(
                        core_schema.str_schema(pattern=r"^[A-Z]{3}$")
                    ),
                }
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda m: {"amount": str(m.amount), "currency": m.currency}
            ),
        )
