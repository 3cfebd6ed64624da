"""The Passerelle plugin: registers `ShopifyPlatform` (entry point ``shopify`` of the group
``passerelle``)."""

from __future__ import annotations

from collections.abc import Callable

from passerelle.plugin import FilePlatform, WebhookPlatform, hookimpl
from passerelle_shopify.platform import ShopifyPlatform

__all__ = ["register_platforms", "requires_plugin_api"]

requires_plugin_api = ">=1.0,<2"
"""The versions of `passerelle.plugin` this plugin works with."""


@hookimpl
def register_platforms(register: Callable[[WebhookPlatform | FilePlatform], None]) -> None:
    register(ShopifyPlatform())
