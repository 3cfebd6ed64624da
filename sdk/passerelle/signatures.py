"""Webhook signatures: HMAC-SHA256 of a raw body, as Shopify and WooCommerce sign them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Literal

from passerelle.platforms import Store, VerificationError, WebhookRequest

__all__ = ["HmacSignature", "hmac_sha256"]

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


@dataclass(frozen=True)
class HmacSignature:
    """How a platform signs its webhooks: HMAC-SHA256 of the raw body in one header.

    `header` is where the signature travels (`aliases`: other spellings also accepted, as
    Shopify's ``Shopify-Hmac-Sha256`` beside ``X-Shopify-Hmac-Sha256``); `encoding` is
    ``"base64"`` or ``"hex"``; `prefix` is what precedes the digest (``"sha256="``).
    `verify` checks a delivery against every secret of a store, and `sign` makes the header a
    plugin's tests (and the contract suite) send.
    """

    header: str
    encoding: Literal["base64", "hex"] = "base64"
    prefix: str = ""
    aliases: tuple[str, ...] = ()

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """The header carrying the signature of `body` under `secret`."""
        digest = hmac_sha256(secret.encode(), body)
        text = base64.b64encode(digest).decode() if self.encoding == "base64" else digest.hex()
        return {self.header: self.prefix + text}

    def verify(self, request: WebhookRequest, store: Store) -> None:
        """Raise `VerificationError` unless `request` is signed with a secret of `store`.

        Every non-empty secret is tried, in constant time, so a rotated secret keeps verifying
        while deliveries signed with the old one drain; a store without one verifies nothing.
        A missing, non-ASCII or undecodable header is a `VerificationError` too, never
        another exception. Messages name the header, never a secret or the expected value.
        """
        presented = self._presented(request)
        received = self._decoded(presented)
        keys = [key.get_secret_value().encode() for key in store.secrets]
        if not any(keys):
            raise VerificationError(f"store {store.id} has no secret to verify deliveries with")
        # Every secret is tried even after a match, so timing does not tell which one matched.
        matched = False
        for key in keys:
            if key:
                matched |= hmac.compare_digest(hmac_sha256(key, request.body), received)
        if not matched:
            raise VerificationError(f"{self.header} matches no secret of the store")

    def _presented(self, request: WebhookRequest) -> str:
        for name in (self.header, *self.aliases):
            value: str | None = request.headers.get(name)
            if value is not None and value.strip():
                return value.strip()
        raise VerificationError(f"missing header {self.header}")

    def _decoded(self, presented: str) -> bytes:
        if not presented.isascii():
            raise VerificationError(f"{self.header} holds characters that are not ASCII")
        if not presented.startswith(self.prefix):
            raise VerificationError(f"{self.header} does not start with {self.prefix!r}")
        text = presented[len(self.prefix) :]
        try:
            if self.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError(
                f"{self.header} is not {self.encoding}: the signature matches no secret"
            ) from None
