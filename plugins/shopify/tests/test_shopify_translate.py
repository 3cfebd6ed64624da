"""Translation of the bodies the public samples lack: partial fulfillments, every restock type,
shipping refunds, a shop in CAD selling in USD, ids above 2^53."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from shopify_support import (
    LINE_BOTTLE,
    LINE_SHOES,
    LINE_SOCKS,
    ORDER_ID,
    context,
    dumps,
    fixture,
    request,
)

from passerelle.events import (
    CancelReason,
    LineQuantity,
    OrderCancelled,
    OrderReturned,
    OrderShipped,
    Tracking,
)
from passerelle.money import Money
from passerelle.platforms import Translation, TranslationError
from passerelle_shopify import FulfillmentReversedError, ShopifyPlatform

ORDER = str(ORDER_ID)
SHOES, SOCKS, BOTTLE = str(LINE_SHOES), str(LINE_SOCKS), str(LINE_BOTTLE)
EST = timezone(timedelta(hours=-5))
TRACK = "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor="

SHIPMENT = OrderShipped(
    order=ORDER,
    id="9007199254741101",
    lines=(LineQuantity(line=SHOES, quantity=1), LineQuantity(line=SOCKS, quantity=3)),
    tracking=Tracking(
        carrier="Canada Post",
        number="7023210039414604, 7023210039414611",
        url=TRACK + "7023210039414604",
    ),
)
RETURN_OF_SHOES = OrderReturned(
    order=ORDER,
    id="9007199254741301",
    lines=(LineQuantity(line=SHOES, quantity=1),),
    refund=Money.of("135.60", "USD"),
    reason="Too small: the customer sent one pair back",
)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def translate(
    platform: ShopifyPlatform, http: httpx.Client, body: bytes, topic: str
) -> Translation:
    return platform.translate(request(body, topic), context(http))


def failure(platform: ShopifyPlatform, http: httpx.Client, body: bytes, topic: str) -> str:
    with pytest.raises(TranslationError) as caught:
        translate(platform, http, body, topic)
    return str(caught.value)


# Fulfillments


def test_partial_fulfillment_ships_its_lines_with_tracking(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    translation = translate(
        platform, http, fixture("fulfillments_create.partial.json"), "fulfillments/create"
    )
    assert translation == Translation(
        events=(SHIPMENT,), occurred_at=datetime(2026, 1, 14, 10, 15, tzinfo=EST)
    )


def test_ids_above_2_to_the_53_stay_exact(platform: ShopifyPlatform, http: httpx.Client) -> None:
    translation = translate(
        platform, http, fixture("fulfillments_create.partial.json"), "fulfillments/create"
    )
    event = translation.events[0]
    assert isinstance(event, OrderShipped)
    assert event.order == "9007199254740993"  # float would give ...992
    assert event.lines is not None
    assert [item.line for item in event.lines] == ["9007199254740995", "9007199254741001"]


def test_an_id_written_as_a_float_is_refused(platform: ShopifyPlatform, http: httpx.Client) -> None:
    body = fixture("fulfillments_create.partial.json").replace(
        b'"order_id": 9007199254740993', b'"order_id": 9.007199254740993e15'
    )
    assert failure(platform, http, body, "fulfillments/create") == (
        "order_id: an id must be a JSON integer, without fraction or exponent; got "
        "9007199254740993 in the fulfillments/create body"
    )


def test_a_cancelled_fulfillment_goes_to_a_person_under_its_own_code(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    with pytest.raises(FulfillmentReversedError) as caught:
        translate(
            platform, http, fixture("fulfillments_update.cancelled.json"), "fulfillments/update"
        )
    assert str(caught.value) == (
        "status: Shopify reports fulfillment 9007199254741101 of order 9007199254740993 cancelled. "
        "Passerelle never un-ships, and the delivery does not say whether the fulfillment "
        "shipped here: if the order's ledger lists order_shipped 9007199254741101, its units "
        "were captured, so record their return or refund in Shopify or ship them again; if it "
        "does not, nothing was captured for it: dismiss this delivery"
    )
    # Authentic and readable: not filed as unreadable.
    assert isinstance(caught.value, TranslationError)
    assert caught.value.code == "fulfillment_cancelled"
    assert caught.value.field == "status"


@pytest.mark.parametrize("status", ["failure", "error"])
def test_a_failed_fulfillment_goes_to_a_person(
    platform: ShopifyPlatform, http: httpx.Client, status: str
) -> None:
    body = json.loads(fixture("fulfillments_create.partial.json"))
    body["status"] = status
    with pytest.raises(FulfillmentReversedError) as caught:
        translate(platform, http, dumps(body), "fulfillments/update")
    assert str(caught.value) == (
        f"status: fulfillment 9007199254741101 of order 9007199254740993 ended in status "
        f"{status}. "
        "Passerelle never un-ships: if the order's ledger lists order_shipped "
        "9007199254741101, its units were captured, so refund or re-ship them by hand; if it "
        "does not, nothing was captured for it: dismiss this delivery"
    )
    assert caught.value.code == "fulfillment_failed"


@pytest.mark.parametrize("status", ["pending", "open"])
def test_a_fulfillment_not_shipped_yet_is_ignored(
    platform: ShopifyPlatform, http: httpx.Client, status: str
) -> None:
    body = json.loads(fixture("fulfillments_create.partial.json"))
    body["status"] = status
    assert translate(platform, http, dumps(body), "fulfillments/create") == Translation.ignore(
        f"fulfillment 9007199254741101 of order 9007199254740993 is {status}: nothing shipped yet"
    )


def test_an_unknown_fulfillment_status_is_an_error(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    body = json.loads(fixture("fulfillments_create.partial.json"))
    body["status"] = "teleported"
    assert failure(platform, http, dumps(body), "fulfillments/create") == (
        "status: fulfillment 9007199254741101 of order 9007199254740993 has unknown status "
        "'teleported'"
    )


def test_orders_partially_fulfilled_ships_the_successful_fulfillments_only(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    translation = translate(
        platform,
        http,
        fixture("orders_partially_fulfilled.multi.json"),
        "orders/partially_fulfilled",
    )
    # Same event as fulfillments/create: the ledger applies it once.
    assert translation == Translation(
        events=(SHIPMENT,), occurred_at=datetime(2026, 1, 14, 10, 15, 2, tzinfo=EST)
    )


# Refunds, by restock type


def test_return_refunds_the_presentment_amount(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # The shop sells in CAD; the customer paid USD. The bare numbers (162.0) are CAD, the
    # refund is the successful USD transaction; the failed one moved nothing.
    translation = translate(platform, http, fixture("refunds_create.return.json"), "refunds/create")
    assert translation == Translation(
        events=(RETURN_OF_SHOES,), occurred_at=datetime(2026, 1, 16, 9, 0, 5, tzinfo=EST)
    )


def test_cancel_restock_cancels_the_lines(platform: ShopifyPlatform, http: httpx.Client) -> None:
    translation = translate(platform, http, fixture("refunds_create.cancel.json"), "refunds/create")
    assert translation.events == (
        OrderCancelled(
            order=ORDER,
            id="9007199254741302",
            lines=(LineQuantity(line=BOTTLE, quantity=1),),
            reason=CancelReason.OTHER,
        ),
    )


def test_no_restock_follows_the_fulfillment_status_and_returned_goods_are_paid_first(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # 40.00 refunded: the shipped socks (12.50 + 1.63 tax) get their value, the unshipped bottle
    # (28.25) is cancelled and covers the remaining 25.87.
    translation = translate(
        platform, http, fixture("refunds_create.no_restock.json"), "refunds/create"
    )
    assert translation.events == (
        OrderCancelled(
            order=ORDER, id="9007199254741303", lines=(LineQuantity(line=BOTTLE, quantity=1),)
        ),
        OrderReturned(
            order=ORDER,
            id="9007199254741303",
            lines=(LineQuantity(line=SOCKS, quantity=1),),
            refund=usd("14.13"),
            reason="Goodwill: bottle out of stock, socks damaged",
        ),
    )


def test_legacy_restock_of_fulfilled_lines_is_a_return(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    translation = translate(
        platform, http, fixture("refunds_create.legacy_restock.json"), "refunds/create"
    )
    assert translation.events == (
        OrderReturned(
            order=ORDER,
            id="9007199254741304",
            lines=(LineQuantity(line=SOCKS, quantity=2),),
            refund=usd("28.26"),
        ),
    )


def test_a_shipping_only_refund_returns_no_lines(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    translation = translate(
        platform, http, fixture("refunds_create.shipping_only.json"), "refunds/create"
    )
    assert translation.events == (
        OrderReturned(
            order=ORDER,
            id="9007199254741305",
            lines=(),
            refund=usd("16.95"),
            reason="Late delivery: shipping refunded",
        ),
    )


def test_a_shipping_adjustment_counts_with_the_return(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # 180.80 = shoes returned 135.60 + shipping 16.95 (an older shipping_refund adjustment)
    # + bottle cancelled 28.25: the return carries 152.55, the cancellation covers 28.25.
    translation = translate(
        platform, http, fixture("refunds_create.shipping_adjustment.json"), "refunds/create"
    )
    assert translation.events == (
        OrderCancelled(
            order=ORDER, id="9007199254741306", lines=(LineQuantity(line=BOTTLE, quantity=1),)
        ),
        OrderReturned(
            order=ORDER,
            id="9007199254741306",
            lines=(LineQuantity(line=SHOES, quantity=1),),
            refund=usd("152.55"),
        ),
    )


def test_no_restock_of_a_partly_shipped_line_returns_the_shipped_units(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # One of the two pairs shipped (quantity 2, fulfillable 1): the refunded pair is a return.
    translation = translate(
        platform, http, fixture("refunds_create.partial_no_restock.json"), "refunds/create"
    )
    assert [type(event) for event in translation.events] == [OrderReturned]
    (event,) = translation.events
    assert isinstance(event, OrderReturned)
    assert event.lines == (LineQuantity(line=SHOES, quantity=1),)
    assert event.refund == usd("135.60")


def test_no_restock_of_a_partly_shipped_line_cancels_what_did_not_ship(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # Both pairs refunded, one shipped: one returned, the other cancelled, the value halved.
    body = json.loads(fixture("refunds_create.partial_no_restock.json"))
    item = body["refund_line_items"][0]
    item["quantity"] = 2
    for name in ("subtotal_set", "total_tax_set"):
        money = item[name]["presentment_money"]
        money["amount"] = str(Decimal(money["amount"]) * 2)
    body["transactions"][0]["amount"] = "271.20"
    refund_id = str(body["id"])
    assert translate(platform, http, dumps(body), "refunds/create").events == (
        OrderCancelled(
            order=ORDER,
            id=refund_id,
            lines=(LineQuantity(line=SHOES, quantity=1),),
            reason=CancelReason.OTHER,
        ),
        OrderReturned(
            order=ORDER,
            id=refund_id,
            lines=(LineQuantity(line=SHOES, quantity=1),),
            refund=usd("135.60"),
            reason=body["note"],
        ),
    )


@pytest.mark.parametrize("missing", ["quantity", "fulfillable_quantity"])
def test_no_restock_of_a_partly_shipped_line_needs_its_quantities(
    platform: ShopifyPlatform, http: httpx.Client, missing: str
) -> None:
    body = json.loads(fixture("refunds_create.partial_no_restock.json"))
    del body["refund_line_items"][0]["line_item"][missing]
    message = failure(platform, http, dumps(body), "refunds/create")
    assert message == (
        f"refund_line_items[0].line_item.{missing}: refund 9007199254741307 of order "
        "9007199254740993 refunds 1 of line 9007199254740995, which is partly shipped, with "
        f"restock_type no_restock, and the line item has no {missing}: cannot tell how many "
        "of the refunded units had shipped"
    )


def test_a_pending_refund_transaction_goes_to_a_person(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    message = failure(platform, http, fixture("refunds_create.pending.json"), "refunds/create")
    assert message == (
        "transactions[0].status: refund 9007199254741308 of order 9007199254740993: transaction "
        "9007199254741329 is pending; whether its 135.60 USD reached the customer is not known "
        "yet, so check it by hand"
    )


def test_a_refund_mixing_currencies_is_refused(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    body = json.loads(fixture("refunds_create.return.json"))
    body["transactions"][1]["currency"] = "CAD"
    assert failure(platform, http, dumps(body), "refunds/create") == (
        "transactions[1].currency: refund 9007199254741301 of order 9007199254740993 mixes "
        "currencies: USD at transactions[0].currency, CAD"
    )


def test_an_amount_with_too_many_decimals_is_refused(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    body = json.loads(fixture("refunds_create.return.json"))
    body["transactions"][1]["amount"] = "135.605"
    assert failure(platform, http, dumps(body), "refunds/create") == (
        "transactions[1].amount: amount 135.605 has more decimals than USD allows (2)"
    )


def test_a_line_tax_with_too_many_decimals_is_refused(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    body = json.loads(fixture("refunds_create.return.json"))
    body["refund_line_items"][0]["total_tax_set"]["presentment_money"]["amount"] = "15.601"
    assert failure(platform, http, dumps(body), "refunds/create") == (
        "refund_line_items[0].total_tax_set.presentment_money.amount: amount 15.601 has more "
        "decimals than USD allows (2)"
    )


def test_a_line_tax_in_lower_case_currency_counts(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    body = json.loads(fixture("refunds_create.return.json"))
    expected = translate(platform, http, dumps(body), "refunds/create")
    body["refund_line_items"][0]["total_tax_set"]["presentment_money"]["currency_code"] = "usd"
    assert translate(platform, http, dumps(body), "refunds/create") == expected


def test_a_json_number_amount_is_read_exactly(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # 0.1 + 0.2 is not 0.3 in binary floating point; read as decimals it is.
    body = json.loads(fixture("refunds_create.return.json"))
    body["transactions"][1]["amount"] = "0.1"
    body["transactions"].append({**body["transactions"][1], "id": 1, "amount": "0.2"})
    raw = (
        dumps(body)
        .replace(b'"amount": "0.1"', b'"amount": 0.1')
        .replace(b'"amount": "0.2"', b'"amount": 0.2')
    )
    translation = translate(platform, http, raw, "refunds/create")
    assert [e.refund for e in translation.events if isinstance(e, OrderReturned)] == [usd("0.30")]


def test_a_refund_moving_nothing_is_ignored(platform: ShopifyPlatform, http: httpx.Client) -> None:
    body = json.loads(fixture("refunds_create.shipping_only.json"))
    body["transactions"] = []
    body["refund_shipping_lines"] = []
    assert translate(platform, http, dumps(body), "refunds/create") == Translation.ignore(
        "refund 9007199254741305 of order 9007199254740993 moves neither goods nor money"
    )


# Cancellation


def test_cancelled_order_replays_its_shipments_and_refunds_then_cancels_the_rest(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    translation = translate(
        platform, http, fixture("orders_cancelled.after_shipment.json"), "orders/cancelled"
    )
    assert translation == Translation(
        events=(
            SHIPMENT,
            RETURN_OF_SHOES,
            OrderCancelled(order=ORDER, id=f"cancel:{ORDER}", reason=CancelReason.INVENTORY),
            # The socks shipped and no refund names them: they come back, and no money with
            # them, since Shopify refunded none.
            OrderReturned(
                order=ORDER,
                id=f"cancel:{ORDER}",
                lines=(LineQuantity(line=SOCKS, quantity=3),),
                refund=usd("0.00"),
                reason=NO_REFUND,
            ),
        ),
        occurred_at=datetime(2026, 1, 16, 9, 30, tzinfo=EST),
    )


NO_REFUND = (
    "order cancelled (inventory) after these units shipped; Shopify refunded nothing for them"
)


def cancelled_after_shipment(**line: Any) -> dict[str, Any]:
    """The fixture's cancelled order without its refund: shoes 1 of 2 and socks 3 of 3
    shipped, nothing refunded in Shopify; `line` overrides fields of the socks' line item."""
    body = json.loads(fixture("orders_cancelled.after_shipment.json"))
    body["refunds"] = []
    body["line_items"][1].update(line)
    return body


