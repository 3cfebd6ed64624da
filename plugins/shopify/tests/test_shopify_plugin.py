"""The installed distribution registers the platform through the ``passerelle`` entry points."""

from __future__ import annotations

from passerelle.plugins import default_plugins
from passerelle_shopify import ShopifyPlatform, __version__


def test_installed_plugin_registers_the_shopify_platform() -> None:
    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": "shopify"})
    assert isinstance(plugins.webhook_platform("shopify"), ShopifyPlatform)
    [info] = [p for p in plugins.list_plugins() if p.name == "shopify"]
    assert (info.distribution, info.version, info.platforms) == (
        "passerelle-shopify",
        __version__,
        ("shopify",),
    )
    assert info.hooks == ("register_platforms",)


def test_plugin_can_be_disabled() -> None:
    plugins = default_plugins({"PASSERELLE_DISABLE_PLUGINS": "passerelle-shopify"})
    assert "shopify" not in plugins.platforms()
