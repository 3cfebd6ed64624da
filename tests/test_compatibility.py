"""The compatibility promise: a plugin declares the plugin API versions it works with, and one made
for another is refused before it runs; a deprecated name warns before it goes."""

from __future__ import annotations

import importlib
import os
import types
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from passerelle.cli import app
from passerelle.compatibility import (
    PLUGIN_API_VERSION,
    Deprecated,
    current_range,
    deprecated,
    deprecated_names,
)
from passerelle.hookspecs import hookimpl
from passerelle.plugins import IncompatiblePluginError, Plugins
from passerelle.template import write_plugin

FUTURE = Path(__file__).parent / "fixtures" / "plugin_dist" / "future"


def observer(requires: object) -> types.ModuleType:
    """A plugin module observing shipments that declares `requires` as its range."""
    module = types.ModuleType("passerelle_observer")
    module.requires_plugin_api = requires  # type: ignore[attr-defined]

    @hookimpl
    def order_shipped(envelope: object) -> None:
        pass

    module.order_shipped = order_shipped  # type: ignore[attr-defined]
    return module


@pytest.fixture
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PASSERELLE_") and not name.startswith("PASSERELLE_TEST"):
            monkeypatch.delenv(name)


pytestmark = pytest.mark.usefixtures("isolated_plugin_imports")


@pytest.mark.parametrize("requires", [">=1.0,<2", "~=1.0", ">=0.9", None])
def test_a_plugin_whose_range_holds_this_version_loads_and_is_listed_with_it(
    requires: str | None,
) -> None:
    plugins = Plugins()

    plugins.register(observer(requires), "observer")

    (info,) = plugins.list_plugins()
    assert (info.name, info.plugin_api) == ("observer", requires)


@pytest.mark.parametrize(
    ("requires", "problem"),
    [
        (
            ">=2.0,<3",
            f"it requires plugin API >=2.0,<3, and this passerelle has {PLUGIN_API_VERSION}",
        ),
        ("<1.0", f"it requires plugin API <1.0, and this passerelle has {PLUGIN_API_VERSION}"),
        ("version one", "requires_plugin_api 'version one' is not a version range"),
        (1, "requires_plugin_api must be a version range such as '>=1.0,<2', not 1"),
    ],
)
def test_a_plugin_made_for_another_plugin_api_is_refused_and_not_registered(
    requires: object, problem: str
) -> None:
    plugins = Plugins()

    with pytest.raises(IncompatiblePluginError, match="cannot load") as refused:
        plugins.register(observer(requires), "observer")

    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)
    assert plugins.list_plugins() == []


def test_config_check_refuses_a_plugin_made_for_another_plugin_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_configuration: None
) -> None:
    monkeypatch.syspath_prepend(str(FUTURE))
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "future")
    config = tmp_path / "passerelle.toml"
    config.write_text(
        '[backend]\nurl = "https://payments.example.com"\nmerchant = "m_1"\n'
        'token = "sk_test_0123456789"\n'
    )

    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])

    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: plugin 'future' (passerelle-future 3.0.0) cannot load: ")


def test_a_new_plugin_declares_the_range_of_this_plugin_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_plugin("zenith", tmp_path)
    monkeypatch.syspath_prepend(str(root))

    written = importlib.import_module("passerelle_zenith")

    assert written.requires_plugin_api == current_range()
    plugins = Plugins()
    plugins.register(written, "zenith")
    assert plugins.webhook_platform("zenith").name == "zenith"


def test_the_range_of_this_plugin_api_stops_before_the_next_major_version() -> None:
    major = int(PLUGIN_API_VERSION.split(".")[0])

    assert current_range() == f">={PLUGIN_API_VERSION},<{major + 1}"


# Deprecations


def test_a_deprecated_function_warns_at_its_caller_and_still_works() -> None:
    @deprecated(since="0.2", removal="0.3", instead="new_total()")
    def old_total(a: int, b: int) -> int:
        return a + b

    with pytest.warns(DeprecationWarning, match="old_total is deprecated") as caught:
        assert old_total(2, 3) == 5

    (warning,) = caught
    assert str(warning.message) == (
        "test_a_deprecated_function_warns_at_its_caller_and_still_works.<locals>.old_total is "
        "deprecated since passerelle 0.2 and will be removed in 0.3; use new_total()"
    )
    assert warning.filename == __file__


def test_a_deprecated_module_name_warns_on_access_and_others_are_missing() -> None:
    module_getattr = deprecated_names(
        "passerelle.plugin",
        {"old_signature": Deprecated(len, since="1.4.0", removal="1.5.0", instead="HmacSignature")},
    )

    with pytest.warns(DeprecationWarning, match=r"passerelle\.plugin\.old_signature is deprecated"):
        assert module_getattr("old_signature") is len
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="has no attribute 'never_was'"):
            module_getattr("never_was")


@pytest.mark.parametrize(("since", "removal"), [("0.2", "0.2.5"), ("1.4", "1.4"), ("1.4", "1.3")])
def test_a_deprecation_lasts_at_least_one_minor_release(since: str, removal: str) -> None:
    with pytest.raises(ValueError, match="later minor release"):
        Deprecated(object(), since=since, removal=removal, instead="something else")


@pytest.mark.parametrize(("since", "removal"), [("0.2", "0.3"), ("1.9.1", "2.0")])
def test_a_removal_one_minor_release_later_or_more_is_accepted(since: str, removal: str) -> None:
    assert Deprecated(object(), since=since, removal=removal, instead="x").removal == removal
