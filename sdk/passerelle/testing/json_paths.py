"""Values of a JSON document by path: the paths the malformed-body sweep and a sample's
variants change, and the field paths a `TranslationError` names (``refunds[0].amount``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from passerelle.payloads import path_steps

__all__ = ["REMOVED", "JsonPath", "changed", "document_of", "resolves", "value_at"]

JsonPath = tuple[str | int, ...]
"""Keys and indexes from the document's root: ``("refunds", 0, "amount")``."""


class _Removed:
    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Final = _Removed()
"""Put in place of a value to remove it (its key from an object, its item from a list)."""


def document_of(body: bytes) -> object:
    """The JSON document `body` holds; None when it holds none (or nests too deeply)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def value_at(document: object, path: Sequence[str | int]) -> object:
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
    try:
        value_at(document, path_steps(field))
    except (KeyError, IndexError, TypeError):
        return False
    return True


def changed(node: Any, path: Sequence[str | int], value: object) -> Any:
    """A copy of `node` with the value at `path` replaced by `value` (`REMOVED` removes it, a
    key an object lacks is added); `KeyError`, `IndexError` or `TypeError` when `path` leads
    through no container."""
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
    else:
        copy[head] = value
    return copy
