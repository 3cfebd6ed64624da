"""The payment back end's API contract: every request and response body, as pydantic models.

These models are the single authority for the wire format: the client sends and parses them, the
sandbox server answers with them, and the OpenAPI document is generated from them.

Conventions:

- Money travels as an `Amount`, ``{"minor": 1234, "currency": "CAD"}``: an integer count of the
  currency's minor unit. In Python such fields are `passerelle.money.Money` (type `MinorMoney`).
  Floats and booleans are refused wherever an integer is expected.
- Request models are strict: unknown fields are refused. Response models ignore unknown fields,
  so a client keeps working when the back end adds one.
- Every model is frozen.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from passerelle.backend.problems import PROBLEMS, problem_type
from passerelle.batches import BatchEntry, BatchKind, Direction, kind_of
from passerelle.events import (
    CancelReason,
    CartLine,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)
from passerelle.money import CurrencyCode, Money
from passerelle.orders import CartStart, EventKind, LineState, OrderLedger

__all__ = [
    "Amount",
    "BatchCreate",
    "BatchEntriesCreate",
    "BatchEntriesReplace",
    "BatchEntryItem",
    "BatchFileUpload",
    "BatchFormat",
    "BatchReschedule",
    "BatchStatus",
    "BatchTotals",
    "BatchView",
    "CancellationCreate",
    "CancellationResult",
    "CartLineItem",
    "CartUpdate",
    "CartUpdateResult",
    "DisbursementDay",
    "DisbursementList",
    "DisbursementOrder",
    "DisbursementQuery",
    "FieldError",
    "Installment",
    "LineQuantityItem",
    "MinorMoney",
    "OrderCreate",
    "OrderLineView",
    "OrderStatus",
    "OrderView",
    "PaymentPlan",
    "PendingRefund",
    "Problem",
    "ReturnCreate",
    "ReturnResult",
    "ShipmentCreate",
    "ShipmentResult",
    "TrackingInfo",
    "field_errors",
]

# JSON numbers beyond 2**53 lose precision in many clients; no amount or count comes near it.
_SAFE_INT = 2**53 - 1


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    # Lax date parsing reads 1700000000, or "0" in a query string, as a Unix timestamp; a date
    # on the wire is an ISO 8601 string.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("a date must be an ISO 8601 string such as 2025-03-14, not a number")
    return value


Day = Annotated[dt.date, BeforeValidator(_not_a_number)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Quantity = Annotated[StrictInt, Field(gt=0, le=_SAFE_INT)]
Count = Annotated[StrictInt, Field(ge=0, le=_SAFE_INT)]

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
        ge=-_SAFE_INT,
        le=_SAFE_INT,
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


class OrderStatus(StrEnum):
    """Where an order stands, from its ledger."""

    OPEN = "open"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class CartLineItem(_Request):
    """One line of a cart: a product, handling, a discount or a fee."""

    reference: Reference = Field(description="The line's reference, unique within the order.")
    name: Reference = Field(description="What the customer sees for this line.")
    type: LineType = Field(default=LineType.PRODUCT, description="What the line stands for.")
    unit_price: MinorMoney = Field(
        description="Price of one unit, in the order's currency; negative for a discount, "
        "zero or more for anything else."
    )
    quantity: Quantity = Field(description="Number of units, at least 1.")

    @model_validator(mode="after")
    def _sign(self) -> Self:
        negative = self.unit_price.amount < 0
        message = None
        if self.type is LineType.DISCOUNT and self.unit_price.amount > 0:
            message = f"discount line {self.reference!r} has a positive unit_price"
        if self.type is not LineType.DISCOUNT and negative:
            message = (
                f"{self.type.value} line {self.reference!r} has a negative unit_price; "
                "only a discount line may"
            )
        if message is not None:
            raise _refused(
                type(self).__name__, ("unit_price", "minor"), message, self.unit_price.minor
            )
        return self

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity

    @classmethod
    def from_cart_line(cls, line: CartLine) -> CartLineItem:
        return cls(
            reference=line.reference,
            name=line.name,
            type=line.type,
            unit_price=line.unit_price,
            quantity=line.quantity,
        )


def _check_cart(
    title: str, lines: Sequence[CartLineItem], order_currency: str, field: str, whose: str
) -> None:
    """The rules of a whole cart (`field` of the model `title`), in `whose` currency."""
    for i, line in enumerate(lines):
        cur = line.unit_price.currency
        if cur != order_currency:
            message = f"line {line.reference!r} is in {cur}, {whose} in {order_currency}"
            loc = (field, i, "unit_price", "currency")
            raise _refused(title, loc, message, cur, "currency_mismatch")
    _check_unique(title, [line.reference for line in lines], field, "reference", "line reference")
    # Every amount the back end answers with (a line total, what is authorized, what a shipment
    # captures) is bounded by the sum of the charges, so bounding that keeps them all on the wire.
    minors = [line.total.minor for line in lines]
    charges = sum(m for m in minors if m > 0)
    credits = -sum(m for m in minors if m < 0)
    if max(charges, credits) > _SAFE_INT:
        message = (
            f"the {field} add up to more than {_SAFE_INT} minor units of {order_currency}, "
            "the most an amount may carry"
        )
        raise _refused(title, (field,), message, max(charges, credits))
    total = Money.sum((line.total for line in lines), order_currency)
    if total.amount < 0:
        raise _refused(title, (field,), f"the {field} total {total} is negative", total.minor)


class OrderCreate(_Request):
    """``POST /v1/orders``: create an order at checkout and authorize its total."""

    reference: Reference = Field(description="The store's order reference, unique per merchant.")
    currency: CurrencyCode = Field(description="The order's currency; every amount uses it.")
    lines: NonEmpty[CartLineItem] = Field(description="The cart at checkout.")
    installments: StrictInt | None = Field(
        default=None,
        ge=1,
        le=24,
        description="Number of installments of the payment plan; null pays in one.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_cart(type(self).__name__, self.lines, self.currency, "lines", "the order is")
        return self


class Installment(_Response):
    """One payment of a payment plan."""

    due_date: Day = Field(description="The day the installment is charged.")
    amount: MinorMoney = Field(description="The installment's amount, zero or more.")


class PaymentPlan(_Response):
    """How the order's remaining balance is paid: installments that sum exactly to it."""

    currency: CurrencyCode = Field(description="The order's currency.")
    balance: MinorMoney = Field(description="What is left to pay; the installments sum to it.")
    installments: tuple[Installment, ...] = Field(
        description="The installments, by due date; empty when nothing is left to pay."
    )

    @model_validator(mode="after")
    def _sums(self) -> Self:
        _check_currency(self.balance, self.currency, "balance")
        for i, item in enumerate(self.installments):
            _check_currency(item.amount, self.currency, f"installments[{i}]")
            if item.amount.amount < 0:
                raise ValueError(f"installments[{i}] has a negative amount {item.amount}")
        dates = [item.due_date for item in self.installments]
        if dates != sorted(dates):
            raise ValueError("installments are not in due date order")
        total = Money.sum((item.amount for item in self.installments), self.currency)
        if total != self.balance:
            raise ValueError(f"installments sum to {total}, the balance is {self.balance}")
        return self

    @classmethod
    def allocate(cls, balance: Money, due_dates: Sequence[dt.date]) -> PaymentPlan:
        """Split `balance` evenly over `due_dates`, the parts summing exactly to it.

        With no due dates the balance must be zero.
        """
        if not due_dates:
            return cls(currency=balance.currency, balance=balance, installments=())
        parts = balance.allocate([1] * len(due_dates))
        return cls(
            currency=balance.currency,
            balance=balance,
            installments=tuple(
                Installment(due_date=day, amount=part)
                for day, part in zip(sorted(due_dates), parts, strict=True)
            ),
        )


