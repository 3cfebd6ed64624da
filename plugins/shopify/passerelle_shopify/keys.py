"""The keys a Shopify delivery is de-duplicated and ordered by.

De-duplication: ``<topic>#<X-Shopify-Event-Id>``. Shopify repeats the event id on every delivery
of one event (retries, and one delivery per subscription); the topic is part of the key because
one merchant action may raise several topics, which must not swallow each other. Without an event
id (older deliveries) the webhook id is used (``<topic>#webhook-<id>``), and without either a hash
of the body (``<topic>#sha256-<hex>``): an identical body for the same topic is the same act.

Ordering: the order id as a decimal string, so deliveries about one order are handled one at a
time, in order. The receiver computes it before it answers, so only the few fields that can name
the order are read (`passerelle.json_fields.top_level_fields`: from the first KiB alone when they
lie there, as they do in Shopify's bodies).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from passerelle.plugin import WebhookRequest, bounded_key, top_level_fields
from passerelle_shopify import headers

__all__ = ["delivery_key", "ordering_key"]

_NAMED_BY_ORDER_ID = ("fulfillments/", "refunds/")
_ORDER_GID = re.compile(r"gid://shopify/Order/(\d+)")


def delivery_key(request: WebhookRequest) -> str:
    """The de-duplication key of `request` (see the module documentation)."""
    topic = (headers.header(request.headers, headers.TOPIC) or "unknown").lower()
    event_id = headers.header(request.headers, headers.EVENT_ID)
    if event_id is not None:
        return f"{topic}#{bounded_key(event_id)}"
    webhook_id = headers.header(request.headers, headers.WEBHOOK_ID)
    if webhook_id is not None:
        return f"{topic}#webhook-{bounded_key(webhook_id)}"
    digest = hashlib.sha256(topic.encode() + b"\0" + request.body).hexdigest()
    return f"{topic}#sha256-{digest}"


def ordering_key(request: WebhookRequest) -> str | None:
    """The order id of `request` as a decimal string; None when the body does not name one.

    Never raises: the body may still be malformed here.
    """
    topic = (headers.header(request.headers, headers.TOPIC) or "").lower()
    try:
        if topic.startswith("orders/") and topic != "orders/edited":
            return _order_id(top_level_fields(request.body, ("id",)).get("id"))
        if topic.startswith(_NAMED_BY_ORDER_ID):
            # What these topics always carry, near the top of the body: found without reading
            # the rest. Without it the other fields are looked for all the same.
            key = _order_id(top_level_fields(request.body, ("order_id",)).get("order_id"))
            if key is not None:
                return key
        fields = top_level_fields(request.body, ("order_edit", "order_id", "order"))
    except ValueError:
        return None
    order_edit = fields.get("order_edit")
    if isinstance(order_edit, dict):
        return _order_id(order_edit.get("order_id"))
    key = _order_id(fields.get("order_id"))
    order = fields.get("order")
    if key is None and isinstance(order, dict):
        key = _order_id(order.get("id")) or _order_id(order.get("admin_graphql_api_id"))
    return key


def _order_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value >= 0 else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return str(int(text))
        match = _ORDER_GID.fullmatch(text)
        if match:
            return match.group(1)
    return None
