"""`top_level_fields`: the wanted fields of a JSON object, exactly as a full parse gives them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.json_fields import top_level_fields

_NAMES = st.sampled_from(["id", "order_id", "order", "note", "line_items", "é", 'a"b', "x"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)


def _objects() -> st.SearchStrategy[dict[str, Any]]:
    # Long filler fields put the wanted ones before, across and after the first KiB.
    filler = st.text(min_size=0, max_size=900)
    return st.dictionaries(_NAMES | st.text(max_size=6), _VALUES | filler, max_size=8)


@settings(max_examples=400)
@given(
    obj=_objects(),
    wanted=st.sets(_NAMES, min_size=1, max_size=3),
    indent=st.sampled_from([None, 2]),
    ascii_only=st.booleans(),
)
def test_same_fields_as_a_full_parse(
    obj: dict[str, Any], wanted: set[str], indent: int | None, ascii_only: bool
) -> None:
    body = json.dumps(obj, indent=indent, ensure_ascii=ascii_only).encode()
    expected = {name: obj[name] for name in wanted if name in obj}
    assert top_level_fields(body, wanted) == expected


@given(
    digits=st.integers(min_value=1, max_value=40), pad=st.integers(min_value=980, max_value=1030)
)
def test_a_number_cut_at_the_first_kib_is_read_whole(digits: int, pad: int) -> None:
    number = int("9" * digits)
    body = b'{"note": "' + b"n" * pad + b'", "id": ' + str(number).encode() + b', "more": 1}'
    assert top_level_fields(body, ["id"]) == {"id": number}


def test_ids_above_2_53_stay_exact() -> None:
    body = json.dumps({"id": 2**63 + 1, "note": "x" * 4000}).encode()
    assert top_level_fields(body, ["id"]) == {"id": 2**63 + 1}
    assert type(top_level_fields(body, ["id"])["id"]) is int


def test_a_nested_field_of_the_same_name_is_not_taken() -> None:
    body = json.dumps({"order": {"id": 1}, "note": "x" * 3000}).encode()
    assert top_level_fields(body, ["id"]) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"id": 1', "EOF while parsing an object at line 1 column 8"),
        (b"", "EOF while parsing a value at line 1 column 0"),
        (b'{"id": 1}\n  x', "trailing characters at line 2 column 3"),
        (b"[1, 2]", "Input should be an object"),
        (b'{"note": "' + b"x" * 2000 + b'", "id": }', "expected value at line 1 column"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_with_its_position(
    body: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        top_level_fields(body, ["id"])
