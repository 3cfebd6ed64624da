"""An ``orders/cancelled`` body as events: the order as it stood when it was cancelled.

In order: its successful fulfillments shipped, its refunds (as ``refunds/create`` translates
them, same ids), ``OrderCancelled`` of everything still unshipped, then ``OrderReturned`` of the
shipped units no refund returned, since the ledger cancels only what has not shipped: shipped
goods of a cancelled order come back as a return.

The money of that return
    Shopify lists in ``refunds`` the money it gave back with the cancellation (a merchant who
    cancels chooses to refund or not), and ``refunds/create`` reports the same refunds under
    the same ids, so they apply once. The shipped units those refunds do not name are refunded
    what the customer paid for them, from the order's ``line_items`` in the presentment
    currency: unit price times units, less their share of the line's discount allocations, plus
    their share of its tax lines (each share pro rata to the units, exact to the minor unit).
    Money the refunds gave back without naming a line (a refund of the whole order at
    cancellation) is deducted first, so nothing is refunded twice; the return never carries
    less than zero.

    The refund can only come from the body (translation is deterministic and sees no ledger):
    the ledger then refuses one above what is captured and not refunded
    (``refund_exceeds_captured``), so a back-end cart that captured less for those units than
    Shopify charged is reported, never over-refunded. A later ``refunds/create`` of units this
    return already took back is refused the same way (``return_exceeds_shipped``).
"""

from __future__ import annotations

from typing import Final

from passerelle.events import (
    CancelReason,
    LineQuantity,
    OrderCancelled,
    OrderReturned,
    OrderShipped,
)
from passerelle.money import Money
from passerelle.platforms import TranslationError
from passerelle_shopify.cart import discounts, presentment_currency, taxes, unit_price
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
    unattributed: list[Money] = []
    for index, refund in enumerate(order.refunds):
        if not moves_anything(refund):
            continue
        split = split_refund(
            refund, currency_hint=order.presentment_currency, at=f"refunds[{index}]."
        )
        events.extend(events_of_split(refund, split, order=reference))
        for item in split.returned:
            shipped[item.line] = shipped.get(item.line, 0) - item.quantity
        unattributed.append(Money(split.unattributed_amount, split.currency))

    reason = _CANCEL_REASONS.get((order.cancel_reason or "").lower(), CancelReason.OTHER)
    events.append(OrderCancelled(order=reference, id=cancel_event_id(order.id), reason=reason))
    kept = {line: units for line, units in shipped.items() if units > 0}
    if kept:
        currency = presentment_currency(order)
        value = Money.sum(
            (_paid_for(order, line, units, currency) for line, units in kept.items()), currency
        )
        given = Money.sum(unattributed, currency)
        events.append(
            OrderReturned(
                order=reference,
                id=cancel_event_id(order.id),
                lines=tuple(LineQuantity(line=line, quantity=q) for line, q in kept.items()),
                refund=(value - given).max(Money.zero(currency)),
                reason=f"order cancelled ({reason.value}) after these units shipped",
            )
        )
    return tuple(events)


def _paid_for(order: Order, line: str, units: int, currency: str) -> Money:
    """What the customer paid for `units` units of the order's line `line` (see the module doc)."""
    for index, item in enumerate(order.line_items):
        if str(item.id) == line:
            field = f"line_items[{index}]"
            whole = max(item.quantity, units)
            discount = _part(discounts(item.discount_allocations, currency, field), units, whole)
            tax = _part(taxes(item.tax_lines, currency, field), units, whole)
            return unit_price(item, currency, field) * units - discount + tax
    raise TranslationError(
        f"order {order.id} was cancelled after line {line} shipped, but its line_items do not "
        "list that line: cannot tell what its return refunds",
        field="line_items",
    )


def _part(amount: Money, units: int, whole: int) -> Money:
    """`units` of `whole` units' `amount`: exact to the minor unit (largest remainder), as the
    ledger and the cart take shares."""
    return amount if units == whole else amount.allocate([units, whole - units])[0]
