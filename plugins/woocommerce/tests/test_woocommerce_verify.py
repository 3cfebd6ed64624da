"""Verification, ping, keys and store options of WooCommerce deliveries."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from woo_support import SITE, fixture, headers, request, sample, store

from passerelle.platforms import Store, VerificationError, Version, WebhookRequest
from passerelle_woocommerce import WooCommercePlatform

PLATFORM = WooCommercePlatform()
# The published test vector: erpnext's WooCommerce test signs this body with this secret.
VECTOR_SECRET = "ec434676aa1de0e502389f515c38f89f653119ab35e9117c7a79e576"
VECTOR_SIGNATURE = "h1SjzQMPwd68MF5bficeFq20/RkQeRLsb9AVCUz/rLs="


def raw(body: bytes, extra: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        platform="woocommerce",
        store="main",
        headers=httpx.Headers(extra),
        body=body,
        received_at=datetime(2026, 1, 15, tzinfo=UTC),
    )


def vector_request(body: bytes) -> WebhookRequest:
    return raw(
        body,
        {
            "X-WC-Webhook-Source": SITE,
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": VECTOR_SIGNATURE,
        },
    )


def test_the_published_vector_verifies_on_the_raw_php_json() -> None:
    body = sample("order.created.signed-vector.json")
    assert b"\\/" in body  # PHP escapes slashes: the signature covers them as sent
    PLATFORM.verify(vector_request(body), store(VECTOR_SECRET))
    reencoded = json.dumps(json.loads(body)).encode()
    with pytest.raises(VerificationError):
        PLATFORM.verify(vector_request(reencoded), store(VECTOR_SECRET))


def test_any_secret_of_the_store_verifies_while_rotating() -> None:
    body = fixture("order.updated.processing.json")
    PLATFORM.verify(request(body, secret="old"), store("new", "old"))
    with pytest.raises(VerificationError):
        PLATFORM.verify(request(body, secret="other"), store("new", "old"))


def test_a_delivery_from_another_site_is_refused() -> None:
    body = fixture("order.updated.processing.json")
    with pytest.raises(
        VerificationError, match=re.escape("is not the site 'https://shop.example.com'")
    ):
        PLATFORM.verify(request(body, site="https://evil.example.com"), store())
    # Scheme and host case and a trailing slash do not matter.
    PLATFORM.verify(request(body, site="HTTPS://Shop.Example.com"), store())


@pytest.mark.parametrize(
    "missing", ["X-WC-Webhook-Signature", "X-WC-Webhook-Source", "X-WC-Webhook-Topic"]
)
def test_a_missing_header_is_named(missing: str) -> None:
    body = fixture("order.updated.processing.json")
    sent = {k: v for k, v in headers(body, "order.updated").items() if k != missing}
    with pytest.raises(VerificationError, match=f"missing header {missing}"):
        PLATFORM.verify(raw(body, sent), store())


def test_the_ping_is_recognised_and_a_signed_delivery_is_not() -> None:
    ping = raw(b"webhook_id=12", {"Content-Type": "application/x-www-form-urlencoded"})
    assert PLATFORM.is_ping(ping)
    assert "application/x-www-form-urlencoded" in PLATFORM.media_types
    body = fixture("order.updated.processing.json")
    assert not PLATFORM.is_ping(request(body))
    assert not PLATFORM.is_ping(raw(b"webhook_id=12&x=1", {}))


def test_a_snapshot_sent_again_or_merged_has_the_same_key_and_order() -> None:
    body = fixture("order.updated.partial-refund.json")
    first = request(body)
    again = raw(body, {**headers(body, "order.updated"), "X-WC-Webhook-Delivery-ID": "f" * 32})
    assert PLATFORM.delivery_key(first) == PLATFORM.delivery_key(again)
    later = request(fixture("order.updated.completed.after-refund.json"))
    assert PLATFORM.delivery_key(later) != PLATFORM.delivery_key(first)
    assert PLATFORM.ordering_key(first) == PLATFORM.ordering_key(later) == "727"
    assert PLATFORM.ordering_key(request(b'{"id": 727}', "order.deleted")) == "727"
    assert PLATFORM.ordering_key(request(b"not json")) is None


def test_the_version_is_the_order_as_of_its_last_change() -> None:
    version = PLATFORM.version(request(fixture("order.updated.partial-refund.json")))
    assert version == Version("order:727", datetime(2017, 3, 22, 19, 29, 10, tzinfo=UTC))
    assert PLATFORM.version(request(b'{"id": 727}', "order.deleted")) is None
    assert PLATFORM.version(request(b'{"id": 727, "date_modified_gmt": "soon"}')) is None


@pytest.mark.parametrize("topic", ["order.deleted", "order.restored", "product.updated"])
def test_other_topics_are_acknowledged_and_ignored_with_a_reason(
    http: httpx.Client, topic: str
) -> None:
    from woo_support import context

    translation = PLATFORM.translate(request(b'{"id": 727}', topic), context(http))
    assert translation.events == ()
    assert translation.ignored
    assert topic in translation.ignored


def test_config_check_names_what_a_store_lacks() -> None:
    bare = Store(platform="woocommerce", id="main", secrets=(SecretStr("s"),))
    problems = {(p.key, p.message) for p in PLATFORM.check_store(bare)}
    assert problems == {
        ("options.site_url", "is missing"),
        ("options.consumer_key", "is missing"),
        ("options.consumer_secret", "is missing"),
    }
    wrong = Store(
        platform="woocommerce",
        id="main",
        options={"site_url": "shop.example.com", "consumer_key": "ck", "consumer_secret": " "},
    )
    assert {p.key for p in PLATFORM.check_store(wrong)} == {
        "options.site_url",
        "options.consumer_secret",
    }
    assert PLATFORM.check_store(store()) == []


def test_the_plugin_imports_the_core_only_through_the_kit() -> None:
    package = Path(__file__).parents[1] / "passerelle_woocommerce"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                root = node.module.split(".")[0]
                assert root != "passerelle" or node.module == "passerelle.plugin", path.name