def returned_on_cancel(body: dict[str, Any], http: httpx.Client) -> OrderReturned:
    translation = translate(ShopifyPlatform(), http, dumps(body), "orders/cancelled")
    *_, cancel, back = translation.events
    assert cancel == OrderCancelled(
        order=ORDER, id=f"cancel:{ORDER}", reason=CancelReason.INVENTORY
    )
    assert isinstance(back, OrderReturned)
    assert back.id == f"cancel:{ORDER}"
    return back


def test_a_cancel_without_refund_returns_every_shipped_unit_and_no_money(
    http: httpx.Client,
) -> None:
    back = returned_on_cancel(cancelled_after_shipment(), http)
    assert back.lines == (
        LineQuantity(line=SHOES, quantity=1),
        LineQuantity(line=SOCKS, quantity=3),
    )
    assert back.refund == usd("0.00")
    assert back.reason == NO_REFUND


def test_a_cancel_refunds_exactly_what_its_refunds_gave_back(http: httpx.Client) -> None:
    body = cancelled_after_shipment()
    refund = json.loads(fixture("refunds_create.shipping_only.json"))
    refund["refund_shipping_lines"] = []
    refund["order_adjustments"] = []
    refund["transactions"][0]["amount"] = "100.00"
    body["refunds"] = [refund]
    events = translate(ShopifyPlatform(), http, dumps(body), "orders/cancelled").events
    money = [event.refund for event in events if isinstance(event, OrderReturned)]
    # The refund's 100.00 as it came, then the shipped units back without money.
    assert money == [usd("100.00"), usd("0.00")]


