"""Orders: checkout, then the ledger's acts (ship, cancel, return, edit the cart).

The rules are the SDK's own ledger (`passerelle.orders`): each request becomes the lifecycle event
the connector would have checked, the ledger applies it, and the new ledger is stored with the
idempotent answer in one transaction. A refused event changes nothing.

Declines: an order whose reference starts with ``decline`` is declined at checkout (402
``card_declined``) with processor message 7; ``decline-14`` or ``decline-16`` pick that message
id instead (see `passerelle.backend.problems.DECLINES`). Nothing is stored for a declined order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from passerelle.backend.models import (
    AppliedEvent,
    CancellationCreate,
    CancellationResult,
    CartLineItem,
    CartStartView,
    CartUpdate,
    CartUpdateResult,
    FieldError,
    LineQuantityItem,
    OrderCreate,
    OrderLineView,
    OrderStatus,
    OrderView,
    ReturnCreate,
    ReturnResult,
    ShipmentCreate,
    ShipmentResult,
)
from passerelle.backend.problems import DECLINES, PROBLEMS
from passerelle.checkout import Order
from passerelle.events import (
    CartLine,
    LineQuantity,
    OrderCancelled,
    OrderEdited,
    OrderEvent,
    OrderReturned,
    OrderShipped,
    Tracking,
)
from passerelle.ledger_errors import EventNotYetApplicable, LedgerError
from passerelle.money import Money
from passerelle.order_effects import Effect
from passerelle.orders import CartStart, LineState, OrderLedger
from passerelle.sandbox.db import Movement, Transaction
from passerelle.sandbox.deps import Merchant, Reply, SandboxDep, Write, WriteDep
from passerelle.sandbox.errors import SandboxProblem, problem_responses
from passerelle.sandbox.paths import SEGMENT  # noqa: F401 - the routes' {name:segment}
from passerelle.sandbox.plans import payment_plan
from passerelle.sandbox.state import Sandbox

__all__ = ["DECLINE_PREFIX", "router"]

DECLINE_PREFIX = "decline"
"""An order reference starting with this is declined at checkout."""

_DEFAULT_DECLINE = 7

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderRef = Annotated[
    str, Path(min_length=1, max_length=255, description="The store's order reference.")
]


class _StoredLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line: CartLine
    shipped: int
    cancelled: int
    returned: int


class _StoredOrder(BaseModel):
    """An order as the sandbox keeps it: the ledger, plus what the ledger does not track."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str
    currency: str
    lines: tuple[_StoredLine, ...]
    authorized: Money
    captured: Money
    refunded: Money
    voided: Money
    applied: tuple[tuple[str, str], ...]
    installments: int
    created_at: AwareDatetime
    cart_start: CartStart | None = None

    @classmethod
    def of(
        cls, ledger: OrderLedger, *, voided: Money, installments: int, created_at: dt.datetime
    ) -> _StoredOrder:
        return cls(
            reference=ledger.reference,
            currency=ledger.currency,
            lines=tuple(
                _StoredLine(
                    line=s.line, shipped=s.shipped, cancelled=s.cancelled, returned=s.returned
                )
                for s in ledger.lines
            ),
            authorized=ledger.authorized,
            captured=ledger.captured,
            refunded=ledger.refunded,
            voided=voided,
            applied=tuple(sorted(ledger.applied)),
            installments=installments,
            created_at=created_at,
            cart_start=ledger.cart_start,
        )

    def ledger(self) -> OrderLedger:
        return OrderLedger(
            reference=self.reference,
            currency=self.currency,
            lines=tuple(
                LineState(s.line, shipped=s.shipped, cancelled=s.cancelled, returned=s.returned)
                for s in self.lines
            ),
            authorized=self.authorized,
            captured=self.captured,
            refunded=self.refunded,
            applied=frozenset(self.applied),
            cart_start=self.cart_start,
        )


def _status(ledger: OrderLedger) -> OrderStatus:
    shipped = sum(s.shipped for s in ledger.lines)
    returned = sum(s.returned for s in ledger.lines)
    if ledger.is_cancelled:
        return OrderStatus.CANCELLED
    if ledger.to_ship == 0 and returned == shipped:
        return OrderStatus.RETURNED
    if ledger.is_fully_shipped:
        return OrderStatus.SHIPPED
    return OrderStatus.PARTIALLY_SHIPPED if shipped else OrderStatus.OPEN


