"""The plugin kit: `passerelle.plugin`, the one import of a platform plugin, and its helpers
for keys, store options and error codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

import passerelle.plugin
from passerelle.cli import app
from passerelle.codes import CONNECTOR_CODES, ErrorCode, is_transient_status
from passerelle.keys import LONGEST_DELIVERY_KEY, bounded_key
from passerelle.orders import EventNotYetApplicable, LedgerError
from passerelle.platforms import Store, StoreProblem, WebhookPlatform
from passerelle.store_options import (
    OptionList,
    StoreOptions,
    StoreOptionsError,
    option_problems,
    secret_values,
)

SHOPIFY = Path(__file__).parents[1] / "plugins" / "shopify" / "passerelle_shopify"


def test_every_name_of_the_facade_is_importable_and_listed_once() -> None:
    names = passerelle.plugin.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(passerelle.plugin, name) is not None, name


def test_the_facade_holds_what_a_platform_implements_and_the_host_api_stays_apart() -> None:
    for name in ("hookimpl", "WebhookPlatform", "WebhookRequest", "TranslationContext"):
        assert name in passerelle.plugin.__all__
    for host_only in ("BackendClient", "OrderLedger", "Plugins", "default_plugins"):
        assert host_only not in passerelle.plugin.__all__


def test_the_shopify_plugin_imports_the_core_only_through_the_facade() -> None:
    strays = []
    for path in sorted(SHOPIFY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for module in modules:
                if module.split(".")[0] == "passerelle" and module != "passerelle.plugin":
                    strays.append(f"{path.name}:{node.lineno} imports {module}")
    assert strays == []


def test_a_long_key_is_hashed_within_the_store_bound_and_a_short_one_kept() -> None:
    assert bounded_key("evt_1") == "evt_1"
    assert bounded_key("x" * 128) == "x" * 128
    long = bounded_key("x" * 129)
    assert long.startswith("sha256-")
    assert len(long) == 71
    assert long != bounded_key("x" * 130)
    assert len(f"orders/cancelled#{bounded_key('€' * 5000)}") <= LONGEST_DELIVERY_KEY
    assert len(bounded_key("\udcff" * 200, limit=10)) == 71


class AcmeOptions(StoreOptions):
    api_key: SecretStr
    regions: OptionList = ()
    page_size: int = 50


def test_options_are_typed_and_lists_read_from_comma_separated_text() -> None:
    store = Store(
        "acme", "main", options={"api_key": "k3y", "regions": " eu, ,us ", "page_size": "9"}
    )
    options = store.options_as(AcmeOptions)
    assert options.regions == ("eu", "us")
    assert options.page_size == 9
    assert secret_values(options) == ["k3y"]
    assert "k3y" not in repr(options) + repr(store)
    assert store.options_as(AcmeOptions) is options


def test_wrong_options_are_named_and_never_quoted() -> None:
    found = option_problems(AcmeOptions, {"regionz": "eu", "page_size": "s3cret"})
    assert [key for key, _ in found] == ["options.api_key", "options.page_size", "options.regionz"]
    assert dict(found)["options.api_key"] == "is missing"
    assert dict(found)["options.regionz"] == "is not an option of this platform"
    assert all("s3cret" not in message for _, message in found)
    with pytest.raises(StoreOptionsError) as caught:
        Store("acme", "main", options={"page_size": "s3cret"}).options_as(AcmeOptions)
    assert str(caught.value).startswith("store main: options.api_key: is missing; ")
    assert "s3cret" not in str(caught.value)


class AcmePlatform(WebhookPlatform):
    name = "acme"
    options_model = AcmeOptions
    verify = delivery_key = ordering_key = translate = None  # type: ignore[assignment]


def test_config_check_validates_the_declared_options_model() -> None:
    platform = AcmePlatform()
    assert platform.check_store(Store("acme", "main", options={"api_key": "k"})) == []
    assert platform.check_store(Store("acme", "main")) == [
        StoreProblem("options.api_key", "is missing")
    ]


@pytest.mark.parametrize(("status", "transient"), [(408, True), (429, True), (500, True),
    (503, True), (599, True), (400, False), (401, False), (404, False), (409, False),
    (422, False), (200, False)])  # fmt: skip
def test_one_rule_says_which_statuses_are_transient(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


def test_an_error_code_needs_a_code_of_its_shape_and_every_text() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        ErrorCode("Not-A-Code", "t", "m", "a")
    with pytest.raises(ValueError, match="action must not be blank"):
        ErrorCode("some_code", "t", "m", " ")


runner = CliRunner()


@pytest.mark.parametrize(
    ("code", "retried"),
    [
        ("unreadable_delivery", False),
        ("not_yet_applicable", True),
        ("unknown_order", True),
        ("platform_unavailable", True),
        ("fulfillment_cancelled", False),
        ("fulfillment_failed", False),
    ],
)
def test_explain_knows_the_codes_the_action_center_shows(code: str, retried: bool) -> None:
    result = runner.invoke(app, ["explain", code])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{code}: ")
    assert ("retried automatically by the dispatcher" in result.output) is retried
    assert "What to do: " in result.output


def test_explain_knows_every_ledger_code() -> None:
    from passerelle.backend.problems import PROBLEMS

    # The base class's own code is never raised.
    codes = {
        cls.code
        for cls in LedgerError.__subclasses__()
        if isinstance(getattr(cls, "code", None), str)
    }
    assert EventNotYetApplicable.code in codes
    assert codes - set(PROBLEMS) - set(CONNECTOR_CODES) == set()


def test_explain_lists_the_delivery_codes() -> None:
    result = runner.invoke(app, ["explain", "--list"])
    assert result.exit_code == 0
    assert "Delivery codes (action center):" in result.output
    assert "fulfillment_cancelled" in result.output
