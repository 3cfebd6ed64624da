"""The compatibility promise to plugin authors: the plugin API's version, the range a plugin
declares, and deprecations that warn before anything is removed.

`passerelle.plugin` is the plugin API. Its version, `PLUGIN_API_VERSION`, is MAJOR.MINOR: a minor
release adds to it, only a major one removes or changes a name. A plugin module declares the
versions it works with as a module attribute, a PEP 440 range::

    requires_plugin_api = ">=1.0,<2"

and the plugin manager refuses to load a plugin whose range excludes this version. A name about to
go is deprecated first: it warns (`DeprecationWarning`) for at least one minor release of the core
before the release that removes it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, ParamSpec, TypeVar

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

__all__ = [
    "PLUGIN_API_VERSION",
    "REQUIRES_ATTRIBUTE",
    "Deprecated",
    "current_range",
    "deprecated",
    "deprecated_names",
    "plugin_api_problem",
]

PLUGIN_API_VERSION: Final = "1.0"
"""The version of `passerelle.plugin`: MAJOR.MINOR, a new MAJOR for a removed or changed name."""

REQUIRES_ATTRIBUTE: Final = "requires_plugin_api"
"""The plugin module's attribute holding the range of plugin API versions it works with."""


def current_range() -> str:
    """The range a plugin written against this plugin API declares: this version up to the next
    major one (``">=1.0,<2"``)."""
    major = Version(PLUGIN_API_VERSION).major
    return f">={PLUGIN_API_VERSION},<{major + 1}"


def plugin_api_problem(requires: object) -> str | None:
    """Why a plugin declaring `requires` (its ``requires_plugin_api``) cannot load, or None when
    it can: no declaration, or a range that holds `PLUGIN_API_VERSION`."""
    if requires is None:
        return None
    if not isinstance(requires, str):
        return f"{REQUIRES_ATTRIBUTE} must be a version range such as '>=1.0,<2', not {requires!r}"
    try:
        accepted = SpecifierSet(requires)
    except InvalidSpecifier:
        return f"{REQUIRES_ATTRIBUTE} {requires!r} is not a version range such as '>=1.0,<2'"
    if not accepted.contains(PLUGIN_API_VERSION, prereleases=True):
        return f"it requires plugin API {requires}, and this passerelle has {PLUGIN_API_VERSION}"
    return None


@dataclass(frozen=True)
class Deprecated:
    """A deprecated name: what it still gives, in which core release it was deprecated, the
    release that removes it (at least one minor later) and what to use instead."""

    value: object
    since: str
    removal: str
    instead: str

    def __post_init__(self) -> None:
        since, removal = Version(self.since), Version(self.removal)
        if removal.release[:2] <= since.release[:2]:
            raise ValueError(
                f"a name deprecated in {self.since} is removed in a later minor release, "
                f"not {self.removal}"
            )

    def message(self, name: str) -> str:
        """The warning's text for `name`."""
        return (
            f"{name} is deprecated since passerelle {self.since} and will be removed in "
            f"{self.removal}; use {self.instead}"
        )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def deprecated(
    *, since: str, removal: str, instead: str
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Mark a function deprecated: each call warns (`DeprecationWarning`, pointing at the
    caller), then runs it."""

    def mark(function: Callable[_P, _R]) -> Callable[_P, _R]:
        notice = Deprecated(function, since, removal, instead)
        name = getattr(function, "__qualname__", repr(function))

        @functools.wraps(function)
        def warned(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            warnings.warn(notice.message(name), DeprecationWarning, stacklevel=2)
            return function(*args, **kwargs)

        return warned

    return mark


def deprecated_names(module: str, names: Mapping[str, Deprecated]) -> Callable[[str], object]:
    """A module ``__getattr__`` that gives each of `names` with a `DeprecationWarning`, pointing
    at the import or attribute access; any other name is an `AttributeError` as usual."""

    def module_getattr(name: str) -> object:
        notice = names.get(name)
        if notice is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(notice.message(f"{module}.{name}"), DeprecationWarning, stacklevel=2)
        return notice.value

    return module_getattr
