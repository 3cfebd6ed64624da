"""The order ledger: what was ordered, shipped, cancelled and returned, and the money that follows.

An `Order` is created at checkout. `OrderLedger.open(order)` starts its ledger with the order total
authorized and nothing captured; `ledger.apply(event)` checks a lifecycle event against the rules
and returns a new ledger together with the event's `Effect`. A ledger never changes in place, so a
rejected event leaves nothing half-applied. Each (event kind, event id) applies once: applying it
again is a no-op, which is how repeated and overlapping deliveries ship nothing new.

How money follows the goods
    Only product lines are shipped, cancelled and returned by quantity. Handling, fee and discount
    lines adjust the whole cart (the order at checkout, or the unshipped part set by the last edit;
    see `CartStart`): the cart total, adjustments included, is carried by the cart's product
    value, or by its units when all of them are free. The amounts depend only on which units have
    shipped and been cancelled, never on the order the acts arrived in:

        captured   = before + total x shipped / value
        authorized = before + total x (value - cancelled) / value

    where `before` is what was captured when the cart began, `value` the cart's product value and
    `shipped` and `cancelled` the product value shipped and cancelled since, each share rounded
    to the minor unit, halves up. A shipment captures, and a partial cancellation releases, the
    difference it makes, which is within one minor unit of its exact share. So the same acts in
    any order end with the same amounts, shipping everything captures the order total to the minor
    unit however the shipments were split, and cancelling everything unshipped releases (voids)
    the whole remaining authorization.

Edits
    `OrderEdited.cart` is the whole new unshipped part of the order, adjustments included: a cart
    line's quantity is what is still to ship of it, and the authorization becomes what was
    captured plus the cart total. Units already shipped or cancelled stay as they are; a line with
    shipped units keeps its name, type and price, and a line left out of the cart has nothing more
    to ship. Handling, fee and discount lines belong to the unshipped part: the cart replaces them.
    An edit that changes the order begins a new cart; one that changes nothing keeps the old one.

Rejected or not yet
    A `LedgerError` is a rule violation: the event can never apply to this order and goes to the
    action center. `EventNotYetApplicable` (a `LedgerError` too, so catch it first) means the event
    depends on one that has not arrived: a return of units, or a refund of money, beyond what has
    shipped or been captured but within what the order still has to ship. The dispatcher defers it
    and retries. Returning a cancelled unit or more than was ever ordered is a violation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

from passerelle.checkout import Line, Order, cart_issue, cart_total
from passerelle.events import (
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
    OrderEvent,
    OrderReturned,
    OrderShipped,
)
from passerelle.ledger_errors import (
    CancelExceedsOrderedError,
    DuplicateLineError,
    EventNotYetApplicable,
    InvalidCartError,
    InvalidRefundError,
    LedgerError,
    LineAlreadyShippedError,
    NotAProductLineError,
    OrderAlreadyShippedError,
    OrderCurrencyMismatchError,
    OrderMismatchError,
    RefundExceedsCapturedError,
    ReturnExceedsShippedError,
    ShipExceedsOrderedError,
    UnknownLineError,
)
from passerelle.money import Money, currency
from passerelle.order_effects import Effect, EventKind

__all__ = [
    "CancelExceedsOrderedError",
    "CartStart",
    "DuplicateLineError",
    "Effect",
    "EventKind",
    "EventNotYetApplicable",
    "InvalidCartError",
    "InvalidRefundError",
    "LedgerError",
    "Line",
    "LineAlreadyShippedError",
    "LineState",
    "NotAProductLineError",
    "Order",
    "OrderAlreadyShippedError",
    "OrderCurrencyMismatchError",
    "OrderLedger",
    "OrderMismatchError",
    "RefundExceedsCapturedError",
    "ReturnExceedsShippedError",
    "ShipExceedsOrderedError",
    "UnknownLineError",
]

# The ledger --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineState:
    """A line of an order and what happened to its units.

    `line.quantity` is the quantity ordered. Only product lines ship, cancel and return; the
    counters of handling, fee and discount lines stay at zero.
    """

    line: Line
    shipped: int = 0
    cancelled: int = 0
    returned: int = 0

    def __post_init__(self) -> None:
        if not (
            min(self.shipped, self.cancelled, self.returned) >= 0
            and self.shipped + self.cancelled <= self.ordered
            and self.returned <= self.shipped
        ):
            raise ValueError(f"line {self.reference} has inconsistent quantities ({self.counts})")
        if not self.is_product and (self.shipped or self.cancelled or self.returned):
            raise ValueError(
                f"line {self.reference} is a {self.line.type} line: it has no shipped, cancelled "
                f"or returned units ({self.counts})"
            )

    @property
    def reference(self) -> str:
        return self.line.reference

    @property
    def is_product(self) -> bool:
        return self.line.type is LineType.PRODUCT

    @property
    def ordered(self) -> int:
        return self.line.quantity

    @property
    def to_ship(self) -> int:
        """Units neither shipped nor cancelled (none for a handling, fee or discount line)."""
        if not self.is_product:
            return 0
        return self.ordered - self.shipped - self.cancelled

    @property
    def returnable(self) -> int:
        """Units shipped and not returned."""
        return self.shipped - self.returned

    @property
    def counts(self) -> str:
        """The four counters, as the ledger's messages quote them."""
        return (
            f"ordered {self.ordered}, shipped {self.shipped}, "
            f"cancelled {self.cancelled}, returned {self.returned}"
        )


