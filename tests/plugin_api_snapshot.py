"""The plugin API's shape: every public name of `passerelle.plugin` with its kind and signature,
and every hook a plugin can implement with its arguments, compared with the snapshot committed beside the tests (``tests/snapshots/plugin_api.json``).

A change to the plugin API is deliberate: bump `PLUGIN_API_VERSION` (the minor version for an
added name, the major one for a removed or changed name), write an entry in CHANGELOG.md, then
renew the snapshot with ``python tests/plugin_api_snapshot.py``, which refuses to record a change
the version does not account for.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from packaging.version import Version
from pydantic import BaseModel

SNAPSHOT = Path(__file__).parent / "snapshots" / "plugin_api.json"

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def current() -> dict[str, Any]:
    """The plugin API as it is: its version and every public name's description."""
    import passerelle.plugin as facade
    from passerelle.compatibility import PLUGIN_API_VERSION
    from passerelle.plugins import Plugins

    names = {name: describe(getattr(facade, name)) for name in sorted(facade.__all__)}
    # The hooks a plugin implements are promised as much as the names it imports.
    hookspecs = importlib.import_module("passerelle.hookspecs")
    for hook in Plugins().hooks:
        names[f"hook {hook}"] = {"kind": "hook", "signature": signature(getattr(hookspecs, hook))}
    return {"plugin_api_version": PLUGIN_API_VERSION, "names": names}


def recorded() -> dict[str, Any]:
    """The committed snapshot."""
    snapshot: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return snapshot


def describe(value: object) -> dict[str, Any]:
    """What a caller relies on in `value`: its kind and its signature or members."""
    if typing.get_origin(value) is typing.Annotated:
        return {"kind": "type alias", "of": annotation(value)}
    if isinstance(value, type):
        return _describe_class(value)
    if callable(value):
        return {"kind": "function", "signature": signature(value)}
    return {"kind": "constant", "type": type(value).__name__, "value": _repr(value)}


def _describe_class(cls: type) -> dict[str, Any]:
    described: dict[str, Any] = {
        "kind": "class",
        "bases": [f"{base.__module__}.{base.__qualname__}" for base in cls.__bases__],
    }
    if issubclass(cls, enum.Enum):
        described["members"] = {member.name: _repr(member.value) for member in cls}
        return described
    if issubclass(cls, BaseModel):
        described["fields"] = {
            name: annotation(field.annotation) for name, field in cls.model_fields.items()
        }
    else:
        described["signature"] = signature(cls)
    members = {}
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_") or (issubclass(cls, BaseModel) and name.startswith("model_")):
            continue
        if isinstance(member, property):
            members[name] = "property"
        elif isinstance(member, classmethod | staticmethod):
            members[name] = f"{type(member).__name__} {signature(member.__func__)}"
        elif inspect.isfunction(member):
            members[name] = f"method {signature(member)}"
        elif issubclass(cls, BaseModel) and name in cls.model_fields:
            continue
        else:
            members[name] = f"attribute {type(member).__name__}"
    described["members"] = members
    return described


def signature(function: Any) -> str:
    """`function`'s signature with its annotations as written, defaults as their repr."""
    try:
        found = inspect.signature(function)
    except (TypeError, ValueError):
        return "(...)"
    parts = []
    for parameter in found.parameters.values():
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text = "*" + text
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = "**" + text
        if parameter.annotation is not parameter.empty:
            text += f": {annotation(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {_repr(parameter.default)}"
        parts.append((parameter.kind, text))
    rendered: list[str] = []
    for index, (kind, text) in enumerate(parts):
        previous = parts[index - 1][0] if index else None
        if kind is inspect.Parameter.KEYWORD_ONLY and previous not in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.VAR_POSITIONAL,
        ):
            rendered.append("*")
        rendered.append(text)
        if kind is inspect.Parameter.POSITIONAL_ONLY and (
            index + 1 == len(parts) or parts[index + 1][0] is not kind
        ):
            rendered.append("/")
    result = f"({', '.join(rendered)})"
    if found.return_annotation is not found.empty:
        result += f" -> {annotation(found.return_annotation)}"
    return result


