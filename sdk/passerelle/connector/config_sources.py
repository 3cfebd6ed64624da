"""Loading the connector's configuration: `passerelle.toml` with the environment laid over it.

The file is the one named by `--config`, else `PASSERELLE_CONFIG`, else `./passerelle.toml`
(which may be absent when everything comes from the environment). Every key can be set by an
environment variable `PASSERELLE_<SECTION>__<KEY>`; a list entry is addressed by its index, so
`PASSERELLE_BACKEND__TOKEN` replaces `[backend] token` and `PASSERELLE_STORES__0__SECRETS='["new",
"old"]'` replaces the secrets of the first `[[stores]]` entry (a plain value there is a one-item
list; one with a comma is refused, as it is most likely a list written the wrong way). The
environment wins over the file.

A bad configuration raises `ConfigError`, which lists every problem with its key path
(`stores[1].secrets: at least one secret is required`). The settings model itself is
`passerelle.connector.config`.
"""

from __future__ import annotations

import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ENV_DELIMITER",
    "ENV_PREFIX",
    "ConfigError",
    "Problem",
    "child_type",
    "config_path",
    "file_and_environment",
    "key_of",
    "read_settings",
]

ENV_PREFIX = "PASSERELLE_"
CONFIG_ENV = "PASSERELLE_CONFIG"
DEFAULT_CONFIG = Path("passerelle.toml")
ENV_DELIMITER = "__"

_S = TypeVar("_S", bound=BaseSettings)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: the key path and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason, each with its key."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The configuration file to read: `explicit`, else `PASSERELLE_CONFIG`, else the default."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


@dataclass
class _Loading:
    path: Path
    explicit: bool
    problems: list[Problem] = field(default_factory=list)
    from_env: dict[tuple[str | int, ...], str] = field(default_factory=dict)

    @classmethod
    def of(cls, path: str | os.PathLike[str] | None = None) -> _Loading:
        # Only the default file may be absent: a file someone named must exist.
        explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
        return cls(config_path(path), explicit=explicit)


_LOADING: ContextVar[_Loading | None] = ContextVar("passerelle_config_loading", default=None)


def read_settings(
    settings_cls: type[_S], path: str | os.PathLike[str] | None = None
) -> tuple[_S, Path]:
    """`settings_cls` read from the file (see `config_path`) and the environment, and the file's
    path; raise `ConfigError`."""
    loading = _Loading.of(path)
    token = _LOADING.set(loading)
    try:
        settings = settings_cls()
    except ValidationError as exc:
        problems = loading.problems + [_problem(error, loading) for error in exc.errors()]
        raise ConfigError(problems) from None
    finally:
        _LOADING.reset(token)
    if loading.problems:
        raise ConfigError(loading.problems)
    return settings, loading.path


def file_and_environment(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    """The settings source of `settings_cls`: the file, then the environment over it."""
    return _FileAndEnvironment(settings_cls, _LOADING.get() or _Loading.of())


class _FileAndEnvironment(PydanticBaseSettingsSource):
    """The TOML file with `PASSERELLE_*` variables laid over it, list entries by index.

    One source rather than pydantic-settings' two because its environment source replaces a
    list wholesale and cannot address `[[stores]]` entries.
    """

    def __init__(self, settings_cls: type[BaseSettings], loading: _Loading) -> None:
        super().__init__(settings_cls)
        self._loading = loading

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = self._read_file()
        overrides = []
        for name, value in os.environ.items():
            if not name.upper().startswith(ENV_PREFIX) or name.upper() == CONFIG_ENV:
                continue
            segments = name[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER)
            # Other PASSERELLE_* variables (plugins, tests) are not configuration keys.
            if segments[0] in self.settings_cls.model_fields:
                path = tuple(int(s) if s.isdigit() else s for s in segments)
                overrides.append((path, name, value))
        # Index order, so entries added from the environment are created one after another.
        overrides.sort(key=lambda item: tuple((isinstance(s, str), s) for s in item[0]))
        for path, name, value in overrides:
            self._apply(data, path, name, value)
        return data

    def _read_file(self) -> dict[str, Any]:
        path = self._loading.path
        if not path.is_file():
            if self._loading.explicit:
                raise ConfigError([Problem(str(path), "configuration file not found")])
            return {}
        try:
            return TomlConfigSettingsSource(self.settings_cls, toml_file=path)()
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Problem(str(path), f"not valid TOML: {exc}")]) from None
        except OSError as exc:
            raise ConfigError([Problem(str(path), f"cannot be read: {exc.strerror}")]) from None

    def _apply(
        self, data: dict[str, Any], path: tuple[str | int, ...], name: str, raw: str
    ) -> None:
        container: Any = data
        annotation: Any = self.settings_cls
        for depth, segment in enumerate(path):
            annotation = child_type(annotation, segment)
            last = depth == len(path) - 1
            here = key_of(path[: depth + 1])
            if isinstance(segment, int):
                if not isinstance(container, list):
                    self._loading.problems.append(Problem(here, f"{name}: not a list entry"))
                    return
                if segment > len(container):
                    first = key_of((*path[:depth], len(container)))
                    self._loading.problems.append(
                        Problem(here, f"{name}: {first} must be set first")
                    )
                    return
                if segment == len(container):
                    container.append({})
            elif not isinstance(container, dict):
                self._loading.problems.append(Problem(here, f"{name}: not a table"))
                return
            if last:
                try:
                    container[segment] = _parse(raw, annotation)
                except ValueError as exc:
                    self._loading.problems.append(Problem(here, f"{name}: {exc}"))
                    return
                self._loading.from_env[path] = name
                return
            # An int segment was checked above to index a list, a str one to key a table.
            child = container[segment] if isinstance(segment, int) else container.get(segment)
            if not isinstance(child, dict | list):
                child = [] if _is_list(annotation) else {}
                container[segment] = child
            container = child


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0] if len(members) == 1 else Any
        else:
            return annotation


def child_type(annotation: Any, segment: str | int) -> Any:
    """The declared type under `segment` of `annotation` (Any where it is not known)."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = annotation.model_fields.get(str(segment))
        return found.annotation if found is not None else Any
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return Any


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(_unwrap(annotation)) is list


def _parse(raw: str, annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    complex_type = (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    ) or typing.get_origin(annotation) in (list, dict)
    if not complex_type:
        return raw
    if _is_list(annotation) and not raw.lstrip().startswith("["):
        return [_single_item(raw)]
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError("not valid JSON") from None


def _single_item(raw: str) -> str:
    # A comma-separated value would otherwise become one item holding the commas: for secrets,
    # one wrong secret in place of the two being rotated, and every webhook refused.
    if "," in raw:
        raise ValueError(
            'a list is given as JSON, e.g. \'["new", "old"]\'; a comma-separated value is'
            " not split (a single item holding a comma is '[\"a,b\"]')"
        )
    return raw


def key_of(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


_MESSAGES = {"missing": "is required", "extra_forbidden": "unknown key"}


def _problem(error: Mapping[str, Any], loading: _Loading) -> Problem:
    loc = tuple(error["loc"])
    message = _MESSAGES.get(error["type"])
    if message is None:
        context = error.get("ctx") or {}
        message = str(context["error"]) if error["type"] == "value_error" else error["msg"]
        message = message[:1].lower() + message[1:]
    source = next(
        (name for path, name in loading.from_env.items() if loc[: len(path)] == path), None
    )
    if source is not None:
        message = f"{message} (from {source})"
    return Problem(key_of(loc) or "(top level)", message)
