"""The sandbox over a real socket, through both clients: orders and their rules, authentication,
idempotency, malformed requests and disbursements (batches: test_sandbox_batches.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sandbox_support import (
    AUTH,
    OTHER_TOKEN,
    SHIPPING,
    START,
    VANCOUVER,
    Answers,
    Api,
    RealSleeps,
    Sleeps,
    cad,
    cart_lines,
    check_problem_body,
    entries_batch,
    new_order,
    open_api,
    order_json,
    problem_of,
    sandbox_config,
    units,
)

from passerelle.backend.errors import (
    ERROR_CLASSES,
    CancelExceedsOrderedError,
    CardDeclinedError,
    ForbiddenError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    InternalError,
    LineAlreadyShippedError,
    NotAProductLineError,
    OrderAlreadyShippedError,
    OrderCurrencyMismatchError,
    OrderExistsError,
    RefundExceedsCapturedError,
    ReturnExceedsShippedError,
    ShipExceedsOrderedError,
    UnauthorizedError,
    UnknownBatchError,
    UnknownLineError,
    UnknownOrderError,
    ValidationFailedError,
)
from passerelle.backend.models import (
    AppliedEvent,
    BatchStatus,
    CancellationCreate,
    CartLineItem,
    CartUpdate,
    FieldError,
    OrderStatus,
    ReturnCreate,
    ShipmentCreate,
    ShipmentResult,
    TrackingInfo,
)
from passerelle.backend.problems import explain, problem_type
from passerelle.backend.retry import RetryPolicy
from passerelle.events import LineType
from passerelle.money import Money
from passerelle.sandbox import Faults, SandboxConfig, SandboxServer
from passerelle.sandbox import orders as orders_module

pytestmark = pytest.mark.anyio


# Orders


async def test_checkout_authorizes_the_total_and_plans_installments(api: Api) -> None:
    view = await api("create_order", new_order(installments=3))

    assert view.status is OrderStatus.OPEN
    assert (view.authorized, view.captured, view.refunded, view.voided) == (
        cad("70.00"),
        cad("0"),
        cad("0"),
        cad("0"),
    )
    plan = view.payment_plan
    assert plan.balance == cad("70.00")
    assert [i.amount for i in plan.installments] == [cad("23.34"), cad("23.33"), cad("23.33")]
    assert [i.due_date for i in plan.installments] == [
        dt.date(2030, 3, 14),
        dt.date(2030, 4, 13),
        dt.date(2030, 5, 13),
    ]
    assert await api("get_order", "A-100") == view


async def test_one_installment_by_default(api: Api) -> None:
    view = await api("create_order", new_order())

    assert [(i.due_date, i.amount) for i in view.payment_plan.installments] == [
        (dt.date(2030, 3, 14), cad("70.00"))
    ]


async def test_shipments_capture_pro_rata_and_the_last_takes_the_rest(api: Api) -> None:
    await api("create_order", new_order(installments=2))

    first = await api(
        "ship",
        "A-100",
        ShipmentCreate(
            event_id="ful-1",
            lines=units(shirt=1),
            tracking=TrackingInfo(carrier="Canada Post", number="7023 1234"),
        ),
    )
    assert first.captured == cad("28.00")
    assert first.order.status is OrderStatus.PARTIALLY_SHIPPED
    assert first.order.line("shirt").shipped == 1
    assert first.order.payment_plan.balance == cad("42.00")
    assert [i.amount for i in first.order.payment_plan.installments] == [cad("21.00")] * 2

    rest = await api("ship", "A-100", ShipmentCreate(event_id="ful-2"))
    assert rest.captured == cad("42.00")
    assert rest.order.status is OrderStatus.SHIPPED
    assert rest.order.captured == cad("70.00")
    assert rest.order.payment_plan.installments == ()


async def test_a_shipment_recorded_twice_ships_nothing_new(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))

    again = await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))

    assert again.captured == cad("0")
    assert again.order.line("shirt").shipped == 1
    assert again.order.captured == cad("28.00")


async def test_cancelling_everything_unshipped_voids_the_remaining_authorization(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))

    result = await api("cancel", "A-100", CancellationCreate(event_id="can-1", reason="customer"))

    assert result.released == cad("42.00")
    assert result.order.voided == cad("42.00")
    assert result.order.authorized == cad("28.00")
    assert result.order.status is OrderStatus.SHIPPED
    assert result.order.line("shirt").cancelled == 1
    assert result.order.line("mug").cancelled == 1


async def test_cancelling_an_unshipped_order_cancels_it(api: Api) -> None:
    await api("create_order", new_order())

    result = await api("cancel", "A-100", CancellationCreate(event_id="can-1"))

    assert result.released == cad("70.00")
    assert result.order.status is OrderStatus.CANCELLED
    assert result.order.payment_plan.installments == ()


async def test_partial_cancellation_releases_its_share(api: Api) -> None:
    await api("create_order", new_order())

    result = await api("cancel", "A-100", CancellationCreate(event_id="can-1", lines=units(mug=1)))

    assert result.released == cad("14.00")
    assert result.order.authorized == cad("56.00")
    assert result.order.status is OrderStatus.OPEN


async def test_returns_refund_and_the_last_one_marks_the_order_returned(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    partial = await api(
        "refund",
        "A-100",
        ReturnCreate(event_id="ret-1", lines=units(shirt=1), refund=cad("25.00"), reason="too big"),
    )
    assert partial.refunded == cad("25.00")
    assert partial.order.refunded == cad("25.00")
    assert partial.order.line("shirt").returned == 1
    assert partial.order.status is OrderStatus.SHIPPED

    rest = await api(
        "refund",
        "A-100",
        ReturnCreate(event_id="ret-2", lines=units(shirt=1, mug=1), refund=cad("45.00")),
    )
    assert rest.order.refunded == cad("70.00")
    assert rest.order.status is OrderStatus.RETURNED


async def test_a_refund_without_goods(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    result = await api("refund", "A-100", ReturnCreate(event_id="ret-1", refund=cad("7.50")))

    assert result.refunded == cad("7.50")
    assert all(line.returned == 0 for line in result.order.lines)


async def test_cart_update_answers_the_recomputed_payment_plan(api: Api) -> None:
    await api("create_order", new_order(installments=3))

    result = await api(
        "update_cart",
        "A-100",
        CartUpdate(
            event_id="edit-1",
            cart=(
                *cart_lines(shirts=1, mugs=2),
                CartLineItem(
                    reference="promo",
                    name="Spring promo",
                    type=LineType.DISCOUNT,
                    unit_price=cad("-5.00"),
                    quantity=1,
                ),
            ),
        ),
    )

    assert result.order.authorized == cad("52.50")
    assert result.payment_plan == result.order.payment_plan
    assert result.payment_plan.balance == cad("52.50")
    assert [i.amount for i in result.payment_plan.installments] == [cad("17.50")] * 3
    assert result.order.line("mug").ordered == 2
    assert result.order.line("promo").type is LineType.DISCOUNT
    assert (await api("get_order", "A-100")) == result.order


# Rule violations: each answers its problem code and changes nothing


@pytest.mark.parametrize("reference", ["#1001/B", "50%off", "100%2F0", "a b?c=d&e", "été/2030"])
async def test_any_reference_reaches_its_order(api: Api, reference: str) -> None:
    await api("create_order", new_order(reference))

    shipped = await api("ship", reference, ShipmentCreate(event_id="ful-1"), idempotency_key="s")
    again = await api("ship", reference, ShipmentCreate(event_id="ful-1"), idempotency_key="s")

    assert (await api("get_order", reference)).reference == reference
    assert shipped.order.reference == reference
    assert again == shipped
    with pytest.raises(UnknownOrderError):
        await api("get_order", reference + "/x")


async def test_any_batch_id_reaches_its_batch(api: Api) -> None:
    await api("create_batch", entries_batch(batch_id="payroll/11 50%"))

    assert (await api("get_batch", "payroll/11 50%")).id == "payroll/11 50%"
    deleted = await api("delete_batch", "payroll/11 50%")
    assert deleted.status == BatchStatus.DELETED


async def test_unknown_order(api: Api) -> None:
    with pytest.raises(UnknownOrderError) as missing:
        await api("get_order", "nope")
    assert missing.value.code == "unknown_order"
    assert missing.value.status == 404
    with pytest.raises(UnknownOrderError):
        await api("ship", "nope", ShipmentCreate(event_id="ful-1"))


async def test_order_exists(api: Api) -> None:
    await api("create_order", new_order())

    with pytest.raises(OrderExistsError) as exists:
        await api("create_order", new_order())

    assert exists.value.code == "order_exists"
    assert exists.value.detail == "order 'A-100' already exists"


async def test_card_declined_by_a_magic_reference(api: Api) -> None:
    with pytest.raises(CardDeclinedError) as declined:
        await api("create_order", new_order("decline-14"))

    assert declined.value.status == 402
    assert declined.value.code == "card_declined"
    assert declined.value.processor_message_id == 14
    assert declined.value.problem is not None
    assert declined.value.problem.decline_code == "invalid_expiry_date"
    with pytest.raises(UnknownOrderError):
        await api("get_order", "decline-14")


async def test_any_decline_reference_gets_the_generic_decline(api: Api) -> None:
    with pytest.raises(CardDeclinedError) as declined:
        await api("create_order", new_order("DECLINED-order"))

    assert declined.value.processor_message_id == 7


async def test_unknown_line(api: Api) -> None:
    await api("create_order", new_order())

    with pytest.raises(UnknownLineError) as unknown:
        await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(hat=1)))

    assert unknown.value.code == "unknown_line"
    assert unknown.value.detail == "cannot ship line hat of order A-100: the order has no such line"


async def test_ship_exceeds_ordered(api: Api) -> None:
    await api("create_order", new_order())

    with pytest.raises(ShipExceedsOrderedError) as exceeded:
        await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shirt=3)))

    assert exceeded.value.code == "ship_exceeds_ordered"
    assert exceeded.value.detail == (
        "cannot ship 3 of line shirt of order A-100: only 2 left to ship "
        "(ordered 2, shipped 0, cancelled 0, returned 0)"
    )
    assert (await api("get_order", "A-100")).captured == cad("0")


async def test_order_already_shipped(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    with pytest.raises(OrderAlreadyShippedError) as shipped:
        await api("cancel", "A-100", CancellationCreate(event_id="can-1", lines=units(shirt=1)))

    assert shipped.value.code == "order_already_shipped"
    assert shipped.value.detail == (
        "cannot cancel 1 of line shirt of order A-100: 2 of 2 already shipped; "
        "handle it as a return"
    )


async def test_cancelling_everything_unshipped_of_a_shipped_order_is_a_recorded_no_op(
    api: Api, raw: httpx.Client
) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    # As the connector's ledger has it (passerelle.orders): nothing left to cancel is a no-op.
    nothing = await api("cancel", "A-100", CancellationCreate(event_id="can-1"))
    answer = raw.post(
        "/v1/orders/A-100/cancellations",
        headers={**AUTH, "Idempotency-Key": "other"},
        json={"event_id": "can-2"},
    )
    described = raw.get("/openapi.json").json()["paths"]["/v1/orders/{ref}/cancellations"]

    assert nothing.released == cad("0")
    assert nothing.order.status is OrderStatus.SHIPPED
    assert ("order_cancelled", "can-1") in {(e.kind, e.id) for e in nothing.order.applied}
    assert answer.status_code == 200
    assert "nothing was left to cancel" in described["post"]["responses"]["200"]["description"]


async def test_return_exceeds_shipped(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    with pytest.raises(ReturnExceedsShippedError) as exceeded:
        await api(
            "refund", "A-100", ReturnCreate(event_id="ret-1", lines=units(shirt=3), refund=cad("0"))
        )

    assert exceeded.value.code == "return_exceeds_shipped"
    assert exceeded.value.status == 409


async def test_a_return_before_its_shipment_is_refused_until_the_shipment_arrives(api: Api) -> None:
    await api("create_order", new_order())
    early = ReturnCreate(event_id="ret-1", lines=units(shirt=1), refund=cad("25.00"))

    with pytest.raises(ReturnExceedsShippedError):
        await api("refund", "A-100", early, idempotency_key="ret-1-key")
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))
    # The refusal stays the answer of its key (see the idempotency tests): a new key is a new try.
    retried = await api("refund", "A-100", early, idempotency_key="ret-1-key-2")

    assert retried.refunded == cad("25.00")


async def test_refund_exceeds_captured(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    with pytest.raises(RefundExceedsCapturedError) as exceeded:
        await api("refund", "A-100", ReturnCreate(event_id="ret-1", refund=cad("70.01")))

    assert exceeded.value.code == "refund_exceeds_captured"
    assert exceeded.value.detail == (
        "cannot refund 70.01 CAD on order A-100: only 70.00 CAD captured and not refunded "
        "(captured 70.00 CAD, refunded 0.00 CAD)"
    )
    assert (await api("get_order", "A-100")).refunded == cad("0")


async def test_line_already_shipped(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))

    with pytest.raises(LineAlreadyShippedError) as shipped:
        await api(
            "update_cart",
            "A-100",
            CartUpdate(
                event_id="edit-1",
                cart=(
                    CartLineItem(
                        reference="shirt", name="Shirt", unit_price=cad("20.00"), quantity=1
                    ),
                ),
            ),
        )

    assert shipped.value.code == "line_already_shipped"
    assert shipped.value.detail == (
        "cannot edit line shirt of order A-100: 1 already shipped at 25.00 CAD; "
        "its price cannot change to 20.00 CAD"
    )


async def test_currency_mismatch(api: Api) -> None:
    await api("create_order", new_order())
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

    with pytest.raises(OrderCurrencyMismatchError) as mismatch:
        await api("refund", "A-100", ReturnCreate(event_id="ret-1", refund=Money.of("5.00", "USD")))

    assert mismatch.value.code == "currency_mismatch"
    assert mismatch.value.status == 422
    assert mismatch.value.problem is not None
    assert [e.field for e in mismatch.value.problem.errors or ()] == ["refund.currency"]


async def test_every_amount_in_another_currency_is_a_currency_mismatch(
    api: Api, raw: httpx.Client
) -> None:
    await api("create_order", new_order())
    await api("create_batch", entries_batch())
    usd_line = {**ORDER_LINE, "reference": "m", "unit_price": {"minor": 5, "currency": "USD"}}
    usd_entry = {**BATCH_ENTRY, "amount": {"minor": 5, "currency": "USD"}}
    new_batch = entries_batch(batch_id="payroll-12").model_dump(mode="json")
    requests = [
        (
            "POST",
            "/v1/orders",
            {"reference": "r", "currency": "CAD", "lines": [ORDER_LINE, usd_line]},
            "lines.1.unit_price.currency",
        ),
        (
            "PUT",
            "/v1/orders/A-100/cart",
            {"event_id": "e", "cart": [ORDER_LINE, usd_line]},
            "cart.1.unit_price.currency",
        ),
        (
            "PUT",
            "/v1/orders/A-100/cart",
            {"event_id": "e", "cart": [usd_line]},
            "cart.0.unit_price.currency",
        ),
        (
            "POST",
            "/v1/orders/A-100/returns",
            {"event_id": "r", "refund": {"minor": 5, "currency": "USD"}},
            "refund.currency",
        ),
        (
            "POST",
            "/v1/batches",
            {**new_batch, "entries": [BATCH_ENTRY, usd_entry]},
            "entries.1.amount.currency",
        ),
        (
            "PUT",
            "/v1/batches/payroll-11/entries",
            {"entries": [usd_entry]},
            "entries.0.amount.currency",
        ),
    ]

    for i, (method, path, body, field) in enumerate(requests):
        response = raw.request(
            method, path, headers={**AUTH, "Idempotency-Key": f"k{i}"}, json=body
        )
        problem = problem_of(response)
        assert (response.status_code, problem["code"]) == (422, "currency_mismatch"), path
        assert [e["field"] for e in problem["errors"]] == [field], path
        assert "USD" in problem["detail"]


async def test_not_a_product_line(api: Api) -> None:
    await api("create_order", new_order())

    with pytest.raises(NotAProductLineError) as handling:
        await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shipping=1)))

    assert handling.value.code == "not_a_product_line"
    assert handling.value.detail == (
        "cannot ship line shipping of order A-100: it is a handling line; only product lines "
        "are shipped, cancelled or returned"
    )


async def test_cancel_exceeds_ordered(api: Api) -> None:
    await api("create_order", new_order())

    with pytest.raises(CancelExceedsOrderedError) as exceeded:
        await api("cancel", "A-100", CancellationCreate(event_id="can-1", lines=units(mug=2)))

    assert exceeded.value.code == "cancel_exceeds_ordered"
    assert (await api("get_order", "A-100")).voided == cad("0")


async def test_a_rule_the_contract_has_no_code_for_is_a_validation_failure(
    raw: httpx.Client,
) -> None:
    raw.post(
        "/v1/orders",
        headers={**AUTH, "Idempotency-Key": "o"},
        json=new_order().model_dump(mode="json"),
    )

    response = raw.put(
        "/v1/orders/A-100/cart",
        headers={**AUTH, "Idempotency-Key": "c"},
        json={"event_id": "edit-1", "cart": [SHIPPING.model_dump(mode="json")]},
    )

    problem = problem_of(response)
    assert response.status_code == 422
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == [
        {
            "field": "cart",
            "message": "cannot edit order A-100: the new cart has 7.50 CAD to pay but no product "
            "line to ship",
        }
    ]


async def test_a_validation_failure_names_its_fields_through_the_client(api: Api) -> None:
    await api("create_order", new_order())

    with pytest.raises(ValidationFailedError) as invalid:
        await api("update_cart", "A-100", CartUpdate(event_id="edit-1", cart=(SHIPPING,)))

    assert type(invalid.value) is ValidationFailedError
    assert invalid.value.problem is not None
    assert invalid.value.problem.errors == (
        FieldError(
            field="cart",
            message="cannot edit order A-100: the new cart has 7.50 CAD to pay but no product "
            "line to ship",
        ),
    )


# Authentication and merchants


async def test_unknown_token(sandbox: SandboxServer, sleeps: Sleeps, flavour: str) -> None:
    async with open_api(flavour, sandbox.url, sleeps, token="sk_wrong") as api:
        with pytest.raises(UnauthorizedError) as refused:
            await api("get_order", "A-100")
    assert refused.value.code == "unauthorized"
    assert "sk_wrong" not in str(refused.value)


async def test_a_token_acts_only_for_its_merchant(raw: httpx.Client) -> None:
    response = raw.get(
        "/v1/orders/A-100",
        headers={"Authorization": f"Bearer {OTHER_TOKEN}", "Passerelle-Merchant": "demo"},
    )

    assert response.status_code == 403
    assert problem_of(response)["detail"] == "the API token may not act for merchant 'demo'"


async def test_a_client_acting_for_another_merchant_is_forbidden(
    sandbox: SandboxServer, sleeps: Sleeps, flavour: str
) -> None:
    async with open_api(flavour, sandbox.url, sleeps, token=OTHER_TOKEN, merchant="demo") as api:
        with pytest.raises(ForbiddenError) as refused:
            await api("get_order", "A-100")

    assert type(refused.value) is ForbiddenError
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    assert refused.value.detail == "the API token may not act for merchant 'demo'"
    assert OTHER_TOKEN not in str(refused.value)


async def test_missing_credentials(raw: httpx.Client) -> None:
    no_token = raw.get("/v1/orders/A-100", headers={"Passerelle-Merchant": "demo"})
    no_merchant = raw.get("/v1/orders/A-100", headers={"Authorization": AUTH["Authorization"]})

    assert problem_of(no_token)["code"] == "unauthorized"
    assert no_token.headers["www-authenticate"] == "Bearer"
    assert problem_of(no_merchant)["code"] == "forbidden"


async def test_authentication_comes_before_validation(raw: httpx.Client) -> None:
    response = raw.post("/v1/orders", headers={"Idempotency-Key": "k"}, content=b"{not json")

    assert problem_of(response)["code"] == "unauthorized"


async def test_one_merchant_never_sees_another_merchants_orders_or_batches(
    api: Api, other_api: Api
) -> None:
    await api("create_order", new_order())
    await api("create_batch", entries_batch())

    with pytest.raises(UnknownOrderError):
        await other_api("get_order", "A-100")
    with pytest.raises(UnknownOrderError):
        await other_api("ship", "A-100", ShipmentCreate(event_id="ful-1"))
    with pytest.raises(UnknownBatchError):
        await other_api("get_batch", "payroll-11")
    with pytest.raises(UnknownBatchError):
        await other_api("delete_batch", "payroll-11")
    own = await other_api("create_order", new_order())
    assert own.reference == "A-100"
    assert (await other_api("list_disbursements")).disbursements == ()
    assert (await api("get_order", "A-100")).status is OrderStatus.OPEN


# Idempotency


async def test_a_replayed_write_answers_the_first_answer_byte_for_byte(raw: httpx.Client) -> None:
    body = new_order().model_dump(mode="json")
    headers = {**AUTH, "Idempotency-Key": "checkout-1"}

    first = raw.post("/v1/orders", headers=headers, json=body)
    # The same request, its keys in another order and spaced out: still the same request.
    same = json.dumps(dict(reversed(list(body.items()))), indent=4).encode()
    second = raw.post(
        "/v1/orders", headers={**headers, "Content-Type": "application/json"}, content=same
    )

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert first.headers["request-id"] != second.headers["request-id"]


def same_answer(first: httpx.Response, again: httpx.Response) -> None:
    """`again` is `first` replayed: status, content type and body bytes; a fresh request id."""
    assert (again.status_code, again.headers["content-type"], again.content) == (
        first.status_code,
        first.headers["content-type"],
        first.content,
    )
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["request-id"] != first.headers["request-id"]


async def test_a_refusal_is_answered_again_byte_for_byte_after_the_state_changed(
    sandbox: SandboxServer, sleeps: Sleeps, flavour: str
) -> None:
    answers = Answers()
    async with open_api(flavour, sandbox.url, sleeps, answers=answers) as api:
        await api("create_order", new_order())
        early = ReturnCreate(event_id="ret-1", lines=units(shirt=1), refund=cad("25.00"))
        with pytest.raises(ReturnExceedsShippedError) as first:
            await api("refund", "A-100", early, idempotency_key="ret-1")
        refused = answers[-1]
        await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))

        with pytest.raises(ReturnExceedsShippedError) as again:
            await api("refund", "A-100", early, idempotency_key="ret-1")
        same_answer(refused, answers[-1])
        assert again.value.problem == first.value.problem
        assert again.value.problem is not None
        assert again.value.problem.request_id == refused.headers["request-id"]
        # Judged against the state of now, the same return is accepted: only a new key does that.
        assert (await api("refund", "A-100", early, idempotency_key="ret-2")).refunded == cad(
            "25.00"
        )


async def test_an_unknown_order_stays_unknown_to_its_key(
    sandbox: SandboxServer, sleeps: Sleeps, flavour: str
) -> None:
    answers = Answers()
    shipment = ShipmentCreate(event_id="ful-1")
    async with open_api(flavour, sandbox.url, sleeps, answers=answers) as api:
        with pytest.raises(UnknownOrderError):
            await api("ship", "A-100", shipment, idempotency_key="ship-1")
        unknown = answers[-1]
        await api("create_order", new_order())

        with pytest.raises(UnknownOrderError):
            await api("ship", "A-100", shipment, idempotency_key="ship-1")
        same_answer(unknown, answers[-1])
        assert unknown.status_code == 404
        assert (await api("get_order", "A-100")).captured == cad("0.00")


async def test_a_key_refused_once_is_refused_for_another_request(api: Api) -> None:
    await api("create_order", new_order())
    early = ReturnCreate(event_id="ret-1", lines=units(shirt=1), refund=cad("25.00"))
    with pytest.raises(ReturnExceedsShippedError):
        await api("refund", "A-100", early, idempotency_key="ret-1")

    other = ReturnCreate(event_id="ret-1", refund=cad("5.00"))
    with pytest.raises(IdempotencyKeyReusedError) as reused:
        await api("refund", "A-100", other, idempotency_key="ret-1")

    assert reused.value.status == 422
    assert (await api("get_order", "A-100")).refunded == cad("0.00")


async def test_a_server_error_is_not_the_keys_answer(
    sandbox: SandboxServer, sleeps: Sleeps, flavour: str
) -> None:
    answers = Answers()
    once = RetryPolicy(max_attempts=1)
    async with open_api(flavour, sandbox.url, sleeps, answers=answers, retry=once) as api:
        await api("create_order", new_order())
        shipment = ShipmentCreate(event_id="ful-1", lines=units(shirt=1))
        sandbox.state.set_faults(Faults(error_rate=1.0, limit=1))
        with pytest.raises(InternalError):
            await api("ship", "A-100", shipment, idempotency_key="ship-1")

        shipped = await api("ship", "A-100", shipment, idempotency_key="ship-1")

    assert shipped.captured == cad("28.00")
    assert [a.status_code for a in answers[-2:]] == [500, 201]
    assert "idempotent-replayed" not in answers[-1].headers


async def test_a_crash_is_not_the_keys_answer(
    raw: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw.post("/v1/orders", headers={**AUTH, "Idempotency-Key": "c"}, json=order_json())
    real = orders_module._record
    crashes = [RuntimeError("disk full")]

    def record_once(*args: Any, **kwargs: Any) -> None:
        if crashes:
            raise crashes.pop()
        real(*args, **kwargs)

    monkeypatch.setattr(orders_module, "_record", record_once)
    crashed = raw.post(
        "/v1/orders/A-100/shipments",
        headers={**AUTH, "Idempotency-Key": "ship-1"},
        json={"event_id": "ful-1"},
    )
    again = raw.post(
        "/v1/orders/A-100/shipments",
        headers={**AUTH, "Idempotency-Key": "ship-1"},
        json={"event_id": "ful-1"},
    )

    assert (crashed.status_code, problem_of(crashed)["code"]) == (500, "internal_error")
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["captured"] == {"minor": 7000, "currency": "CAD"}


@pytest.mark.parametrize(
    ("content", "other"),
    [
        (b'{"event_id": ', b'{"event_id": "ful-1"}'),
        (b'{"event_id": "ful-1", "lines": [{"line": "shirt", "quantity": -1}]}', b"{}"),
    ],
    ids=["invalid-json", "invalid-field"],
)
def test_a_malformed_write_is_answered_again_byte_for_byte(
    raw: httpx.Client, content: bytes, other: bytes
) -> None:
    raw.post("/v1/orders", headers={**AUTH, "Idempotency-Key": "c"}, json=order_json())
    headers = {**AUTH, "Idempotency-Key": "ship-1", "Content-Type": "application/json"}

    first = raw.post("/v1/orders/A-100/shipments", headers=headers, content=content)
    again = raw.post("/v1/orders/A-100/shipments", headers=headers, content=content)
    reused = raw.post("/v1/orders/A-100/shipments", headers=headers, content=other)

    assert problem_of(first)["code"] == "validation_failed"
    same_answer(first, again)
    assert (reused.status_code, problem_of(reused)["code"]) == (422, "idempotency_key_reused")


def test_a_refusal_before_the_key_is_read_is_not_kept(raw: httpx.Client) -> None:
    body = order_json()
    key = {"Idempotency-Key": "c"}

    unauthorized = raw.post("/v1/orders", headers={**key, "Authorization": "Bearer x"}, json=body)
    bad_key = raw.post("/v1/orders", headers={**AUTH, "Idempotency-Key": "k" * 256}, json={})
    created = raw.post("/v1/orders", headers={**AUTH, **key}, json=body)

    assert unauthorized.status_code == 401
    assert bad_key.status_code == 422
    assert created.status_code == 201
    assert "idempotent-replayed" not in created.headers


async def test_a_replayed_client_call_is_carried_out_once(api: Api) -> None:
    await api("create_order", new_order())
    shipment = ShipmentCreate(event_id="ful-1", lines=units(shirt=1))

    first = await api("ship", "A-100", shipment, idempotency_key="ship-key")
    second = await api("ship", "A-100", shipment, idempotency_key="ship-key")

    assert second == first
    assert second.captured == cad("28.00")
    assert (await api("get_order", "A-100")).captured == cad("28.00")


async def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    await api("create_order", new_order(), idempotency_key="key-1")

    with pytest.raises(IdempotencyKeyReusedError) as reused:
        await api("create_order", new_order("A-101"), idempotency_key="key-1")

    assert reused.value.code == "idempotency_key_reused"
    assert reused.value.detail == "Idempotency-Key 'key-1' was already used for another request"
    with pytest.raises(UnknownOrderError):
        await api("get_order", "A-101")


async def test_a_key_reused_on_another_path_is_refused(raw: httpx.Client) -> None:
    raw.post(
        "/v1/orders",
        headers={**AUTH, "Idempotency-Key": "k"},
        json=new_order().model_dump(mode="json"),
    )
    response = raw.post(
        "/v1/orders/A-100/shipments",
        headers={**AUTH, "Idempotency-Key": "k"},
        json={"event_id": "f"},
    )

    assert problem_of(response)["code"] == "idempotency_key_reused"


async def test_keys_belong_to_their_merchant(api: Api, other_api: Api) -> None:
    await api("create_order", new_order("A-100"), idempotency_key="shared-key")

    other = await other_api("create_order", new_order("B-200"), idempotency_key="shared-key")

    assert other.reference == "B-200"


async def test_a_write_without_a_key_is_refused(raw: httpx.Client) -> None:
    response = raw.post("/v1/orders", headers=AUTH, json=new_order().model_dump(mode="json"))

    problem = problem_of(response)
    assert response.status_code == 400
    assert problem["code"] == "idempotency_key_missing"
    assert problem["detail"] == "a POST needs an Idempotency-Key header"
    deleted = raw.delete("/v1/batches/payroll-11", headers=AUTH)
    assert problem_of(deleted)["code"] == "idempotency_key_missing"


async def test_a_key_in_use_is_refused_until_the_first_request_ends(
    sandbox: SandboxServer, raw: httpx.Client, sleeps: Sleeps, flavour: str
) -> None:
    async with open_api(flavour, sandbox.url, sleeps, retry=RetryPolicy(max_attempts=1)) as api:
        await api("create_order", new_order())
        shipment = ShipmentCreate(event_id="ful-1", lines=units(shirt=1))
        results: list[Any] = []

        async def first() -> None:
            results.append(await api("ship", "A-100", shipment, idempotency_key="k-1"))

        async with anyio.create_task_group() as tasks:
            with sandbox.state.hold_writes() as gate:
                tasks.start_soon(first)
                assert await anyio.to_thread.run_sync(gate.wait_for_writes, 1)
                with pytest.raises(IdempotencyKeyInUseError) as in_use:
                    await api("ship", "A-100", shipment, idempotency_key="k-1")
                concurrent = await anyio.to_thread.run_sync(
                    lambda: raw.post(
                        "/v1/orders/A-100/shipments",
                        headers={**AUTH, "Idempotency-Key": "k-1"},
                        json=shipment.model_dump(mode="json"),
                    )
                )

        assert in_use.value.code == "idempotency_key_in_use"
        assert in_use.value.retryable
        assert concurrent.status_code == 409
        assert problem_of(concurrent)["code"] == "idempotency_key_in_use"
        assert results[0].captured == cad("28.00")
        replay = await api("ship", "A-100", shipment, idempotency_key="k-1")
        assert replay == results[0]


async def test_the_client_waits_out_a_key_in_use(
    sandbox: SandboxServer, raw: httpx.Client, flavour: str
) -> None:
    sleeps = RealSleeps()
    answers = Answers()
    patient = RetryPolicy(max_attempts=200, initial_delay=0.01, max_delay=0.02)
    shipment = ShipmentCreate(event_id="ful-1", lines=units(shirt=1))
    first: list[httpx.Response] = []
    retried: list[Any] = []
    async with open_api(flavour, sandbox.url, sleeps, answers=answers, retry=patient) as api:
        await api("create_order", new_order())

        async def client_call() -> None:
            retried.append(await api("ship", "A-100", shipment, idempotency_key="k-1"))

        async with anyio.create_task_group() as tasks:
            with sandbox.state.hold_writes() as gate:
                tasks.start_soon(
                    anyio.to_thread.run_sync,
                    lambda: first.append(
                        raw.post(
                            "/v1/orders/A-100/shipments",
                            headers={**AUTH, "Idempotency-Key": "k-1"},
                            json=shipment.model_dump(mode="json"),
                        )
                    ),
                )
                assert await anyio.to_thread.run_sync(gate.wait_for_writes, 1)
                tasks.start_soon(client_call)
                # Released from here, not by the client: only once it met the key in use and
                # went to sleep, and a while after.
                with anyio.fail_after(10):
                    while not sleeps:
                        await anyio.sleep(0.005)
                await anyio.sleep(0.1)
                assert not retried
        order = await api("get_order", "A-100")

    assert first[0].status_code == 201
    assert retried == [ShipmentResult.model_validate_json(first[0].content)]
    assert len(sleeps) >= 1
    statuses = [(r.request.method, r.status_code) for r in answers]
    assert statuses[1] == ("POST", 409)
    assert statuses.count(("POST", 409)) == len(sleeps)
    assert answers[-2].headers["Idempotent-Replayed"] == "true"
    assert answers[-2].content == first[0].content
    assert order.captured == cad("28.00")
    assert order.applied == (AppliedEvent(kind="order_shipped", id="ful-1"),)


# Malformed requests: 422 problem+json naming the field, never a 500

ORDER_LINE = {
    "reference": "l",
    "name": "Shirt",
    "unit_price": {"minor": 100, "currency": "CAD"},
    "quantity": 1,
}


DISCOUNT_LINE = {
    "reference": "promo",
    "name": "Promo",
    "type": "discount",
    "unit_price": {"minor": -500, "currency": "CAD"},
    "quantity": 1,
}
TWO_UNITS = {"line": "shirt", "quantity": 2}
NO_MONEY = {"minor": 0, "currency": "CAD"}
BATCH_ENTRY = {
    "direction": "credit",
    "amount": {"minor": 500, "currency": "CAD"},
    "payee": "Ada",
    "account": "1234567",
    "institution": "001",
    "transit": "12345",
}


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "message"),
    [
        (
            "POST",
            "/v1/orders",
            {
                "reference": "r",
                "currency": "CAD",
                "lines": [{**ORDER_LINE, "unit_price": {"minor": 10.5, "currency": "CAD"}}],
            },
            "lines.0.unit_price.minor",
            "Input should be a valid integer",
        ),
        (
            "POST",
            "/v1/orders",
            {"reference": "r", "currency": "CAD", "lines": [{**ORDER_LINE, "quantity": 1.0}]},
            "lines.0.quantity",
            "Input should be a valid integer",
        ),
        (
            "POST",
            "/v1/orders",
            {"reference": "r", "currency": "XYZ", "lines": [ORDER_LINE]},
            "currency",
            "unknown currency 'XYZ': expected an ISO 4217 code such as CAD",
        ),
        (
            "POST",
            "/v1/orders",
            {"currency": "CAD", "lines": [ORDER_LINE]},
            "reference",
            "this field is required",
        ),
        (
            "POST",
            "/v1/orders",
            {
                "reference": "r",
                "currency": "CAD",
                "lines": [ORDER_LINE],
                "card_number": "4242424242424242",
            },
            "card_number",
            "Extra inputs are not permitted",
        ),
        (
            "POST",
            "/v1/orders/A-100/returns",
            {"event_id": "r", "refund": {"minor": -5, "currency": "CAD"}},
            "refund",
            "refund -0.05 CAD is negative",
        ),
        (
            "POST",
            "/v1/orders/A-100/returns",
            {"event_id": "r", "refund": {"minor": 0, "currency": "CAD"}},
            "refund",
            "a return needs returned lines or a refund above zero",
        ),
        (
            "POST",
            "/v1/orders/A-100/returns",
            {"event_id": "r", "lines": [TWO_UNITS, TWO_UNITS], "refund": NO_MONEY},
            "lines.1.line",
            "line 'shirt' appears more than once",
        ),
        (
            "POST",
            "/v1/orders/A-100/shipments",
            {"event_id": "f", "lines": [TWO_UNITS, {**TWO_UNITS, "quantity": 1}]},
            "lines.1.line",
            "line 'shirt' appears more than once",
        ),
        (
            "POST",
            "/v1/orders/A-100/cancellations",
            {"event_id": "c", "lines": [{"line": "mug", "quantity": 1}, TWO_UNITS, TWO_UNITS]},
            "lines.2.line",
            "line 'shirt' appears more than once",
        ),
        (
            "POST",
            "/v1/orders",
            {"reference": "r", "currency": "CAD", "lines": [ORDER_LINE, ORDER_LINE]},
            "lines.1.reference",
            "line reference 'l' appears more than once",
        ),
        (
            "POST",
            "/v1/orders",
            {"reference": "r", "currency": "CAD", "lines": [ORDER_LINE, DISCOUNT_LINE]},
            "lines",
            "the lines total -4.00 CAD is negative",
        ),
        (
            "PUT",
            "/v1/orders/A-100/cart",
            {"event_id": "e", "cart": [ORDER_LINE, DISCOUNT_LINE]},
            "cart",
            "the cart total -4.00 CAD is negative",
        ),
        (
            "POST",
            "/v1/orders",
            {
                "reference": "r",
                "currency": "CAD",
                "lines": [{**ORDER_LINE, "unit_price": {"minor": -1, "currency": "CAD"}}],
            },
            "lines.0.unit_price.minor",
            "product line 'l' has a negative unit_price; only a discount line may",
        ),
        (
            "POST",
            "/v1/batches",
            {
                "entries": [{**BATCH_ENTRY, "direction": "debit"}],
                "processing_date": "2030-03-15",
                "originator": "o",
                "kind": "credit",
                "currency": "CAD",
            },
            "kind",
            "kind is credit but the entries make the batch debit",
        ),
        (
            "PUT",
            "/v1/batches/b/entries",
            {"entries": [{**BATCH_ENTRY, "institution": None, "transit": None}]},
            "entries.0",
            "an account number needs its bank: institution + transit (Canada) or routing (US)",
        ),
        (
            "POST",
            "/v1/orders/A-100/shipments",
            ["not", "an", "object"],
            "(body)",
            "the body must be a JSON object",
        ),
        (
            "PUT",
            "/v1/orders/A-100/cart",
            {"event_id": "e", "cart": "none"},
            "cart",
            "Input should be a valid tuple",
        ),
        (
            "POST",
            "/v1/batches",
            {"file": "!!!", "encoding": "base64"},
            "file",
            "file is not valid base64 (encoding is 'base64')",
        ),
        (
            "POST",
            "/v1/batches",
            {
                "entries": [],
                "processing_date": "2030-03-15",
                "originator": "o",
                "kind": "credit",
                "currency": "CAD",
            },
            "entries",
            "must hold at least one item",
        ),
        (
            "PATCH",
            "/v1/batches/b",
            {"processing_date": 1700000000},
            "processing_date",
            "a date must be an ISO 8601 string such as 2025-03-14, not a number",
        ),
    ],
)
async def test_a_malformed_body_is_refused_naming_the_field(
    raw: httpx.Client, method: str, path: str, body: Any, field: str, message: str
) -> None:
    response = raw.request(method, path, headers={**AUTH, "Idempotency-Key": "k"}, json=body)

    problem = problem_of(response)
    assert response.status_code == 422
    assert problem["code"] == "validation_failed"
    assert {"field": field, "message": message} in problem["errors"]
    assert field in problem["detail"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"event_id": ', "invalid JSON: Expecting value at character 13"),
        (b"", "a JSON body is required"),
    ],
)
async def test_a_body_that_is_not_json_is_refused(
    raw: httpx.Client, content: bytes, message: str
) -> None:
    response = raw.post(
        "/v1/orders/A-100/shipments",
        headers={**AUTH, "Idempotency-Key": "k", "Content-Type": "application/json"},
        content=content,
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == [{"field": "(body)", "message": message}]


NOT_A_DATE = "a date must be an ISO 8601 string such as 2025-03-14, not a number"


async def test_malformed_parameters_are_named(raw: httpx.Client) -> None:
    since = raw.get("/v1/disbursements", params={"since": "yesterday"}, headers=AUTH)
    ordered = raw.get(
        "/v1/disbursements", params={"since": "2030-03-15", "until": "2030-03-14"}, headers=AUTH
    )
    numbers = [
        raw.get("/v1/disbursements", params={name: value}, headers=AUTH)
        for name, value in (("until", "0"), ("since", "1700000000"), ("until", "20300315"))
    ]
    long_ref = raw.get("/v1/orders/" + "x" * 256, headers=AUTH)
    long_key = raw.post("/v1/orders", headers={**AUTH, "Idempotency-Key": "k" * 256}, json={})

    assert [e["field"] for e in problem_of(since)["errors"]] == ["query.since"]
    assert problem_of(ordered)["errors"] == [
        {"field": "query", "message": "since 2030-03-15 is after until 2030-03-14"}
    ]
    assert [(n.status_code, problem_of(n)["errors"]) for n in numbers] == [
        (422, [{"field": f"query.{name}", "message": NOT_A_DATE}])
        for name in ("until", "since", "until")
    ]
    assert [e["field"] for e in problem_of(long_ref)["errors"]] == ["path.ref"]
    assert "header.Idempotency-Key" in [e["field"] for e in problem_of(long_key)["errors"]]


async def test_unknown_paths_and_methods_answer_problems(raw: httpx.Client) -> None:
    missing = raw.get("/v1/nowhere", headers=AUTH)
    wrong_method = raw.delete("/v1/orders/A-100", headers=AUTH)

    assert (missing.status_code, problem_of(missing)["code"]) == (404, "unknown_path")
    assert problem_of(missing)["detail"] == "nothing at /v1/nowhere"
    assert (wrong_method.status_code, problem_of(wrong_method)["code"]) == (
        405,
        "method_not_allowed",
    )
    assert wrong_method.headers["Allow"] == "GET"
    assert problem_of(wrong_method)["detail"] == (
        "DELETE is not allowed on /v1/orders/A-100; it takes GET"
    )


async def test_a_body_that_is_not_utf8_is_a_validation_failure(raw: httpx.Client) -> None:
    response = raw.post(
        "/v1/orders/A-100/shipments",
        headers={**AUTH, "Idempotency-Key": "k", "Content-Type": "application/json"},
        content=b'{"event_id": "\xff"}',
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == [
        {"field": "(body)", "message": "invalid JSON: the body is not UTF-8"}
    ]


async def test_every_error_path_answers_a_registered_code(
    raw: httpx.Client, tmp_path: Path
) -> None:
    admin_off = SandboxServer(SandboxConfig(db=tmp_path / "off.db"))
    with admin_off, httpx.Client(base_url=admin_off.url) as off:
        answers = {
            "unknown_path": [
                raw.get("/v1/nowhere", headers=AUTH),
                raw.get("/problems/no_such_code"),
                off.get("/_sandbox/clock"),
            ],
            "method_not_allowed": [raw.put("/v1/disbursements", headers=AUTH)],
            "validation_failed": [
                raw.post(
                    "/v1/orders",
                    headers={**AUTH, "Idempotency-Key": "k", "Content-Type": "application/json"},
                    content=b"\xff",
                )
            ],
            "unauthorized": [raw.get("/_sandbox/clock"), raw.get("/v1/orders/A-100")],
        }

    for code, responses in answers.items():
        for response in responses:
            check_problem_body(response.content)
            assert problem_of(response)["code"] == code
        explained = raw.get(problem_type(code))
        assert explained.status_code == 200
        assert explained.text == explain(code)
        assert ERROR_CLASSES[code].problem_code == code


async def test_problem_types_are_explained(raw: httpx.Client) -> None:
    response = raw.post("/v1/orders", headers=AUTH, json={})
    explained = raw.get(problem_of(response)["type"])

    assert explained.status_code == 200
    assert explained.text.startswith("idempotency_key_missing: Write without an idempotency key")
    assert raw.get("/problems/no_such_code").status_code == 404


# Disbursements


async def test_refunds_come_off_the_next_disbursement(sandbox: SandboxServer, api: Api) -> None:
    await api("create_order", new_order("A-100"))
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))
    await api("refund", "A-100", ReturnCreate(event_id="ret-1", refund=cad("10.00")))
    sandbox.state.set_clock(START + dt.timedelta(days=1))
    await api("create_order", new_order("A-101"))
    await api("ship", "A-101", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))

    listed = await api("list_disbursements")

    days = [(d.date, d.captured, d.refunded, d.net) for d in listed.disbursements]
    assert days == [
        (dt.date(2030, 3, 14), cad("70.00"), cad("0"), cad("70.00")),
        (dt.date(2030, 3, 15), cad("28.00"), cad("10.00"), cad("18.00")),
    ]
    assert [(o.order, o.captured, o.refunded) for o in listed.disbursements[1].orders] == [
        ("A-100", cad("0"), cad("10.00")),
        ("A-101", cad("28.00"), cad("0")),
    ]
    since = await api("list_disbursements", since=dt.date(2030, 3, 15))
    assert [d.date for d in since.disbursements] == [dt.date(2030, 3, 15)]
    assert (await api("list_disbursements", currency="USD")).disbursements == ()


async def test_a_refund_waits_for_captures_and_comes_off_them_as_far_as_they_go(
    sandbox: SandboxServer, api: Api
) -> None:
    def day(n: int) -> dt.datetime:
        return START + dt.timedelta(days=n)

    await api("create_order", new_order("A-100"))
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))
    await api("refund", "A-100", ReturnCreate(event_id="ret-1", refund=cad("50.00")))
    before = await api("list_disbursements")
    sandbox.state.set_clock(day(1))
    nothing_captured = await api("list_disbursements")
    sandbox.state.set_clock(day(2))
    await api("create_order", new_order("A-101"))
    await api("ship", "A-101", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))
    # Made after the day's capture: it comes off a later day, not this one.
    await api("refund", "A-101", ReturnCreate(event_id="ret-1", refund=cad("3.00")))
    part_taken = await api("list_disbursements")
    sandbox.state.set_clock(day(3))
    await api("create_order", new_order("A-102"))
    await api("ship", "A-102", ShipmentCreate(event_id="ful-1"))
    settled = await api("list_disbursements")
    one_day = await api("list_disbursements", since=day(2).date(), until=day(2).date())

    def payouts(listed: Any) -> list[tuple[dt.date, Money, Money, Money]]:
        return [(d.date, d.captured, d.refunded, d.net) for d in listed.disbursements]

    def pending(listed: Any) -> list[tuple[str, dt.date, Money]]:
        return [(p.order, p.refunded_on, p.amount) for p in listed.pending]

    first = (day(0).date(), cad("70.00"), cad("0"), cad("70.00"))
    assert payouts(before) == payouts(nothing_captured) == [first]
    assert pending(before) == pending(nothing_captured) == [("A-100", day(0).date(), cad("50.00"))]
    assert payouts(part_taken) == [first, (day(2).date(), cad("28.00"), cad("28.00"), cad("0"))]
    assert pending(part_taken) == [
        ("A-100", day(0).date(), cad("22.00")),
        ("A-101", day(2).date(), cad("3.00")),
    ]
    assert payouts(settled)[1:] == [
        (day(2).date(), cad("28.00"), cad("28.00"), cad("0")),
        (day(3).date(), cad("70.00"), cad("25.00"), cad("45.00")),
    ]
    assert [(o.order, o.captured, o.refunded) for o in settled.disbursements[2].orders] == [
        ("A-100", cad("0"), cad("22.00")),
        ("A-101", cad("0"), cad("3.00")),
        ("A-102", cad("70.00"), cad("0")),
    ]
    assert settled.pending == ()
    assert payouts(one_day) == [(day(2).date(), cad("28.00"), cad("28.00"), cad("0"))]


async def test_a_disbursement_day_ends_at_midnight_vancouver_time(
    sandbox: SandboxServer, api: Api
) -> None:
    await api("create_order", new_order("A-100"))
    sandbox.state.set_clock(dt.datetime(2030, 3, 14, 23, 59, tzinfo=VANCOUVER))
    await api("ship", "A-100", ShipmentCreate(event_id="ful-1", lines=units(shirt=1)))
    sandbox.state.set_clock(dt.datetime(2030, 3, 15, 0, 0, tzinfo=VANCOUVER))
    await api("ship", "A-100", ShipmentCreate(event_id="ful-2"))

    listed = await api("list_disbursements")

    assert [(d.date, d.captured) for d in listed.disbursements] == [
        (dt.date(2030, 3, 14), cad("28.00")),
        (dt.date(2030, 3, 15), cad("42.00")),
    ]


async def test_the_state_survives_a_restart(tmp_path: Path, sleeps: Sleeps, flavour: str) -> None:
    config = sandbox_config(tmp_path / "state.db")
    with SandboxServer(config) as first:
        async with open_api(flavour, first.url, sleeps) as api:
            await api("create_order", new_order(), idempotency_key="checkout")
            await api("ship", "A-100", ShipmentCreate(event_id="ful-1"))
    with SandboxServer(config) as second:
        async with open_api(flavour, second.url, sleeps) as api:
            view = await api("get_order", "A-100")
            replay = await api("create_order", new_order(), idempotency_key="checkout")

    assert view.captured == cad("70.00")
    assert replay.captured == cad("0")
    assert replay.reference == "A-100"


async def test_concurrent_writes_all_land_once(api: Api) -> None:
    references = [f"C-{i}" for i in range(12)]

    async with anyio.create_task_group() as tasks:
        for reference in references:
            tasks.start_soon(api, "create_order", new_order(reference))
    async with anyio.create_task_group() as tasks:
        for reference in references:
            tasks.start_soon(api, "ship", reference, ShipmentCreate(event_id="ful-1"))
            tasks.start_soon(api, "ship", reference, ShipmentCreate(event_id="ful-1"))

    disbursed = (await api("list_disbursements")).disbursements
    assert [(d.captured, len(d.orders)) for d in disbursed] == [(cad("840.00"), 12)]


def _line(reference: str, minor: int, quantity: int, currency: str = "JPY") -> dict[str, Any]:
    return {
        "reference": reference,
        "name": reference,
        "unit_price": {"minor": minor, "currency": currency},
        "quantity": quantity,
    }


async def test_an_order_whose_total_no_amount_can_carry_is_refused(raw: httpx.Client) -> None:
    body = {"reference": "BIG", "currency": "JPY", "lines": [_line("a", 2**53 - 1, 2)]}

    response = raw.post("/v1/orders", headers={**AUTH, "Idempotency-Key": "big"}, json=body)

    problem = problem_of(response)
    assert response.status_code == 422
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == [
        {
            "field": "lines",
            "message": "the lines add up to more than 9007199254740991 minor units of JPY, "
            "the most an amount may carry",
        }
    ]
    assert raw.get("/v1/orders/BIG", headers=AUTH).status_code == 404


async def test_a_cart_edit_past_what_an_amount_can_carry_changes_nothing(
    raw: httpx.Client,
) -> None:
    half = 2**52
    body = {"reference": "BIG", "currency": "JPY", "lines": [_line("a", half, 1)]}
    raw.post("/v1/orders", headers={**AUTH, "Idempotency-Key": "o"}, json=body)
    raw.post(
        "/v1/orders/BIG/shipments",
        headers={**AUTH, "Idempotency-Key": "s"},
        json={"event_id": "ship-1"},
    )
    before = raw.get("/v1/orders/BIG", headers=AUTH).json()

    response = raw.put(
        "/v1/orders/BIG/cart",
        headers={**AUTH, "Idempotency-Key": "c"},
        json={"event_id": "edit-1", "cart": [_line("b", half, 1)]},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "cart"
    assert raw.get("/v1/orders/BIG", headers=AUTH).json() == before
