"""An order as created at checkout, and the rules every list of order lines follows.

The same rules hold for the order's lines and for the new cart of an edit (`passerelle.orders`):
each line named once, every price in the order's currency, a discount never positive and any
other line never negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from passerelle.events import CartLine, LineType, Text
from passerelle.ledger_errors import (
    DuplicateLineError,
    InvalidCartError,
    LedgerError,
    OrderCurrencyMismatchError,
)
from passerelle.money import Money, currency

__all__ = ["CartIssue", "Line", "Order", "cart_issue", "cart_total"]

Line = CartLine
"""A line of an order: the same thing as a line of a cart (a discount has a negative price)."""


class CartIssue(NamedTuple):
    """What is wrong with a list of lines: the error to raise, the line and why."""

    error: type[LedgerError]
    line: str
    reason: str


def cart_issue(lines: Iterable[Line], currency_code: str) -> CartIssue | None:
    """The first problem of a list of lines in an order of `currency_code`, if any."""
    seen: set[str] = set()
    for line in lines:
        price = line.unit_price
        if line.reference in seen:
            return CartIssue(DuplicateLineError, line.reference, "it is named more than once")
        seen.add(line.reference)
        if price.currency != currency_code:
            return CartIssue(
                OrderCurrencyMismatchError,
                line.reference,
                f"its price {price} is not in the order's currency {currency_code}",
            )
        if line.type is LineType.DISCOUNT and price.amount > 0:
            return CartIssue(
                InvalidCartError,
                line.reference,
                f"a discount line needs a unit price of zero or less, not {price}",
            )
        if line.type is not LineType.DISCOUNT and price.amount < 0:
            return CartIssue(
                InvalidCartError,
                line.reference,
                f"a {line.type} line needs a unit price of zero or more, not {price}",
            )
    return None


def cart_total(lines: Iterable[Line], currency_code: str) -> Money:
    """The total of `lines` in `currency_code`, adjustments included."""
    return Money.sum((line.total for line in lines), currency_code)


class Order(BaseModel):
    """An order as created at checkout: its lines, all in the order's currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: Text
    """The store's order reference."""
    currency: str
    lines: tuple[Line, ...] = Field(min_length=1)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return currency(value).code

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        issue = cart_issue(self.lines, self.currency)
        if issue is not None:
            raise ValueError(f"line {issue.line}: {issue.reason}")
        if not any(line.type is LineType.PRODUCT for line in self.lines):
            raise ValueError("an order needs at least one product line")
        if self.total.amount < 0:
            raise ValueError(f"the order total {self.total} must not be negative")
        return self

    @property
    def total(self) -> Money:
        return cart_total(self.lines, self.currency)
