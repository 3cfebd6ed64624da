"""What a WooCommerce delivery means, as Passerelle events.

References
    The order reference is WooCommerce's order id as a decimal string (``"727"``); line
    references are line item ids as decimal strings. The order's ``number`` can be changed by
    plugins and is never used.

Topics
    ``order.created``, ``order.updated``
        the order as it stands: the acts it reports (`passerelle_woocommerce.acts`), with each
        refund it lists read from the REST API (`passerelle_woocommerce.rest_api`).
    ``order.deleted``, ``order.restored``
        ignored, saying why: trashing or restoring an order moves no goods and no money.
    anything else: ignored.

Stale, repeated and merged snapshots are handled by the keys (`passerelle_woocommerce.keys`)
and by the ids of the acts: see there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from passerelle.plugin import (
    Translation,
    TranslationContext,
    TranslationError,
    WebhookRequest,
    parse_model,
)
from passerelle_woocommerce.acts import snapshot_events
from passerelle_woocommerce.keys import ordering_key
from passerelle_woocommerce.payloads import OrderSnapshot
from passerelle_woocommerce.rest_api import fetch_refund
from passerelle_woocommerce.verify import TOPIC

__all__ = ["HANDLED_TOPICS", "translate"]

Handler = Callable[[str, WebhookRequest, TranslationContext], Translation]


def translate(request: WebhookRequest, context: TranslationContext) -> Translation:
    """The events `request` means (see the module documentation)."""
    topic = request.headers.get(TOPIC, "").strip().lower()
    if not topic:
        raise TranslationError(f"missing header {TOPIC}")
    handler = _HANDLERS.get(topic)
    if handler is None:
        return Translation.ignore(f"topic {topic} is not handled")
    return handler(topic, request, context)


def _snapshot(topic: str, request: WebhookRequest, context: TranslationContext) -> Translation:
    order = parse_model(request.body, OrderSnapshot, f"{topic} body")
    refunds = {
        entry.id: fetch_refund(context.http, context.store, order.id, entry.id)
        for entry in order.refunds
    }
    events = snapshot_events(order, refunds)
    if not events:
        return Translation.ignore(
            f"order {order.id} is {order.status}: nothing shipped, cancelled or refunded"
        )
    return Translation(events=events, occurred_at=order.date_modified_gmt)


def _trash(topic: str, request: WebhookRequest, context: TranslationContext) -> Translation:
    verb = "trashed" if topic == "order.deleted" else "restored from the trash"
    reason = f"{topic}: the order was {verb}, which moves no goods and no money"
    # A trashed order will not ship nor cancel: money the back end still holds needs a person.
    order = ordering_key(request) if topic == "order.deleted" else None
    return Translation.ignore(reason, unless_money_held=order)


_HANDLERS: Final[dict[str, Handler]] = {
    "order.created": _snapshot,
    "order.updated": _snapshot,
    "order.deleted": _trash,
    "order.restored": _trash,
}

HANDLED_TOPICS: Final = frozenset(_HANDLERS)
"""The topics to subscribe a store's webhooks to."""
