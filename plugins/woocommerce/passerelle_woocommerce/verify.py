"""Is a delivery authentic? WooCommerce's HMAC signature and site URL, checked on the raw body.

WooCommerce signs the raw body (PHP's JSON, which writes ``/`` as ``\\/``: never re-encoded)
with the webhook's secret: ``X-WC-Webhook-Signature`` is base64(HMAC-SHA256(secret, body)),
checked against every secret of the store. ``X-WC-Webhook-Source`` must name the store's site.
"""

from __future__ import annotations

from typing import Final

from passerelle.plugin import (
    HmacSignature,
    Store,
    StoreOptionsError,
    VerificationError,
    WebhookRequest,
)
from passerelle_woocommerce.store_options import WooCommerceOptions, same_site

__all__ = ["SIGNATURE", "SOURCE", "TOPIC", "sign", "verify_delivery"]

SIGNATURE: Final = HmacSignature("X-WC-Webhook-Signature")
SOURCE: Final = "X-WC-Webhook-Source"
TOPIC: Final = "X-WC-Webhook-Topic"


def sign(body: bytes, secret: str) -> str:
    """The ``X-WC-Webhook-Signature`` value WooCommerce sends for `body` signed with `secret`."""
    return SIGNATURE.sign(body, secret)[SIGNATURE.header]


def verify_delivery(request: WebhookRequest, store: Store) -> None:
    """Raise `VerificationError` unless `request` is an authentic delivery for `store`."""
    source = request.headers.get(SOURCE, "").strip()
    if not source:
        raise VerificationError(f"missing header {SOURCE}")
    if not request.headers.get(TOPIC, "").strip():
        raise VerificationError(f"missing header {TOPIC}")
    try:
        site = store.options_as(WooCommerceOptions).site_url
    except StoreOptionsError as exc:
        raise VerificationError(f"cannot check deliveries: {exc}") from None
    if not same_site(source, site):
        raise VerificationError(f"{SOURCE} {source!r} is not the site {site!r} of store {store.id}")
    SIGNATURE.verify(request, store)
