"""Reading a delivery's JSON body into typed values, every failure a `TranslationError` naming
the field path.

Bodies are parsed with every JSON number that has a fraction or an exponent read as a `Decimal`,
never a float: amounts stay exact, and an id that is not a JSON integer is refused instead of
being rounded (platforms' ids exceed 2^53). Two ways to read one:

- a pydantic model of the fields the plugin needs, built on `Body` with the field types `Id`,
  `Amount`, `Count` and `Items`, read by `parse_model`;
- the `Payload` reader, field path by field path (``payload.amount("total", cur)``).

Either way no `pydantic.ValidationError`, `KeyError` or `MoneyError` leaves the plugin: a field
that is missing or malformed is a `TranslationError` whose ``field`` is its path
(``refunds[0].amount``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, NoReturn, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from passerelle.amounts import amount_in, known_currency
from passerelle.money import Currency, Money
from passerelle.platforms import TranslationError

__all__ = [
    "LONGEST_ID",
    "WHOLE_BODY",
    "Amount",
    "Body",
    "Count",
    "Id",
    "Items",
    "Payload",
    "field_path",
    "loads",
    "parse_json",
    "parse_model",
    "path_at",
    "path_steps",
    "validate",
]

LONGEST_ID: Final = 40
"""Digits an id may have; far beyond any platform's, well within an event reference."""
_LONGEST_AMOUNT: Final = 18
"""Digits an amount may have before its point: sums of such amounts stay exact."""


def _id(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("an id must be an integer, not a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int):
        if len(str(abs(value))) > LONGEST_ID:
            raise ValueError(f"an id has at most {LONGEST_ID} digits")
        return value
    if isinstance(value, Decimal):
        raise ValueError(f"an id must be a JSON integer, without fraction or exponent; got {value}")
    raise ValueError(f"an id must be an integer, not {type(value).__name__}")


def _bounded_amount(value: Decimal) -> Decimal:
    if value.adjusted() >= _LONGEST_AMOUNT:
        raise ValueError(f"an amount has at most {_LONGEST_AMOUNT} digits before its point")
    return value


def _items(value: object) -> object:
    # Platforms send null for some empty lists.
    return () if value is None else value


Id = Annotated[int, BeforeValidator(_id)]
"""An id: a JSON integer (or a string of digits) of at most `LONGEST_ID` digits, kept exact."""
Amount = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_bounded_amount)]
"""A decimal amount, from a string ("12.34") or a JSON number, of at most 18 digits before its
point. `loads` reads every JSON number with a fraction as a Decimal, so no float reaches it."""
Count = Annotated[int, Field(strict=True, ge=0)]
"""A quantity: a JSON integer, zero or more."""

T = TypeVar("T")
Items = Annotated[tuple[T, ...], BeforeValidator(_items)]
"""A list, null read as empty."""


class Body(BaseModel):
    """A base for models of a platform's bodies: frozen, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


M = TypeVar("M", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def loads(body: bytes) -> Any:
    """JSON with fractions read as `Decimal` and integers kept exact; raises `ValueError`."""
    # What json.loads does with bytes, minus building a decoder for every body.
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def parse_json(body: bytes, what: str) -> dict[str, Any]:
    """`body` as a JSON object (see `loads`); a `TranslationError` saying where it is not.

    `what` names the body in messages (``"fulfillments/create body"``).
    """
    try:
        data = loads(body)
    except json.JSONDecodeError as exc:
        raise TranslationError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(character {exc.pos})",
            field=path_at(exc.doc, exc.pos),
        ) from None
    except UnicodeDecodeError as exc:
        raise TranslationError(
            f"{what} is not JSON: it is not {exc.encoding} text ({exc.reason} at byte {exc.start})"
        ) from None
    except ValueError as exc:
        raise TranslationError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise TranslationError(f"{what} is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise TranslationError(f"{what} is not a JSON object but a {_json_type(data)}")
    return data


def parse_model(body: bytes, model: type[M], what: str) -> M:
    """`body` read as `model`; a `TranslationError` quoting the problem and its field path."""
    return validate(parse_json(body, what), model, what)


def validate(data: object, model: type[M], what: str, *, at: str = "") -> M:
    """`data` (parsed JSON) read as `model`; a `TranslationError` naming the field path, with
    `at` before it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        message = error["msg"].removeprefix("Value error, ")
        path = field_path(_of_the_data(data, error["loc"], missing=error["type"] == "missing"))
        raise TranslationError(
            f"{message} in the {what}", field=f"{at}{path}" if at else path
        ) from None
    except RecursionError:
        raise TranslationError(f"{what} is nested too deeply to read", field=at or None) from None