class OrderLineView(_Response):
    """A line of an order and its ledger."""

    reference: str = Field(description="The line's reference.")
    name: str = Field(description="What the customer sees for this line.")
    type: LineType = Field(description="What the line stands for.")
    unit_price: MinorMoney = Field(description="Price of one unit.")
    ordered: Quantity = Field(description="Units ordered, cancelled ones included.")
    shipped: Count = Field(description="Units shipped (captured).")
    cancelled: Count = Field(description="Units cancelled before shipping (released).")
    returned: Count = Field(description="Units that came back after shipping.")

    @model_validator(mode="after")
    def _ledger(self) -> Self:
        if self.shipped + self.cancelled > self.ordered:
            raise ValueError(
                f"line {self.reference!r}: shipped {self.shipped} + cancelled {self.cancelled} "
                f"exceeds ordered {self.ordered}"
            )
        if self.returned > self.shipped:
            raise ValueError(
                f"line {self.reference!r}: returned {self.returned} exceeds shipped {self.shipped}"
            )
        return self

    @property
    def unshipped(self) -> int:
        """Units still to ship: ordered, neither shipped nor cancelled."""
        return self.ordered - self.shipped - self.cancelled


class AppliedEvent(_Response):
    """A lifecycle event the back end applied to an order."""

    kind: EventKind = Field(description="The event's kind.")
    id: str = Field(description="The platform's id for the act (a fulfillment, a refund, ...).")


