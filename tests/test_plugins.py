"""The plugin manager: installed plugins found through real entry points, the allow and block
lists, hook validation, tracing, platform registration and the typed hook calls."""

from __future__ import annotations

import importlib
import logging
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from passerelle._version import __version__
from passerelle.batches import BatchFile, Deleted
from passerelle.events import (
    BatchFileEdited,
    Envelope,
    Event,
    LineQuantity,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.orders import Effect, EventKind
from passerelle.platforms import (
    FilePlatform,
    Platform,
    Store,
    Translation,
    TranslationContext,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle.plugins import (
    PluginError,
    PluginInfo,
    Plugins,
    UnknownPlatformError,
    default_plugins,
)

DISTS = Path(__file__).parent / "fixtures" / "plugin_dist"
HOOKS = "batch_file_edited, order_cancelled, order_edited, order_returned, order_shipped, register_platforms"


def effect(kind: EventKind, id: str, amount: str = "10.00") -> Effect:
    return Effect(
        order="1001",
        id=id,
        kind=kind,
        lines=(LineQuantity(line="sku-1", quantity=1),),
        amount=Money.of(amount, "CAD"),
    )


pytestmark = pytest.mark.usefixtures("isolated_plugin_imports")


@pytest.fixture
def example_dist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `passerelle-example` 1.2.3 distribution is installed."""
    monkeypatch.syspath_prepend(str(DISTS / "example"))


@pytest.fixture
def typo_dist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `passerelle-typo` 0.1.0 distribution, whose plugin misspells a hook, is installed."""
    monkeypatch.syspath_prepend(str(DISTS / "typo"))


@pytest.fixture
def install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str, dict[str, str], str], None]:
    """Install a one-module distribution whose entry points in group passerelle are given."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist: str, version: str, entry_points: dict[str, str], module: str) -> None:
        module_name = dist.replace("-", "_")
        info = site / f"{module_name}-{version}.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        )
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        info.joinpath("entry_points.txt").write_text(f"[passerelle]\n{lines}")
        site.joinpath(f"{module_name}.py").write_text(textwrap.dedent(module))

    return install


OBSERVER = """
from passerelle.hookspecs import hookimpl

@hookimpl
def order_cancelled(envelope):
    pass