def _of_the_data(data: object, loc: Sequence[int | str], *, missing: bool) -> tuple[int | str, ...]:
    """`loc` without the parts pydantic adds inside a union (the member's tag, its validator's
    name): keys that no object of `data` on the way has, but the last one of a `missing`
    field."""
    kept: list[int | str] = []
    node: object = data
    for position, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str):
            if part not in node and not (missing and position == len(loc) - 1):
                continue
            node = node.get(part, _ABSENT)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = _ABSENT
        kept.append(part)
    return tuple(kept)


def path_at(text: str, pos: int) -> str | None:
    """The path of the value a JSON text was reading at `pos` (``refunds[0].amount``), as far
    as the text before it tells; None at the top level. Only read for an error message."""
    stack: list[str | int | None] = []  # per open container: the key, the index
    key: str | None = None
    i = 0
    while i < min(pos, len(text)):
        char = text[i]
        if char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if stack and not isinstance(stack[-1], int) and stack[-1] is None:
                key = text[i + 1 : end]
            i = end
        elif char == ":" and stack and not isinstance(stack[-1], int):
            stack[-1] = key
        elif char in "{[":
            stack.append(0 if char == "[" else None)
        elif char in "}]" and stack:
            stack.pop()
        elif char == "," and stack:
            stack[-1] = stack[-1] + 1 if isinstance(stack[-1], int) else None
        i += 1
    parts = [part for part in stack if part is not None]
    return field_path(parts) if parts else None


WHOLE_BODY: Final = "(body)"
"""The field path of an error about the body as a whole."""