def _view(stored: _StoredOrder, sandbox: Sandbox) -> OrderView:
    ledger = stored.ledger()
    first_due = stored.created_at.astimezone(sandbox.cutoff.tz).date()
    return OrderView(
        reference=ledger.reference,
        currency=ledger.currency,
        status=_status(ledger),
        lines=tuple(
            OrderLineView(
                reference=s.reference,
                name=s.line.name,
                type=s.line.type,
                unit_price=s.line.unit_price,
                ordered=s.ordered,
                shipped=s.shipped,
                cancelled=s.cancelled,
                returned=s.returned,
            )
            for s in ledger.lines
        ),
        authorized=ledger.authorized,
        captured=ledger.captured,
        refunded=ledger.refunded,
        voided=stored.voided,
        payment_plan=payment_plan(ledger.remaining_authorization, stored.installments, first_due),
        created_at=stored.created_at,
        applied=tuple(AppliedEvent(kind=kind, id=id_) for kind, id_ in sorted(ledger.applied)),
        cart_start=None if ledger.cart_start is None else CartStartView.of(ledger.cart_start),
    )


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(
        model.model_dump_json(by_alias=True), status_code=status, media_type="application/json"
    )


def _load(tx: Transaction, merchant: str, reference: str) -> _StoredOrder:
    document = tx.get_order(merchant, reference)
    if document is None:
        raise SandboxProblem("unknown_order", f"there is no order {reference!r}")
    return _StoredOrder.model_validate_json(document)