"""


def envelope(event: Event, position: int = 0) -> Envelope:
    return Envelope(
        platform="example",
        store="main",
        delivery="d-1",
        position=position,
        occurred_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        event=event,
    )


class Webhooks(WebhookPlatform):
    name = "shop"

    def verify(self, request: WebhookRequest, store: Store) -> None:
        return None

    def delivery_key(self, request: WebhookRequest) -> str:
        return "key"

    def ordering_key(self, request: WebhookRequest) -> str | None:
        return None

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        return Translation()


class Files(FilePlatform):
    name = "bank-files"

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        raise NotImplementedError


class Registers:
    """A plugin registering the given platforms."""

    def __init__(self, *platforms: object) -> None:
        self.platforms = platforms

    @hookimpl
    def register_platforms(self, register: Callable[[object], None]) -> None:
        for platform in self.platforms:
            register(platform)


class Recorder:
    """An observer of every lifecycle hook, recording the keyword arguments it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    @hookimpl
    def order_shipped(self, envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
        self.calls.append(
            ("order_shipped", {"envelope": envelope, "event": event, "effect": effect})
        )

    @hookimpl
    def order_cancelled(self, envelope: Envelope, event: OrderCancelled, effect: Effect) -> None:
        self.calls.append(
            ("order_cancelled", {"envelope": envelope, "event": event, "effect": effect})
        )

    @hookimpl
    def order_returned(self, envelope: Envelope, event: OrderReturned, effect: Effect) -> None:
        self.calls.append(
            ("order_returned", {"envelope": envelope, "event": event, "effect": effect})
        )

    @hookimpl
    def order_edited(self, envelope: Envelope, event: OrderEdited, effect: Effect) -> None:
        self.calls.append(
            ("order_edited", {"envelope": envelope, "event": event, "effect": effect})
        )

    @hookimpl
    def batch_file_edited(self, envelope: Envelope, event: BatchFileEdited) -> None:
        self.calls.append(("batch_file_edited", {"envelope": envelope, "event": event}))


# Installed plugins


@pytest.mark.usefixtures("example_dist")
def test_installed_plugin_is_loaded_through_its_entry_point() -> None:
    plugins = Plugins()

    loaded = plugins.load_entrypoints({})

    assert "example" in loaded
    listed = {info.name: info for info in plugins.list_plugins()}
    assert listed["example"] == PluginInfo(
        name="example",
        distribution="passerelle-example",
        version="1.2.3",
        platforms=("example", "example-files"),
        hooks=("order_shipped", "register_platforms"),
    )
    assert type(plugins.webhook_platform("example")).__name__ == "ExampleWebhooks"
    assert type(plugins.file_platform("example-files")).__name__ == "ExampleFiles"


@pytest.mark.usefixtures("example_dist")
def test_installed_plugin_observes_shipments() -> None:
    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": "example"})
    shipment = envelope(OrderShipped(order="1001", id="f-1"))
    assert isinstance(shipment.event, OrderShipped)

    plugins.observe(envelope=shipment, event=shipment.event, effect=effect("order_shipped", "f-1"))

    assert importlib.import_module("passerelle_example").shipped == [
        (shipment.idempotency_key, "1001")
    ]


def test_builtin_plugins_are_listed_with_the_passerelle_version() -> None:
    plugins = Plugins()
    plugins.register(Registers(Webhooks(), Files()), "bank")

    assert plugins.list_plugins() == [
        PluginInfo(
            name="bank",
            distribution="built-in",
            version=__version__,
            platforms=("bank-files", "shop"),
            hooks=("register_platforms",),
        )
    ]


def test_loading_twice_loads_nothing_new(
    install: Callable[[str, str, dict[str, str], str], None],
) -> None:
    install("passerelle-observer", "2.0", {"observer": "passerelle_observer"}, OBSERVER)
    plugins = Plugins()
    environ = {"PASSERELLE_LOAD_PLUGINS": "observer"}

    assert plugins.load_entrypoints(environ) == ["observer"]
    assert plugins.load_entrypoints(environ) == []
    assert [info.name for info in plugins.list_plugins()] == ["observer"]


# Allow and block lists


@pytest.mark.usefixtures("example_dist")
@pytest.mark.parametrize("allowed", ["example", "passerelle-example", "Passerelle_Example"])
def test_allow_list_loads_only_the_named_plugins(
    install: Callable[[str, str, dict[str, str], str], None], allowed: str
) -> None:
    install("passerelle-observer", "2.0", {"observer": "passerelle_observer"}, OBSERVER)

    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": f" {allowed} ,"})

    assert [info.name for info in plugins.list_plugins()] == ["example"]


@pytest.mark.usefixtures("example_dist")
def test_allow_list_names_several_plugins(
    install: Callable[[str, str, dict[str, str], str], None],
) -> None:
    install("passerelle-observer", "2.0", {"observer": "passerelle_observer"}, OBSERVER)

    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": "passerelle-observer,example"})

    assert [info.name for info in plugins.list_plugins()] == ["example", "observer"]


@pytest.mark.usefixtures("example_dist")
def test_empty_allow_list_loads_no_installed_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "")

    plugins = default_plugins()

    assert plugins.list_plugins() == []
    assert plugins.platforms() == {}


@pytest.mark.usefixtures("example_dist")
@pytest.mark.parametrize("blocked", ["example", "passerelle-example"])
def test_block_list_keeps_plugins_out(
    install: Callable[[str, str, dict[str, str], str], None],
    monkeypatch: pytest.MonkeyPatch,
    blocked: str,
) -> None:
    install("passerelle-observer", "2.0", {"observer": "passerelle_observer"}, OBSERVER)
    monkeypatch.setenv("PASSERELLE_DISABLE_PLUGINS", f"unrelated,{blocked}")

    names = [info.name for info in default_plugins().list_plugins()]

    assert "observer" in names
    assert "example" not in names


