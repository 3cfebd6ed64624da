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

The order models and the problems are here; the batch and disbursement models are in
`passerelle.backend.batch_models`, and this module re-exports them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from passerelle.backend._wire import (
    SAFE_INT,
    Amount,
    Count,
    Day,
    MinorMoney,
    NonEmpty,
    Quantity,
    Reference,
    _check_currency,
    _check_unique,
    _refused,
    _Request,
    _Response,
)
from passerelle.backend.batch_models import (
    BatchCreate,
    BatchEntriesCreate,
    BatchEntriesReplace,
    BatchEntryItem,
    BatchFileUpload,
    BatchFormat,
    BatchReschedule,
    BatchStatus,
    BatchTotals,
    BatchView,
    DisbursementDay,
    DisbursementList,
    DisbursementOrder,
    DisbursementQuery,
    PendingRefund,
)
from passerelle.backend.problems import PROBLEMS, problem_type
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
from passerelle.order_effects import EventKind
from passerelle.orders import CartStart, LineState, OrderLedger

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
    if max(charges, credits) > SAFE_INT:
        message = (
            f"the {field} add up to more than {SAFE_INT} minor units of {order_currency}, "
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