class UnitsView(_Response):
    """A number of units of one line."""

    line: str = Field(description="The line's reference.")
    quantity: Count = Field(description="Number of units.")


class CartStartView(_Response):
    """Where the order's current cart began (checkout or the last edit), so that the amounts of
    later partial shipments and cancellations can be computed the same way by anyone."""

    captured: MinorMoney = Field(description="Captured before the cart began.")
    total: MinorMoney = Field(description="The cart's total, adjustments included.")
    shipped: tuple[UnitsView, ...] = Field(description="Units shipped before the cart began.")
    cancelled: tuple[UnitsView, ...] = Field(description="Units cancelled before the cart began.")

    @classmethod
    def of(cls, start: CartStart) -> CartStartView:
        return cls(
            captured=start.captured,
            total=start.total,
            shipped=tuple(UnitsView(line=u.line, quantity=u.quantity) for u in start.shipped),
            cancelled=tuple(UnitsView(line=u.line, quantity=u.quantity) for u in start.cancelled),
        )

    def to_cart_start(self) -> CartStart:
        return CartStart(
            captured=self.captured,
            total=self.total,
            shipped=tuple(LineQuantity(line=u.line, quantity=u.quantity) for u in self.shipped),
            cancelled=tuple(LineQuantity(line=u.line, quantity=u.quantity) for u in self.cancelled),
        )