@pytest.mark.usefixtures("example_dist")
def test_block_list_wins_over_allow_list() -> None:
    plugins = default_plugins(
        {"PASSERELLE_LOAD_PLUGINS": "example", "PASSERELLE_DISABLE_PLUGINS": "example"}
    )

    assert plugins.list_plugins() == []


@pytest.mark.usefixtures("example_dist")
def test_names_matching_no_installed_plugin_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    default_plugins({"PASSERELLE_LOAD_PLUGINS": "exmaple", "PASSERELLE_DISABLE_PLUGINS": "nope"})

    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "passerelle.plugins",
            "WARNING",
            "PASSERELLE_LOAD_PLUGINS names 'exmaple', which no installed plugin matches",
        ),
        (
            "passerelle.plugins",
            "WARNING",
            "PASSERELLE_DISABLE_PLUGINS names 'nope', which no installed plugin matches",
        ),
    ]


# Rejected plugins


@pytest.mark.usefixtures("example_dist", "typo_dist")
def test_installed_plugin_with_an_unknown_hook_is_rejected() -> None:
    plugins = Plugins()

    with pytest.raises(PluginError) as excinfo:
        plugins.load_entrypoints({"PASSERELLE_LOAD_PLUGINS": "example,typo"})

    assert str(excinfo.value) == (
        "plugin 'typo' (passerelle-typo 0.1.0) implements unknown hook 'order_shiped'; "
        "did you mean 'order_shipped'?"
    )
    # All or nothing: the plugin loaded beside it is gone too.
    assert plugins.list_plugins() == []
    assert plugins.load_entrypoints({"PASSERELLE_LOAD_PLUGINS": "example"}) == ["example"]


def test_unknown_hook_without_a_close_name_lists_the_hooks() -> None:
    class Odd:
        @hookimpl
        def frobnicate(self) -> None:
            pass

    plugins = Plugins()

    with pytest.raises(PluginError) as excinfo:
        plugins.register(Odd(), "odd")

    assert str(excinfo.value) == (
        f"plugin 'odd' (built-in) implements unknown hook 'frobnicate'; the hooks are {HOOKS}"
    )
    assert plugins.list_plugins() == []


def test_optional_unknown_hook_is_accepted() -> None:
    class Forward:
        @hookimpl(optionalhook=True)
        def order_archived(self) -> None:
            pass

    plugins = Plugins()
    plugins.register(Forward(), "forward")

    assert [info.name for info in plugins.list_plugins()] == ["forward"]


def test_hook_with_an_argument_the_hook_does_not_pass_is_rejected() -> None:
    class Greedy:
        @hookimpl
        def order_shipped(self, envelope: Envelope, customer: str) -> None:
            pass

    plugins = Plugins()

    with pytest.raises(
        PluginError, match=r"^cannot register plugin 'greedy' \(built-in\): "
    ) as excinfo:
        plugins.register(Greedy(), "greedy")

    assert "customer" in str(excinfo.value)
    assert plugins.list_plugins() == []


def test_entry_point_that_cannot_be_imported_is_reported(
    install: Callable[[str, str, dict[str, str], str], None],
) -> None:
    install("passerelle-broken", "0.3", {"broken": "passerelle_broken_missing"}, "")

    with pytest.raises(PluginError) as excinfo:
        Plugins().load_entrypoints({"PASSERELLE_LOAD_PLUGINS": "broken"})

    assert str(excinfo.value) == (
        "cannot load plugin 'broken' (passerelle-broken 0.3) from 'passerelle_broken_missing': "
        "ModuleNotFoundError: No module named 'passerelle_broken_missing'"
    )


