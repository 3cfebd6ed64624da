"""The plugin manager: built-in plugins, installed plugins, and a typed call for every hook.

Host code gets a `Plugins` from `default_plugins()` and calls its methods; it never calls
``pm.hook`` itself. Installed plugins are found under the entry-point group ``passerelle``. The
environment decides which of them load (built-in plugins always do):

``PASSERELLE_LOAD_PLUGINS``
    Comma-separated plugin (entry-point) or distribution names: only those load. Unset loads
    every installed plugin; set and empty loads none.
``PASSERELLE_DISABLE_PLUGINS``
    Comma-separated plugin or distribution names that never load.
``PASSERELLE_TRACE_PLUGINS``
    Any value but empty or ``0``: every hook call is logged to the ``passerelle.plugins`` logger,
    and shown on stderr when logging is not configured.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final

import pluggy

import passerelle.hookspecs as hookspecs
from passerelle._version import __version__
from passerelle.compatibility import PLUGIN_API_VERSION, REQUIRES_ATTRIBUTE, plugin_api_problem
from passerelle.events import AnyEvent, Envelope
from passerelle.platforms import FilePlatform, Platform, WebhookPlatform

if TYPE_CHECKING:
    from passerelle.order_effects import Effect

__all__ = [
    "BUILTIN",
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "LOAD_ENV",
    "TRACE_ENV",
    "IncompatiblePluginError",
    "PluginError",
    "PluginInfo",
    "Plugins",
    "UnknownPlatformError",
    "default_plugins",
]

ENTRY_POINT_GROUP: Final = hookspecs.PROJECT
LOAD_ENV: Final = "PASSERELLE_LOAD_PLUGINS"
DISABLE_ENV: Final = "PASSERELLE_DISABLE_PLUGINS"
TRACE_ENV: Final = "PASSERELLE_TRACE_PLUGINS"
BUILTIN: Final = "built-in"
"""The distribution `PluginInfo` names for a plugin registered by the host, not installed."""

BUILTIN_PLUGINS: Mapping[str, str] = {}
"""Plugin name -> module of the plugins that ship with the core, registered before any other."""

_PLATFORM_NAME = re.compile(r"[a-z][a-z0-9_-]*")

logger = logging.getLogger("passerelle.plugins")


class PluginError(Exception):
    """A plugin cannot be loaded or broke a rule; the message names the plugin."""


class IncompatiblePluginError(PluginError):
    """A plugin's ``requires_plugin_api`` excludes this plugin API version, or cannot be read."""


class UnknownPlatformError(KeyError):
    """No plugin registers a platform of that name and kind; the message lists the known ones."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class PluginInfo:
    """What `passerelle plugins` shows about one plugin."""

    name: str
    distribution: str
    """The installed distribution that provides the plugin, or ``"built-in"``."""
    version: str
    """The distribution's version; for a built-in plugin, the version of passerelle."""
    platforms: tuple[str, ...]
    hooks: tuple[str, ...]
    plugin_api: str | None = None
    """The plugin API versions the plugin declares it works with; None if it declares none."""

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "platforms": list(self.platforms),
            "hooks": list(self.hooks),
            "plugin_api": self.plugin_api,
        }


@dataclass(frozen=True)
class _Source:
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _names(value: str) -> frozenset[str]:
    return frozenset(_normalize(part) for part in value.split(",") if part.strip())


