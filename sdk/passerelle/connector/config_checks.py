"""What `passerelle config check` finds beyond the settings' own rules: stores whose platform
is missing or finds fault with them, and secrets written in the file rather than given by the
environment."""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import SecretStr

from passerelle.connector.config import MASK, Settings
from passerelle.connector.config_sources import (
    ENV_DELIMITER,
    ENV_PREFIX,
    Problem,
    child_type,
    key_of,
)
from passerelle.platforms import FilePlatform, WebhookPlatform
from passerelle.redaction import looks_secret, password_in_url, redact_urls
from passerelle.store_options import secret_option_names

__all__ = ["secrets_in_file", "store_problems"]


def store_problems(settings: Settings, platforms: Mapping[str, object]) -> list[Problem]:
    """Each store whose platform no installed plugin registers, and what each installed platform
    finds wrong with its stores' configuration (`WebhookPlatform.check_store`, `FilePlatform.
    check_store`), keyed
    ``stores[i].<key>``, with every secret masked."""
    problems: list[Problem] = []
    listing = ", ".join(sorted(platforms)) or "none"
    for index, entry in enumerate(settings.stores):
        here = f"stores[{index}]"
        platform = platforms.get(entry.platform)
        if platform is None:
            problems.append(
                Problem(
                    f"{here}.platform",
                    f"no installed plugin registers platform {entry.platform!r} (installed: "
                    f"{listing}): every webhook to this store would be answered 404",
                )
            )
            continue
        if not isinstance(platform, WebhookPlatform | FilePlatform):
            continue
        if isinstance(platform, WebhookPlatform) and (entry.cutoff or entry.cutoff_zone):
            key = "cutoff" if entry.cutoff else "cutoff_zone"
            problems.append(
                Problem(
                    f"{here}.{key}",
                    f"a batch cutoff is for a file platform's store; {entry.platform} sends "
                    "webhooks, which have none",
                )
            )
        store = entry.to_store()
        try:
            found = [
                Problem(f"{here}.{problem.key}" if problem.key else here, problem.message)
                for problem in platform.check_store(store)
            ]
        except Exception as exc:
            found = [
                Problem(
                    here,
                    f"the {entry.platform} plugin failed to check the store: "
                    f"{type(exc).__name__}: {exc}",
                )
            ]
        # A plugin's message could quote a secret by mistake; nothing here may show one.
        model = getattr(platform, "options_model", None)
        declared = secret_option_names(model) if model is not None else frozenset()
        hidden = [s.get_secret_value() for s in entry.secrets] + [
            v.get_secret_value() if isinstance(v, SecretStr) else v
            for name, v in entry.options.items()
            if isinstance(v, SecretStr) or name in declared
        ]
        problems.extend(Problem(p.key, _mask(p.message, hidden)) for p in found)
    return problems


def _mask(text: str, secrets: list[str]) -> str:
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact_urls(text)


def secrets_in_file(path: str | os.PathLike[str]) -> list[Problem]:
    """One warning per secret written in the configuration file itself, in plain text, naming
    its key and the environment variable to give it by instead; never its value. Empty when the
    file is absent or unreadable (`Settings.load` reports that)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    environment = {name.upper() for name in os.environ}
    return [
        Problem(key_of(loc), _inline_advice(loc, path.name, environment, what))
        for loc, what in _secret_locations(data, Settings, ())
    ]


def _secret_locations(
    value: object, annotation: Any, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where the file holds a secret, and what it is."""
    if loc and _holds_secret(annotation, loc[-1]):
        if value:
            yield loc, "a secret is"
    elif isinstance(value, str):
        # Any URL: the store's, a store option's.
        if password_in_url(value):
            yield loc, "the URL's password is"
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _secret_locations(item, child_type(annotation, name), (*loc, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_locations(item, child_type(annotation, index), (*loc, index))


def _holds_secret(annotation: Any, name: str | int) -> bool:
    """Whether a value declared `annotation`, under the key `name`, is a secret."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        # A store option: text, kept secret when its name says so (see `StoreSettings`).
        members = typing.get_args(annotation)
        return SecretStr in members and isinstance(name, str) and looks_secret(name)
    if origin is list:
        return _holds_secret(typing.get_args(annotation)[0], name)
    return annotation is SecretStr


def _inline_advice(loc: tuple[str | int, ...], file: str, environment: set[str], what: str) -> str:
    names = [
        ENV_PREFIX + ENV_DELIMITER.join(str(part).upper() for part in loc[:depth])
        for depth in range(1, len(loc) + 1)
    ]
    overriding = next((name for name in names if name in environment), None)
    if overriding is not None:
        return (
            f"{what} written in {file} in plain text, though {overriding} overrides it: "
            "remove it from the file"
        )
    return (
        f"{what} written in {file} in plain text: remove it from the file and set {names[-1]} "
        "in the environment instead"
    )
