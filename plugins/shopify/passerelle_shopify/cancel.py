"""An ``orders/cancelled`` body as events: the order as it stood when it was cancelled.

In order: its successful fulfillments shipped, its refunds (as ``refunds/create`` translates
them, same ids), ``OrderCancelled`` of everything still unshipped, then ``OrderReturned`` of the
shipped units no refund returned, since the ledger cancels only what has not shipped: shipped
goods of a cancelled order come back as a return.

The money
    Only what Shopify refunded: a merchant who cancels chooses to refund or not, and Shopify lists
    in ``refunds`` the money it gave back with the cancellation (``refunds/create`` reports the
    same refunds under the same ids, so they apply once). The return of the shipped units those
    refunds do not name therefore refunds nothing: the goods come back to the ledger, the money
    stays where Shopify left it. A refund made later (``refunds/create``) that names those units
    is refused by the ledger (``return_exceeds_shipped``) and lands in the action center; one that
    names no line refunds its money as it comes.
"""

from __future__ import annotations

from typing import Final

from passerelle.plugin import (
    CancelReason,
    LineQuantity,
    Money,
    OrderCancelled,
    OrderReturned,
    OrderShipped,
)
from passerelle_shopify.cart import presentment_currency
from passerelle_shopify.payloads import Order
from passerelle_shopify.refunds import events_of_split, moves_anything, split_refund

__all__ = ["cancel_event_id", "cancel_events"]

CancelEvent = OrderShipped | OrderCancelled | OrderReturned

_CANCEL_REASONS: Final = {reason.value: reason for reason in CancelReason}


def cancel_event_id(order_id: int) -> str:
    """The id of the cancellation of the order `order_id` (and of the return it makes)."""
    return f"cancel:{order_id}"


def cancel_events(order: Order, shipments: tuple[OrderShipped, ...]) -> tuple[CancelEvent, ...]:
    """The events of the cancelled `order`, whose successful fulfillments are `shipments`."""
    reference = str(order.id)
    events: list[CancelEvent] = list(shipments)
    shipped: dict[str, int] = {}
    for shipment in shipments:
        for item in shipment.lines or ():
            shipped[item.line] = shipped.get(item.line, 0) + item.quantity
    for index, refund in enumerate(order.refunds):
        if not moves_anything(refund):
            continue
        split = split_refund(
            refund, currency_hint=order.presentment_currency, at=f"refunds[{index}]."
        )
        events.extend(events_of_split(refund, split, order=reference))
        for item in split.returned:
            shipped[item.line] = shipped.get(item.line, 0) - item.quantity

    reason = _CANCEL_REASONS.get((order.cancel_reason or "").lower(), CancelReason.OTHER)
    events.append(OrderCancelled(order=reference, id=cancel_event_id(order.id), reason=reason))
    kept = {line: units for line, units in shipped.items() if units > 0}
    if kept:
        events.append(
            OrderReturned(
                order=reference,
                id=cancel_event_id(order.id),
                lines=tuple(LineQuantity(line=line, quantity=q) for line, q in kept.items()),
                refund=Money.zero(presentment_currency(order)),
                reason=(
                    f"order cancelled ({reason.value}) after these units shipped;"
                    " Shopify refunded nothing for them"
                ),
            )
        )
    return tuple(events)