def _bag(amount: str) -> dict[str, Any]:
    money = {"amount": amount, "currency_code": "USD"}
    return {"shop_money": money, "presentment_money": money}


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("fraud", CancelReason.FRAUD),
        ("declined", CancelReason.DECLINED),
        ("staff", CancelReason.STAFF),
        (None, CancelReason.OTHER),
        ("something-new", CancelReason.OTHER),
    ],
)
def test_cancel_reasons_map(
    platform: ShopifyPlatform, http: httpx.Client, given: str | None, reason: CancelReason
) -> None:
    body = json.loads(fixture("orders_cancelled.after_shipment.json"))
    body["cancel_reason"] = given
    events = translate(platform, http, dumps(body), "orders/cancelled").events
    cancel = [event for event in events if isinstance(event, OrderCancelled)]
    assert cancel == [OrderCancelled(order=ORDER, id=f"cancel:{ORDER}", reason=reason)]


# Unreadable bodies


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            "refunds/create body is not JSON: Expecting property name enclosed in "
            "double quotes at line 1 column 2 (character 1)",
        ),
        (
            b'{"id": 1, "order_id": 2,\n "transactions": [{"kind": "refund", "amount": 1.}]}',
            "transactions[0].amount: refunds/create body is not JSON: Expecting ',' delimiter "
            "at line 2 column 49 (character 73)",
        ),
        (
            b'\xff{"id": 1}',
            "refunds/create body is not JSON: it is not utf-8 text (invalid start byte at byte 0)",
        ),
        (b"[]", "refunds/create body is not a JSON object but a array"),
        (
            b'{"id": 1, "order_id": 2, "refund_line_items": [{"line_item_id": 3}]}',
            "refund_line_items[0].quantity: Field required in the refunds/create body",
        ),
        (
            b'{"id": 1, "order_id": 2, "transactions": [{"kind": "refund", "amount": NaN}]}',
            "refunds/create body is not JSON: NaN is not a number",
        ),
        (
            b'{"id": 1, "order_id": 2, "note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "refunds/create body is nested too deeply to read",
        ),
    ],
)
def test_an_unreadable_body_names_the_problem(
    platform: ShopifyPlatform, http: httpx.Client, body: bytes, message: str
) -> None:
    assert failure(platform, http, body, "refunds/create") == message


