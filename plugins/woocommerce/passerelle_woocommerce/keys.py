"""The keys a WooCommerce delivery is de-duplicated, ordered and dated by.

De-duplication: ``<topic>#sha256-<hex>`` of the topic and the raw body. WooCommerce makes a new
``X-WC-Webhook-Delivery-ID`` for every delivery, even of a body it sent before, so the id says
nothing about the act; an identical body for the same topic is the same snapshot. Two different
snapshots are two deliveries, whose events repeat what they share under the same ids (see
`passerelle_woocommerce.acts`), so the ledger applies it once.

Ordering: the order ``id`` as a decimal string, read from the top of the body only.

Version: ``order:<id>`` as of ``date_modified_gmt``. WooCommerce builds the body at send time,
so a delivery can carry an older state than one already applied (its queue ran late): such a
snapshot is stale and the dispatcher ignores it. A refund changes ``date_modified_gmt`` too.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from passerelle.plugin import Version, WebhookRequest, top_level_fields
from passerelle_woocommerce.verify import TOPIC

__all__ = ["delivery_key", "ordering_key", "version"]


def delivery_key(request: WebhookRequest) -> str:
    """The de-duplication key of `request` (see the module documentation)."""
    topic = request.headers.get(TOPIC, "unknown").strip().lower()[:64] or "unknown"
    digest = hashlib.sha256(topic.encode() + b"\0" + request.body).hexdigest()
    return f"{topic}#sha256-{digest}"


def ordering_key(request: WebhookRequest) -> str | None:
    """The order id of `request`; None when the body names none. Never raises."""
    try:
        return _order_id(top_level_fields(request.body, ("id",)).get("id"))
    except ValueError:
        return None


def version(request: WebhookRequest) -> Version | None:
    """The order snapshot's version; None for a body that is not one (``order.deleted``)."""
    try:
        fields = top_level_fields(request.body, ("id", "date_modified_gmt"))
    except ValueError:
        return None
    order = _order_id(fields.get("id"))
    modified = fields.get("date_modified_gmt")
    if order is None or not isinstance(modified, str):
        return None
    try:
        as_of = datetime.fromisoformat(modified)
    except ValueError:
        return None
    # WooCommerce writes GMT times without an offset.
    return Version(f"order:{order}", as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))


def _order_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    return None