@dataclass(frozen=True, slots=True)
class CartStart:
    """Where the order's current cart began: at checkout, or at the last edit that changed it.

    The cart is what was still to ship then; its product units carry its `total`, adjustments
    included. `captured` is what had been captured before the cart began, `shipped` and
    `cancelled` the product units shipped and cancelled before it (so not part of it). The
    ledger's captured and authorized amounts follow from these and from the units shipped and
    cancelled since (see the module doc).
    """

    captured: Money
    total: Money
    shipped: tuple[LineQuantity, ...] = ()
    cancelled: tuple[LineQuantity, ...] = ()


class _Progress(NamedTuple):
    """A cart measured in minor units of product value, or in units when all of it is free."""

    size: int
    shipped: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class OrderLedger:
    """An order's lines with their quantities, and its amounts authorized, captured and refunded.

    Start one with `OrderLedger.open(order)` and advance it with `apply`; building one directly
    (to mirror the back end) checks that its quantities and amounts are consistent. Built without
    a `cart_start`, a ledger derives one: checkout if that accounts for its amounts (as it does for
    an order never edited), otherwise a cart beginning now with what is still to ship.
    """

    reference: str
    currency: str
    lines: tuple[LineState, ...]
    authorized: Money
    captured: Money
    refunded: Money
    applied: frozenset[tuple[str, str]] = frozenset()
    """The (event kind, event id) pairs applied so far."""
    cart_start: CartStart | None = None
    """Where the current cart began; never None once built."""

    def __post_init__(self) -> None:
        code = currency(self.currency).code
        lines = [state.line for state in self.lines]
        issue = cart_issue(lines, code)
        if issue is not None:
            raise ValueError(f"line {issue.line} of order {self.reference}: {issue.reason}")
        if not any(state.is_product for state in self.lines):
            raise ValueError(f"order {self.reference} has no product line")
        zero = Money.zero(code)
        if not (zero <= self.refunded <= self.captured <= self.authorized):
            raise ValueError(
                f"order {self.reference} needs 0 <= refunded <= captured <= authorized, not "
                f"refunded {self.refunded}, captured {self.captured}, "
                f"authorized {self.authorized}"
            )
        if self.to_ship == 0 and self.authorized != self.captured:
            raise ValueError(
                f"order {self.reference} has nothing left to ship but {self.authorized} "
                f"authorized and only {self.captured} captured"
            )
        if self.cart_start is None:
            # Frozen: the derived start is filled in once, as part of building.
            object.__setattr__(self, "cart_start", self._derived_start())
        else:
            self._check_start(self.cart_start)

    def _derived_start(self) -> CartStart:
        total = cart_total((state.line for state in self.lines), self.currency)
        checkout = CartStart(captured=Money.zero(self.currency), total=total)
        if self._amounts(self.lines, checkout) == (self.captured, self.authorized):
            return checkout
        # An edit, or another rule's rounding: what is left to capture is the rest of the cart.
        return CartStart(
            captured=self.captured,
            total=self.remaining_authorization,
            shipped=_counters(self.lines, "shipped"),
            cancelled=_counters(self.lines, "cancelled"),
        )

    def _check_start(self, start: CartStart) -> None:
        where = f"order {self.reference}: its cart start"
        for name in ("captured", "total"):
            amount: Money = getattr(start, name)
            if amount.currency != self.currency or amount.amount < 0:
                raise ValueError(
                    f"{where} needs a {name} of zero or more in {self.currency}, not {amount}"
                )
        for name in ("shipped", "cancelled"):
            seen: set[str] = set()
            for item in getattr(start, name):
                state = next((s for s in self.lines if s.reference == item.line), None)
                if state is None or not state.is_product:
                    raise ValueError(
                        f"{where} counts line {item.line} as {name} before it, but the order has "
                        "no such product line"
                    )
                if item.line in seen:
                    raise ValueError(
                        f"{where} counts line {item.line} as {name} before it more than once"
                    )
                seen.add(item.line)
                if item.quantity > getattr(state, name):
                    raise ValueError(
                        f"{where} has {item.quantity} of line {item.line} {name} before it, "
                        f"more than the line has ({state.counts})"
                    )
        captured, authorized = self._amounts(self.lines, start)
        if (captured, authorized) != (self.captured, self.authorized):
            raise ValueError(
                f"{where} ({start.captured} captured, {start.total} to capture) makes "
                f"{captured} captured and {authorized} authorized, not {self.captured} captured "
                f"and {self.authorized} authorized"
            )

    @classmethod
    def open(cls, order: Order) -> OrderLedger:
        """The ledger of a new order: its total authorized, nothing shipped or captured."""
        zero = Money.zero(order.currency)
        return cls(
            reference=order.reference,
            currency=order.currency,
            lines=tuple(LineState(line) for line in order.lines),
            authorized=order.total,
            captured=zero,
            refunded=zero,
            cart_start=CartStart(captured=zero, total=order.total),
        )

    # Reading -------------------------------------------------------------------------------------

    @property
    def order(self) -> Order:
        """The order as it stands now, with ordered quantities (cancelled units included)."""
        return Order(
            reference=self.reference,
            currency=self.currency,
            lines=tuple(state.line for state in self.lines),
        )

    def line(self, reference: str) -> LineState:
        """The state of the line `reference`; raises `UnknownLineError`."""
        for state in self.lines:
            if state.reference == reference:
                return state
        raise UnknownLineError(
            f"order {self.reference} has no line {reference}", order=self.reference, line=reference
        )

    @property
    def remaining_authorization(self) -> Money:
        """Authorized and not captured yet: what the units still to ship will capture."""
        return self.authorized - self.captured

    @property
    def refundable(self) -> Money:
        """Captured and not refunded."""
        return self.captured - self.refunded

    @property
    def to_ship(self) -> int:
        """Product units neither shipped nor cancelled."""
        return sum(state.to_ship for state in self.lines)

    @property
    def is_fully_shipped(self) -> bool:
        """Every unit not cancelled has shipped, and at least one has."""
        return self.to_ship == 0 and any(state.shipped for state in self.lines)

    @property
    def is_cancelled(self) -> bool:
        """Nothing shipped and nothing left to ship."""
        return self.to_ship == 0 and not any(state.shipped for state in self.lines)

    def has_applied(self, kind: EventKind, id: str) -> bool:
        return (kind, id) in self.applied

    # Applying ------------------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> tuple[OrderLedger, Effect]:
        """Check `event` against the rules; return the new ledger and what changed.

        Raises `EventNotYetApplicable` when the event depends on one not seen yet, another
        `LedgerError` when it breaks a rule. Either way this ledger is unchanged.
        """
        if event.order != self.reference:
            raise OrderMismatchError(
                f"{event.kind} {event.id} is for order {event.order}, not order {self.reference}",
                order=self.reference,
            )
        if (event.kind, event.id) in self.applied:
            return self, self._effect(event, (), is_noop=True)
        if isinstance(event, OrderShipped):
            return self._ship(event)
        if isinstance(event, OrderCancelled):
            return self._cancel(event)
        if isinstance(event, OrderReturned):
            return self._return(event)
        return self._edit(event)

    def _effect(
        self,
        event: OrderEvent,
        lines: tuple[LineQuantity, ...],
        amount: Money | None = None,
        *,
        void: bool = False,
        is_noop: bool = False,
    ) -> Effect:
        return Effect(
            order=self.reference,
            id=event.id,
            kind=event.kind,
            lines=lines,
            amount=Money.zero(self.currency) if amount is None else amount,
            void=void,
            is_noop=is_noop,
        )

    def _named(self, lines: Iterable[LineQuantity], verb: str) -> list[tuple[LineState, int]]:
        """The product lines an event names with their quantities, each known and named once."""
        named: dict[str, tuple[LineState, int]] = {}
        for item in lines:
            where = f"cannot {verb} line {item.line} of order {self.reference}"
            if item.line in named:
                raise DuplicateLineError(
                    f"{where}: it is named more than once", order=self.reference, line=item.line
                )
            state = next((s for s in self.lines if s.reference == item.line), None)
            if state is None:
                raise UnknownLineError(
                    f"{where}: the order has no such line", order=self.reference, line=item.line
                )
            if not state.is_product:
                raise NotAProductLineError(
                    f"{where}: it is a {state.line.type} line; only product lines are shipped, "
                    "cancelled or returned",
                    order=self.reference,
                    line=item.line,
                )
            named[item.line] = (state, item.quantity)
        return list(named.values())

    def _everything_to_ship(self) -> dict[str, int]:
        return {state.reference: state.to_ship for state in self.lines if state.to_ship}

    @staticmethod
    def _progress(lines: Iterable[LineState], start: CartStart) -> _Progress:
        """How much of the cart that began at `start` has shipped and been cancelled since."""
        shipped_before = {item.line: item.quantity for item in start.shipped}
        cancelled_before = {item.line: item.quantity for item in start.cancelled}
        rows = [
            (
                state.line.unit_price.minor,
                state.ordered
                - shipped_before.get(state.reference, 0)
                - cancelled_before.get(state.reference, 0),
                state.shipped - shipped_before.get(state.reference, 0),
                state.cancelled - cancelled_before.get(state.reference, 0),
            )
            for state in lines
            if state.is_product
        ]
        by_value = any(price * in_cart for price, in_cart, _, _ in rows)
        size = shipped = cancelled = 0
        for price, in_cart, shipped_since, cancelled_since in rows:
            weight = price if by_value else 1
            size += weight * in_cart
            shipped += weight * shipped_since
            cancelled += weight * cancelled_since
        return _Progress(size, shipped, cancelled)

    def _amounts(self, lines: Iterable[LineState], start: CartStart) -> tuple[Money, Money]:
        """Captured and authorized once `lines` have shipped and cancelled what they count."""
        progress = self._progress(lines, start)

        def settled(part: int) -> Money:
            # Rounded from the cart as a whole, not from what is left, so that no path matters.
            if progress.size == 0:
                return start.captured + start.total
            return start.captured + start.total.allocate([part, progress.size - part])[0]

        return settled(progress.shipped), settled(progress.size - progress.cancelled)

    @property
    def _start(self) -> CartStart:
        start = self.cart_start
        assert start is not None, "set when the ledger is built"
        return start

    def _counted(
        self, units: Mapping[str, int], counter: Literal["shipped", "cancelled", "returned"]
    ) -> tuple[LineState, ...]:
        """The line states with `units` added to `counter`."""
        return tuple(
            replace(state, **{counter: getattr(state, counter) + units[state.reference]})
            if state.reference in units
            else state
            for state in self.lines
        )

    def _ship(self, event: OrderShipped) -> tuple[OrderLedger, Effect]:
        if event.lines is None:
            units = self._everything_to_ship()
        else:
            named = self._named(event.lines, "ship")
            for state, quantity in named:
                if quantity > state.to_ship:
                    raise ShipExceedsOrderedError(
                        f"cannot ship {quantity} of line {state.reference} of order "
                        f"{self.reference}: only {state.to_ship} left to ship ({state.counts})",
                        order=self.reference,
                        line=state.reference,
                    )
            units = {state.reference: quantity for state, quantity in named}
        recorded = self.applied | {(event.kind, event.id)}
        if not units:
            return replace(self, applied=recorded), self._effect(event, (), is_noop=True)
        lines = self._counted(units, "shipped")
        captured, _ = self._amounts(lines, self._start)
        ledger = replace(self, lines=lines, captured=captured, applied=recorded)
        return ledger, self._effect(event, _quantities(units), captured - self.captured)

    def _cancel(self, event: OrderCancelled) -> tuple[OrderLedger, Effect]:
        if event.lines is None:
            units = self._everything_to_ship()
        else:
            named = self._named(event.lines, "cancel")
            for state, quantity in named:
                if quantity <= state.to_ship:
                    continue
                where = (
                    f"cannot cancel {quantity} of line {state.reference} of order {self.reference}"
                )
                if quantity <= state.to_ship + state.shipped:
                    raise OrderAlreadyShippedError(
                        f"{where}: {state.shipped} of {state.ordered} already shipped; "
                        "handle it as a return",
                        order=self.reference,
                        line=state.reference,
                    )
                raise CancelExceedsOrderedError(
                    f"{where}: only {state.to_ship} left to cancel ({state.counts})",
                    order=self.reference,
                    line=state.reference,
                )
            units = {state.reference: quantity for state, quantity in named}
        recorded = self.applied | {(event.kind, event.id)}
        if not units:
            return replace(self, applied=recorded), self._effect(event, (), is_noop=True)
        lines = self._counted(units, "cancelled")
        _, authorized = self._amounts(lines, self._start)
        ledger = replace(self, lines=lines, authorized=authorized, applied=recorded)
        void = ledger.to_ship == 0
        released = self.authorized - authorized
        return ledger, self._effect(event, _quantities(units), released, void=void)

    def _return(self, event: OrderReturned) -> tuple[OrderLedger, Effect]:
        refund = event.refund
        where = f"cannot refund {refund} on order {self.reference}"
        if refund.currency != self.currency:
            raise OrderCurrencyMismatchError(
                f"{where}: the order is in {self.currency}", order=self.reference
            )
        if refund.amount < 0:
            raise InvalidRefundError(
                f"{where}: a refund must not be negative", order=self.reference
            )
        named = self._named(event.lines, "return")
        # A violation wins over a wait: an event that can never apply must not be retried.
        waiting: EventNotYetApplicable | None = None
        for state, quantity in named:
            if quantity <= state.returnable:
                continue
            what = f"{quantity} of line {state.reference} of order {self.reference}"
            if quantity > state.returnable + state.to_ship:
                raise ReturnExceedsShippedError(
                    f"cannot return {what}: only {state.returnable} shipped and not returned "
                    f"({state.counts})",
                    order=self.reference,
                    line=state.reference,
                )
            waiting = waiting or EventNotYetApplicable(
                f"cannot return {what} yet: only {state.returnable} shipped and not returned, "
                f"{state.to_ship} still to ship ({state.counts})",
                order=self.reference,
                line=state.reference,
            )
        if refund > self.refundable:
            pending = self.remaining_authorization
            if self.to_ship == 0 or refund > self.refundable + pending:
                raise RefundExceedsCapturedError(
                    f"{where}: only {self.refundable} captured and not refunded "
                    f"(captured {self.captured}, refunded {self.refunded})",
                    order=self.reference,
                )
            waiting = waiting or EventNotYetApplicable(
                f"{where} yet: only {self.refundable} captured and not refunded, "
                f"{pending} still to capture",
                order=self.reference,
            )
        if waiting is not None:
            raise waiting
        units = {state.reference: quantity for state, quantity in named}
        recorded = self.applied | {(event.kind, event.id)}
        if not units and refund.is_zero():
            return replace(self, applied=recorded), self._effect(event, (), is_noop=True)
        ledger = replace(
            self,
            lines=self._counted(units, "returned"),
            refunded=self.refunded + refund,
            applied=recorded,
        )
        return ledger, self._effect(event, _quantities(units), refund)

    def _edit(self, event: OrderEdited) -> tuple[OrderLedger, Effect]:
        cart = event.cart
        issue = cart_issue(cart, self.currency)
        if issue is not None:
            raise issue.error(
                f"cannot edit line {issue.line} of order {self.reference}: {issue.reason}",
                order=self.reference,
                line=issue.line,
            )
        new_lines = {line.reference: line for line in cart}
        states: list[LineState] = []
        for state in self.lines:
            new = new_lines.pop(state.reference, None)
            kept = state.shipped + state.cancelled
            if new is not None:
                self._check_kept(state, new)
                line = state.line if state.shipped else new
                quantity = kept + new.quantity
                states.append(replace(state, line=line.model_copy(update={"quantity": quantity})))
            elif kept:
                states.append(replace(state, line=state.line.model_copy(update={"quantity": kept})))
        states.extend(LineState(line) for line in new_lines.values())

        where = f"cannot edit order {self.reference}"
        total = cart_total(cart, self.currency)
        if total.amount < 0:
            raise InvalidCartError(
                f"{where}: the new cart totals {total}; it must not be negative",
                order=self.reference,
            )
        if not total.is_zero() and not any(line.type is LineType.PRODUCT for line in cart):
            raise InvalidCartError(
                f"{where}: the new cart has {total} to pay but no product line to ship",
                order=self.reference,
            )
        if not any(state.is_product for state in states):
            raise InvalidCartError(
                f"{where}: the edit leaves the order without any product line; cancel it instead",
                order=self.reference,
            )
        authorized = self.captured + total
        change = authorized - self.authorized
        lines = tuple(states)
        is_noop = lines == self.lines and change.is_zero()
        start = (
            self.cart_start
            if is_noop
            else CartStart(
                captured=self.captured,
                total=total,
                shipped=_counters(lines, "shipped"),
                cancelled=_counters(lines, "cancelled"),
            )
        )
        ledger = replace(
            self,
            lines=lines,
            authorized=authorized,
            applied=self.applied | {(event.kind, event.id)},
            cart_start=start,
        )
        quantities = tuple(
            LineQuantity(line=line.reference, quantity=line.quantity) for line in cart
        )
        return ledger, self._effect(event, quantities, change, is_noop=is_noop)

    def _check_kept(self, state: LineState, new: Line) -> None:
        """Refuse a cart line that rewrites what already happened to the line `state`."""
        old = state.line
        where = f"cannot edit line {state.reference} of order {self.reference}"
        if state.shipped:
            if old.unit_price != new.unit_price:
                change = f"at {old.unit_price}; its price cannot change to {new.unit_price}"
            elif old.type != new.type:
                change = f"as a {old.type} line; its type cannot change to {new.type}"
            elif old.name != new.name:
                change = f"as {old.name!r}; its name cannot change to {new.name!r}"
            else:
                return
            raise LineAlreadyShippedError(
                f"{where}: {state.shipped} already shipped {change}",
                order=self.reference,
                line=state.reference,
            )
        if state.cancelled and old.type != new.type:
            raise InvalidCartError(
                f"{where}: {state.cancelled} already cancelled as a {old.type} line; "
                f"its type cannot change to {new.type}",
                order=self.reference,
                line=state.reference,
            )


def _quantities(units: Mapping[str, int]) -> tuple[LineQuantity, ...]:
    return tuple(
        LineQuantity(line=line, quantity=quantity) for line, quantity in units.items() if quantity
    )


def _counters(
    lines: Iterable[LineState], counter: Literal["shipped", "cancelled"]
) -> tuple[LineQuantity, ...]:
    """The product units `lines` count as `counter`, line by line."""
    return _quantities({state.reference: getattr(state, counter) for state in lines})
