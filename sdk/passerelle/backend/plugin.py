"""The built-in lifecycle plugin that tells the payment back end what happened to an order.

The runtime registers one `BackendPlugin` per connector under the name ``backend``. Every call
carries the envelope's idempotency key, so a delivery dispatched again (a retry, a crash, a
replay) reaches the back end once.
"""

from __future__ import annotations

from collections.abc import Callable

from passerelle.backend.client import BackendClient
from passerelle.backend.models import (
    CancellationCreate,
    CartUpdate,
    OrderView,
    ReturnCreate,
    ShipmentCreate,
)
from passerelle.events import Envelope, OrderCancelled, OrderEdited, OrderReturned, OrderShipped
from passerelle.hookspecs import hookimpl
from passerelle.orders import Effect

__all__ = ["BackendPlugin"]


class BackendPlugin:
    """Calls the back end for each applied lifecycle event.

    `on_order` receives the order as the back end answers it after each call, so the caller can
    keep its mirror of the ledger in step with the authority.
    """

    def __init__(
        self, client: BackendClient, *, on_order: Callable[[OrderView], object] | None = None
    ) -> None:
        self._client = client
        self._on_order = on_order or (lambda _view: None)

    # tryfirst: observers see an event only once the back end has accepted it.
    @hookimpl(tryfirst=True)
    def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
        result = self._client.ship(
            event.order, ShipmentCreate.from_event(event), idempotency_key=envelope.idempotency_key
        )
        self._on_order(result.order)

    @hookimpl(tryfirst=True)
    def order_cancelled(self, envelope: Envelope, event: OrderCancelled, effect: Effect) -> None:
        result = self._client.cancel(
            event.order,
            CancellationCreate.from_event(event),
            idempotency_key=envelope.idempotency_key,
        )
        self._on_order(result.order)

    @hookimpl(tryfirst=True)
    def order_returned(self, envelope: Envelope, event: OrderReturned, effect: Effect) -> None:
        result = self._client.refund(
            event.order, ReturnCreate.from_event(event), idempotency_key=envelope.idempotency_key
        )
        self._on_order(result.order)

    @hookimpl(tryfirst=True)
    def order_edited(self, envelope: Envelope, event: OrderEdited, effect: Effect) -> None:
        result = self._client.update_cart(
            event.order, CartUpdate.from_event(event), idempotency_key=envelope.idempotency_key
        )
        self._on_order(result.order)
