"""Reading a body into typed values: every failure a `TranslationError` naming the path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, model_validator

from passerelle.amounts import EXACT, amount_of, known_currency
from passerelle.money import Money
from passerelle.payloads import Amount, Body, Count, Id, Items, Payload, parse_model, path_steps
from passerelle.platforms import TranslationError

BODY = json.dumps(
    {
        "id": 820982911946154508,
        "currency": "JPY",
        "created_at": "2026-01-15T10:12:00-05:00",
        "status": "refunded",
        "line_items": [
            {"id": "4711", "quantity": 2, "price": "1500"},
            {"id": 4712, "quantity": 0, "price": 99.5, "note": None},
        ],
        "customer": {"name": "  Ada  "},
    }
).encode()


def failure(read: object) -> tuple[str | None, str]:
    assert callable(read)
    with pytest.raises(TranslationError) as caught:
        read()
    return caught.value.field, str(caught.value)


def test_typed_values_are_read_by_path() -> None:
    body = Payload.parse(BODY, "refund body")
    yen = body.currency("currency")
    items = list(body.each("line_items"))

    assert body.id("id") == "820982911946154508"
    assert yen.code == "JPY"
    assert body.timestamp("created_at") == datetime(2026, 1, 15, 15, 12, tzinfo=UTC)
    assert body.choice("status", {"refunded", "paid"}) == "refunded"
    assert body.text("customer.name") == "Ada"
    assert [item.id("id") for item in items] == ["4711", "4712"]
    assert items[0].quantity("quantity") == 2
    assert items[0].amount("price", yen) == Money.of("1500", "JPY")
    assert body.has("line_items[1].price")
    assert not body.has("line_items[1].note")
    assert list(body.each("refunds")) == []


@pytest.mark.parametrize(
    ("read", "field", "says"),
    [
        (lambda p: p.id("missing"), "missing", "is missing"),
        (lambda p: p.text("line_items[1].note"), "line_items[1].note", "is null"),
        (lambda p: p.amount("line_items[1].price", "JPY"), "line_items[1].price", "decimals"),
        (lambda p: p.quantity("line_items[0].price"), "line_items[0].price", "whole number"),
        (lambda p: p.currency("status"), "status", "unknown currency 'refunded'"),
        (lambda p: p.choice("status", {"paid"}), "status", "is not one of paid"),
        (lambda p: p.timestamp("status"), "status", "not an ISO 8601 time"),
        (lambda p: p.at("status"), "status", "must be an object"),
        (lambda p: list(p.each("customer")), "customer", "must be a list"),
        (lambda p: p.text("customer.name", max_length=2), "customer.name", "longer than 2"),
    ],
)
def test_each_failure_names_its_path(read: object, field: str, says: str) -> None:
    body = Payload.parse(BODY, "refund body")
    got_field, message = failure(lambda: read(body))  # type: ignore[operator]
    assert got_field == field
    assert says in message
    assert message.startswith(f"{field}: ")


def test_a_local_time_is_refused_and_ids_and_amounts_are_bounded() -> None:
    body = Payload(
        {
            "at": "2026-01-15T10:12:00",
            "id": "9" * 41,
            "total": "1" * 28,
            "back": -1,
            "inf": "Infinity",
        },
        "body",
    )
    assert "offset from UTC" in failure(lambda: body.timestamp("at"))[1]
    assert "at most 40 digits" in failure(lambda: body.id("id"))[1]
    assert "at most 18 digits" in failure(lambda: body.amount("total", "EUR"))[1]
    assert "0 to 10^9" in failure(lambda: body.quantity("back"))[1]
    assert "not a finite amount" in failure(lambda: body.amount("inf", "EUR"))[1]


def test_an_aware_time_keeps_its_offset() -> None:
    when = Payload({"at": "2026-01-15T10:12:00+09:00"}, "body").timestamp("at")
    assert when.utcoffset() == timedelta(hours=9)
    assert when == datetime(2026, 1, 15, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (b"{", None, "is not JSON: Expecting property name"),
        (b'{"a": [1, }', "a[1]", "is not JSON"),
        (b"[]", None, "is not a JSON object but a array"),
        (b"\xff\xfe\x00{", None, "is not JSON"),
        (b'{"a": NaN}', None, "NaN is not a number"),
        (b"[" * 5000 + b"]" * 5000, None, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_translation_error(
    body: bytes, field: str | None, says: str
) -> None:
    got_field, message = failure(lambda: Payload.parse(body, "acme body"))
    assert got_field == field
    assert says in message


class Line(Body):
    id: Id
    quantity: Count
    price: Amount


class Order(Body):
    id: Id
    lines: Items[Line] = ()


def test_a_model_reads_exact_values_and_names_the_failing_path() -> None:
    order = parse_model(
        b'{"id": 9007199254740993, "lines": [{"id": "7", "quantity": 1, "price": 0.1}]}',
        Order,
        "order body",
    )
    assert order.id == 9007199254740993
    assert order.lines[0].price == Decimal("0.1")
    assert parse_model(b'{"id": 1, "lines": null}', Order, "order body").lines == ()

    field, message = failure(
        lambda: parse_model(b'{"id": 1, "lines": [{"id": 1.5}]}', Order, "order body")
    )
    assert field == "lines[0].id"
    assert "JSON integer" in message
    assert "in the order body" in message
    assert failure(lambda: parse_model(b'{"id": true}', Order, "b"))[0] == "id"
    assert failure(lambda: parse_model(b'{"id": "1' + b"0" * 40 + b'"}', Order, "b"))[0] == "id"


def test_a_nested_model_is_read_under_its_path() -> None:
    body = Payload({"order": {"lines": [{"id": 1, "quantity": -1, "price": "1"}]}}, "body")
    field, message = failure(lambda: body.at("order").model("lines[0]", Line))
    assert field == "order.lines[0].quantity"
    assert "greater than or equal to 0" in message


def test_amounts_add_up_exactly_and_are_checked_against_their_currency() -> None:
    eur = known_currency("eur", "currency")
    total = Decimal(0)
    for _ in range(10):
        total = EXACT.add(total, amount_of(Decimal("0.10"), eur, "price"))
    assert total == Decimal("1.00")
    assert failure(lambda: amount_of(Decimal("0.001"), eur, "price"))[0] == "price"
    assert failure(lambda: known_currency("EURO", "currency"))[0] == "currency"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.decimals(allow_nan=True, allow_infinity=True).map(str),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


@given(value=JSON)
def test_no_value_at_a_path_raises_anything_but_a_translation_error(value: object) -> None:
    body = Payload({"v": value}, "body")
    reads = [
        lambda: body.id("v"),
        lambda: body.text("v"),
        lambda: body.quantity("v"),
        lambda: body.currency("v"),
        lambda: body.amount("v", "EUR"),
        lambda: body.timestamp("v"),
        lambda: body.choice("v", {"a"}),
        lambda: body.at("v"),
        lambda: list(body.each("v")),
        lambda: body.model("v", Line),
    ]
    for read in reads:
        failed: TranslationError | None = None
        try:
            read()
        except TranslationError as exc:
            failed = exc
        if failed is not None:
            assert failed.field is not None
            assert failed.field.startswith("v")


class _Shipped(Body):
    kind: Literal["shipped"]
    parcels: Count


class _Returned(Body):
    kind: Literal["returned"]
    units: Count

    @model_validator(mode="after")
    def _some_units(self) -> _Returned:
        if not self.units:
            raise ValueError("a return returns some units")
        return self


class _Delivery(Body):
    acts: list[Annotated[_Shipped | _Returned, Field(discriminator="kind")]]


def test_a_failing_path_inside_a_union_names_only_the_bodys_fields() -> None:
    body = {"acts": [{"kind": "shipped", "parcels": 1}, {"kind": "returned"}]}
    with pytest.raises(TranslationError) as refused:
        parse_model(json.dumps(body).encode(), _Delivery, "delivery")
    # pydantic's location holds the member's tag: acts.1.returned.units
    assert refused.value.field == "acts[1].units"
    assert path_steps("acts[1].units") == ("acts", 1, "units")
    assert path_steps(refused.value.field) == ("acts", 1, "units")
    # A model's own rule: pydantic's location ends with the member's tag, acts.0.returned
    body = {"acts": [{"kind": "returned", "units": 0}]}
    with pytest.raises(TranslationError) as refused:
        parse_model(json.dumps(body).encode(), _Delivery, "delivery")
    assert (refused.value.field, refused.value.message) == (
        "acts[0]",
        "a return returns some units in the delivery",
    )
