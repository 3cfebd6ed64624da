"""The installed distribution registers the platform, and `passerelle plugins` lists it."""

from __future__ import annotations

from typer.testing import CliRunner

from passerelle.cli import app
from passerelle.plugins import default_plugins
from passerelle_woocommerce import WooCommercePlatform, __version__


def test_installed_plugin_registers_the_woocommerce_platform() -> None:
    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": "woocommerce"})
    assert isinstance(plugins.webhook_platform("woocommerce"), WooCommercePlatform)
    [info] = [p for p in plugins.list_plugins() if p.name == "woocommerce"]
    assert (info.distribution, info.version, info.platforms, info.hooks) == (
        "passerelle-woocommerce",
        __version__,
        ("woocommerce",),
        ("register_platforms",),
    )


def test_passerelle_plugins_lists_it() -> None:
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "passerelle-woocommerce" in result.output
