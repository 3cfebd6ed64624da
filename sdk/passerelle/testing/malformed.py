"""Malformed deliveries every platform must survive: awkward bodies, random ones, and the
enumerated sweep of a sample's every value removed, made null or given the wrong shape."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Final

from hypothesis import strategies as st

from passerelle.testing.json_paths import REMOVED, changed, document_of, value_at

__all__ = [
    "AWKWARD_BODIES",
    "NOT_LATIN1",
    "malformed_bodies",
    "swept",
]

AWKWARD_BODIES: Final[tuple[bytes, ...]] = (
    b"",
    b" \r\n",
    b"null",
    b"true",
    b"0",
    b"-1.5e400",
    b'"text"',
    b"[]",
    b"{}",
    b"[{}]",
    b"{",
    b'{"id":',
    b"NaN",
    b'{"id": Infinity}',
    b"\xff\xfe\x00{",
    b"\xef\xbb\xbf{}",
    "{}".encode("utf-16"),
    # Python refuses integers of more than 4300 digits with ValueError, not JSONDecodeError.
    b'{"id": ' + b"9" * 5000 + b"}",
    b"[" * 200 + b"]" * 200,
    b"webhook_id=1",
    b"<html><body>502 Bad Gateway</body></html>",
    b"\x00" * 16,
)
"""Bodies every platform must survive, signed: tried before the random ones."""

# Values a field of any type may be replaced by: wrong types, empties, ids beyond a float's
# precision, amounts a Decimal reads as infinite.
_AWKWARD_VALUES: Final[tuple[object, ...]] = (
    None,
    "",
    " ",
    0,
    -1,
    2**53 + 1,
    1.5,
    True,
    [],
    {},
    "x",
    "1e400",
    "NaN",
)
_MOST_PATHS: Final = 500
NOT_LATIN1: Final = "\u20ac\u2603".encode()
"""A header value's bytes outside Latin-1 text as the receiver decodes them (UTF-8 of €☃)."""


def malformed_bodies(body: bytes) -> st.SearchStrategy[bytes]:
    """Bodies a platform must survive, signed: random bytes and text, JSON of any shape, and
    `body` (when JSON) with one value replaced by another of any type, or removed."""
    choices = [
        st.binary(max_size=64),
        st.text(max_size=32).map(str.encode),
        _json_values().map(_dumps),
    ]
    document = document_of(body)
    paths = _paths(document)
    if paths:
        replacement = st.one_of(_json_values(), st.just(REMOVED))
        one_changed = st.builds(
            lambda path, value: _dumps(changed(document, path, value)),
            st.sampled_from(paths),
            replacement,
        )
        choices += [one_changed, one_changed]
    return st.one_of(choices)


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.sampled_from(_AWKWARD_VALUES),
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


def swept(body: bytes) -> Iterator[bytes]:
    """`body` with each value, at every depth, removed, made null and replaced by values of the
    wrong shape for it (see `_wrong_values`), one at a time, deterministically. Of a list's
    items, a path is swept in the first item that has it: the others are read by the same
    code, and sweeping each would make the suite too slow to run on every change."""
    document = document_of(body)
    seen: set[tuple[str | int, ...]] = set()
    for path in _paths(document):
        shape = tuple("[]" if isinstance(key, int) else key for key in path)
        if shape in seen:
            continue
        seen.add(shape)
        for value in (REMOVED, None, *_wrong_values(value_at(document, path))):
            yield _dumps(changed(document, path, value))


_DEEP: Final = json.loads("[" * 64 + "]" * 64)
"""A list nested 64 deep, where an object or a list was: recursion that is not bounded."""


def _wrong_values(value: object) -> tuple[object, ...]:
    """Values a field holding `value` must survive: another type, empties, deep nesting,
    numbers too large for a float or a Decimal's context, text that is not ASCII."""
    if isinstance(value, dict):
        return ([], "x", _DEEP)
    if isinstance(value, list):
        return ({}, "x", [], _DEEP) if value else ({}, "x", _DEEP)
    if isinstance(value, bool):
        return ("x", 2)
    if isinstance(value, int | float):
        return ("x", -(10**40), "9" * 30, 1.5e308, "1e400")
    if isinstance(value, str):
        return (0, "", "\u20ac\U0001f600", "9" * 300)
    return ("x", 0)


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def _paths(document: object) -> list[tuple[str | int, ...]]:
    """Paths to the values of `document`, shallowest first, at most `_MOST_PATHS`."""
    paths: list[tuple[str | int, ...]] = []
    queue: deque[tuple[tuple[str | int, ...], object]] = deque([((), document)])
    while queue and len(paths) < _MOST_PATHS:
        path, node = queue.popleft()
        children: Sequence[tuple[str | int, object]] = (
            list(node.items())
            if isinstance(node, dict)
            else list(enumerate(node))
            if isinstance(node, list)
            else []
        )
        for key, child in children:
            paths.append((*path, key))
            queue.append(((*path, key), child))
    return paths[:_MOST_PATHS]
