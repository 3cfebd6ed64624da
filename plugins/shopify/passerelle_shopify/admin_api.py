"""Reading an order from Shopify's Admin REST API, for the bodies that carry only deltas.

``GET {base}/admin/api/{version}/orders/{id}.json`` with the store's ``access_token`` option in
``X-Shopify-Access-Token``. `base` is ``https://{shop domain}``, or the ``api_base_url`` option.

Failures, as the dispatcher sees them:
- retried: `PlatformUnavailableError` when the Admin API cannot be reached or answers a transient
  status (`is_transient_status`: 408, 429, 5xx), with its ``Retry-After``;
- permanent (action center): `TranslationError` for a missing option, 401/403 (the token is
  refused), 404 (no such order), any other status, or a body that is not an order.
"""

from __future__ import annotations

import re
from typing import Final

import httpx

from passerelle.plugin import (
    PlatformUnavailableError,
    Store,
    TranslationError,
    is_transient_status,
    parse_model,
)
from passerelle_shopify.payloads import Order, OrderResponse
from passerelle_shopify.store_options import options_of, shop_domain

__all__ = ["DEFAULT_API_VERSION", "api_version", "fetch_order"]

DEFAULT_API_VERSION: Final = "2025-07"
"""The Admin API version used when neither the delivery nor the store names one."""

_VERSION = re.compile(r"\d{4}-\d{2}|unstable")


def api_version(delivery_version: str | None, store: Store) -> str:
    """The API version to ask for: the delivery's (its body was built with it), else the store's
    ``api_version`` option, else `DEFAULT_API_VERSION`. Malformed values are skipped."""
    for candidate in (delivery_version, options_of(store).api_version):
        if candidate and _VERSION.fullmatch(candidate.strip()):
            return candidate.strip()
    return DEFAULT_API_VERSION


def fetch_order(http: httpx.Client, store: Store, order_id: int, version: str) -> Order:
    """The order `order_id` of `store` as the Admin API has it now."""
    options = options_of(store)
    token = options.access_token.get_secret_value() if options.access_token else ""
    if not token:
        raise TranslationError(
            f"store {store.id} has no access_token option: reading order {order_id} needs the "
            "Admin API (scope read_orders)"
        )
    base = (options.api_base_url or "").rstrip("/")
    if not base:
        domain = shop_domain(store)
        if domain is None:
            raise TranslationError(
                f"store {store.id} has no shop_domain option: cannot reach the Admin API"
            )
        base = f"https://{domain}"
    url = f"{base}/admin/api/{version}/orders/{order_id}.json"
    try:
        response = http.get(
            url, headers={"X-Shopify-Access-Token": token, "Accept": "application/json"}
        )
    except httpx.TransportError as exc:
        raise PlatformUnavailableError(
            f"the Admin API could not be reached reading order {order_id}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    status = response.status_code
    if is_transient_status(status):
        raise PlatformUnavailableError(
            f"the Admin API answered HTTP {status} reading order {order_id}",
            retry_after=response.headers.get("Retry-After"),
        )
    if status in (401, 403):
        raise TranslationError(
            f"the Admin API refused the access token of store {store.id} (HTTP {status}) "
            f"reading order {order_id}"
        )
    if status == 404:
        raise TranslationError(f"the Admin API has no order {order_id} (HTTP 404)")
    if not 200 <= status < 300:
        raise TranslationError(f"the Admin API answered HTTP {status} reading order {order_id}")
    return parse_model(response.content, OrderResponse, f"Admin API order {order_id}").order
