"""WooCommerce's REST API: the one call the plugin makes, reading a refund's lines and amount.

An order snapshot lists its refunds as ``{id, reason, total}`` only; which lines and quantities
were refunded is in ``GET {rest base}/orders/{id}/refunds/{refund_id}``, read with the store's
REST key (read permission), by HTTP basic auth or, with ``auth_in_query``, in the query string.
Unreachable, 408, 429 and 5xx are `PlatformUnavailableError` (retried); anything else that is
not the refund is a `TranslationError` saying what to fix.
"""

from __future__ import annotations

from passerelle.plugin import (
    Store,
    StoreOptionsError,
    TranslationError,
    parse_model,
    platform_get,
)
from passerelle_woocommerce.payloads import RestRefund
from passerelle_woocommerce.store_options import WooCommerceOptions

__all__ = ["fetch_refund"]

import httpx


def fetch_refund(http: httpx.Client, store: Store, order_id: int, refund_id: int) -> RestRefund:
    """Refund `refund_id` of order `order_id` as the REST API has it."""
    try:
        options = store.options_as(WooCommerceOptions)
    except StoreOptionsError as exc:
        raise TranslationError(f"cannot read refund {refund_id}: {exc}") from None
    key = options.consumer_key.get_secret_value()
    secret = options.consumer_secret.get_secret_value()
    url = f"{options.rest_base}/orders/{order_id}/refunds/{refund_id}"
    what = f"the WooCommerce REST API reading refund {refund_id} of order {order_id}"
    if options.auth_in_query:
        params = {"consumer_key": key, "consumer_secret": secret}
        response = platform_get(http, url, what=what, params=params)
    else:
        response = platform_get(http, url, what=what, auth=(key, secret))
    status = response.status_code
    if status in (401, 403):
        raise TranslationError(
            f"{what}: HTTP {status}: the REST key of store {store.id} is refused; give it read "
            "permission, or set auth_in_query if the server drops basic auth"
        )
    if status == 404:
        raise TranslationError(f"{what}: HTTP 404: no such refund")
    if not 200 <= status < 300:
        raise TranslationError(f"{what}: HTTP {status}")
    refund = parse_model(response.content, RestRefund, f"refund {refund_id}")
    if refund.id != refund_id:
        raise TranslationError(f"{what}: it answered refund {refund.id}", field="id")
    return refund
