"""What a Shopify delivery means, as Passerelle events.

References
    The order reference is Shopify's order id as a decimal string (``"820982911946154508"``):
    every topic carries it, while the order's name (``#1001``) is absent from fulfillment and
    refund bodies. Line references are line item ids as decimal strings. Event ids: the
    fulfillment id, the refund id, ``cancel:<order id>``, the order edit id.

Topics
    ``fulfillments/create``, ``fulfillments/update``
        status ``success``: ``OrderShipped`` of its line items, with tracking. ``cancelled``,
        ``failure``, ``error``: `FulfillmentReversedError` (action center, under its own code:
        the delivery is readable, but Passerelle never un-ships). ``pending``, ``open``:
        ignored, nothing has shipped yet.
    ``orders/fulfilled``, ``orders/partially_fulfilled``
        one ``OrderShipped`` per successful fulfillment of the order, with the same ids as
        ``fulfillments/create``: a no-op for what already shipped.
    ``orders/cancelled``
        the order as it stood when cancelled, replayed: its successful fulfillments shipped,
        its refunds (as ``refunds/create`` translates them, same ids), ``OrderCancelled`` of
        everything still unshipped, then ``OrderReturned`` of the shipped units no refund
        returned (see `passerelle_shopify.cancel`).
    ``refunds/create``
        see `passerelle_shopify.refunds`.
    ``orders/edited``
        the body carries only deltas: the order is read from the Admin API and its unshipped
        part becomes ``OrderEdited`` (see `passerelle_shopify.cart`). This is the one topic
        whose translation depends on more than the delivery: a replay reads the order as it is
        then.
    ``returns/*``
        ignored: a return moves no money; the refund that closes it does.
    anything else: ignored.

Stale deliveries
    Shopify delivers late (up to a day), out of order and more than once. Each act keeps its id
    whatever topic reports it, so the ledger applies it once and a late duplicate changes
    nothing. A delivery reporting an older state of an object than one already seen is stale
    and the dispatcher ignores it before translation (`passerelle_shopify.versions`): the
    fulfillment topics report the fulfillment, ``orders/fulfilled``,
    ``orders/partially_fulfilled`` and ``orders/cancelled`` the order, each as of the body's
    ``updated_at`` (else ``X-Shopify-Triggered-At``). So a ``fulfillments/create`` with status
    ``success`` that arrives after the fulfillment's later cancellation ships nothing; in the
    other order it ships, then the cancellation goes to the action center. Refunds always count
    and ``orders/edited`` reads the current order: neither can be stale. Translation itself
    stays deterministic. ``occurred_at`` is the act's own time from the body, else
    ``X-Shopify-Triggered-At``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from passerelle.plugin import (
    LineQuantity,
    OrderEdited,
    OrderShipped,
    StoreOptionsError,
    Tracking,
    Translation,
    TranslationContext,
    TranslationError,
    WebhookRequest,
    parse_model,
)
from passerelle_shopify import admin_api, headers
from passerelle_shopify.cancel import cancel_event_id, cancel_events
from passerelle_shopify.cart import cart_of
from passerelle_shopify.errors import FulfillmentReversedError
from passerelle_shopify.payloads import Fulfillment, Order, OrderEditBody, Refund
from passerelle_shopify.refunds import refund_events

__all__ = ["HANDLED_TOPICS", "cancel_event_id", "fulfillment_event", "translate"]

_TEXT_MAX = 255

Handler = Callable[[str, WebhookRequest, TranslationContext], Translation]


def translate(request: WebhookRequest, context: TranslationContext) -> Translation:
    """The events `request` means (see the module documentation)."""
    topic = headers.header(request.headers, headers.TOPIC)
    if topic is None:
        raise TranslationError(f"missing header {headers.shown(headers.TOPIC)}")
    topic = topic.lower()
    if topic.startswith("returns/"):
        return Translation.ignore(
            f"topic {topic}: a return moves no money; the refund that settles it does"
        )
    handler = _HANDLERS.get(topic)
    if handler is None:
        return Translation.ignore(f"topic {topic} is not handled")
    translation = handler(topic, request, context)
    if translation.occurred_at is None and translation.ignored is None:
        translation = Translation(
            events=translation.events, occurred_at=headers.triggered_at(request.headers)
        )
    return translation


def fulfillment_event(fulfillment: Fulfillment) -> OrderShipped | None:
    """The shipment a successful fulfillment means; None when it lists no units."""
    units: dict[str, int] = {}
    for item in fulfillment.line_items:
        if item.quantity:
            line = str(item.id)
            units[line] = units.get(line, 0) + item.quantity
    if not units:
        return None
    return OrderShipped(
        order=str(fulfillment.order_id),
        id=str(fulfillment.id),
        lines=tuple(LineQuantity(line=line, quantity=q) for line, q in units.items()),
        tracking=_tracking(fulfillment),
    )


def _fulfillment(topic: str, request: WebhookRequest, context: TranslationContext) -> Translation:
    fulfillment = parse_model(request.body, Fulfillment, f"{topic} body")
    where = f"fulfillment {fulfillment.id} of order {fulfillment.order_id}"
    status = (fulfillment.status or "").lower()
    if status in ("cancelled", "failure", "error"):
        raise FulfillmentReversedError(
            fulfillment=fulfillment.id, order=fulfillment.order_id, status=status
        )
    if status in ("pending", "open", ""):
        return Translation.ignore(f"{where} is {status or 'without status'}: nothing shipped yet")
    if status != "success":
        raise TranslationError(f"{where} has unknown status {status!r}", field="status")
    event = fulfillment_event(fulfillment)
    if event is None:
        return Translation.ignore(f"{where} lists no line item")
    return Translation(
        events=(event,), occurred_at=_aware(fulfillment.updated_at, fulfillment.created_at)
    )


def _order_fulfilled(
    topic: str, request: WebhookRequest, context: TranslationContext
) -> Translation:
    order = parse_model(request.body, Order, f"{topic} body")
    events = _shipments(order)
    if not events:
        return Translation.ignore(f"order {order.id} has no successful fulfillment")
    return Translation(events=events, occurred_at=_aware(order.updated_at))


def _order_cancelled(
    topic: str, request: WebhookRequest, context: TranslationContext
) -> Translation:
    order = parse_model(request.body, Order, f"{topic} body")
    # A body without these is not the cancellation Shopify sends: cancelling the whole order
    # on it would be a guess.
    if order.cancelled_at is None:
        raise TranslationError(
            f"order {order.id} is reported cancelled without a cancelled_at time",
            field="cancelled_at",
        )
    if not order.line_items:
        raise TranslationError(
            f"order {order.id} is reported cancelled without its line items", field="line_items"
        )
    return Translation(
        events=cancel_events(order, _shipments(order)),
        occurred_at=_aware(order.cancelled_at, order.updated_at),
    )


def _refund(topic: str, request: WebhookRequest, context: TranslationContext) -> Translation:
    refund = parse_model(request.body, Refund, f"{topic} body")
    events = refund_events(refund, order=str(refund.order_id))
    if not events:
        return Translation.ignore(
            f"refund {refund.id} of order {refund.order_id} moves neither goods nor money"
        )
    return Translation(events=events, occurred_at=_aware(refund.processed_at, refund.created_at))


def _order_edited(topic: str, request: WebhookRequest, context: TranslationContext) -> Translation:
    edit = parse_model(request.body, OrderEditBody, f"{topic} body").order_edit
    try:
        version = admin_api.api_version(
            headers.header(request.headers, headers.API_VERSION), context.store
        )
        order = admin_api.fetch_order(context.http, context.store, edit.order_id, version)
    except StoreOptionsError as exc:
        raise TranslationError(str(exc)) from None
    if order.id != edit.order_id:
        raise TranslationError(
            f"the Admin API answered order {order.id} for order {edit.order_id}", field="order.id"
        )
    event = OrderEdited(order=str(edit.order_id), id=str(edit.id), cart=cart_of(order))
    return Translation(events=(event,), occurred_at=_aware(edit.committed_at, edit.created_at))


_HANDLERS: Final[dict[str, Handler]] = {
    "fulfillments/create": _fulfillment,
    "fulfillments/update": _fulfillment,
    "orders/fulfilled": _order_fulfilled,
    "orders/partially_fulfilled": _order_fulfilled,
    "orders/cancelled": _order_cancelled,
    "refunds/create": _refund,
    "orders/edited": _order_edited,
}

HANDLED_TOPICS: Final = frozenset(_HANDLERS)
"""The topics that can produce events; subscribe the store to these."""


def _shipments(order: Order) -> tuple[OrderShipped, ...]:
    events = []
    for fulfillment in order.fulfillments:
        if (fulfillment.status or "").lower() == "success":
            event = fulfillment_event(fulfillment)
            if event is not None:
                events.append(event)
    return tuple(events)


def _tracking(fulfillment: Fulfillment) -> Tracking | None:
    numbers = _distinct(fulfillment.tracking_numbers, fulfillment.tracking_number)
    urls = _distinct(fulfillment.tracking_urls, fulfillment.tracking_url)
    carrier = (fulfillment.tracking_company or "").strip()[:_TEXT_MAX] or None
    number = ", ".join(numbers)
    if len(number) > _TEXT_MAX:
        number = numbers[0][:_TEXT_MAX]
    url = urls[0] if urls and len(urls[0]) <= 2048 else None
    if not (carrier or number or url):
        return None
    return Tracking(carrier=carrier, number=number or None, url=url)


def _distinct(values: tuple[str | None, ...], single: str | None) -> list[str]:
    found: list[str] = []
    for value in (*values, single):
        text = (value or "").strip()
        if text and text not in found:
            found.append(text)
    return found


def _aware(*candidates: datetime | None) -> datetime | None:
    for when in candidates:
        if when is not None and when.tzinfo is not None:
            return when
    return None