def test_a_topic_is_needed_to_translate(platform: ShopifyPlatform, http: httpx.Client) -> None:
    delivery = request(b"{}", "refunds/create")
    headers = httpx.Headers({k: v for k, v in delivery.headers.items() if "topic" not in k})
    bare = type(delivery)(
        platform="shopify",
        store="main",
        headers=headers,
        body=b"{}",
        received_at=delivery.received_at,
    )
    with pytest.raises(TranslationError) as caught:
        platform.translate(bare, context(http))
    assert str(caught.value) == "missing header X-Shopify-Topic"


def test_without_a_time_in_the_body_the_trigger_time_is_used(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    body = json.loads(fixture("fulfillments_create.partial.json"))
    del body["updated_at"], body["created_at"]
    delivery = request(dumps(body), "fulfillments/create", triggered_at="2026-01-14T15:15:01.5Z")
    translation = platform.translate(delivery, context(http))
    assert translation.events == (SHIPMENT,)
    assert translation.occurred_at == datetime(2026, 1, 14, 15, 15, 1, 500000, tzinfo=UTC)


def test_bare_json_number_subtotals_are_read_exactly(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # An old body without *_set fields: subtotal and total_tax are JSON numbers. The cancelled
    # bottle is worth 0.1 + 0.2, exactly 0.30, so the return keeps 19.99 of the 20.29 refunded.
    body = json.loads(fixture("refunds_create.shipping_adjustment.json"))
    body["order_adjustments"] = []
    body["transactions"][0]["amount"] = "20.29"
    for item in body["refund_line_items"]:
        del item["subtotal_set"], item["total_tax_set"], item["line_item"]["price_set"]
    raw = (
        dumps(body)
        .replace(b'"subtotal": 33.75', b'"subtotal": 0.1')
        .replace(b'"total_tax": 4.39', b'"total_tax": 0.2')
        .replace(b'"subtotal": 162.0', b'"subtotal": 19.99')
        .replace(b'"total_tax": 21.06', b'"total_tax": 0')
    )
    translation = translate(platform, http, raw, "refunds/create")
    assert translation.events == (
        OrderCancelled(
            order=ORDER, id="9007199254741306", lines=(LineQuantity(line=BOTTLE, quantity=1),)
        ),
        OrderReturned(
            order=ORDER,
            id="9007199254741306",
            lines=(LineQuantity(line=SHOES, quantity=1),),
            refund=usd("19.99"),
        ),
    )


def test_a_bare_amount_in_another_shop_currency_is_refused_naming_its_missing_set(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    # The shop sells in CAD to a customer paying USD: a bare subtotal is CAD, and reading it as
    # USD would refund a wrong amount.
    body = json.loads(fixture("refunds_create.shipping_adjustment.json"))
    del body["refund_line_items"][0]["subtotal_set"]

    with pytest.raises(TranslationError) as refused:
        translate(platform, http, dumps(body), "refunds/create")

    assert refused.value.field == "refund_line_items[0].subtotal_set"
    assert str(refused.value) == (
        "refund_line_items[0].subtotal_set: has no subtotal_set, and subtotal is in the shop currency"
        " CAD, not the presentment currency USD"
    )