def test_two_distributions_with_the_same_plugin_name_are_rejected(
    install: Callable[[str, str, dict[str, str], str], None],
) -> None:
    install("passerelle-alpha", "1.0", {"twin": "passerelle_alpha"}, OBSERVER)
    install("passerelle-beta", "2.0", {"twin": "passerelle_beta"}, OBSERVER)

    with pytest.raises(PluginError) as excinfo:
        Plugins().load_entrypoints({"PASSERELLE_LOAD_PLUGINS": "twin"})

    message = str(excinfo.value)
    assert message in (
        f"plugin 'twin' is provided by two distributions, {first} and {second}; "
        "disable one with PASSERELLE_DISABLE_PLUGINS"
        for first, second in [
            ("passerelle-alpha 1.0", "passerelle-beta 2.0"),
            ("passerelle-beta 2.0", "passerelle-alpha 1.0"),
        ]
    )
    # Blocking one distribution by name settles it.
    plugins = Plugins()
    plugins.load_entrypoints(
        {"PASSERELLE_LOAD_PLUGINS": "twin", "PASSERELLE_DISABLE_PLUGINS": "passerelle-beta"}
    )
    assert [(i.name, i.distribution) for i in plugins.list_plugins()] == [
        ("twin", "passerelle-alpha")
    ]


def test_installed_plugin_cannot_take_a_builtin_name(
    install: Callable[[str, str, dict[str, str], str], None],
) -> None:
    install("passerelle-imposter", "6.6", {"backend": "passerelle_imposter"}, OBSERVER)
    plugins = Plugins()
    plugins.register(Recorder(), "backend")

    with pytest.raises(PluginError) as excinfo:
        plugins.load_entrypoints({"PASSERELLE_LOAD_PLUGINS": "passerelle-imposter"})

    assert str(excinfo.value) == (
        "plugin 'backend' (passerelle-imposter 6.6) has the name of a plugin already registered "
        "(built-in); disable one with PASSERELLE_DISABLE_PLUGINS"
    )


def test_a_plugin_name_is_registered_once() -> None:
    plugins = Plugins()
    plugins.register(Recorder(), "backend")

    with pytest.raises(PluginError) as excinfo:
        plugins.register(Recorder(), "backend")

    assert str(excinfo.value) == (
        "cannot register 'backend': the name is taken by plugin 'backend' (built-in)"
    )


# Platforms


def test_two_plugins_registering_one_platform_name_is_an_error() -> None:
    plugins = Plugins()
    plugins.register(Registers(Webhooks()), "first")
    plugins.register(Registers(Webhooks()), "second")

    with pytest.raises(PluginError) as excinfo:
        plugins.platforms()

    assert str(excinfo.value) == (
        "platform 'shop' is registered by two plugins: "
        "plugin 'first' (built-in) and plugin 'second' (built-in)"
    )


@pytest.mark.usefixtures("example_dist")
def test_installed_plugin_clashing_with_a_builtin_platform_names_both() -> None:
    plugins = Plugins()

    class Example(Webhooks):
        name = "example"

    plugins.register(Registers(Example()), "mine")
    plugins.load_entrypoints({"PASSERELLE_LOAD_PLUGINS": "example"})

    with pytest.raises(PluginError) as excinfo:
        plugins.list_plugins()

    assert str(excinfo.value) == (
        "platform 'example' is registered by two plugins: "
        "plugin 'mine' (built-in) and plugin 'example' (passerelle-example 1.2.3)"
    )


def test_one_plugin_registering_a_platform_twice_is_an_error() -> None:
    plugins = Plugins()
    plugins.register(Registers(Webhooks(), Webhooks()), "twice")

    with pytest.raises(
        PluginError, match=r"^platform 'shop' is registered twice by plugin 'twice' \(built-in\)$"
    ):
        plugins.platforms()


def test_registering_something_else_than_a_platform_is_an_error() -> None:
    plugins = Plugins()
    plugins.register(Registers(Webhooks), "classy")

    with pytest.raises(PluginError) as excinfo:
        plugins.platforms()

    assert str(excinfo.value) == (
        f"plugin 'classy' (built-in) registered {Webhooks!r}, which is not an instance of "
        "WebhookPlatform or FilePlatform"
    )


@pytest.mark.parametrize("name", ["", "Shop", "1shop", "shop/admin", "shop "])
def test_platform_names_are_url_segments(name: str) -> None:
    class Named(Webhooks):
        pass

    Named.name = name
    plugins = Plugins()
    plugins.register(Registers(Named()), "named")

    with pytest.raises(PluginError) as excinfo:
        plugins.platforms()

    assert str(excinfo.value) == (
        f"plugin 'named' (built-in) registered Named with name {name!r}: a platform name is "
        "lower case letters, digits, '-' and '_', starting with a letter"
    )


