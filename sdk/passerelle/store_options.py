"""Typed store options: a platform declares the options it reads as a pydantic model.

A platform sets `WebhookPlatform.options_model` to a model of its options (secrets as
`SecretStr`, lists as `OptionList`, defaults for the optional ones). The core validates every
store's options against it in ``passerelle config check`` and at start (the default
`WebhookPlatform.check_store`), and the plugin reads them typed with `Store.options_as`::

    class AcmeOptions(StoreOptions):
        api_key: SecretStr
        regions: OptionList = ()

    options = store.options_as(AcmeOptions)  # options.regions == ("eu", "us")

Options are text in the configuration; a model field typed otherwise (an int, a bool) is read
from that text as pydantic reads it. Unknown options are refused, naming them, so a typo does
not silently fall back to a default.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationError

__all__ = [
    "OptionList",
    "StoreOptions",
    "StoreOptionsError",
    "option_list",
    "option_problems",
    "secret_option_names",
    "secret_values",
    "validate_options",
]

M = TypeVar("M", bound=BaseModel)


def option_list(value: object) -> object:
    """A comma-separated option (``"eu, us"``) as a tuple of its stripped, non-empty items; a
    list is taken as it is."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


OptionList = Annotated[tuple[str, ...], BeforeValidator(option_list)]
"""An option holding a list: comma-separated text in the configuration."""


class StoreOptions(BaseModel):
    """A convenient base for an options model: frozen, unknown options refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class StoreOptionsError(ValueError):
    """A store's options do not fit its platform's model; `problems` lists each as
    ``(key, message)`` with `key` like ``options.api_key``. Never quotes a value."""

    def __init__(self, store: str, problems: list[tuple[str, str]]) -> None:
        listed = "; ".join(f"{key}: {message}" for key, message in problems)
        super().__init__(f"store {store}: {listed}")
        self.problems = problems


def option_problems(model: type[BaseModel], options: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each problem of `options` against `model`, as ``(key, message)``; empty when they fit."""
    try:
        model.model_validate(dict(options))
    except ValidationError as exc:
        return [
            (
                "options." + ".".join(str(part) for part in error["loc"])
                if error["loc"]
                else "options",
                _message(error["type"], error["msg"]),
            )
            for error in exc.errors(include_url=False, include_input=False)
        ]
    return []


def validate_options(model: type[M], options: Mapping[str, str], *, store: str) -> M:
    """`options` as `model`; a `StoreOptionsError` naming each wrong option otherwise."""
    try:
        return model.model_validate(dict(options))
    except ValidationError:
        raise StoreOptionsError(store, option_problems(model, options)) from None


def secret_option_names(model: type[BaseModel]) -> frozenset[str]:
    """The options `model` declares as secrets (typed `SecretStr`, optional or in a list): what
    is masked wherever a store's options are shown, whatever their names."""
    return frozenset(
        name for name, field in model.model_fields.items() if _holds_secret(field.annotation)
    )


def _holds_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    return any(_holds_secret(arg) for arg in typing.get_args(annotation))


def secret_values(options: BaseModel) -> list[str]:
    """The values of every `SecretStr` field of `options`, to mask wherever text is shown."""
    return [
        value.get_secret_value()
        for value in (getattr(options, name) for name in type(options).model_fields)
        if isinstance(value, SecretStr) and value.get_secret_value()
    ]


def _message(kind: str, message: str) -> str:
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        return "is not an option of this platform"
    return message.removeprefix("Value error, ")
