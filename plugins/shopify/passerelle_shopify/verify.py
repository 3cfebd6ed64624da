"""Is a delivery authentic? Shopify's HMAC signature and shop domain, checked on the raw body.

Shopify signs the raw body with the app's client secret: the ``X-Shopify-Hmac-Sha256`` header is
base64(HMAC-SHA256(secret, body)). Every secret of the store is tried, so deliveries signed with
the old secret keep verifying while a rotation drains; an empty secret never verifies.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from passerelle import hmac_sha256
from passerelle.platforms import Store, VerificationError, WebhookRequest
from passerelle_shopify import headers

__all__ = ["shop_domain", "sign", "verify_delivery"]

_MYSHOPIFY = ".myshopify.com"


def shop_domain(store: Store) -> str | None:
    """The store's ``*.myshopify.com`` domain, lower case, or None when not configured.

    It is the ``shop_domain`` option, or else the store's id when that is itself a
    ``*.myshopify.com`` domain.
    """
    configured = store.options.get("shop_domain", "").strip()
    if configured:
        return configured.lower()
    if store.id.lower().endswith(_MYSHOPIFY) and len(store.id) > len(_MYSHOPIFY):
        return store.id.lower()
    return None


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for `body` signed with `secret`."""
    return base64.b64encode(hmac_sha256(secret.encode(), body)).decode("ascii")


def verify_delivery(request: WebhookRequest, store: Store) -> None:
    """Raise `VerificationError` (one line, naming the header or the rule) unless `request` is
    an authentic delivery for `store`."""
    signature = _required(request, headers.HMAC)
    domain = _required(request, headers.SHOP_DOMAIN)
    _required(request, headers.TOPIC)
    expected_domain = shop_domain(store)
    if expected_domain is None:
        raise VerificationError(
            f"store {store.id} has no shop_domain option and its id is not a "
            f"*{_MYSHOPIFY} domain: cannot check {headers.shown(headers.SHOP_DOMAIN)}"
        )
    if domain.lower() != expected_domain:
        raise VerificationError(
            f"{headers.shown(headers.SHOP_DOMAIN)} {domain!r} is not the shop "
            f"{expected_domain!r} of store {store.id}"
        )
    try:
        received = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(
            f"{headers.shown(headers.HMAC)} is not base64: the signature matches no secret"
        ) from None
    keys = [key.get_secret_value().encode() for key in store.secrets]
    if not any(keys):
        raise VerificationError(f"store {store.id} has no secret to verify deliveries with")
    # Every secret is tried even after a match, so timing does not tell which one matched.
    matched = False
    for key in keys:
        if key:
            matched |= hmac.compare_digest(hmac_sha256(key, request.body), received)
    if not matched:
        raise VerificationError(
            f"{headers.shown(headers.HMAC)} matches none of the secrets of store {store.id}"
        )


def _required(request: WebhookRequest, name: str) -> str:
    value = headers.header(request.headers, name)
    if value is None:
        raise VerificationError(f"missing header {headers.shown(name)}")
    return value
