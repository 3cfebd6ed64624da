"""Values of a JSON document by path: the paths the malformed-body sweep and a sample's
variants change, and the field paths a `TranslationError` names (``refunds[0].amount``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from passerelle.payloads import field_path, path_steps

__all__ = [
    "REMOVED",
    "Added",
    "JsonPath",
    "changed",
    "document_of",
    "names_a_field",
    "resolves",
    "value_at",
    "with_changes",
]

JsonPath = tuple[str | int, ...]
"""Keys and indexes from the document's root: ``("refunds", 0, "amount")``."""


class _Removed:
    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Final = _Removed()
"""Put in place of a value to remove it (its key from an object, its item from a list)."""


@dataclass(frozen=True)
class Added:
    """Put around a value to add the field an object lacks (a plain value replaces one, so a
    mistyped name is an error, not a new field)."""

    value: object


def document_of(body: bytes) -> object:
    """The JSON document `body` holds; None when it holds none (or nests too deeply)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def value_at(document: object, path: JsonPath) -> object:
    """The value at `path`; `KeyError`, `IndexError` or `TypeError` when there is none."""
    node: Any = document
    for key in path:
        # JSON has no other containers: a string is not indexed by position.
        if isinstance(key, str) is not isinstance(node, dict) or not isinstance(node, dict | list):
            raise TypeError(f"{type(node).__name__} has no {key!r}")
        container: Any = node
        node = container[key]
    return node


def resolves(document: object, field: str) -> bool:
    """Whether the field path `field` names a value of `document` (null included)."""
    return _has(document, path_steps(field))


def _has(document: object, path: JsonPath) -> bool:
    try:
        value_at(document, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def names_a_field(field: str, body: object, sources: tuple[object, ...]) -> bool:
    """Whether `field` names a value of `body` or of a document it was made from (`sources`),
    or a key missing from an object of `body` that none of `sources` has: an object the
    change added, whose keys only the platform knows."""
    steps = path_steps(field)
    if any(_has(document, steps) for document in (body, *sources)):
        return True
    parent = steps[:-1]
    if not parent or not _has(body, parent):
        return False
    added = value_at(body, parent)
    return isinstance(added, dict) and not any(_has(source, parent) for source in sources)


def changed(node: Any, path: JsonPath, value: object) -> Any:
    """A copy of `node` with the value at `path` replaced by `value` (`REMOVED` removes it,
    `Added` adds it); `KeyError`, `IndexError` or `TypeError` when `path` names no value of
    `node`."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(head, str):
        copy: Any = dict(node)
    elif isinstance(node, list) and isinstance(head, int):
        copy = list(node)
    else:
        raise TypeError(f"{type(node).__name__} has no {head!r}")
    if rest:
        copy[head] = changed(node[head], rest, value)
    elif value is REMOVED:
        del copy[head]
    elif isinstance(value, Added) and isinstance(copy, dict):
        copy[head] = value.value
    elif isinstance(copy, dict) and head not in copy:
        raise KeyError(head)
    else:
        copy[head] = value
    return copy


def with_changes(document: object, changes: Mapping[str, object]) -> object:
    """`document` with the value at each field path of `changes` replaced (`REMOVED` removes
    one); a `ValueError` naming a path that is malformed or names no value of `document`."""
    for path, value in changes.items():
        steps = path_steps(path)
        if field_path(steps) != path:
            raise ValueError(f"{path!r} is not a field path such as refunds[0].amount")
        try:
            document = changed(document, steps, value)
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"no field {path} (Added(value) adds one)") from None
    return document
