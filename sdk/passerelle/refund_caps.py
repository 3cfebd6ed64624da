"""Refunds inferred from snapshots, kept within what the ledger will hold refundable.

A platform that reports orders as snapshots (WooCommerce) refunds its own amounts, while the
ledger releases a cancelled unit's pro-rata share of the cart's shipping, fees and tax: after a
partial cancellation, the platform can give back more in the end than the back end ever
captured, and the last refund would be refused. `cap_refunds` replays a snapshot's events on the
order the checkout created and lowers each return's refund to what is captured and not refunded
at that point, saying so in its reason. Replaying the same history gives the same caps, so a
later snapshot repeats each capped event exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from passerelle.checkout import Order
from passerelle.events import CartLine, OrderCancelled, OrderEdited, OrderReturned, OrderShipped
from passerelle.ledger_errors import LedgerError
from passerelle.orders import OrderLedger

__all__ = ["cap_refunds"]

Act = OrderShipped | OrderCancelled | OrderReturned | OrderEdited

_REASON_MAX = 500


def cap_refunds(
    reference: str, currency: str, lines: Sequence[CartLine], events: Sequence[Act]
) -> tuple[Act, ...]:
    """`events` of the order `reference` (created at checkout with `lines`), each
    ``OrderReturned`` refunding no more than the ledger holds refundable when it applies with
    nothing left to ship (while units are still to ship, the ledger waits for their capture).

    Events the ledger would refuse are left as they are, and so is everything after them: the
    dispatcher reports the refusal."""
    ledger = OrderLedger.open(Order(reference=reference, currency=currency, lines=tuple(lines)))
    capped: list[Act] = []
    for index, event in enumerate(events):
        if (
            isinstance(event, OrderReturned)
            and ledger.to_ship == 0
            and event.refund > ledger.refundable
        ):
            note = (
                f"refund capped at {ledger.refundable} captured and not refunded; "
                f"the platform refunded {event.refund}"
            )
            reason = f"{event.reason}; {note}" if event.reason else note
            event = event.model_copy(
                update={"refund": ledger.refundable, "reason": reason[:_REASON_MAX]}
            )
        capped.append(event)
        try:
            ledger, _ = ledger.apply(event)
        except LedgerError:
            return (*capped, *events[index + 1 :])
    return tuple(capped)