class Plugins:
    """The plugins of one host: register them, find platforms, call the hooks with types."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._hooks = tuple(
            sorted(
                name
                for name in vars(hookspecs)
                if self._pm.parse_hookspec_opts(hookspecs, name) is not None
            )
        )
        self._sources: dict[str, _Source] = {}
        self._platforms: dict[str, tuple[Platform, str]] | None = None
        # Dispatcher workers look platforms up concurrently; plugins register them once.
        self._platforms_lock = threading.Lock()

    @property
    def hooks(self) -> tuple[str, ...]:
        """The names of every hook a plugin may implement."""
        return self._hooks

    # Registration

    def register(self, plugin: object, name: str) -> None:
        """Register `plugin` under `name`, as a built-in plugin."""
        if self._pm.get_plugin(name) is not None:
            raise PluginError(
                f"cannot register {name!r}: the name is taken by {self._describe(name)}"
            )
        self._register(plugin, name)

    def load_builtins(self) -> None:
        """Register the plugins of `BUILTIN_PLUGINS` not registered yet."""
        for name, module in BUILTIN_PLUGINS.items():
            if self._pm.get_plugin(name) is None:
                self._register(importlib.import_module(module), name)

    def load_entrypoints(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Load the installed plugins the environment allows; return their names.

        `environ` defaults to `os.environ`. Either every selected plugin loads or none does.
        """
        env = os.environ if environ is None else environ
        allow = _names(env[LOAD_ENV]) if LOAD_ENV in env else None
        block = _names(env.get(DISABLE_ENV, ""))
        loaded: list[str] = []
        try:
            for entry_point, source in self._select(allow, block):
                self._sources[entry_point.name] = source
                try:
                    plugin = entry_point.load()
                except Exception as exc:
                    raise PluginError(
                        f"cannot load plugin {entry_point.name!r} ({source}) from "
                        f"{entry_point.value!r}: {type(exc).__name__}: {exc}"
                    ) from exc
                self._register(plugin, entry_point.name)
                loaded.append(entry_point.name)
        except BaseException:
            for name in loaded:
                self._pm.unregister(name=name)
            for name in set(self._sources) - {n for n, _ in self._pm.list_name_plugin()}:
                del self._sources[name]
            self._platforms = None
            raise
        # Every implementation was checked on registration; this only guards that invariant.
        self._pm.check_pending()
        return loaded

    def _select(
        self, allow: frozenset[str] | None, block: frozenset[str]
    ) -> list[tuple[metadata.EntryPoint, _Source]]:
        selected: dict[str, tuple[metadata.EntryPoint, _Source]] = {}
        seen: set[str] = set()
        matched: set[str] = set()
        for dist in metadata.distributions():
            dist_key = _normalize(dist.name)
            # The same distribution found twice on sys.path: the first one is the one imported.
            if dist_key in seen:
                continue
            seen.add(dist_key)
            for entry_point in dist.entry_points.select(group=ENTRY_POINT_GROUP):
                keys = {_normalize(entry_point.name), dist_key}
                matched |= keys
                if keys & block or (allow is not None and not keys & allow):
                    continue
                source = _Source(dist.name, dist.version)
                name = entry_point.name
                if self._sources.get(name) == source:
                    continue
                if self._pm.get_plugin(name) is not None:
                    raise PluginError(
                        f"plugin {name!r} ({source}) has the name of a plugin already "
                        f"registered ({self._source_of(name)}); disable one with {DISABLE_ENV}"
                    )
                if name in selected:
                    raise PluginError(
                        f"plugin {name!r} is provided by two distributions, "
                        f"{selected[name][1]} and {source}; disable one with {DISABLE_ENV}"
                    )
                selected[name] = (entry_point, source)
        for variable, names in ((LOAD_ENV, allow or frozenset()), (DISABLE_ENV, block)):
            for unknown in sorted(names - matched):
                logger.warning("%s names %r, which no installed plugin matches", variable, unknown)
        return list(selected.values())

    def _register(self, plugin: object, name: str) -> None:
        problem = plugin_api_problem(getattr(plugin, REQUIRES_ATTRIBUTE, None))
        if problem is not None:
            raise IncompatiblePluginError(
                f"{self._describe(name)} cannot load: {problem}; install a release of it made "
                f"for plugin API {PLUGIN_API_VERSION}, or disable it with {DISABLE_ENV}"
            )
        try:
            self._pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"cannot register {self._describe(name)}: {exc}") from exc
        try:
            self._check_hooks(plugin, name)
        except PluginError:
            self._pm.unregister(plugin)
            raise
        self._platforms = None

    def _check_hooks(self, plugin: object, name: str) -> None:
        for caller in self._pm.get_hookcallers(plugin) or ():
            if caller.has_spec():
                continue
            if any(
                impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()
            ):
                close = difflib.get_close_matches(caller.name, self._hooks, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"the hooks are {', '.join(self._hooks)}"
                )
                raise PluginError(
                    f"{self._describe(name)} implements unknown hook {caller.name!r}; {hint}"
                )

    def _source_of(self, name: str) -> str:
        source = self._sources.get(name)
        return str(source) if source else BUILTIN

    def _describe(self, name: str) -> str:
        return f"plugin {name!r} ({self._source_of(name)})"

    # Platforms

    def platforms(self) -> dict[str, Platform]:
        """Every registered platform by name, from the `register_platforms` hook."""
        return {name: platform for name, (platform, _) in self._collect_platforms().items()}

    def webhook_platform(self, name: str) -> WebhookPlatform:
        """The webhook platform `name`; `UnknownPlatformError` lists the known ones."""
        platform, _ = self._collect_platforms().get(name, (None, ""))
        if isinstance(platform, WebhookPlatform):
            return platform
        raise self._unknown(name, WebhookPlatform, "webhook", "file")

    def file_platform(self, name: str) -> FilePlatform:
        """The file platform `name`; `UnknownPlatformError` lists the known ones."""
        platform, _ = self._collect_platforms().get(name, (None, ""))
        if isinstance(platform, FilePlatform):
            return platform
        raise self._unknown(name, FilePlatform, "file", "webhook")

    def _unknown(
        self, name: str, kind: type[Platform], label: str, other: str
    ) -> UnknownPlatformError:
        platforms = self.platforms()
        known = sorted(n for n, p in platforms.items() if isinstance(p, kind))
        listing = ", ".join(known) if known else "none"
        if name in platforms:
            return UnknownPlatformError(
                f"platform {name!r} is a {other} platform, not a {label} platform; "
                f"known {label} platforms: {listing}"
            )
        return UnknownPlatformError(
            f"unknown {label} platform {name!r}; known {label} platforms: {listing}"
        )

    def _collect_platforms(self) -> dict[str, tuple[Platform, str]]:
        with self._platforms_lock:
            if self._platforms is None:
                self._platforms = self._call_register_platforms()
            return self._platforms

    def _call_register_platforms(self) -> dict[str, tuple[Platform, str]]:
        found: dict[str, tuple[Platform, str]] = {}
        plugins = [
            (name, plugin) for name, plugin in self._pm.list_name_plugin() if plugin is not None
        ]
        for name, plugin in plugins:
            if not any(
                c.name == "register_platforms" for c in self._pm.get_hookcallers(plugin) or ()
            ):
                continue
            # One call per plugin, so every platform is known to come from its plugin.
            call = self._pm.subset_hook_caller(
                "register_platforms", remove_plugins=[p for _, p in plugins if p is not plugin]
            )
            try:
                call(register=self._registrar(name, found))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"{self._describe(name)} failed in register_platforms: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return found

    def _registrar(
        self, plugin: str, found: dict[str, tuple[Platform, str]]
    ) -> Callable[[Platform], None]:
        def register(platform: Platform) -> None:
            if not isinstance(platform, WebhookPlatform | FilePlatform):
                raise PluginError(
                    f"{self._describe(plugin)} registered {platform!r}, which is not an "
                    "instance of WebhookPlatform or FilePlatform"
                )
            name = getattr(platform, "name", None)
            if not isinstance(name, str) or not _PLATFORM_NAME.fullmatch(name):
                raise PluginError(
                    f"{self._describe(plugin)} registered {type(platform).__name__} with name "
                    f"{name!r}: a platform name is lower case letters, digits, '-' and '_', "
                    "starting with a letter"
                )
            if name in found:
                owner = found[name][1]
                raise PluginError(
                    f"platform {name!r} is registered twice by {self._describe(plugin)}"
                    if owner == plugin
                    else f"platform {name!r} is registered by two plugins: "
                    f"{self._describe(owner)} and {self._describe(plugin)}"
                )
            found[name] = (platform, plugin)

        return register

    # Listing

    def list_plugins(self) -> list[PluginInfo]:
        """Every registered plugin, sorted by name."""
        platforms: dict[str, list[str]] = {}
        for platform, (_, owner) in self._collect_platforms().items():
            platforms.setdefault(owner, []).append(platform)
        infos = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            source = self._sources.get(name)
            infos.append(
                PluginInfo(
                    name=name,
                    distribution=source.distribution if source else BUILTIN,
                    version=source.version if source else __version__,
                    platforms=tuple(sorted(platforms.get(name, ()))),
                    hooks=tuple(sorted(c.name for c in self._pm.get_hookcallers(plugin) or ())),
                    plugin_api=_declared_range(plugin),
                )
            )
        return sorted(infos, key=lambda info: info.name)

    # Lifecycle hooks: keyword arguments only, as the hook specifications expect.

    def observe(self, *, envelope: Envelope, event: AnyEvent, effect: Effect | None = None) -> None:
        """Call every implementation of the event's lifecycle hook (the hook named after its
        `kind`: `order_shipped`, ..., `batch_file_edited`); the first exception propagates. An
        order event comes with the `effect` it had on the ledger."""
        hook = getattr(self._pm.hook, event.kind)
        if effect is None:
            hook(envelope=envelope, event=event)
        else:
            hook(envelope=envelope, event=event, effect=effect)

    # Tracing

    def trace(self, write: Callable[[str], None] | None = None) -> Callable[[], None]:
        """Report every hook call: which plugins it reaches, then its results or exception.

        Lines go to `write`, by default to the ``passerelle.plugins`` logger at DEBUG level.
        Argument values are not shown, only their names. Returns a function that stops tracing.
        """
        out = write if write is not None else logger.debug

        def before(hook: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
            # pluggy calls the implementations last-registered first.
            reached = ", ".join(impl.plugin_name for impl in reversed(impls)) or "no plugin"
            out(f"call {hook}({', '.join(kwargs)}) -> {reached}")

        def after(
            outcome: pluggy.Result[Any],
            hook: str,
            impls: Sequence[pluggy.HookImpl],
            kwargs: Mapping[str, Any],
        ) -> None:
            if outcome.exception is not None:
                error = outcome.exception
                out(f"fail {hook}: {type(error).__name__}: {error}")
            else:
                # pluggy leaves out the None results, so the hooks here usually show none.
                results = outcome.get_result()
                out(f"done {hook} -> {results!r}" if results else f"done {hook}")

        return self._pm.add_hookcall_monitoring(before, after)


def _declared_range(plugin: object) -> str | None:
    declared = getattr(plugin, REQUIRES_ATTRIBUTE, None)
    return declared if isinstance(declared, str) else None


class _StderrHandler(logging.Handler):
    # Resolves sys.stderr on every record, so a replaced stderr (tests, CLI runners) is honoured.
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _show_trace() -> None:
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    if not logger.hasHandlers():
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)


def default_plugins(environ: Mapping[str, str] | None = None) -> Plugins:
    """A `Plugins` with the built-in plugins and the installed ones the environment allows.

    `environ` defaults to `os.environ` (see the module documentation for the variables).
    """
    env = os.environ if environ is None else environ
    plugins = Plugins()
    plugins.load_builtins()
    plugins.load_entrypoints(env)
    if env.get(TRACE_ENV, "").strip() not in ("", "0"):
        _show_trace()
        plugins.trace()
    return plugins
