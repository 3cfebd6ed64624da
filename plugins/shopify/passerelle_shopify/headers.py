"""Shopify's delivery headers, read case-insensitively with or without the ``X-`` prefix.

Classic webhooks send ``X-Shopify-Topic``; newer Events deliveries send ``Shopify-Topic``.
Names are given here without the prefix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import httpx

__all__ = [
    "API_VERSION",
    "EVENT_ID",
    "HMAC",
    "SHOP_DOMAIN",
    "TOPIC",
    "TRIGGERED_AT",
    "WEBHOOK_ID",
    "header",
    "shown",
    "triggered_at",
]

HMAC: Final = "Shopify-Hmac-Sha256"
SHOP_DOMAIN: Final = "Shopify-Shop-Domain"
TOPIC: Final = "Shopify-Topic"
API_VERSION: Final = "Shopify-API-Version"
WEBHOOK_ID: Final = "Shopify-Webhook-Id"
EVENT_ID: Final = "Shopify-Event-Id"
TRIGGERED_AT: Final = "Shopify-Triggered-At"


def shown(name: str) -> str:
    """The header's name as error messages quote it (the classic, prefixed spelling)."""
    return f"X-{name}"


def header(headers: httpx.Headers, name: str) -> str | None:
    """The stripped value of `name` (``X-`` prefixed or not); None when absent or blank."""
    for key in (f"X-{name}", name):
        value: str | None = headers.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


def triggered_at(headers: httpx.Headers) -> datetime | None:
    """When Shopify triggered the delivery, if the header holds an aware ISO 8601 time."""
    value = header(headers, TRIGGERED_AT)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