def annotation(value: Any) -> str:
    """A type as a reader writes it: ``Annotated[X, ...]`` as ``X``, without the validators
    whose text changes with the pydantic release."""
    if isinstance(value, str):
        return re.sub(r"Annotated\[([^,\[\]]+), [^\[\]]*\]", r"\1", value)
    if typing.get_origin(value) is typing.Annotated:
        return annotation(typing.get_args(value)[0])
    origin, args = typing.get_origin(value), typing.get_args(value)
    if origin is not None and args:
        inner = ", ".join("..." if arg is Ellipsis else annotation(arg) for arg in args)
        if origin in (typing.Union, types.UnionType):
            return " | ".join(annotation(arg) for arg in args)
        name = getattr(origin, "__qualname__", None) or str(origin)
        return f"{_module_prefix(origin)}{name}[{inner}]"
    if value is type(None):
        return "None"
    if isinstance(value, type):
        return f"{_module_prefix(value)}{value.__qualname__}"
    return _repr(value)


def _module_prefix(value: Any) -> str:
    module = getattr(value, "__module__", "builtins")
    return "" if module in ("builtins", "typing", "collections.abc") else f"{module}."


def _repr(value: object) -> str:
    return _ADDRESS.sub("", repr(value))


def changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The names added, and the names removed or changed, from `old` to `new`. A class that
    only gained methods with a body (a base class's new hook with its default) counts as added
    to: a plugin written before needs nothing of it."""
    added = sorted(set(new["names"]) - set(old["names"]))
    broken = []
    for name, was in old["names"].items():
        now = new["names"].get(name)
        # The version's own value moves with every change: it is compared apart.
        if now == was or (name == "PLUGIN_API_VERSION" and now is not None):
            continue
        if now is not None and _only_gained_methods(name, was, now):
            added.append(name)
        else:
            broken.append(name)
    return sorted(added), sorted(broken)


def _only_gained_methods(name: str, was: dict[str, Any], now: dict[str, Any]) -> bool:
    if was.get("kind") != "class" or now.get("kind") != "class":
        return False
    old_members, new_members = was.get("members", {}), now.get("members", {})
    if {k: v for k, v in now.items() if k != "members"} != {
        k: v for k, v in was.items() if k != "members"
    }:
        return False
    if any(new_members.get(k) != v for k, v in old_members.items()):
        return False
    # The snapshot does not say which methods are abstract: the class as it is now does.
    cls = getattr(importlib.import_module("passerelle.plugin"), name, None)
    return all(
        new_members[k].startswith("method ")
        and not getattr(getattr(cls, k, None), "__isabstractmethod__", False)
        for k in set(new_members) - set(old_members)
    )


def versioning_problem(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why `new` cannot replace the snapshot `old`: a change its plugin API version does not
    account for; None when it does."""
    added, broken = changes(old, new)
    before, after = Version(old["plugin_api_version"]), Version(new["plugin_api_version"])
    if broken and after.major <= before.major:
        return (
            f"{', '.join(broken)} removed or changed: that needs a new major PLUGIN_API_VERSION "
            f"(now {after}), or a deprecation first (passerelle.compatibility)"
        )
    if added and after <= before:
        return f"{', '.join(added)} added: that needs a new minor PLUGIN_API_VERSION (now {after})"
    return None


def update() -> str:
    """Write the snapshot of the plugin API as it is, if its version accounts for the change."""
    new = current()
    old = recorded() if SNAPSHOT.exists() else {"plugin_api_version": "0.0", "names": {}}
    problem = versioning_problem(old, new)
    if problem is not None:
        raise SystemExit(problem)
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(new, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return f"wrote {SNAPSHOT}: plugin API {new['plugin_api_version']}, {len(new['names'])} names"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parents[1] / "sdk"))
    print(update())