def field_path(loc: Sequence[int | str]) -> str:
    """A location as a path: ``("refund_line_items", 0, "quantity")`` is
    ``refund_line_items[0].quantity``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or WHOLE_BODY


_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")
_ABSENT: Final = object()


def path_steps(path: str) -> tuple[str | int, ...]:
    """The keys and indexes of a field path: ``refunds[0].amount`` is
    ``("refunds", 0, "amount")``."""
    return tuple(key or int(index) for key, index in _STEP.findall(path))


class Payload:
    """A parsed body read field path by field path (``line_items[0].quantity``), each read a
    typed value or a `TranslationError` naming the path.

    `Payload.parse(body, what)` parses once; `at(path)` gives the reader of a nested object,
    `each(path)` the readers of a list's items, so paths in errors stay whole.
    """

    def __init__(self, value: object, what: str, path: str = "") -> None:
        self._value = value
        self._what = what
        self._path = path

    @classmethod
    def parse(cls, body: bytes, what: str) -> Payload:
        """The reader of `body`, a JSON object; `what` names it in messages."""
        return cls(parse_json(body, what), what)

    @property
    def value(self) -> object:
        """The JSON value this reader reads from."""
        return self._value

    def has(self, path: str) -> bool:
        """Whether `path` names a value other than null."""
        return self._lookup(path) not in (_ABSENT, None)

    def at(self, path: str) -> Payload:
        """The reader of the object at `path`."""
        value = self._require(path)
        if not isinstance(value, dict):
            self._fail(path, f"must be an object, not {_json_type(value)}")
        return Payload(value, self._what, self._full(path))

    def each(self, path: str) -> Iterator[Payload]:
        """The reader of each item of the list at `path` (null or absent: none)."""
        value = self._lookup(path)
        if value in (_ABSENT, None):
            return
        if not isinstance(value, list):
            self._fail(path, f"must be a list, not {_json_type(value)}")
        for index, item in enumerate(value):
            yield Payload(item, self._what, f"{self._full(path)}[{index}]")

    def text(self, path: str, *, max_length: int = 255) -> str:
        """The non-blank string at `path`, stripped, of at most `max_length` characters."""
        value = self._require(path)
        if not isinstance(value, str) or not value.strip():
            self._fail(path, "must be a non-blank string")
        text = value.strip()
        if len(text) > max_length:
            self._fail(path, f"is longer than {max_length} characters")
        return text

    def id(self, path: str) -> str:
        """The id at `path` (a JSON integer or a string of digits, at most `LONGEST_ID`
        digits) as a decimal string."""
        value = self._require(path)
        try:
            return str(_id(value))
        except ValueError as exc:
            self._fail(path, str(exc))

    def quantity(self, path: str) -> int:
        """The quantity at `path`: a JSON integer, zero or more, at most 10^9."""
        value = self._require(path)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
            self._fail(path, f"must be a whole number of units from 0 to 10^9, not {value!r}")
        return value

    def currency(self, path: str) -> Currency:
        """The ISO 4217 currency whose code is at `path`."""
        value = self._require(path)
        if not isinstance(value, str):
            self._fail(path, f"must be an ISO 4217 code, not {_json_type(value)}")
        return known_currency(value, self._full(path))

    def amount(self, path: str, currency: Currency | str) -> Money:
        """The amount at `path` (a decimal string or JSON number) in `currency`: finite, of at
        most 18 digits before the point and no more decimals than the currency has."""
        value = self._require(path)
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self._fail(path, f"must be a decimal amount, not {_json_type(value)}")
        try:
            number = _bounded_amount(Decimal(value.strip() if isinstance(value, str) else value))
        except ArithmeticError:
            self._fail(path, f"{value!r} is not a decimal amount")
        except ValueError as exc:
            self._fail(path, str(exc))
        if not number.is_finite():
            self._fail(path, f"{value!r} is not a finite amount")
        return amount_in(number, currency, self._full(path))

    def timestamp(self, path: str) -> datetime:
        """The ISO 8601 time at `path`, which must state its offset from UTC."""
        value = self._require(path)
        if not isinstance(value, str):
            self._fail(path, f"must be an ISO 8601 time, not {_json_type(value)}")
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            self._fail(path, f"{value!r} is not an ISO 8601 time")
        if when.utcoffset() is None:
            self._fail(path, f"{value!r} does not say its offset from UTC")
        return when

    def choice(self, path: str, choices: Collection[str]) -> str:
        """The string at `path`, which must be one of `choices`."""
        value = self._require(path)
        if not isinstance(value, str) or value not in choices:
            listed = ", ".join(sorted(choices))
            self._fail(path, f"{value!r} is not one of {listed}")
        return str(value)

    def model(self, path: str, model: type[M]) -> M:
        """The value at `path` read as the pydantic `model` (see `Body`)."""
        prefix = self._full(path)
        return validate(self._require(path), model, self._what, at=f"{prefix}." if prefix else "")

    def _full(self, path: str) -> str:
        if not path:
            return self._path
        if not self._path:
            return path
        return f"{self._path}{path}" if path.startswith("[") else f"{self._path}.{path}"

    def _lookup(self, path: str) -> object:
        node = self._value
        for step in path_steps(path):
            if isinstance(step, str) and isinstance(node, dict):
                node = node.get(step, _ABSENT)
            elif isinstance(step, int) and isinstance(node, list) and step < len(node):
                node = node[step]
            else:
                return _ABSENT
            if node is _ABSENT:
                return node
        return node

    def _require(self, path: str) -> object:
        value = self._lookup(path)
        if value is _ABSENT:
            self._fail(path, "is missing")
        if value is None:
            self._fail(path, "is null")
        return value

    def _fail(self, path: str, message: str) -> NoReturn:
        raise TranslationError(f"{message} in the {self._what}", field=self._full(path) or None)


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
