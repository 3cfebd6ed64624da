"""Signature and shop-domain checks on the raw body."""

from __future__ import annotations

import httpx
import pytest
from shopify_support import OLD_SECRET, SECRET, SHOP, request, sample, store

from passerelle.platforms import Store, VerificationError, WebhookRequest
from passerelle_shopify import ShopifyPlatform
from passerelle_shopify.verify import shop_domain, sign

BODY = sample("refunds_create.json")
TOPIC = "refunds/create"


def with_headers(delivery: WebhookRequest, **changes: str | None) -> WebhookRequest:
    headers = httpx.Headers(delivery.headers)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            del headers[key]
        else:
            headers[key] = value
    return WebhookRequest(
        platform=delivery.platform,
        store=delivery.store,
        headers=headers,
        body=delivery.body,
        received_at=delivery.received_at,
    )


def rejection(platform: ShopifyPlatform, delivery: WebhookRequest, on: Store) -> str:
    with pytest.raises(VerificationError) as caught:
        platform.verify(delivery, on)
    return str(caught.value)


def test_good_signature_verifies(platform: ShopifyPlatform) -> None:
    platform.verify(request(BODY, TOPIC), store())


def test_signature_matches_shopify_scheme() -> None:
    # base64(HMAC-SHA256(key, body)), as computed by `openssl dgst -sha256 -hmac secret -binary`.
    assert sign(b'{"id":1}', "secret") == "A971iWIMgT8Zj9A9eWfikrFj7wQ16/Qwcc4OlRl2PLc="


def test_wrong_signature_is_rejected(platform: ShopifyPlatform) -> None:
    delivery = request(BODY, TOPIC, secret="another app's secret")
    assert rejection(platform, delivery, store()) == (
        "X-Shopify-Hmac-Sha256 matches no secret of the store"
    )


def test_a_changed_byte_is_rejected(platform: ShopifyPlatform) -> None:
    delivery = request(BODY, TOPIC)
    tampered = WebhookRequest(
        platform=delivery.platform,
        store=delivery.store,
        headers=delivery.headers,
        body=delivery.body.replace(b'"75.00"', b'"75.01"'),
        received_at=delivery.received_at,
    )
    assert tampered.body != delivery.body
    assert "matches no secret of the store" in rejection(platform, tampered, store())


def test_a_signature_that_is_not_base64_is_rejected(platform: ShopifyPlatform) -> None:
    delivery = with_headers(request(BODY, TOPIC), X_Shopify_Hmac_Sha256="not*base64!")
    assert rejection(platform, delivery, store()) == (
        "X-Shopify-Hmac-Sha256 is not base64: the signature matches no secret"
    )


@pytest.mark.parametrize("signed_with", [OLD_SECRET, SECRET])
def test_any_secret_of_a_rotation_verifies(platform: ShopifyPlatform, signed_with: str) -> None:
    platform.verify(request(BODY, TOPIC, secret=signed_with), store(SECRET, OLD_SECRET))


def test_a_removed_secret_no_longer_verifies(platform: ShopifyPlatform) -> None:
    delivery = request(BODY, TOPIC, secret=OLD_SECRET)
    assert "matches no secret of the store" in rejection(platform, delivery, store(SECRET))


def test_an_empty_secret_never_verifies(platform: ShopifyPlatform) -> None:
    # A body "signed" with an empty key must not pass because the store has an empty secret.
    delivery = request(BODY, TOPIC, secret="")
    assert "matches no secret of the store" in rejection(platform, delivery, store("", SECRET))
    assert rejection(platform, delivery, store("")) == (
        "store main has no secret to verify deliveries with"
    )


def test_a_store_without_secrets_verifies_nothing(platform: ShopifyPlatform) -> None:
    empty = Store(platform="shopify", id="main", options={"shop_domain": SHOP})
    assert rejection(platform, request(BODY, TOPIC), empty) == (
        "store main has no secret to verify deliveries with"
    )


@pytest.mark.parametrize(
    "header", ["X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain", "X-Shopify-Topic"]
)
def test_a_missing_header_is_named(platform: ShopifyPlatform, header: str) -> None:
    delivery = with_headers(request(BODY, TOPIC), **{header.replace("-", "_"): None})
    assert rejection(platform, delivery, store()) == f"missing header {header}"


def test_a_blank_header_counts_as_missing(platform: ShopifyPlatform) -> None:
    delivery = with_headers(request(BODY, TOPIC), X_Shopify_Hmac_Sha256="  ")
    assert rejection(platform, delivery, store()) == "missing header X-Shopify-Hmac-Sha256"


def test_headers_without_the_x_prefix_verify(platform: ShopifyPlatform) -> None:
    delivery = request(BODY, TOPIC, prefix="")
    assert "X-Shopify-Hmac-Sha256" not in delivery.headers
    platform.verify(delivery, store())


def test_header_names_are_case_insensitive(platform: ShopifyPlatform) -> None:
    delivery = request(BODY, TOPIC, prefix="x-")
    shouting = httpx.Headers([(k.upper(), v) for k, v in delivery.headers.items()])
    platform.verify(
        WebhookRequest(
            platform="shopify",
            store="main",
            headers=shouting,
            body=delivery.body,
            received_at=delivery.received_at,
        ),
        store(),
    )


def test_another_shop_is_rejected(platform: ShopifyPlatform) -> None:
    delivery = request(BODY, TOPIC, shop="someone-else.myshopify.com")
    assert rejection(platform, delivery, store()) == (
        "X-Shopify-Shop-Domain 'someone-else.myshopify.com' is not the shop "
        "'passerelle-test.myshopify.com' of store main"
    )


def test_shop_domains_compare_case_insensitively(platform: ShopifyPlatform) -> None:
    platform.verify(request(BODY, TOPIC, shop=SHOP.upper()), store())


def test_store_id_serves_as_shop_domain(platform: ShopifyPlatform) -> None:
    by_id = store(options={}, store_id=SHOP)
    assert shop_domain(by_id) == SHOP
    platform.verify(request(BODY, TOPIC), by_id)


def test_a_store_without_shop_domain_is_refused(platform: ShopifyPlatform) -> None:
    assert rejection(platform, request(BODY, TOPIC), store(options={})) == (
        "store main has no shop_domain option and its id is not a *.myshopify.com domain: "
        "cannot check X-Shopify-Shop-Domain"
    )