class OrderView(_Response):
    """An order as the back end knows it: lines with their ledger, amounts, payment plan."""

    reference: str = Field(description="The store's order reference.")
    currency: CurrencyCode = Field(description="The order's currency.")
    status: OrderStatus = Field(description="Where the order stands.")
    lines: tuple[OrderLineView, ...] = Field(description="The order's lines and their ledger.")
    authorized: MinorMoney = Field(
        description="Authorization held in all: captured plus what the goods still to ship will "
        "capture. Releases (voids) lower it."
    )
    captured: MinorMoney = Field(description="Amount captured (shipped goods).")
    refunded: MinorMoney = Field(description="Amount refunded.")
    voided: MinorMoney = Field(description="Authorization released so far, never captured.")
    payment_plan: PaymentPlan | None = Field(
        default=None, description="The plan for the remaining balance, if paid in installments."
    )
    created_at: AwareDatetime = Field(description="When the order was created.")
    applied: tuple[AppliedEvent, ...] = Field(
        default=(),
        description="Every lifecycle event applied to the order, by kind and id: the same "
        "(kind, id) again changes nothing.",
    )
    cart_start: CartStartView | None = Field(
        default=None,
        description="Where the current cart began; null when it began at checkout.",
    )

    @model_validator(mode="after")
    def _currencies(self) -> Self:
        for name in ("authorized", "captured", "refunded", "voided"):
            _check_currency(getattr(self, name), self.currency, name)
        for i, line in enumerate(self.lines):
            _check_currency(line.unit_price, self.currency, f"lines[{i}].unit_price")
        if self.payment_plan is not None:
            _check_currency(self.payment_plan.balance, self.currency, "payment_plan")
        return self

    def line(self, reference: str) -> OrderLineView:
        """The line with this reference; `KeyError` if there is none."""
        for line in self.lines:
            if line.reference == reference:
                return line
        raise KeyError(f"order {self.reference!r} has no line {reference!r}")

    def to_ledger(self) -> OrderLedger:
        """The order's ledger as the back end has it, to mirror locally.

        Raises `ValueError` when the view breaks a ledger rule (the back end is then at fault).
        """
        return OrderLedger(
            reference=self.reference,
            currency=self.currency,
            lines=tuple(
                LineState(
                    CartLine(
                        reference=line.reference,
                        name=line.name,
                        type=line.type,
                        unit_price=line.unit_price,
                        quantity=line.ordered,
                    ),
                    shipped=line.shipped,
                    cancelled=line.cancelled,
                    returned=line.returned,
                )
                for line in self.lines
            ),
            authorized=self.authorized,
            captured=self.captured,
            refunded=self.refunded,
            applied=frozenset((event.kind, event.id) for event in self.applied),
            cart_start=None if self.cart_start is None else self.cart_start.to_cart_start(),
        )


class LineQuantityItem(_Request):
    """A quantity of one order line."""

    line: Reference = Field(description="The line's reference.")
    quantity: Quantity = Field(description="Number of units, at least 1.")


class TrackingInfo(_Request):
    """Where a shipment can be followed."""

    carrier: Reference | None = Field(default=None, description="The carrier's name.")
    number: Reference | None = Field(default=None, description="The tracking number.")
    url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="A page where the customer can follow the shipment."
    )


def _line_items(lines: Sequence[LineQuantity] | None) -> tuple[LineQuantityItem, ...] | None:
    if lines is None:
        return None
    return tuple(LineQuantityItem(line=lq.line, quantity=lq.quantity) for lq in lines)


def _unique_lines(title: str, lines: Sequence[LineQuantityItem] | None) -> None:
    if lines:
        _check_unique(title, [item.line for item in lines], "lines", "line", "line")


