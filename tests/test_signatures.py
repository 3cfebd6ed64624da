"""`hmac_sha256`: the same digest as the standard library's, for every body size; and
`HmacSignature`, how a plugin signs and verifies deliveries with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from passerelle.platforms import Store, VerificationError, WebhookRequest
from passerelle.signatures import HmacSignature, hmac_sha256


@given(key=st.binary(max_size=100), body=st.binary(max_size=9000))
def test_the_digest_is_hmac_sha256(key: bytes, body: bytes) -> None:
    assert hmac_sha256(key, body) == hmac.digest(key, body, hashlib.sha256)


def test_bodies_around_the_piece_size_are_hashed_whole() -> None:
    for size in (2046, 2047, 2048, 4094, 4095, 11 * 1024):
        body = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert hmac_sha256(b"secret", body) == hmac.digest(b"secret", body, hashlib.sha256)


BODY = b'{"id": 1}'
SCHEMES = [
    HmacSignature("X-Acme-Signature"),
    HmacSignature("X-Acme-Signature", encoding="hex", prefix="sha256="),
]


def delivery(headers: list[tuple[bytes, bytes]], body: bytes = BODY) -> WebhookRequest:
    return WebhookRequest(
        platform="acme",
        store="main",
        headers=httpx.Headers(headers),
        body=body,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def store(*secrets: str) -> Store:
    return Store("acme", "main", tuple(SecretStr(s) for s in secrets))


def signed(scheme: HmacSignature, secret: str, body: bytes = BODY) -> WebhookRequest:
    ((name, value),) = scheme.sign(body, secret).items()
    return delivery([(name.encode(), value.encode())], body)


def test_base64_and_prefixed_hex_signatures_are_those_platforms_send() -> None:
    digest = hmac.digest(b"s3cret", BODY, hashlib.sha256)
    assert SCHEMES[0].sign(BODY, "s3cret") == {
        "X-Acme-Signature": base64.b64encode(digest).decode()
    }
    assert SCHEMES[1].sign(BODY, "s3cret") == {"X-Acme-Signature": "sha256=" + digest.hex()}


@pytest.mark.parametrize("scheme", SCHEMES, ids=["base64", "hex"])
def test_every_secret_of_a_rotating_store_verifies_and_empty_ones_never(
    scheme: HmacSignature,
) -> None:
    rotating = store("", "old", "new")
    scheme.verify(signed(scheme, "old"), rotating)
    scheme.verify(signed(scheme, "new"), rotating)
    for secret in ("", "other"):
        with pytest.raises(VerificationError, match="matches no secret of the store"):
            scheme.verify(signed(scheme, secret), rotating)
    with pytest.raises(VerificationError, match="store main has no secret"):
        scheme.verify(signed(scheme, ""), store(""))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("€".encode(), "not ASCII"),
        (b"\xe9t\xe9", "not ASCII"),
        (b"not base64!", "is not base64"),
        (b"   ", "missing header X-Acme-Signature"),
    ],
)
def test_a_garbled_signature_header_is_a_verification_error(value: bytes, says: str) -> None:
    with pytest.raises(VerificationError, match=says):
        SCHEMES[0].verify(delivery([(b"X-Acme-Signature", value)]), store("s3cret"))


def test_a_hex_signature_needs_its_prefix() -> None:
    bare = hmac.digest(b"s3cret", BODY, hashlib.sha256).hex().encode()
    with pytest.raises(VerificationError, match="does not start with 'sha256='"):
        SCHEMES[1].verify(delivery([(b"X-Acme-Signature", bare)]), store("s3cret"))


def test_an_alias_header_is_accepted_and_a_changed_body_is_not() -> None:
    scheme = HmacSignature("X-Acme-Signature", aliases=("Acme-Signature",))
    value = scheme.sign(BODY, "s3cret")["X-Acme-Signature"].encode()
    scheme.verify(delivery([(b"acme-signature", value)]), store("s3cret"))
    with pytest.raises(VerificationError):
        scheme.verify(delivery([(b"acme-signature", value)], BODY + b" "), store("s3cret"))


@given(value=st.binary(max_size=80))
def test_no_header_value_raises_anything_but_a_verification_error(value: bytes) -> None:
    for scheme in SCHEMES:
        with pytest.raises(VerificationError) as caught:
            scheme.verify(delivery([(b"X-Acme-Signature", value)]), store("s3cret"))
        assert "s3cret" not in str(caught.value)
