"""The payment back end's wire contract: amounts in minor units, strict requests, checked views."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import JsonSchemaMode

from passerelle.backend import models
from passerelle.backend.models import (
    Amount,
    BatchCreate,
    BatchEntriesCreate,
    BatchEntryItem,
    BatchFileUpload,
    BatchTotals,
    BatchView,
    CancellationCreate,
    CartLineItem,
    CartUpdate,
    DisbursementDay,
    DisbursementOrder,
    DisbursementQuery,
    FieldError,
    LineQuantityItem,
    OrderCreate,
    OrderLineView,
    OrderView,
    PaymentPlan,
    Problem,
    ReturnCreate,
    ShipmentCreate,
    field_errors,
)
from passerelle.batches import BatchEntry, Direction
from passerelle.events import (
    CancelReason,
    CartLine,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
    Tracking,
)
from passerelle.money import Money

NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)


def cad(amount: str) -> Money:
    return Money.of(amount, "CAD")


def order_payload(**line: Any) -> dict[str, Any]:
    base = {
        "reference": "L1",
        "name": "Mug",
        "unit_price": {"minor": 1250, "currency": "CAD"},
        "quantity": 2,
    }
    return {"reference": "ORD-1", "currency": "CAD", "lines": [base | line]}


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(e["loc"]), e["msg"]) for e in exc.value.errors()]


def line_view(**fields: Any) -> OrderLineView:
    base: dict[str, Any] = {
        "reference": "L1",
        "name": "Mug",
        "type": "product",
        "unit_price": {"minor": 1250, "currency": "CAD"},
        "ordered": 2,
        "shipped": 0,
        "cancelled": 0,
        "returned": 0,
    }
    return OrderLineView.model_validate(base | fields)


def entry(**fields: Any) -> BatchEntryItem:
    base: dict[str, Any] = {
        "direction": "credit",
        "amount": {"minor": 150000, "currency": "CAD"},
        "payee": "Jo Tremblay",
        "account": "1234567",
        "institution": "001",
        "transit": "12345",
    }
    return BatchEntryItem.model_validate(base | fields)


# Amounts


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [("1234", "JPY", 1234), ("12.34", "CAD", 1234), ("1.234", "BHD", 1234), ("-0.05", "CAD", -5)],
)
def test_amount_round_trips_money_through_minor_units(amount: str, code: str, minor: int) -> None:
    money = Money.of(amount, code)
    wire = Amount.from_money(money)
    assert wire == Amount(minor=minor, currency=code)
    assert wire.to_money() == money
    assert json.loads(wire.model_dump_json()) == {"minor": minor, "currency": code}


@pytest.mark.parametrize(("amount", "code"), [("1234", "JPY"), ("12.34", "CAD"), ("1.234", "BHD")])
def test_money_fields_travel_as_minor_units(amount: str, code: str) -> None:
    refund = Money.of(amount, code)
    request = ReturnCreate(event_id="r1", refund=refund)
    body = json.loads(request.model_dump_json())
    assert body["refund"] == {"minor": 1234, "currency": code}
    assert ReturnCreate.model_validate_json(request.model_dump_json()).refund == refund


@settings(max_examples=60)
@given(
    minor=st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    code=st.sampled_from(["JPY", "CAD", "BHD"]),
)
def test_any_minor_amount_round_trips_exactly(minor: int, code: str) -> None:
    money = Money.from_minor(minor, code)
    wire = Amount.model_validate_json(Amount.from_money(money).model_dump_json())
    assert wire.minor == minor
    assert wire.to_money() == money


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (
            {"unit_price": {"minor": 12.5, "currency": "CAD"}},
            "minor",
            "Input should be a valid integer",
        ),
        (
            {"unit_price": {"minor": 1250.0, "currency": "CAD"}},
            "minor",
            "Input should be a valid integer",
        ),
        (
            {"unit_price": {"minor": True, "currency": "CAD"}},
            "minor",
            "Input should be a valid integer",
        ),
        (
            {"unit_price": {"minor": "1250", "currency": "CAD"}},
            "minor",
            "Input should be a valid integer",
        ),
        ({"quantity": 2.0}, None, "Input should be a valid integer"),
        ({"quantity": False}, None, "Input should be a valid integer"),
    ],
)
@pytest.mark.parametrize("mode", ["json", "python"])
def test_floats_bools_and_strings_are_refused_where_integers_go(
    value: dict[str, Any], field: str | None, message: str, mode: str
) -> None:
    payload = order_payload(**value)

    def validate() -> None:
        if mode == "json":
            OrderCreate.model_validate_json(json.dumps(payload))
        else:
            OrderCreate.model_validate(payload)

    with pytest.raises(ValidationError) as info:
        validate()
    loc = ("lines", 0, "unit_price", "minor") if field else ("lines", 0, "quantity")
    assert errors_of(info) == [(loc, message)]


def test_money_amount_with_decimal_string_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        OrderCreate.model_validate(order_payload(unit_price={"amount": "12.50", "currency": "CAD"}))
    assert errors_of(info)[0][0] == ("lines", 0, "unit_price", "minor")


def test_unknown_currency_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as info:
        Amount.model_validate({"minor": 1, "currency": "XYZ"})
    assert errors_of(info) == [
        (
            ("currency",),
            "Value error, unknown currency 'XYZ': expected an ISO 4217 code such as CAD",
        )
    ]


def test_amount_beyond_the_safe_integer_range_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        Amount.model_validate({"minor": 2**53, "currency": "CAD"})
    assert errors_of(info)[0][0] == ("minor",)


# Orders


def test_order_lines_must_be_in_the_order_currency() -> None:
    with pytest.raises(ValidationError) as info:
        OrderCreate.model_validate(order_payload(unit_price={"minor": 5, "currency": "USD"}))
    assert errors_of(info) == [
        (("lines", 0, "unit_price", "currency"), "line 'L1' is in USD, the order is in CAD")
    ]
    assert info.value.errors()[0]["type"] == "currency_mismatch"


def test_order_needs_a_line() -> None:
    with pytest.raises(ValidationError) as info:
        OrderCreate.model_validate({"reference": "ORD-1", "currency": "CAD", "lines": []})
    assert errors_of(info) == [(("lines",), "Value error, must hold at least one item")]


def test_order_line_references_are_unique() -> None:
    payload = order_payload()
    payload["lines"] = payload["lines"] * 2
    with pytest.raises(ValidationError) as info:
        OrderCreate.model_validate(payload)
    assert errors_of(info) == [
        (("lines", 1, "reference"), "line reference 'L1' appears more than once")
    ]


def test_requests_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError) as info:
        OrderCreate.model_validate(order_payload() | {"total": 2500})
    assert errors_of(info) == [(("total",), "Extra inputs are not permitted")]


def test_responses_ignore_unknown_fields() -> None:
    view = line_view(color="blue")
    assert not hasattr(view, "color")


@pytest.mark.parametrize(
    ("line_type", "minor", "message"),
    [
        ("discount", 100, "discount line 'L1' has a positive unit_price"),
        ("product", -100, "product line 'L1' has a negative unit_price; only a discount line may"),
        ("handling", -1, "handling line 'L1' has a negative unit_price; only a discount line may"),
    ],
)
def test_only_discounts_have_negative_prices(line_type: str, minor: int, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        CartLineItem.model_validate(
            {
                "reference": "L1",
                "name": "x",
                "type": line_type,
                "unit_price": {"minor": minor, "currency": "CAD"},
                "quantity": 1,
            }
        )
    assert errors_of(info) == [(("unit_price", "minor"), message)]


def test_cart_total_must_not_be_negative() -> None:
    lines = [
        CartLineItem(reference="A", name="Mug", unit_price=cad("5.00"), quantity=1),
        CartLineItem(
            reference="D", name="Promo", type=LineType.DISCOUNT, unit_price=cad("-6.00"), quantity=1
        ),
    ]
    with pytest.raises(ValidationError) as info:
        CartUpdate(event_id="e1", cart=tuple(lines))
    assert errors_of(info) == [(("cart",), "the cart total -1.00 CAD is negative")]


def test_return_needs_lines_or_a_refund() -> None:
    with pytest.raises(ValidationError) as info:
        ReturnCreate(event_id="r1", refund=cad("0"))
    assert errors_of(info) == [
        (("refund",), "a return needs returned lines or a refund above zero")
    ]
    goods_only = ReturnCreate(
        event_id="r1", lines=(LineQuantityItem(line="L1", quantity=1),), refund=cad("0")
    )
    assert goods_only.refund.is_zero()


def test_negative_refund_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        ReturnCreate(event_id="r1", refund=cad("-1"))
    assert errors_of(info) == [(("refund",), "Value error, refund -1.00 CAD is negative")]


def test_shipment_names_each_line_once() -> None:
    with pytest.raises(ValidationError) as info:
        ShipmentCreate.model_validate(
            {
                "event_id": "f1",
                "lines": [{"line": "L1", "quantity": 1}, {"line": "L1", "quantity": 2}],
            }
        )
    assert errors_of(info) == [(("lines", 1, "line"), "line 'L1' appears more than once")]


def test_shipment_without_lines_ships_everything_and_an_empty_list_is_refused() -> None:
    assert ShipmentCreate(event_id="f1").lines is None
    with pytest.raises(ValidationError) as info:
        ShipmentCreate.model_validate({"event_id": "f1", "lines": []})
    assert errors_of(info) == [(("lines",), "Value error, must hold at least one item")]


def test_requests_are_built_from_lifecycle_events() -> None:
    shipped = OrderShipped(
        order="ORD-1",
        id="f1",
        lines=(LineQuantity(line="L1", quantity=1),),
        tracking=Tracking(carrier="UPS", number="1Z999"),
    )
    shipment = ShipmentCreate.from_event(shipped)
    assert shipment.model_dump(mode="json") == {
        "event_id": "f1",
        "lines": [{"line": "L1", "quantity": 1}],
        "tracking": {"carrier": "UPS", "number": "1Z999", "url": None},
    }
    cancelled = CancellationCreate.from_event(
        OrderCancelled(order="ORD-1", id="c1", reason=CancelReason.FRAUD)
    )
    assert (cancelled.event_id, cancelled.lines, cancelled.reason) == (
        "c1",
        None,
        CancelReason.FRAUD,
    )
    returned = ReturnCreate.from_event(
        OrderReturned(order="ORD-1", id="r1", refund=cad("4.99"), reason="damaged")
    )
    assert (returned.lines, returned.refund, returned.reason) == ((), cad("4.99"), "damaged")
    edited = CartUpdate.from_event(
        OrderEdited(
            order="ORD-1",
            id="e1",
            cart=(CartLine(reference="L1", name="Mug", unit_price=cad("12.50"), quantity=3),),
        )
    )
    assert edited.cart[0].total == cad("37.50")


def test_order_line_ledger_must_add_up() -> None:
    with pytest.raises(
        ValidationError, match=r"line 'L1': shipped 2 \+ cancelled 1 exceeds ordered 2"
    ):
        line_view(shipped=2, cancelled=1)
    with pytest.raises(ValidationError, match="line 'L1': returned 2 exceeds shipped 1"):
        line_view(shipped=1, returned=2)
    assert line_view(shipped=1).unshipped == 1


def test_order_view_parses_and_finds_lines() -> None:
    view = OrderView.model_validate_json(
        json.dumps(
            {
                "reference": "ORD-1",
                "currency": "CAD",
                "status": "partially_shipped",
                "lines": [line_view(shipped=1).model_dump(mode="json")],
                "authorized": {"minor": 2500, "currency": "CAD"},
                "captured": {"minor": 1250, "currency": "CAD"},
                "refunded": {"minor": 0, "currency": "CAD"},
                "voided": {"minor": 0, "currency": "CAD"},
                "created_at": "2025-03-14T12:00:00Z",
            }
        )
    )
    assert view.captured == cad("12.50")
    assert view.line("L1").shipped == 1
    with pytest.raises(KeyError, match="order 'ORD-1' has no line 'L9'"):
        view.line("L9")


def test_order_view_becomes_the_ledger_it_describes() -> None:
    view = OrderView.model_validate(
        {
            "reference": "ORD-1",
            "currency": "CAD",
            "status": "partially_shipped",
            "lines": [
                line_view(ordered=3, shipped=2, cancelled=0, returned=1).model_dump(mode="json"),
                line_view(reference="H", name="Shipping", type="handling", ordered=1).model_dump(
                    mode="json"
                ),
            ],
            "authorized": {"minor": 5000, "currency": "CAD"},
            "captured": {"minor": 3000, "currency": "CAD"},
            "refunded": {"minor": 1250, "currency": "CAD"},
            "voided": {"minor": 0, "currency": "CAD"},
            "created_at": "2025-03-14T12:00:00Z",
        }
    )
    ledger = view.to_ledger()
    state = ledger.line("L1")
    assert (state.ordered, state.shipped, state.returned, state.to_ship) == (3, 2, 1, 1)
    assert ledger.line("H").line.type is LineType.HANDLING
    assert (ledger.authorized, ledger.captured, ledger.refundable) == (
        cad("50.00"),
        cad("30.00"),
        cad("17.50"),
    )


def test_order_view_that_breaks_the_ledger_rules_cannot_be_mirrored() -> None:
    view = OrderView.model_validate(
        {
            "reference": "ORD-1",
            "currency": "CAD",
            "status": "open",
            "lines": [line_view().model_dump(mode="json")],
            "authorized": {"minor": 100, "currency": "CAD"},
            "captured": {"minor": 200, "currency": "CAD"},
            "refunded": {"minor": 0, "currency": "CAD"},
            "voided": {"minor": 0, "currency": "CAD"},
            "created_at": "2025-03-14T12:00:00Z",
        }
    )
    with pytest.raises(ValueError, match="needs 0 <= refunded <= captured <= authorized"):
        view.to_ledger()


# Payment plans


@settings(max_examples=60)
@given(
    minor=st.integers(min_value=0, max_value=10**9),
    count=st.integers(min_value=1, max_value=12),
    code=st.sampled_from(["JPY", "CAD", "BHD"]),
)
def test_payment_plan_installments_sum_exactly_to_the_balance(
    minor: int, count: int, code: str
) -> None:
    balance = Money.from_minor(minor, code)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=30 * i) for i in range(count)]
    plan = PaymentPlan.allocate(balance, days)
    assert Money.sum((i.amount for i in plan.installments), code) == balance
    amounts = [i.amount.minor for i in plan.installments]
    assert max(amounts) - min(amounts) <= 1
    assert PaymentPlan.model_validate_json(plan.model_dump_json()) == plan


def test_payment_plan_that_does_not_sum_is_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"installments sum to 10\.00 CAD, the balance is 10\.01 CAD"
    ):
        PaymentPlan(
            currency="CAD",
            balance=cad("10.01"),
            installments=(models.Installment(due_date=dt.date(2025, 1, 1), amount=cad("10.00")),),
        )


def test_dates_are_strings_not_timestamps() -> None:
    with pytest.raises(ValidationError) as info:
        models.Installment.model_validate(
            {"due_date": 1741910400, "amount": {"minor": 1, "currency": "CAD"}}
        )
    assert errors_of(info) == [
        (
            ("due_date",),
            "Value error, a date must be an ISO 8601 string such as 2025-03-14, not a number",
        )
    ]


@given(
    st.one_of(
        st.integers(min_value=0, max_value=10**12).map(str),
        st.floats(min_value=0, max_value=1e12, allow_nan=False).map(str),
    )
)
def test_a_number_written_as_text_is_not_a_date_either(number: str) -> None:
    # A query string has only text: `?until=0` must not be read as the Unix epoch.
    with pytest.raises(ValidationError, match="not a number"):
        models.DisbursementQuery.model_validate({"until": number})


# Batches


def test_batch_entry_round_trips_with_the_domain_entry() -> None:
    domain = BatchEntry(
        direction=Direction.DEBIT,
        amount=cad("99.95"),
        payee="Acme",
        account="000123",
        routing="021000021",
        transaction_code="27",
    )
    item = BatchEntryItem.from_entry(domain)
    assert json.loads(item.model_dump_json())["amount"] == {"minor": 9995, "currency": "CAD"}
    assert item.to_entry() == domain


def test_batch_entry_rules_come_from_the_domain_entry() -> None:
    with pytest.raises(ValidationError) as info:
        entry(routing="021000021")
    assert errors_of(info) == [
        ((), "Value error, name the account by institution + transit or by routing, not both")
    ]
    with pytest.raises(ValidationError) as info:
        entry(institution=None, transit=None)
    assert errors_of(info) == [
        (
            (),
            "Value error, an account number needs its bank: institution + transit (Canada) or "
            "routing (US)",
        )
    ]
    with pytest.raises(ValidationError, match=r"amount must be positive, got 0.00 CAD"):
        entry(amount={"minor": 0, "currency": "CAD"})


def test_batch_create_is_a_file_or_entries() -> None:
    adapter: TypeAdapter[BatchFileUpload | BatchEntriesCreate] = TypeAdapter(BatchCreate)
    upload = adapter.validate_python({"file": "QUJD", "encoding": "base64", "format": "nacha"})
    assert isinstance(upload, BatchFileUpload)
    assert upload.content() == b"ABC"
    made = adapter.validate_python(
        {
            "entries": [entry().model_dump(mode="json")],
            "processing_date": "2025-03-17",
            "originator": "ACME",
            "kind": "credit",
            "currency": "CAD",
        }
    )
    assert isinstance(made, BatchEntriesCreate)
    assert made.batch_id is None


def test_base64_batch_file_must_decode() -> None:
    with pytest.raises(ValidationError, match=r"file is not valid base64 \(encoding is 'base64'\)"):
        BatchFileUpload(file="not base64!", encoding="base64")


def test_batch_entries_must_match_the_batch_kind_and_currency() -> None:
    common = {"processing_date": "2025-03-17", "originator": "ACME", "currency": "CAD"}
    debit = entry(direction="debit").model_dump(mode="json")
    with pytest.raises(ValidationError) as info:
        BatchEntriesCreate.model_validate(common | {"kind": "credit", "entries": [debit]})
    assert errors_of(info) == [(("kind",), "kind is credit but the entries make the batch debit")]
    usd = entry(amount={"minor": 1, "currency": "USD"}).model_dump(mode="json")
    with pytest.raises(ValidationError) as info:
        BatchEntriesCreate.model_validate(common | {"kind": "mixed", "entries": [usd]})
    assert errors_of(info) == [
        (("entries", 0, "amount", "currency"), "entry 0 is in USD, the batch in CAD")
    ]
    assert info.value.errors()[0]["type"] == "currency_mismatch"


def test_batch_view_totals_must_match_its_entries() -> None:
    entries = (entry(), entry(direction="debit", amount={"minor": 500, "currency": "CAD"}))
    totals = BatchTotals.of(entries, "CAD")
    assert (totals.credits, totals.credit_count, totals.debits, totals.debit_count) == (
        cad("1500.00"),
        1,
        cad("5.00"),
        1,
    )
    view = {
        "id": "B1",
        "status": "scheduled",
        "processing_date": "2025-03-17",
        "cutoff_at": "2025-03-17T18:00:00Z",
        "originator": "ACME",
        "kind": "mixed",
        "currency": "CAD",
        "entries": [e.model_dump(mode="json") for e in entries],
        "totals": totals.model_dump(mode="json"),
    }
    assert BatchView.model_validate(view).totals == totals
    wrong = view | {"totals": BatchTotals.of(entries[:1], "CAD").model_dump(mode="json")}
    with pytest.raises(ValidationError, match="do not match the entries"):
        BatchView.model_validate(wrong)


# Disbursements


def test_disbursement_day_adds_up() -> None:
    orders = (
        DisbursementOrder(order="A", captured=cad("10.00"), refunded=cad("0")),
        DisbursementOrder(order="B", captured=cad("0"), refunded=cad("15.00")),
    )
    day = DisbursementDay(
        date=dt.date(2025, 3, 14),
        currency="CAD",
        captured=cad("10.00"),
        refunded=cad("15.00"),
        net=cad("-5.00"),
        orders=orders,
    )
    assert day.net == cad("-5.00")
    with pytest.raises(
        ValidationError, match=r"net 5\.00 CAD is not captured 10\.00 CAD minus refunded 15\.00 CAD"
    ):
        DisbursementDay.model_validate(day.model_dump() | {"net": cad("5.00")})
    with pytest.raises(
        ValidationError, match=r"the orders' captured sum to 10\.00 CAD, not 11\.00 CAD"
    ):
        DisbursementDay.model_validate(
            day.model_dump() | {"captured": cad("11.00"), "net": cad("-4.00")}
        )


def test_disbursement_query_is_ordered() -> None:
    with pytest.raises(ValidationError, match="since 2025-03-15 is after until 2025-03-14"):
        DisbursementQuery(since=dt.date(2025, 3, 15), until=dt.date(2025, 3, 14))


# Problems


def test_problem_of_fills_in_the_registered_fields() -> None:
    problem = Problem.of("card_declined", "declined by the issuer", processor_message_id=7)
    assert problem.model_dump(exclude_none=True) == {
        "type": "/problems/card_declined",
        "title": "The card was declined",
        "status": 402,
        "detail": "declined by the issuer",
        "code": "card_declined",
        "processor_message_id": 7,
    }


def test_field_errors_name_each_field() -> None:
    with pytest.raises(ValidationError) as info:
        OrderCreate.model_validate(
            order_payload(quantity=1.5, unit_price={"minor": 1.5, "currency": "CAD"})
        )
    assert field_errors(info.value) == (
        FieldError(field="lines.0.unit_price.minor", message="Input should be a valid integer"),
        FieldError(field="lines.0.quantity", message="Input should be a valid integer"),
    )


# The OpenAPI document is generated from these models: every field must say what it is.

_SCHEMA_MODELS: list[type[BaseModel]] = [
    getattr(models, name)
    for name in models.__all__
    if isinstance(getattr(models, name), type) and issubclass(getattr(models, name), BaseModel)
]


@pytest.mark.parametrize("model", _SCHEMA_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_every_field_is_described_in_the_json_schema(
    model: type[BaseModel], mode: JsonSchemaMode
) -> None:
    schema = model.model_json_schema(mode=mode)
    undescribed = [
        f"{name}.{field}"
        for name, definition in [(model.__name__, schema), *schema.get("$defs", {}).items()]
        for field, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []


def test_money_fields_reference_the_amount_schema() -> None:
    modes: tuple[JsonSchemaMode, ...] = ("validation", "serialization")
    for mode in modes:
        schema = OrderView.model_json_schema(mode=mode)
        assert schema["properties"]["captured"]["$ref"] == "#/$defs/Amount"
        assert schema["$defs"]["Amount"]["properties"]["minor"]["type"] == "integer"


def test_decimal_amounts_never_reach_the_wire() -> None:
    body = OrderCreate.model_validate(order_payload()).model_dump_json()
    assert "amount" not in json.loads(body)["lines"][0]["unit_price"]
    assert (
        Decimal("12.50")
        == Money.from_minor(json.loads(body)["lines"][0]["unit_price"]["minor"], "CAD").amount
    )


def test_redaction_blanks_card_numbers_and_keeps_long_platform_ids() -> None:
    from passerelle.backend.errors import redact

    text = "card 4242 4242 4242 4242 (also 5555-5555-5555-4444) on order 5208471902318455003"
    assert redact(text) == (
        "card [redacted card number] (also [redacted card number]) on order 5208471902318455003"
    )


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "378282246310005",
        "3782 822463 10005",
        "3056 930902 5904",
        "6011000990139424",
        "2223003122003222",
        "4000 0566 5566 5556 007",
    ],
)
def test_redaction_blanks_every_card_scheme_s_layout(card: str) -> None:
    from passerelle.backend.errors import redact

    assert redact(f"card {card}, refused") == "card [redacted card number], refused"


@pytest.mark.parametrize(
    "kept",
    [
        "0123456789-0003",  # a batch: originator and creation number, Luhn-valid
        "1234567812345670",  # Luhn-valid, but no card starts with 1
        "4111111111111111-2",  # a longer id that merely starts like a card
        "ref-4111111111111111",
        "41111 11111 111111",  # not a card scheme's grouping
    ],
)
def test_redaction_keeps_ids_that_only_look_like_card_numbers(kept: str) -> None:
    from passerelle.backend.errors import redact

    assert redact(f"batch {kept} refused") == f"batch {kept} refused"
