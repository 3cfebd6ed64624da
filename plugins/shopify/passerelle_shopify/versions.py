"""The state a Shopify delivery reports, dated, so that a late delivery of an older state is
recognised as stale (see `passerelle.platforms.WebhookPlatform.version`).

``fulfillments/create`` and ``fulfillments/update`` report the fulfillment (``fulfillment:<id>``),
``orders/fulfilled``, ``orders/partially_fulfilled`` and ``orders/cancelled`` the order
(``order:<id>``), each as of the body's ``updated_at``, else ``X-Shopify-Triggered-At``. Other
topics report no state: a refund is an act of its own that always counts, and ``orders/edited``
is read from the Admin API when it is dispatched, so it is never older than what it applies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from passerelle.plugin import Version, WebhookRequest
from passerelle_shopify import headers

__all__ = ["version"]

_SUBJECTS: Final = {
    "fulfillments/create": "fulfillment",
    "fulfillments/update": "fulfillment",
    "orders/fulfilled": "order",
    "orders/partially_fulfilled": "order",
    "orders/cancelled": "order",
}
# Shopify's ids have about 20 digits; anything far longer is not an id.
_LONGEST_ID = 40


def version(request: WebhookRequest) -> Version | None:
    """The object `request` reports on and when its state was (see the module documentation);
    None for other topics and for a body that names no object or no time.

    Never raises: the body may be malformed.
    """
    try:
        return _version(request)
    except Exception:
        return None


def _version(request: WebhookRequest) -> Version | None:
    topic = (headers.header(request.headers, headers.TOPIC) or "").lower()
    kind = _SUBJECTS.get(topic)
    if kind is None:
        return None
    data = _VersionFields.model_validate_json(request.body)
    object_id = _id(data.id)
    if object_id is None:
        return None
    as_of = _time(data.updated_at) or headers.triggered_at(request.headers)
    if as_of is None:
        return None
    return Version(subject=f"{kind}:{object_id}", as_of=as_of)


class _VersionFields(BaseModel):
    """The top-level fields that date the reported object, as JSON gave them."""

    model_config = ConfigDict(extra="ignore")

    id: Any = None
    updated_at: Any = None


def _id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value) if value >= 0 else ""
    elif isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            return None
        text = text.lstrip("0") or "0"
    else:
        return None
    return text if 0 < len(text) <= _LONGEST_ID else None


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset (``2026-01-15T10:12:00-05:00``); None otherwise."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None and when.utcoffset() is not None else None