def _declined(reference: str) -> SandboxProblem | None:
    lowered = reference.lower()
    if not lowered.startswith(DECLINE_PREFIX):
        return None
    suffix = lowered.rpartition("-")[2]
    message_id = int(suffix) if suffix.isdigit() and int(suffix) in DECLINES else _DEFAULT_DECLINE
    decline = DECLINES[message_id]
    return SandboxProblem(
        "card_declined",
        f"the card was declined: {decline.processor_message} (processor message {message_id})",
        decline_code=decline.decline_code,
        processor_message_id=message_id,
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    return str(cause) if cause is not None else str(error["msg"])


@router.post(
    "",
    status_code=201,
    response_model=OrderView,
    responses=problem_responses("card_declined", "order_exists", "currency_mismatch", write=True),
    summary="Create an order (checkout)",
)
def create_order(body: OrderCreate, sandbox: SandboxDep, write: WriteDep) -> Response:
    """Create the order and authorize its total, as the store's checkout does."""

    def work(tx: Transaction) -> Reply:
        declined = _declined(body.reference)
        if declined is not None:
            raise declined
        if tx.get_order(write.merchant, body.reference) is not None:
            raise SandboxProblem("order_exists", f"order {body.reference!r} already exists")
        try:
            order = Order(
                reference=body.reference,
                currency=body.currency,
                lines=tuple(map(_cart_line, body.lines)),
            )
        except ValidationError as exc:
            message = _first_error(exc)
            raise SandboxProblem(
                "validation_failed",
                f"invalid request: lines: {message}",
                errors=(FieldError(field="lines", message=message),),
            ) from None
        now = sandbox.clock.now()
        stored = _StoredOrder.of(
            OrderLedger.open(order),
            voided=Money.zero(order.currency),
            installments=body.installments or 1,
            created_at=now,
        )
        tx.insert_order(write.merchant, order.reference, stored.model_dump_json(), now)
        return 201, _view(stored, sandbox)

    return write.run(work)


@router.get(
    "/{ref:segment}",
    response_model=OrderView,
    responses=problem_responses("unknown_order"),
    summary="Get an order",
)
def get_order(ref: OrderRef, sandbox: SandboxDep, merchant: Merchant) -> Response:
    """The order with its lines, ledger, amounts and payment plan."""
    with sandbox.db.transaction() as tx:
        stored = _load(tx, merchant, ref)
    return json_response(_view(stored, sandbox))


def _refusal(error: LedgerError, fields: Mapping[str, str], default_field: str) -> SandboxProblem:
    if isinstance(error, EventNotYetApplicable):
        # The back end cannot wait for the missing event: it refuses. The connector holds such
        # an event back until the missing one arrives; a retry under the same key would be
        # answered this refusal again.
        code = "return_exceeds_shipped" if error.line is not None else "refund_exceeds_captured"
        return SandboxProblem(code, error.message)
    field = fields.get(error.line, default_field) if error.line is not None else default_field
    if error.code == "currency_mismatch":
        # A line's price (a cart edit) or else the request's one amount (a return's refund).
        amount = f"{field}.unit_price" if error.line is not None else "refund"
        where = f"{amount}.currency"
        return SandboxProblem(
            error.code, error.message, errors=(FieldError(field=where, message=error.message),)
        )
    if error.code in PROBLEMS:
        return SandboxProblem(error.code, error.message)
    return SandboxProblem(
        "validation_failed",
        error.message,
        errors=(FieldError(field=field, message=error.message),),
    )


def _act(
    write: Write,
    sandbox: Sandbox,
    reference: str,
    event_for: Callable[[str], OrderEvent],
    answer: Callable[[OrderView, Effect], BaseModel],
    *,
    fields: Mapping[str, str],
    default_field: str,
    created: bool = True,
) -> Response:
    """Apply the event `event_for(order reference)` to the order's ledger, store the result and
    answer `answer(order, effect)`: 201 (or 200 for an event already applied)."""

    def work(tx: Transaction) -> Reply:
        stored = _load(tx, write.merchant, reference)
        try:
            ledger, effect = stored.ledger().apply(event_for(stored.reference))
            voided = stored.voided
            if effect.kind == "order_cancelled" and not effect.is_noop:
                voided = voided + effect.amount
            new = _StoredOrder.of(
                ledger,
                voided=voided,
                installments=stored.installments,
                created_at=stored.created_at,
            )
            # A cart edit can take the order past what an amount may carry on the wire: refused
            # here, before anything is written, rather than failing on the way out.
            view = _view(new, sandbox)
        except LedgerError as error:
            raise _refusal(error, fields, default_field) from None
        except ValidationError as exc:
            message = _first_error(exc)
            raise SandboxProblem(
                "validation_failed",
                f"invalid request: {default_field}: {message}",
                errors=(FieldError(field=default_field, message=message),),
            ) from None
        now = sandbox.clock.now()
        if (
            not effect.is_noop
            and effect.kind in ("order_shipped", "order_returned")
            and not effect.amount.is_zero()
        ):
            _record(tx, sandbox, write.merchant, reference, effect, now)
        tx.update_order(write.merchant, reference, new.model_dump_json(), now)
        status = 201 if created and not effect.is_noop else 200
        return status, answer(view, effect)

    return write.run(work)


def _record(
    tx: Transaction,
    sandbox: Sandbox,
    merchant: str,
    reference: str,
    effect: Effect,
    now: dt.datetime,
) -> None:
    """Note the money that moved, for the disbursements (see `passerelle.sandbox.disbursements`)."""
    day = now.astimezone(sandbox.cutoff.tz).date()
    capture = effect.kind == "order_shipped"
    # Which later payout a refund comes off is worked out when the disbursements are listed.
    tx.add_movement(
        merchant,
        Movement(
            reference=reference,
            kind="capture" if capture else "refund",
            amount_minor=effect.amount.minor,
            currency=effect.amount.currency,
            occurred_at=now,
            disbursed_on=day,
        ),
    )


def _line_fields(items: tuple[LineQuantityItem, ...] | None) -> dict[str, str]:
    return {item.line: f"lines.{i}.line" for i, item in enumerate(items or ())}


def _quantities(items: tuple[LineQuantityItem, ...]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(line=item.line, quantity=item.quantity) for item in items)


def _cart_line(line: CartLineItem) -> CartLine:
    return CartLine(
        reference=line.reference,
        name=line.name,
        type=line.type,
        unit_price=line.unit_price,
        quantity=line.quantity,
    )


@router.post(
    "/{ref:segment}/shipments",
    status_code=201,
    response_model=ShipmentResult,
    responses={
        200: {
            "model": ShipmentResult,
            "description": "Nothing shipped: this event id was already recorded, or nothing was "
            "left to ship (no lines, everything shipped or cancelled); the id is recorded.",
        },
        **problem_responses(
            "unknown_order",
            "unknown_line",
            "not_a_product_line",
            "ship_exceeds_ordered",
            write=True,
        ),
    },
    summary="Record a shipment",
)
def ship(ref: OrderRef, body: ShipmentCreate, sandbox: SandboxDep, write: WriteDep) -> Response:
    """Goods left the warehouse: capture their value. No lines ships everything left to ship.

    A shipment whose `event_id` was already recorded, or one of everything left to ship when
    nothing is, changes nothing and answers 200 (the ledger's rule: an overlapping event is a
    no-op).
    """

    def event(order: str) -> OrderEvent:
        tracking = body.tracking
        return OrderShipped(
            order=order,
            id=body.event_id,
            lines=None if body.lines is None else _quantities(body.lines),
            tracking=None if tracking is None else Tracking(**tracking.model_dump()),
        )

    return _act(
        write,
        sandbox,
        ref,
        event,
        lambda view, effect: ShipmentResult(order=view, captured=effect.amount),
        fields=_line_fields(body.lines),
        default_field="lines",
    )


@router.post(
    "/{ref:segment}/cancellations",
    status_code=201,
    response_model=CancellationResult,
    responses={
        200: {
            "model": CancellationResult,
            "description": "Nothing released: this event id was already recorded, or nothing "
            "was left to cancel (no lines, everything shipped or cancelled); the id is recorded.",
        },
        **problem_responses(
            "unknown_order",
            "unknown_line",
            "not_a_product_line",
            "order_already_shipped",
            "cancel_exceeds_ordered",
            write=True,
        ),
    },
    summary="Cancel unshipped goods",
)
def cancel(
    ref: OrderRef, body: CancellationCreate, sandbox: SandboxDep, write: WriteDep
) -> Response:
    """Release the authorization of unshipped goods. No lines cancels (voids) all of them.

    A cancellation whose `event_id` was already recorded, or one of everything unshipped when
    nothing is (the ledger's rule: an overlapping event is a no-op), changes nothing and answers
    200 with nothing released. Naming a shipped line is refused: that is a return.
    """

    def event(order: str) -> OrderEvent:
        return OrderCancelled(
            order=order,
            id=body.event_id,
            lines=None if body.lines is None else _quantities(body.lines),
            reason=body.reason,
        )

    return _act(
        write,
        sandbox,
        ref,
        event,
        lambda view, effect: CancellationResult(order=view, released=effect.amount),
        fields=_line_fields(body.lines),
        default_field="lines",
    )


@router.post(
    "/{ref:segment}/returns",
    status_code=201,
    response_model=ReturnResult,
    responses={
        200: {
            "model": ReturnResult,
            "description": "Nothing refunded: this event id was already recorded.",
        },
        **problem_responses(
            "unknown_order",
            "unknown_line",
            "not_a_product_line",
            "currency_mismatch",
            "return_exceeds_shipped",
            "refund_exceeds_captured",
            write=True,
        ),
    },
    summary="Record a return or a refund",
)
def return_goods(
    ref: OrderRef, body: ReturnCreate, sandbox: SandboxDep, write: WriteDep
) -> Response:
    """Shipped goods came back, or money is given back: refund `refund`.

    The refund comes off the next disbursements with captures to pay out.
    """

    def event(order: str) -> OrderEvent:
        return OrderReturned(
            order=order,
            id=body.event_id,
            lines=_quantities(body.lines),
            refund=body.refund,
            reason=body.reason,
        )

    return _act(
        write,
        sandbox,
        ref,
        event,
        lambda view, effect: ReturnResult(order=view, refunded=effect.amount),
        fields=_line_fields(body.lines),
        default_field="lines",
    )


@router.put(
    "/{ref:segment}/cart",
    response_model=CartUpdateResult,
    responses=problem_responses(
        "unknown_order", "currency_mismatch", "line_already_shipped", write=True
    ),
    summary="Replace the unshipped cart",
)
def update_cart(ref: OrderRef, body: CartUpdate, sandbox: SandboxDep, write: WriteDep) -> Response:
    """Replace the unshipped part of the order; answers with the recomputed payment plan."""

    def event(order: str) -> OrderEvent:
        return OrderEdited(order=order, id=body.event_id, cart=tuple(map(_cart_line, body.cart)))

    def answer(view: OrderView, effect: Effect) -> BaseModel:
        assert view.payment_plan is not None
        return CartUpdateResult(order=view, payment_plan=view.payment_plan)

    return _act(
        write,
        sandbox,
        ref,
        event,
        answer,
        fields={line.reference: f"cart.{i}" for i, line in enumerate(body.cart)},
        default_field="cart",
        created=False,
    )
