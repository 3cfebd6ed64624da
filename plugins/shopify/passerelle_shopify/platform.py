"""`ShopifyPlatform`: the platform object the plugin registers under the name ``shopify``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from passerelle.platforms import (
    Store,
    StoreProblem,
    Translation,
    TranslationContext,
    Version,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle_shopify import keys, store_options, translate, verify, versions

__all__ = ["ShopifyPlatform"]


class ShopifyPlatform(WebhookPlatform):
    """Shopify webhooks: HMAC-signed JSON bodies, one topic per delivery.

    Store options: ``shop_domain`` (the ``*.myshopify.com`` domain; defaults to the store id
    when that is one), ``access_token`` (Admin API, for ``orders/edited``), and optionally
    ``api_version`` and ``api_base_url`` (see `passerelle_shopify.store_options`).
    """

    name: ClassVar[str] = "shopify"

    def verify(self, request: WebhookRequest, store: Store) -> None:
        verify.verify_delivery(request, store)

    def delivery_key(self, request: WebhookRequest) -> str:
        return keys.delivery_key(request)

    def ordering_key(self, request: WebhookRequest) -> str | None:
        return keys.ordering_key(request)

    def version(self, request: WebhookRequest) -> Version | None:
        return versions.version(request)

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return store_options.check_store(store)

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        return translate.translate(request, context)
