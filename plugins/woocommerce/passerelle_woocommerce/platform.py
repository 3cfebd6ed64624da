"""`WooCommercePlatform`: the platform object the plugin registers under the name
``woocommerce``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import ClassVar, Final

from pydantic import BaseModel

from passerelle.plugin import (
    JSON_MEDIA_TYPE,
    DemoScenario,
    OrderCreate,
    SignedDelivery,
    Store,
    Translation,
    TranslationContext,
    Version,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle_woocommerce import deliveries, demo, keys, translate, verify
from passerelle_woocommerce.store_options import WooCommerceOptions

__all__ = ["WooCommercePlatform"]

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"
_PING: Final = re.compile(rb"webhook_id=[0-9]{1,20}")


class WooCommercePlatform(WebhookPlatform):
    """WooCommerce webhooks: HMAC-signed order snapshots, one topic per delivery.

    Store options: ``site_url``, ``consumer_key``, ``consumer_secret``, and optionally
    ``auth_in_query`` and ``api_base_url`` (see `passerelle_woocommerce.store_options`).
    """

    name: ClassVar[str] = "woocommerce"
    # The ping WooCommerce sends when a webhook is saved is form-encoded.
    media_types: ClassVar[frozenset[str]] = frozenset({JSON_MEDIA_TYPE, FORM_MEDIA_TYPE})
    options_model: ClassVar[type[BaseModel] | None] = WooCommerceOptions
    # New for every delivery, even of a body sent before.
    attempt_headers: ClassVar[frozenset[str]] = frozenset({"x-wc-webhook-delivery-id"})
    origin_header: ClassVar[str | None] = verify.SOURCE
    delivery_acts: ClassVar[frozenset[str]] = deliveries.ACTS

    def verify(self, request: WebhookRequest, store: Store) -> None:
        verify.verify_delivery(request, store)

    def is_ping(self, request: WebhookRequest) -> bool:
        """WooCommerce's ping: the form body ``webhook_id=<id>``, unsigned."""
        return (
            verify.SIGNATURE.header not in request.headers
            and _PING.fullmatch(request.body.strip()) is not None
        )

    def delivery_key(self, request: WebhookRequest) -> str:
        return keys.delivery_key(request)

    def ordering_key(self, request: WebhookRequest) -> str | None:
        return keys.ordering_key(request)

    def version(self, request: WebhookRequest) -> Version | None:
        return keys.version(request)

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        return translate.translate(request, context)

    def sign(self, body: bytes, secret: str) -> Mapping[str, str]:
        return verify.SIGNATURE.sign(body, secret)

    def signed_delivery(self, act: str, order: OrderCreate, store: Store) -> SignedDelivery:
        return deliveries.signed_delivery(act, order, store)

    def demo_scenarios(self, stack: ExitStack) -> Sequence[DemoScenario]:
        return [demo.scenario(stack)]
