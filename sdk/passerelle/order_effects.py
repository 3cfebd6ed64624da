"""What applying an order event did: the `Effect` an `OrderLedger` returns with its new state.

Plugins receive it with each lifecycle hook; the dispatcher records it and reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from passerelle.events import LineQuantity
from passerelle.money import Money

__all__ = ["Effect", "EventKind"]

EventKind = Literal["order_shipped", "order_cancelled", "order_returned", "order_edited"]
"""The kinds of order event a ledger applies."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What applying an event changed.

    `amount` is, by `kind`: captured by a shipment, released from the authorization by a
    cancellation, refunded by a return, the change of authorization (possibly negative) by an
    edit. `lines` are the quantities shipped, cancelled or returned, or for an edit the new
    unshipped quantities of the cart. `void` marks a cancellation that left nothing to ship and so
    released the whole remaining authorization.
    """

    order: str
    id: str
    kind: EventKind
    lines: tuple[LineQuantity, ...]
    amount: Money
    void: bool = False
    is_noop: bool = False

    def describe(self) -> str:
        """What the effect did, in a few words: ``captured 30.00 CAD; SKU-1 x2``."""
        text = f"{_EFFECT_VERBS[self.kind]} {self.amount}"
        if self.void:
            text += " (void)"
        lines = ", ".join(f"{lq.line} x{lq.quantity}" for lq in self.lines)
        return f"{text}; {lines}" if lines else text


_EFFECT_VERBS: dict[EventKind, str] = {
    "order_shipped": "captured",
    "order_cancelled": "released",
    "order_returned": "refunded",
    "order_edited": "authorization changed by",
}