class ShipmentCreate(_Request):
    """``POST /v1/orders/{ref}/shipments``: goods left the warehouse; capture their value."""

    event_id: Reference = Field(
        description="The platform's id for this shipment; the back end applies each id once."
    )
    lines: NonEmpty[LineQuantityItem] | None = Field(
        default=None,
        description="Lines and quantities shipped; null ships everything left to ship.",
    )
    tracking: TrackingInfo | None = Field(default=None, description="Tracking, if known.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _unique_lines(type(self).__name__, self.lines)
        return self

    @classmethod
    def from_event(cls, event: OrderShipped) -> ShipmentCreate:
        tracking = None
        if event.tracking is not None:
            tracking = TrackingInfo(
                carrier=event.tracking.carrier,
                number=event.tracking.number,
                url=event.tracking.url,
            )
        return cls(event_id=event.id, lines=_line_items(event.lines), tracking=tracking)


class CancellationCreate(_Request):
    """``POST /v1/orders/{ref}/cancellations``: unshipped goods will not ship; release them."""

    event_id: Reference = Field(
        description="The platform's id for this cancellation; the back end applies each id once."
    )
    lines: NonEmpty[LineQuantityItem] | None = Field(
        default=None,
        description="Lines and quantities cancelled; null cancels everything unshipped "
        "(a void of the remaining authorization).",
    )
    reason: CancelReason = Field(default=CancelReason.OTHER, description="Why.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _unique_lines(type(self).__name__, self.lines)
        return self

    @classmethod
    def from_event(cls, event: OrderCancelled) -> CancellationCreate:
        return cls(event_id=event.id, lines=_line_items(event.lines), reason=event.reason)


class ReturnCreate(_Request):
    """``POST /v1/orders/{ref}/returns``: shipped goods came back, or money is given back."""

    event_id: Reference = Field(
        description="The platform's id for this return or refund; the back end applies each id "
        "once."
    )
    lines: tuple[LineQuantityItem, ...] = Field(
        default=(),
        description="Lines and quantities that came back; empty for a refund without goods.",
    )
    refund: MinorMoney = Field(
        description="Amount to refund, zero or more, at most captured minus refunded."
    )
    reason: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Why, as the platform said it."
    )

    @field_validator("refund")
    @classmethod
    def _not_negative(cls, refund: Money) -> Money:
        if refund.amount < 0:
            raise ValueError(f"refund {refund} is negative")
        return refund

    @model_validator(mode="after")
    def _something(self) -> Self:
        title = type(self).__name__
        _unique_lines(title, self.lines)
        if not self.lines and self.refund.is_zero():
            message = "a return needs returned lines or a refund above zero"
            raise _refused(title, ("refund",), message, self.refund.minor)
        return self

    @classmethod
    def from_event(cls, event: OrderReturned) -> ReturnCreate:
        lines = _line_items(event.lines) or ()
        return cls(event_id=event.id, lines=lines, refund=event.refund, reason=event.reason)


class CartUpdate(_Request):
    """``PUT /v1/orders/{ref}/cart``: the whole new unshipped part of the order.

    Lines left out are removed; shipped lines are never part of it. The back end recomputes the
    payment plan.
    """

    event_id: Reference = Field(
        description="The platform's id for this edit; the back end applies each id once."
    )
    cart: tuple[CartLineItem, ...] = Field(
        description="Every unshipped line as it should be; empty removes all unshipped lines."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.cart:
            first = self.cart[0].unit_price.currency
            _check_cart(type(self).__name__, self.cart, first, "cart", "the first line is")
        return self

    @classmethod
    def from_event(cls, event: OrderEdited) -> CartUpdate:
        return cls(event_id=event.id, cart=tuple(map(CartLineItem.from_cart_line, event.cart)))


class ShipmentResult(_Response):
    """What a shipment did."""

    order: OrderView = Field(description="The order after the shipment.")
    captured: MinorMoney = Field(description="Amount captured by this shipment.")


class CancellationResult(_Response):
    """What a cancellation did."""

    order: OrderView = Field(description="The order after the cancellation.")
    released: MinorMoney = Field(description="Authorization released (voided) by it.")


class ReturnResult(_Response):
    """What a return did."""

    order: OrderView = Field(description="The order after the return.")
    refunded: MinorMoney = Field(description="Amount refunded by it.")


class CartUpdateResult(_Response):
    """What a cart update did."""

    order: OrderView = Field(description="The order after the edit.")
    payment_plan: PaymentPlan = Field(description="The new payment plan.")


# Batches


class BatchFormat(StrEnum):
    """A batch payment file format."""

    CPA005 = "cpa005"
    NACHA = "nacha"
    BAMBORA = "bambora"


class BatchStatus(StrEnum):
    """Where a batch stands; only a scheduled batch can be changed."""

    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    DELETED = "deleted"


class BatchEntryItem(_Request):
    """One payment of a batch on the wire (`passerelle.batches.BatchEntry` in minor units).

    A Canadian account is named by ``institution`` + ``transit`` + ``account``, a US one by
    ``routing`` + ``account``. An entry may instead name a stored payment ``profile``, which holds
    the account; it may then leave ``payee`` and the account fields out.
    """

    direction: Direction = Field(description="credit pays the account, debit draws from it.")
    amount: MinorMoney = Field(description="Amount, above zero, in the batch's currency.")
    payee: Reference | None = Field(
        default=None, description="The account holder's name; optional with a profile."
    )
    account: Annotated[str, StringConstraints(pattern=r"^\d{1,17}$")] | None = Field(
        default=None, description="Account number, 1 to 17 digits; optional with a profile."
    )
    institution: Annotated[str, StringConstraints(pattern=r"^\d{3}$")] | None = Field(
        default=None, description="Canadian institution number, 3 digits."
    )
    transit: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = Field(
        default=None, description="Canadian transit (branch) number, 5 digits."
    )
    routing: Annotated[str, StringConstraints(pattern=r"^\d{9}$")] | None = Field(
        default=None, description="US ABA routing number, 9 digits."
    )
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = (
        Field(default=None, description="The originator's reference for this payment.")
    )
    transaction_code: Annotated[str, StringConstraints(max_length=8)] | None = Field(
        default=None, description="The file's transaction type or code (CPA 450, NACHA 22)."
    )
    profile: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = Field(default=None, description="A stored payment profile (Bambora customer code) to pay.")

    @model_validator(mode="after")
    def _entry_rules(self) -> Self:
        # The rules of an entry live in BatchEntry; building one applies them.
        try:
            self.to_entry()
        except ValidationError as exc:
            first = exc.errors()[0]
            cause = first.get("ctx", {}).get("error")
            raise ValueError(str(cause) if cause is not None else first["msg"]) from None
        return self

    def to_entry(self) -> BatchEntry:
        return BatchEntry.model_validate(
            {name: getattr(self, name) for name in type(self).model_fields}
        )

    @classmethod
    def from_entry(cls, entry: BatchEntry) -> BatchEntryItem:
        return cls.model_validate({name: getattr(entry, name) for name in cls.model_fields})


class BatchFileUpload(_Request):
    """``POST /v1/batches`` with a file: the back end reads CPA-005, NACHA or Bambora CSV."""

    file: str = Field(
        min_length=1,
        max_length=56_000_000,
        description="The file's content, as text or base64 (see encoding); at most 40 MiB decoded.",
    )
    encoding: Literal["text", "base64"] = Field(
        default="text", description="How `file` is encoded."
    )
    format: BatchFormat | None = Field(
        default=None, description="The file's format; null lets the back end detect it."
    )
    processing_date: Day | None = Field(
        default=None, description="When to process the batch; null takes the file's date."
    )

    @model_validator(mode="after")
    def _decodable(self) -> Self:
        self.content()
        return self

    def content(self) -> bytes:
        """The file's bytes."""
        if self.encoding == "text":
            return self.file.encode()
        try:
            return base64.b64decode(self.file, validate=True)
        except binascii.Error:
            raise ValueError("file is not valid base64 (encoding is 'base64')") from None


class BatchEntriesCreate(_Request):
    """``POST /v1/batches`` with entries: the batch as data instead of a file."""

    entries: NonEmpty[BatchEntryItem] = Field(description="The payments.")
    processing_date: Day = Field(description="When to process the batch.")
    originator: Reference = Field(description="The originator (company) the batch is from.")
    kind: BatchKind = Field(
        description="credit (all entries credits), debit (all debits) or mixed (both)."
    )
    currency: CurrencyCode = Field(description="The batch's currency; every entry uses it.")
    batch_id: Reference | None = Field(
        default=None, description="The batch's id; null lets the back end assign one."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        title = type(self).__name__
        for i, item in enumerate(self.entries):
            cur = item.amount.currency
            if cur != self.currency:
                message = f"entry {i} is in {cur}, the batch in {self.currency}"
                loc = ("entries", i, "amount", "currency")
                raise _refused(title, loc, message, cur, "currency_mismatch")
        try:
            _check_entries(self.entries, self.currency, self.kind)
        except ValueError as exc:
            raise _refused(title, ("kind",), str(exc), self.kind.value) from None
        return self


def _check_entries(entries: Sequence[BatchEntryItem], cur: str, kind: BatchKind) -> None:
    for i, entry in enumerate(entries):
        _check_currency(entry.amount, cur, f"entries[{i}]")
    derived = kind_of(entry.to_entry() for entry in entries)
    if derived is not None and derived is not kind:
        raise ValueError(f"kind is {kind.value} but the entries make the batch {derived.value}")


def _batch_form(value: Any) -> str | None:
    if isinstance(value, dict):
        return "file" if "file" in value else "entries"
    if isinstance(value, BatchFileUpload):
        return "file"
    if isinstance(value, BatchEntriesCreate):
        return "entries"
    return None


BatchCreate = Annotated[
    Annotated[BatchFileUpload, Tag("file")] | Annotated[BatchEntriesCreate, Tag("entries")],
    Discriminator(
        _batch_form,
        custom_error_type="batch_form",
        custom_error_message="a batch is an object with either 'file' or 'entries'",
    ),
]
"""``POST /v1/batches`` body: a `BatchFileUpload` or a `BatchEntriesCreate`."""


class BatchReschedule(_Request):
    """``PATCH /v1/batches/{id}``: move the batch to another processing date (before cutoff)."""

    processing_date: Day = Field(description="The new processing date.")


class BatchEntriesReplace(_Request):
    """``PUT /v1/batches/{id}/entries``: the batch's entries as they should be (before cutoff)."""

    entries: NonEmpty[BatchEntryItem] = Field(description="Every entry.")


class BatchTotals(_Response):
    """Totals of a batch, per direction."""

    credits: MinorMoney = Field(description="Sum of credit entries.")
    credit_count: Count = Field(description="Number of credit entries.")
    debits: MinorMoney = Field(description="Sum of debit entries.")
    debit_count: Count = Field(description="Number of debit entries.")

    @classmethod
    def of(cls, entries: Sequence[BatchEntryItem], currency_code: str) -> BatchTotals:
        credit = [e.amount for e in entries if e.direction is Direction.CREDIT]
        debit = [e.amount for e in entries if e.direction is Direction.DEBIT]
        return cls(
            credits=Money.sum(credit, currency_code),
            credit_count=len(credit),
            debits=Money.sum(debit, currency_code),
            debit_count=len(debit),
        )


class BatchView(_Response):
    """A batch as the back end knows it."""

    id: str = Field(description="The batch's id.")
    status: BatchStatus = Field(description="scheduled (changeable), processing or deleted.")
    processing_date: Day = Field(description="When the batch is processed.")
    cutoff_at: AwareDatetime = Field(
        description="Until when the batch can be rescheduled, edited or deleted."
    )
    originator: str = Field(description="The originator (company) the batch is from.")
    kind: BatchKind = Field(description="credit, debit or mixed.")
    currency: CurrencyCode = Field(description="The batch's currency.")
    entries: tuple[BatchEntryItem, ...] = Field(description="The payments.")
    totals: BatchTotals = Field(description="Totals per direction, computed from the entries.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_entries(self.entries, self.currency, self.kind)
        expected = BatchTotals.of(self.entries, self.currency)
        if self.totals != expected:
            raise ValueError(f"totals {self.totals!r} do not match the entries ({expected!r})")
        return self


# Disbursements


class DisbursementQuery(_Request):
    """``GET /v1/disbursements`` query: which days, which currency."""

    since: Day | None = Field(default=None, description="First day, inclusive.")
    until: Day | None = Field(default=None, description="Last day, inclusive.")
    currency: CurrencyCode | None = Field(default=None, description="Only this currency.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")
        return self


class DisbursementOrder(_Response):
    """One order's part of a day's disbursement."""

    order: str = Field(description="The store's order reference.")
    captured: MinorMoney = Field(description="Captured for this order that day.")
    refunded: MinorMoney = Field(description="Refunded for this order, taken off that day.")


class DisbursementDay(_Response):
    """What was paid out to the merchant on one day, in one currency.

    A refund comes off the next disbursement: the first day after it with captures to pay out.
    What that day's captures do not cover comes off the following ones, so ``net`` is never
    negative; a refund waits (`DisbursementList.pending`) until there are captures to take it
    from.
    """

    date: Day = Field(description="The payout day.")
    currency: CurrencyCode = Field(description="The payout's currency.")
    captured: MinorMoney = Field(description="Captures paid out.")
    refunded: MinorMoney = Field(description="Refunds taken off.")
    net: MinorMoney = Field(description="captured minus refunded.")
    orders: tuple[DisbursementOrder, ...] = Field(description="The orders contributing.")

    @model_validator(mode="after")
    def _sums(self) -> Self:
        for name in ("captured", "refunded", "net"):
            _check_currency(getattr(self, name), self.currency, name)
        if self.net != self.captured - self.refunded:
            raise ValueError(
                f"net {self.net} is not captured {self.captured} minus refunded {self.refunded}"
            )
        for name in ("captured", "refunded"):
            parts = Money.sum((getattr(o, name) for o in self.orders), self.currency)
            if parts != getattr(self, name):
                raise ValueError(f"the orders' {name} sum to {parts}, not {getattr(self, name)}")
        return self


class PendingRefund(_Response):
    """A refund, or what is left of it, that no disbursement has taken off yet."""

    order: str = Field(description="The store's order reference.")
    refunded_on: Day = Field(description="The day the refund was made.")
    amount: MinorMoney = Field(description="What is still to be taken off.")


class DisbursementList(_Response):
    """``GET /v1/disbursements`` answer."""

    disbursements: tuple[DisbursementDay, ...] = Field(description="One entry per day, by date.")
    pending: tuple[PendingRefund, ...] = Field(
        default=(),
        description="Refunds still waiting for a disbursement to come off, oldest first, as of "
        "now (whatever since and until; in the currency asked for, if any).",
    )


# Problems


class FieldError(_Response):
    """One invalid part of a request: which field (or which line of a file) and what is wrong."""

    field: str = Field(description="Dotted path of the field, e.g. lines.0.unit_price.minor.")
    message: str = Field(description="What is wrong with it.")
    line: StrictInt | None = Field(default=None, ge=1, description="Line of an uploaded file.")
    column: StrictInt | None = Field(
        default=None, ge=1, description="Column (character position) within that line."
    )


class Problem(_Response):
    """An RFC 9457 problem: every error the back end answers, with a stable ``code``."""

    type: str = Field(default="about:blank", description="URI naming the problem type.")
    title: str = Field(description="Short summary of the problem type.")
    status: StrictInt = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What happened in this occurrence.")
    instance: str | None = Field(default=None, description="URI of this occurrence.")
    code: str = Field(description="Stable code; `passerelle explain CODE` explains it.")
    request_id: str | None = Field(default=None, description="The request's id, for support.")
    errors: tuple[FieldError, ...] | None = Field(
        default=None,
        description="Each field at fault (validation_failed, currency_mismatch, "
        "invalid_batch_file, batch_exists).",
    )
    decline_code: str | None = Field(
        default=None, description="card_declined: the normalised decline reason."
    )
    processor_message_id: StrictInt | None = Field(
        default=None, description="card_declined: the card processor's message id."
    )

    @classmethod
    def of(cls, code: str, detail: str | None = None, **extra: Any) -> Problem:
        """The problem for a registered code, with its type, title and status filled in."""
        spec = PROBLEMS[code]
        return cls(
            type=problem_type(code),
            title=spec.title,
            status=spec.status,
            detail=detail,
            code=code,
            **extra,
        )


def field_errors(exc: ValidationError, *, skip: int = 0) -> tuple[FieldError, ...]:
    """The `FieldError`s of a pydantic validation error, for a ``validation_failed`` problem.

    `skip` drops leading location parts (``1`` drops FastAPI's ``body``).
    """
    return tuple(
        FieldError(
            field=".".join(str(p) for p in err["loc"][skip:]) or "(body)", message=err["msg"]
        )
        for err in exc.errors(include_url=False)
    )
