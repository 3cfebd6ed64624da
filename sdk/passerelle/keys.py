"""Delivery keys within the store's bounds.

An envelope holds a delivery key of at most `LONGEST_DELIVERY_KEY` characters. A key built from
what a platform sends (a header, an id) can be longer when the sender misbehaves: `bounded_key`
hashes such a value, so the key stays as unique as the value and fits.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["LONGEST_DELIVERY_KEY", "bounded_key"]

LONGEST_DELIVERY_KEY: Final = 255
"""The most characters of a delivery key (`Envelope.delivery`)."""


def bounded_key(value: str, *, limit: int = 128) -> str:
    """`value` itself when it has at most `limit` characters, else ``sha256-<hex>`` of it
    (71 characters), so that a key built around it stays within `LONGEST_DELIVERY_KEY`."""
    if len(value) <= limit:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
