"""The dispatcher's back-end step: the call each event kind makes, written once.

Every call carries the envelope's idempotency key, so a delivery dispatched again (a retry, a
crash, a replay) reaches the back end once. The dispatcher makes this call itself, before any
observer hook runs: observers see an event only once the back end accepted it, whatever hooks
other plugins implement or the order they register in.
"""

from __future__ import annotations

from typing import assert_never

from passerelle.backend.client import BackendClient
from passerelle.backend.models import (
    CancellationCreate,
    CartUpdate,
    OrderView,
    ReturnCreate,
    ShipmentCreate,
)
from passerelle.events import (
    BatchFileEdited,
    Envelope,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)

__all__ = ["call_backend"]


def call_backend(client: BackendClient, envelope: Envelope) -> OrderView | None:
    """Tell the back end about the envelope's event; the order as it answers, or None for an
    event that is not an order's."""
    event = envelope.event
    key = envelope.idempotency_key
    match event:
        case OrderShipped():
            return client.ship(
                event.order, ShipmentCreate.from_event(event), idempotency_key=key
            ).order
        case OrderCancelled():
            cancellation = CancellationCreate.from_event(event)
            return client.cancel(event.order, cancellation, idempotency_key=key).order
        case OrderReturned():
            return client.refund(
                event.order, ReturnCreate.from_event(event), idempotency_key=key
            ).order
        case OrderEdited():
            return client.update_cart(
                event.order, CartUpdate.from_event(event), idempotency_key=key
            ).order
        case BatchFileEdited():
            # Batch files reach the back end through the batch intake, which schedules each
            # version; an edit is the observers' to see once its cutoff check passed.
            return None
    assert_never(event)
