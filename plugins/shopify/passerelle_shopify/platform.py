"""`ShopifyPlatform`: the platform object the plugin registers under the name ``shopify``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import ClassVar

from pydantic import BaseModel

from passerelle.plugin import (
    DemoScenario,
    ErrorCode,
    OrderCreate,
    SignedDelivery,
    Store,
    StoreProblem,
    Translation,
    TranslationContext,
    Version,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle_shopify import deliveries, demo, keys, store_options, translate, verify, versions
from passerelle_shopify.errors import ERROR_CODES

__all__ = ["ShopifyPlatform"]


class ShopifyPlatform(WebhookPlatform):
    """Shopify webhooks: HMAC-signed JSON bodies, one topic per delivery.

    Store options: ``shop_domain`` (the ``*.myshopify.com`` domain; defaults to the store id
    when that is one), ``access_token`` (Admin API, for ``orders/edited``), and optionally
    ``api_version`` and ``api_base_url`` (see `passerelle_shopify.store_options`).
    """

    name: ClassVar[str] = "shopify"
    options_model: ClassVar[type[BaseModel] | None] = store_options.ShopifyOptions
    error_codes: ClassVar[Sequence[ErrorCode]] = ERROR_CODES
    # Unique per delivery: a retry of one event comes with another (the event id stays).
    attempt_headers: ClassVar[frozenset[str]] = frozenset(
        {"x-shopify-webhook-id", "shopify-webhook-id"}
    )
    origin_header: ClassVar[str | None] = "X-Shopify-Shop-Domain"
    delivery_acts: ClassVar[frozenset[str]] = deliveries.ACTS

    def verify(self, request: WebhookRequest, store: Store) -> None:
        verify.verify_delivery(request, store)

    def delivery_key(self, request: WebhookRequest) -> str:
        return keys.delivery_key(request)

    def ordering_key(self, request: WebhookRequest) -> str | None:
        return keys.ordering_key(request)

    def version(self, request: WebhookRequest) -> Version | None:
        return versions.version(request)

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return [*super().check_store(store), *store_options.extra_problems(store)]

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        return translate.translate(request, context)

    def sign(self, body: bytes, secret: str) -> Mapping[str, str]:
        return verify.SIGNATURE.sign(body, secret)

    def signed_delivery(self, act: str, order: OrderCreate, store: Store) -> SignedDelivery:
        return deliveries.signed_delivery(act, order, store)

    def demo_scenarios(self, stack: ExitStack) -> Sequence[DemoScenario]:
        return [demo.scenario()]
