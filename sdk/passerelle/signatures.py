"""Webhook signatures: HMAC-SHA256 of a raw body, as Shopify and WooCommerce sign them."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["hmac_sha256"]

# hashlib lets the GIL go while it hashes 2 KiB or more. On the receiver's event loop that is a
# loss: hashing a body takes microseconds, while taking the GIL back from the store's writer
# thread can take far longer. Pieces just under that size are hashed holding it.
_PIECE: Final = 2047


def hmac_sha256(key: bytes, body: bytes) -> bytes:
    """The HMAC-SHA256 digest of `body` under `key` (compare it with `hmac.compare_digest`)."""
    if len(body) <= _PIECE:
        return hmac.digest(key, body, hashlib.sha256)
    mac = hmac.new(key, digestmod=hashlib.sha256)
    view = memoryview(body)
    for start in range(0, len(body), _PIECE):
        mac.update(view[start : start + _PIECE])
    return mac.digest()
