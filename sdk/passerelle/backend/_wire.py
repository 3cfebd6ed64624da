"""What every back-end model shares: the request and response bases, money in minor units,
days, references, and the errors a rule raises (see `passerelle.backend.models`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    StringConstraints,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from passerelle.money import CurrencyCode, Money

__all__ = ["Amount", "MinorMoney"]

# JSON numbers beyond 2**53 lose precision in many clients; no amount or count comes near it.
SAFE_INT = 2**53 - 1


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    # Lax date parsing reads 1700000000, or "0" in a query string, as a Unix timestamp; a date
    # on the wire is an ISO 8601 string.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("a date must be an ISO 8601 string such as 2025-03-14, not a number")
    return value


Day = Annotated[dt.date, BeforeValidator(_not_a_number)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Quantity = Annotated[StrictInt, Field(gt=0, le=SAFE_INT)]
Count = Annotated[StrictInt, Field(ge=0, le=SAFE_INT)]

T = TypeVar("T")


def _non_empty(items: tuple[T, ...]) -> tuple[T, ...]:
    if not items:
        raise ValueError("must hold at least one item")
    return items


class _MinOneItem:
    # `min_length` on a tuple adds a second, misleading error when an item is invalid; checking
    # after the items keeps the one error that names the bad item.
    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["minItems"] = 1
        return json_schema


NonEmpty = Annotated[tuple[T, ...], AfterValidator(_non_empty), _MinOneItem()]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# Money on the wire


class Amount(_Request):
    """An amount of money on the wire: integer minor units and an ISO 4217 currency."""

    minor: StrictInt = Field(
        ge=-SAFE_INT,
        le=SAFE_INT,
        description="The amount as an integer count of the currency's minor unit: 1234 is "
        "12.34 CAD, 1234 JPY or 1.234 BHD. Never a float.",
    )
    currency: CurrencyCode = Field(description="ISO 4217 currency code, upper case (CAD).")

    @classmethod
    def from_money(cls, money: Money) -> Amount:
        return cls(minor=money.minor, currency=money.currency)

    def to_money(self) -> Money:
        return Money.from_minor(self.minor, self.currency)


class _MinorUnits:
    """Pydantic annotation: a `Money` field that travels as an `Amount`."""

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        amount = handler.generate_schema(Amount)

        def from_money(value: Any) -> Any:
            return Amount.from_money(value) if isinstance(value, Money) else value

        def to_money(value: Amount) -> Money:
            return value.to_money()

        return core_schema.no_info_before_validator_function(
            from_money,
            core_schema.no_info_after_validator_function(to_money, amount),
            serialization=core_schema.plain_serializer_function_ser_schema(
                Amount.from_money, return_schema=amount
            ),
        )


MinorMoney = Annotated[Money, _MinorUnits()]
"""A `Money` field whose wire form is an `Amount` (``{"minor": 1234, "currency": "CAD"}``)."""


def _check_currency(value: Money, expected: str, where: str) -> None:
    if value.currency != expected:
        raise ValueError(f"{where} is in {value.currency}, expected {expected}")


Loc = tuple[str | int, ...]


def _refused(title: str, loc: Loc, message: str, value: Any, kind: str = "rule") -> ValidationError:
    """A validation error located at `loc` (relative to the model raising it), so that the
    answer names the field at fault rather than the whole body.

    `kind` is the error's type: ``currency_mismatch`` for an amount in another currency (the
    back end answers those with that problem code), ``rule`` for the other rules.
    """
    error = PydanticCustomError(kind, "{reason}", {"reason": message})
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=error, loc=loc, input=value)]
    )


def _check_unique(title: str, references: Sequence[str], field: str, key: str, what: str) -> None:
    """Refuse the second item of `field` naming the same `key` as an earlier one."""
    seen: set[str] = set()
    for i, ref in enumerate(references):
        if ref in seen:
            raise _refused(title, (field, i, key), f"{what} {ref!r} appears more than once", ref)
        seen.add(ref)


# Orders
