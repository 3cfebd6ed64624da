"""The rules an order event can break: `LedgerError` and one subclass per rule.

`OrderLedger.apply` raises them; each carries the back end's problem `code`, the order and, where
one is to blame, the line. `EventNotYetApplicable` is a deferral rather than a violation (see
`passerelle.orders`).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CancelExceedsOrderedError",
    "DuplicateLineError",
    "EventNotYetApplicable",
    "InvalidCartError",
    "InvalidRefundError",
    "LedgerError",
    "LineAlreadyShippedError",
    "NotAProductLineError",
    "OrderAlreadyShippedError",
    "OrderCurrencyMismatchError",
    "OrderMismatchError",
    "RefundExceedsCapturedError",
    "ReturnExceedsShippedError",
    "ShipExceedsOrderedError",
    "UnknownLineError",
]


class LedgerError(Exception):
    """An order event that breaks a ledger rule. `code` is the back end's problem code."""

    code: ClassVar[str] = "ledger_error"

    def __init__(self, message: str, *, order: str, line: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.order = order
        self.line = line


class EventNotYetApplicable(LedgerError):  # noqa: N818 - it is a deferral, not a failure
    """The event depends on one not seen yet (a return before its shipment): defer and retry."""

    code = "not_yet_applicable"


class OrderMismatchError(LedgerError):
    """The event is for another order."""

    code = "order_mismatch"


class UnknownLineError(LedgerError):
    """The order has no line with that reference."""

    code = "unknown_line"


class NotAProductLineError(LedgerError):
    """A handling, fee or discount line was named where only product lines count."""

    code = "not_a_product_line"


class DuplicateLineError(LedgerError):
    """The same line is named twice in one event or cart."""

    code = "duplicate_line"


class OrderCurrencyMismatchError(LedgerError):
    """An amount or a price is not in the order's currency."""

    code = "currency_mismatch"


class ShipExceedsOrderedError(LedgerError):
    """More units shipped than are ordered and neither shipped nor cancelled."""

    code = "ship_exceeds_ordered"


class OrderAlreadyShippedError(LedgerError):
    """A cancellation of units that have shipped: those are handled as a return."""

    code = "order_already_shipped"


class CancelExceedsOrderedError(LedgerError):
    """More units cancelled than are ordered and not yet cancelled."""

    code = "cancel_exceeds_ordered"


class ReturnExceedsShippedError(LedgerError):
    """More units returned than shipped, and the order has no more of them to ship."""

    code = "return_exceeds_shipped"


class RefundExceedsCapturedError(LedgerError):
    """A refund above captured minus refunded that no pending shipment can cover."""

    code = "refund_exceeds_captured"


class InvalidRefundError(LedgerError):
    """A negative refund."""

    code = "invalid_refund"


class LineAlreadyShippedError(LedgerError):
    """An edit that changes the name, type or price of a line with shipped units."""

    code = "line_already_shipped"


class InvalidCartError(LedgerError):
    """A cart that cannot be an order's unshipped part (price signs, totals, no product)."""

    code = "invalid_cart"