def test_failure_inside_register_platforms_names_the_plugin() -> None:
    class Failing:
        @hookimpl
        def register_platforms(self, register: Callable[[Platform], None]) -> None:
            raise ValueError("missing API key")

    plugins = Plugins()
    plugins.register(Failing(), "failing")

    with pytest.raises(PluginError) as excinfo:
        plugins.platforms()

    assert str(excinfo.value) == (
        "plugin 'failing' (built-in) failed in register_platforms: ValueError: missing API key"
    )
    assert isinstance(excinfo.value.__cause__, ValueError)


def test_platforms_are_looked_up_by_name_and_kind() -> None:
    webhooks, files = Webhooks(), Files()
    plugins = Plugins()
    plugins.register(Registers(webhooks, files), "bank")

    assert plugins.platforms() == {"shop": webhooks, "bank-files": files}
    assert plugins.webhook_platform("shop") is webhooks
    assert plugins.file_platform("bank-files") is files


def test_unknown_platform_lists_the_known_ones() -> None:
    plugins = Plugins()
    plugins.register(Registers(Webhooks(), Files()), "bank")

    with pytest.raises(KeyError) as webhook:
        plugins.webhook_platform("shopify")
    with pytest.raises(UnknownPlatformError) as file:
        plugins.file_platform("sage")

    assert str(webhook.value) == "unknown webhook platform 'shopify'; known webhook platforms: shop"
    assert str(file.value) == "unknown file platform 'sage'; known file platforms: bank-files"


def test_platform_of_the_other_kind_is_not_found() -> None:
    plugins = Plugins()
    plugins.register(Registers(Webhooks(), Files()), "bank")

    with pytest.raises(UnknownPlatformError) as webhook:
        plugins.webhook_platform("bank-files")
    with pytest.raises(UnknownPlatformError) as file:
        plugins.file_platform("shop")

    assert str(webhook.value) == (
        "platform 'bank-files' is a file platform, not a webhook platform; "
        "known webhook platforms: shop"
    )
    assert str(file.value) == (
        "platform 'shop' is a webhook platform, not a file platform; known file platforms: bank-files"
    )


def test_without_platforms_the_error_says_none_is_known() -> None:
    with pytest.raises(UnknownPlatformError) as excinfo:
        Plugins().webhook_platform("shop")

    assert str(excinfo.value) == "unknown webhook platform 'shop'; known webhook platforms: none"


def test_platforms_registered_later_are_found() -> None:
    plugins = Plugins()
    plugins.register(Registers(Files()), "files")
    assert list(plugins.platforms()) == ["bank-files"]

    plugins.register(Registers(Webhooks()), "webhooks")

    assert sorted(plugins.platforms()) == ["bank-files", "shop"]


# Typed hook calls


def test_every_lifecycle_hook_reaches_the_implementation_with_keywords() -> None:
    recorder = Recorder()
    plugins = Plugins()
    plugins.register(recorder, "recorder")
    shipped = envelope(OrderShipped(order="1001", id="f-1"))
    cancelled = envelope(OrderCancelled(order="1001", id="c-1"), 1)
    returned = envelope(OrderReturned(order="1001", id="r-1", refund=Money.of("5.00", "CAD")), 2)
    edited = envelope(OrderEdited(order="1001", id="e-1", cart=()), 3)
    batch = envelope(BatchFileEdited(batch="b-7", changes=(Deleted(),)), 4)
    assert isinstance(shipped.event, OrderShipped)
    assert isinstance(cancelled.event, OrderCancelled)
    assert isinstance(returned.event, OrderReturned)
    assert isinstance(edited.event, OrderEdited)
    assert isinstance(batch.event, BatchFileEdited)
    shipping = effect("order_shipped", "f-1")
    cancelling = effect("order_cancelled", "c-1", "20.00")
    returning = effect("order_returned", "r-1", "5.00")
    editing = effect("order_edited", "e-1", "-3.50")

    plugins.observe(envelope=shipped, event=shipped.event, effect=shipping)
    plugins.observe(envelope=cancelled, event=cancelled.event, effect=cancelling)
    plugins.observe(envelope=returned, event=returned.event, effect=returning)
    plugins.observe(envelope=edited, event=edited.event, effect=editing)
    plugins.observe(envelope=batch, event=batch.event)

    assert recorder.calls == [
        ("order_shipped", {"envelope": shipped, "event": shipped.event, "effect": shipping}),
        (
            "order_cancelled",
            {"envelope": cancelled, "event": cancelled.event, "effect": cancelling},
        ),
        ("order_returned", {"envelope": returned, "event": returned.event, "effect": returning}),
        ("order_edited", {"envelope": edited, "event": edited.event, "effect": editing}),
        ("batch_file_edited", {"envelope": batch, "event": batch.event}),
    ]


