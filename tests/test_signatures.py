"""`hmac_sha256`: the same digest as the standard library's, for every body size."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from passerelle.signatures import hmac_sha256


@given(key=st.binary(max_size=100), body=st.binary(max_size=9000))
def test_the_digest_is_hmac_sha256(key: bytes, body: bytes) -> None:
    assert hmac_sha256(key, body) == hmac.digest(key, body, hashlib.sha256)


def test_bodies_around_the_piece_size_are_hashed_whole() -> None:
    for size in (2046, 2047, 2048, 4094, 4095, 11 * 1024):
        body = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert hmac_sha256(b"secret", body) == hmac.digest(b"secret", body, hashlib.sha256)
