"""The configuration reference page, from the settings model of `passerelle.connector.config`:
every key of ``passerelle.toml``, the environment variable that sets it, its type and default."""

from __future__ import annotations

import datetime
import inspect
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from passerelle.connector.config import Settings
from passerelle.connector.config_sources import ENV_DELIMITER, ENV_PREFIX
from sitegen.markdown import cell, code, prose, table

PATH = "reference/configuration.md"


@dataclass(frozen=True)
class Key:
    """One configuration key: where it is in the file, its variable, its type and default."""

    section: str
    """The TOML table it belongs to: ``[backend]``, ``[[stores]]``, ``[alerts.smtp]``."""
    name: str
    variable: str
    """The environment variable; a list entry's index is ``<N>``, a table's key ``<NAME>``."""
    type: str
    default: str


@dataclass(frozen=True)
class Section:
    title: str
    doc: str
    keys: tuple[Key, ...]


def sections(model: type[BaseModel] = Settings) -> list[Section]:
    """Every table of the configuration with its keys, in the model's order."""
    found: list[Section] = []
    _walk(model, (), (), found)
    return found


def page() -> str:
    """The page's Markdown."""
    out = [
        "# Configuration",
        prose(inspect.getdoc(inspect.getmodule(Settings)) or ""),
        "Every key of `passerelle.toml` and the environment variable that sets it, generated "
        "from the settings model at each build. In a variable, `<N>` is a list entry's index "
        "from 0 and `<NAME>` a key of a table of your own (a store option).",
    ]
    for section in sections():
        out.append(f"## `{section.title}`")
        if section.doc:
            out.append(prose(section.doc))
        rows = [
            (code(key.name), code(key.variable), cell(key.type), cell(key.default))
            for key in section.keys
        ]
        out.append(table(("Key", "Environment variable", "Type", "Default"), rows))
    return "\n\n".join(out) + "\n"


def _walk(
    model: type[BaseModel],
    path: tuple[str, ...],
    env: tuple[str, ...],
    found: list[Section],
    *,
    listed: bool = False,
) -> None:
    keys = []
    nested: list[tuple[type[BaseModel], str, bool]] = []
    for name, field in model.model_fields.items():
        annotation = _optional_inner(field.annotation)
        inner, is_list = _list_item(annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            nested.append((inner, name, is_list))
            continue
        variable = ENV_PREFIX + ENV_DELIMITER.join((*env, name)).upper()
        if typing.get_origin(_unwrap(annotation)) is dict:
            variable += ENV_DELIMITER + "<NAME>"
        keys.append(
            Key(_title(path, listed), name, variable, _type(field.annotation), _default(field))
        )
    if keys:
        found.append(Section(_title(path, listed), inspect.getdoc(model) or "", tuple(keys)))
    for inner, name, is_list in nested:
        child_env = (*env, name, "<N>") if is_list else (*env, name)
        _walk(inner, (*path, name), child_env, found, listed=is_list)


def _title(path: tuple[str, ...], listed: bool) -> str:
    name = ".".join(path)
    return f"[[{name}]]" if listed else f"[{name}]"


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _optional_inner(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _list_item(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) is list:
        return _unwrap(typing.get_args(annotation)[0]), True
    return annotation, False


def _type(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        text = " or ".join(_type(member) for member in members)
        return f"{text}, optional" if len(members) < len(args) else text
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"table of {_type(args[1])}"
    if origin is Literal:
        return "one of " + ", ".join(code(str(arg)) for arg in args)
    names = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "boolean",
        SecretStr: "secret",
        datetime.time: "time of day",
        ZoneInfo: "time zone",
        Path: "file path",
    }
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(code(str(member.value)) for member in annotation)
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "none"
    if value == [] or value == {}:
        return "empty"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return code("true" if value else "false")
    if isinstance(value, float) and value.is_integer():
        return code(str(int(value)))
    if isinstance(value, ZoneInfo):
        return code(value.key)
    return code(str(value))
