"""Is a delivery authentic? Shopify's HMAC signature and shop domain, checked on the raw body.

Shopify signs the raw body with the app's client secret: the ``X-Shopify-Hmac-Sha256`` header is
base64(HMAC-SHA256(secret, body)), checked by `passerelle.plugin.HmacSignature` against every
secret of the store. The shop domain header must name the store's shop.
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
from passerelle_shopify import headers
from passerelle_shopify.store_options import shop_domain

__all__ = ["SIGNATURE", "sign", "verify_delivery"]

SIGNATURE: Final = HmacSignature(headers.shown(headers.HMAC), aliases=(headers.HMAC,))
"""How Shopify signs: base64 HMAC-SHA256 in ``X-Shopify-Hmac-Sha256`` (or the unprefixed
spelling of Events deliveries)."""


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for `body` signed with `secret`."""
    return SIGNATURE.sign(body, secret)[SIGNATURE.header]


def verify_delivery(request: WebhookRequest, store: Store) -> None:
    """Raise `VerificationError` (one line, naming the header or the rule) unless `request` is
    an authentic delivery for `store`."""
    if headers.header(request.headers, headers.HMAC) is None:
        raise VerificationError(f"missing header {headers.shown(headers.HMAC)}")
    domain = _required(request, headers.SHOP_DOMAIN)
    _required(request, headers.TOPIC)
    try:
        expected_domain = shop_domain(store)
    except StoreOptionsError as exc:
        raise VerificationError(f"cannot check deliveries: {exc}") from None
    if expected_domain is None:
        raise VerificationError(
            f"store {store.id} has no shop_domain option and its id is not a "
            f"*.myshopify.com domain: cannot check {headers.shown(headers.SHOP_DOMAIN)}"
        )
    if domain.lower() != expected_domain:
        raise VerificationError(
            f"{headers.shown(headers.SHOP_DOMAIN)} {domain!r} is not the shop "
            f"{expected_domain!r} of store {store.id}"
        )
    SIGNATURE.verify(request, store)


def _required(request: WebhookRequest, name: str) -> str:
    value = headers.header(request.headers, name)
    if value is None:
        raise VerificationError(f"missing header {headers.shown(name)}")
    return value