def test_implementation_may_take_only_the_arguments_it_needs() -> None:
    keys: list[str] = []

    class KeysOnly:
        @hookimpl
        def order_cancelled(self, envelope: Envelope) -> None:
            keys.append(envelope.idempotency_key)

    plugins = Plugins()
    plugins.register(KeysOnly(), "keys")
    cancelled = envelope(OrderCancelled(order="1001", id="c-1"))
    assert isinstance(cancelled.event, OrderCancelled)

    plugins.observe(
        envelope=cancelled, event=cancelled.event, effect=effect("order_cancelled", "c-1")
    )

    assert keys == [cancelled.idempotency_key]


def test_exception_of_an_implementation_reaches_the_caller() -> None:
    class BackEndDownError(Exception):
        pass

    class Failing:
        @hookimpl
        def order_shipped(self) -> None:
            raise BackEndDownError("back end unavailable")

    plugins = Plugins()
    plugins.register(Failing(), "failing")
    shipped = envelope(OrderShipped(order="1001", id="f-1"))
    assert isinstance(shipped.event, OrderShipped)

    with pytest.raises(BackEndDownError, match=r"^back end unavailable$"):
        plugins.observe(
            envelope=shipped, event=shipped.event, effect=effect("order_shipped", "f-1")
        )


# Tracing


def test_trace_reports_calls_results_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="passerelle.plugins")

    class Failing:
        @hookimpl
        def order_shipped(self) -> None:
            raise RuntimeError("boom")

    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": "", "PASSERELLE_TRACE_PLUGINS": "1"})
    plugins.register(Recorder(), "first")
    plugins.register(Recorder(), "second")
    batch = envelope(BatchFileEdited(batch="b-7", changes=(Deleted(),)))
    shipped = envelope(OrderShipped(order="1001", id="f-1"))
    assert isinstance(batch.event, BatchFileEdited)
    assert isinstance(shipped.event, OrderShipped)

    plugins.observe(envelope=batch, event=batch.event)
    plugins.register(Failing(), "failing")
    with pytest.raises(RuntimeError):
        plugins.observe(
            envelope=shipped, event=shipped.event, effect=effect("order_shipped", "f-1")
        )

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "call batch_file_edited(envelope, event) -> second, first"),
        ("DEBUG", "done batch_file_edited"),
        ("DEBUG", "call order_shipped(envelope, event, effect) -> failing, second, first"),
        ("DEBUG", "fail order_shipped: RuntimeError: boom"),
    ]


@pytest.mark.parametrize("value", ["", "0"])
def test_trace_is_off_unless_asked(caplog: pytest.LogCaptureFixture, value: str) -> None:
    caplog.set_level(logging.DEBUG, logger="passerelle.plugins")
    plugins = default_plugins({"PASSERELLE_LOAD_PLUGINS": "", "PASSERELLE_TRACE_PLUGINS": value})
    plugins.register(Registers(Webhooks()), "shop")

    plugins.platforms()

    assert caplog.records == []


def test_trace_to_a_writer_can_be_stopped() -> None:
    lines: list[str] = []
    plugins = Plugins()
    plugins.register(Registers(Webhooks()), "shop")
    stop = plugins.trace(lines.append)

    plugins.platforms()
    stop()
    plugins.register(Registers(Files()), "files")
    plugins.platforms()

    assert lines == [
        "call register_platforms(register) -> shop",
        "done register_platforms",
    ]
