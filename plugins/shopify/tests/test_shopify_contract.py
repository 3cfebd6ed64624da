"""Shopify passes the contract suite every Passerelle webhook platform must pass."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from wsgiref.types import StartResponse, WSGIEnvironment

import httpx
import pytest
from shopify_support import (
    FIXTURES,
    LINE_SHOES,
    LINE_SOCKS,
    ORDER_ID,
    SAMPLES,
    SHOP,
    fixture_order,
)
from shopify_support import store as shopify_store

from passerelle.events import LineQuantity, OrderShipped
from passerelle.testing import Sample, WebhookPlatformContract
from passerelle.testing.golden import golden_path
from passerelle.testing.json_paths import REMOVED, Added, with_changes
from passerelle_shopify import HANDLED_TOPICS, ShopifyPlatform

OTHER_TOPICS = (
    "orders/updated",
    "order_transactions/create",
    *(f"returns/{act}" for act in "approve cancel close decline reopen request update".split()),
)
TOPIC_OF_FILE = {topic.replace("/", "_"): topic for topic in (*HANDLED_TOPICS, *OTHER_TOPICS)}
"""Sample files are named after their topic, ``/`` written ``_`` (``refunds_create.json``)."""

# Fixtures that end in the action center by design are left to the plugin's own tests.
FIXTURES_WITH_EVENTS = (
    "orders_edited.json",
    "fulfillments_create.partial.json",
    "orders_cancelled.after_shipment.json",
    "orders_partially_fulfilled.multi.json",
    "refunds_create.cancel.json",
    "refunds_create.legacy_restock.json",
    "refunds_create.no_restock.json",
    "refunds_create.return.json",
    "refunds_create.shipping_adjustment.json",
    "refunds_create.shipping_only.json",
)

ACCESS_TOKEN = "shpat_contract_token"
API_VERSION = "2026-01"
"""The samples' API version, newer than the plugin's default."""
_SAMPLE_ORDER = (SAMPLES / "orders_updated.json").read_bytes()
_EDITED_ORDER = (FIXTURES / "admin_order.edited.json").read_bytes()


def _usd(amount: str, currency: str = "USD") -> dict[str, object]:
    return {"presentment_money": {"amount": amount, "currency_code": currency}}


_TAX = {"price": "1.35", "price_set": _usd("1.00")}
_DISCOUNT = {"amount": "2.70", "amount_set": _usd("2.00")}
_SHIPPING = json.loads(_EDITED_ORDER)["order"]["shipping_lines"][0]
_INSURANCE = {
    **_SHIPPING,
    "id": 9007199254741502,
    "title": "Insurance",
    "price": "2.70",
    "price_set": _usd("2.00"),
    "discount_allocations": [],
}
EDITED_ORDERS: dict[str, dict[str, object]] = {
    # A tax-exclusive order: the tax of the unshipped units and shipping becomes a fee line.
    "tax-exclusive": {
        "taxes_included": Added(False),
        "line_items[0].tax_lines": [_TAX, _TAX],
        "line_items[0].discount_allocations": [_DISCOUNT],
        # A tax line with no amount adds nothing.
        "line_items[3].tax_lines": [_TAX, {}],
        "shipping_lines[0].tax_lines": Added([_TAX]),
        # A line the edit removed: neither its tax nor its discounts are the cart's.
        "line_items[2].tax_lines": [_TAX],
        "line_items[2].discount_allocations": [_DISCOUNT],
    },
    "tax-inclusive": {"taxes_included": Added(True), "line_items[3].tax_lines": [_TAX]},
    "unnamed": {
        "line_items[0].title": "Trail Runner",
        "line_items[3].name": None,
        "line_items[3].title": None,
        "shipping_lines[0].title": " ",
    },
    # Before API 2024-01: the shipped units are those of the successful fulfillments, up to
    # the line's quantity less what is left to ship.
    "without-current-quantities": {
        **{f"line_items[{index}].current_quantity": REMOVED for index in range(4)},
        # One line in two fulfillments, a line past its own count, a line left to ship.
        "fulfillments[0].line_items": [
            {"id": LINE_SHOES, "quantity": 2},
            {"id": LINE_SOCKS, "quantity": 1},
            {"id": 9007199254741007, "quantity": 1},
        ],
        "fulfillments[1].status": "success",
        "fulfillments[1].line_items": [{"id": LINE_SOCKS, "quantity": 1}],
    },
    "shipping-removed": {"shipping_lines": [{**_SHIPPING, "is_removed": True}, _INSURANCE]},
    "all-shipped": {f"line_items[{index}].fulfillable_quantity": 0 for index in range(4)},
    "free-line-and-cheap-shipping": {
        "line_items[3].price_set.presentment_money.amount": "0.00",
        "shipping_lines[0].price_set.presentment_money.amount": "0.50",
    },
    "cheap-line-and-free-shipping": {
        "line_items[3].price_set.presentment_money.amount": "0.50",
        "shipping_lines[0].price_set.presentment_money.amount": "0.00",
    },
    "in-shop-currency": {
        "currency": "USD",
        "taxes_included": Added(False),
        "line_items[3].price_set": REMOVED,
        "line_items[3].price": "30.00",
        "line_items[3].tax_lines": [{"price": "2.00"}],
        "shipping_lines[0].price_set": REMOVED,
        "shipping_lines[0].price": "15.00",
    },
    "without-shop-currency": {"currency": None},
    "currency-from-prices": {"presentment_currency": None},
    # Without a presentment currency or prices in one, the shop's is the order's.
    "currency-of-the-shop": {
        "presentment_currency": None,
        **{f"line_items[{index}].price_set": REMOVED for index in range(4)},
        "shipping_lines[0].price_set": REMOVED,
        "shipping_lines[0].discount_allocations": [],
        "line_items[3].discount_allocations": [],
    },
}
"""Orders as the Admin API answers them for ``orders/edited`` variants: changes to the edited
order, each under an id of its own."""
EDITED_REFUSED: dict[str, dict[str, object]] = {
    "without-fulfillable": {"line_items[0].fulfillable_quantity": None},
    "without-price": {"line_items[3].price_set": None, "line_items[3].price": None},
    "negative-price": {"line_items[3].price_set.presentment_money.amount": "-1.00"},
    "price-with-more-decimals": {"line_items[3].price_set.presentment_money.amount": "30.004"},
    "shipping-without-price": {
        "shipping_lines[0].price_set": None,
        "shipping_lines[0].price": None,
    },
    "negative-shipping": {"shipping_lines[0].price_set.presentment_money.amount": "-1.00"},
    "bare-price-in-shop-currency": {"line_items[3].price_set": REMOVED},
    "unknown-shop-currency": {"currency": "XYZ"},
    "unknown-price-currency": {
        "presentment_currency": None,
        "line_items[0].price_set.presentment_money.currency_code": "ZZZ",
    },
    "no-currency-at-all": {
        "presentment_currency": None,
        "currency": None,
        **{f"line_items[{index}].price_set": REMOVED for index in range(4)},
    },
    "another-order": {"id": ORDER_ID + 999},
    "line-tax-in-another-currency": {
        "taxes_included": Added(False),
        "line_items[0].tax_lines": [_TAX, {"price_set": _usd("1.00", "EUR")}],
    },
    "shipping-tax-in-another-currency": {
        "taxes_included": Added(False),
        "shipping_lines[0].tax_lines": Added([{"price_set": _usd("1.00", "EUR")}]),
    },
}
"""Edited orders the plugin must refuse."""


def edited_order_id(label: str) -> int:
    """The id of the edited order changed by `label` (`EDITED_ORDERS`, `EDITED_REFUSED`)."""
    return ORDER_ID + 1 + sorted([*EDITED_ORDERS, *EDITED_REFUSED]).index(label)


def _edited_answer(label: str, changes: dict[str, object]) -> bytes:
    changes = {"id": edited_order_id(label), **changes}
    return json.dumps({"order": with_changes(json.loads(_EDITED_ORDER)["order"], changes)}).encode()


ADMIN_ORDERS = {
    json.loads(_SAMPLE_ORDER)["id"]: b'{"order": ' + _SAMPLE_ORDER + b"}",
    ORDER_ID: _EDITED_ORDER,
    **{
        edited_order_id(label): _edited_answer(label, changes)
        for label, changes in {**EDITED_ORDERS, **EDITED_REFUSED}.items()
    },
}
"""The orders ``orders/edited`` deliveries make the plugin read, as the Admin API answers."""


def admin_api(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Shopify's Admin API for `ADMIN_ORDERS`: ``GET /admin/api/{version}/orders/{id}.json``."""
    # The delivery's API version only: its body was built with it.
    found = re.fullmatch(rf"/admin/api/{API_VERSION}/orders/([0-9]+)\.json", environ["PATH_INFO"])
    order = ADMIN_ORDERS.get(int(found.group(1))) if found else None
    if environ.get("HTTP_X_SHOPIFY_ACCESS_TOKEN") != ACCESS_TOKEN:
        status, answer = "401 Unauthorized", b'{"errors": "Invalid API key or access token"}'
    elif environ["REQUEST_METHOD"] != "GET" or order is None:
        status, answer = "404 Not Found", b'{"errors": "Not Found"}'
    else:
        status, answer = "200 OK", order
    start_response(status, [("Content-Type", "application/json")])
    return [answer]


SHIPMENT = OrderShipped(
    order=str(ORDER_ID),
    id="9007199254741101",
    lines=(
        LineQuantity(line=str(LINE_SHOES), quantity=1),
        LineQuantity(line=str(LINE_SOCKS), quantity=3),
    ),
)
"""The fixtures' shipment (``fulfillments_create.partial.json``), before their returns."""
APPLIED_TO: dict[str, tuple[OrderShipped, ...]] = {
    "fulfillments_create.partial.json": (),
    "orders_partially_fulfilled.multi.json": (),
    "orders_cancelled.after_shipment.json": (),
    "refunds_create.cancel.json": (),
    "refunds_create.legacy_restock.json": (SHIPMENT,),
    "refunds_create.no_restock.json": (SHIPMENT,),
    "refunds_create.return.json": (SHIPMENT,),
    "refunds_create.shipping_only.json": (SHIPMENT,),
}
"""The fixtures whose events the suite applies to the order the checkout created, after the
events named (see `fixture_order`)."""
VERSIONED = ("fulfillments_", "orders_fulfilled", "orders_partially_fulfilled", "orders_cancelled")
"""Files of the topics whose deliveries carry a dated state (`passerelle_shopify.versions`)."""
NEWER_THAN = {
    "fixtures/orders_cancelled.after_shipment.json": "fixtures/orders_partially_fulfilled.multi.json"
}


def delivery(path: Path) -> Sample:
    """`path` as Shopify delivers it, every header but the signature, with its golden
    expectations beside it; a fixture of `APPLIED_TO` with its order."""
    name = f"{path.parent.name}/{path.name}"
    applies = path.parent == FIXTURES and path.name in APPLIED_TO
    return Sample(
        name,
        path.read_bytes(),
        {
            "Content-Type": "application/json",
            "X-Shopify-Topic": TOPIC_OF_FILE[path.name.split(".")[0]],
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Event-Id": f"contract-{name}",
            "X-Shopify-Webhook-Id": f"contract-webhook-{name}",
            "X-Shopify-Triggered-At": "2026-01-15T11:59:58Z",
        },
        order=fixture_order(tax="31.20") if applies else None,
        golden=golden_path(path),
        versioned=path.name.startswith(VERSIONED),
        newer_than=NEWER_THAN.get(name),
        before=APPLIED_TO.get(path.name, ()) if applies else (),
    )


BASE_SAMPLES = (
    *(delivery(path) for path in sorted(SAMPLES.glob("*.json"))),
    *(delivery(FIXTURES / name) for name in FIXTURES_WITH_EVENTS),
)
_BY_NAME = {sample.name: sample for sample in BASE_SAMPLES}
_SHIPMENT = json.loads((FIXTURES / "fulfillments_create.partial.json").read_bytes())
_CANCELLATION = json.loads((FIXTURES / "orders_cancelled.after_shipment.json").read_bytes())
_NOTHING_REFUNDED = {
    **_CANCELLATION["refunds"][0],
    "id": 9007199254741300,
    "refund_line_items": [],
    "transactions": [],
}
_NO_REFUND_CURRENCY = {
    "refunds[0].transactions[0].currency": REMOVED,
    "refunds[0].transactions[1].currency": REMOVED,
    "refunds[0].refund_line_items[0].subtotal_set": REMOVED,
    "refunds[0].refund_line_items[0].total_tax_set": REMOVED,
}
"""A cancelled order's refund stating no currency of its own."""
_URL = "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor="
_REFUND_LINE = "refund_line_items[0]"
_LINE = f"{_REFUND_LINE}.line_item"
_IN_USD_ONLY = {
    f"{_REFUND_LINE}.subtotal_set": REMOVED,
    f"{_REFUND_LINE}.total_tax_set": REMOVED,
    f"{_REFUND_LINE}.subtotal": "240.00",
    f"{_REFUND_LINE}.total_tax": "31.20",
    f"{_LINE}.price_set": REMOVED,
    f"{_LINE}.price": "120.00",
    # Both units refunded, one shipped: the lines' values split the money.
    f"{_REFUND_LINE}.restock_type": "no_restock",
    f"{_REFUND_LINE}.quantity": 2,
    "transactions[1].amount": "200.00",
}
"""A refund from a shop selling in its own currency alone: bare amounts, in that currency."""
_RETURN = json.loads((FIXTURES / "refunds_create.return.json").read_bytes())
_CANCELLED_LINE = {
    **_RETURN["refund_line_items"][0],
    "restock_type": "cancel",
    "subtotal_set": {"presentment_money": {"amount": "30.00", "currency_code": "USD"}},
    "total_tax_set": {"presentment_money": {"amount": "0.00", "currency_code": "USD"}},
}
_ADJUSTMENT = json.loads((FIXTURES / "refunds_create.shipping_adjustment.json").read_bytes())[
    "order_adjustments"
][0]
_DISCREPANCY = {
    **_ADJUSTMENT,
    "id": 9007199254741350,
    "kind": "refund_discrepancy",
    "amount_set": {"presentment_money": {"amount": "-1.00", "currency_code": "USD"}},
    "tax_amount_set": None,
}
_NO_TRACKING = {
    "tracking_company": None,
    "tracking_number": None,
    "tracking_numbers": [],
    "tracking_url": None,
    "tracking_urls": [],
}


def variant(
    base: str,
    label: str,
    changes: dict[str, object],
    *,
    refused: bool = False,
    applied: bool = True,
) -> Sample:
    """A variant of the sample `base` for a case no real payload shows, applied to the order
    its sample applies to unless refused, or not `applied` (a case of another order)."""
    sample = _BY_NAME[base]
    if refused or not applied or sample.order is None:
        return sample.variant(label, changes, refused=refused)
    return sample.variant(label, changes, order=sample.order, before=sample.before)


SHIPPED = "fixtures/fulfillments_create.partial.json"
CANCELLED = "samples/orders_cancelled.json"
CANCELLED_AFTER = "fixtures/orders_cancelled.after_shipment.json"
RETURNED = "fixtures/refunds_create.return.json"
SHIPPING_REFUNDED = "fixtures/refunds_create.shipping_only.json"
SHIPPING_ADJUSTED = "fixtures/refunds_create.shipping_adjustment.json"
EDITED = "fixtures/orders_edited.json"
VARIANTS = (
    # A fulfillment's status decides whether anything shipped.
    *(
        variant(SHIPPED, status, {"status": status}, refused=True)
        for status in ("cancelled", "failure", "error", "lost")
    ),
    variant(SHIPPED, "open", {"status": "open"}),
    variant(SHIPPED, "without-status", {"status": None}),
    variant(SHIPPED, "status-in-capitals", {"status": "SUCCESS"}),
    variant(SHIPPED, "without-units", {"line_items[0].quantity": 0, "line_items[1].quantity": 0}),
    variant(
        SHIPPED, "a-line-twice", {"line_items": [_SHIPMENT["line_items"][1]] * 2}, applied=False
    ),
    variant(SHIPPED, "created-only", {"updated_at": None}),
    variant(SHIPPED, "local-times", {"updated_at": "2026-01-14T10:15:00", "created_at": None}),
    # Tracking: what a fulfillment carries, up to the lengths an event holds.
    variant(SHIPPED, "without-tracking", _NO_TRACKING),
    variant(SHIPPED, "carrier-only", {**_NO_TRACKING, "tracking_company": " UPS "}),
    variant(SHIPPED, "number-only", {**_NO_TRACKING, "tracking_number": "1Z999"}),
    variant(SHIPPED, "url-only", {**_NO_TRACKING, "tracking_url": f"{_URL}1"}),
    variant(
        SHIPPED, "url-of-2048", {**_NO_TRACKING, "tracking_urls": [_URL + "7" * (2048 - len(_URL))]}
    ),
    variant(
        SHIPPED, "url-of-2049", {**_NO_TRACKING, "tracking_urls": [_URL + "7" * (2049 - len(_URL))]}
    ),
    variant(SHIPPED, "number-of-255", {**_NO_TRACKING, "tracking_numbers": ["7" * 255]}),
    variant(
        SHIPPED, "numbers-of-255", {**_NO_TRACKING, "tracking_numbers": ["7" * 100, "8" * 153]}
    ),
    variant(
        SHIPPED, "numbers-past-255", {**_NO_TRACKING, "tracking_numbers": ["7" * 200, "8" * 200]}
    ),
    variant(SHIPPED, "a-number-twice", {"tracking_numbers": ["1Z9", " 1Z9 ", "2Z9"]}),
    # A cancellation: its reason, and what it needs.
    *(
        variant(CANCELLED, f"reason-{reason}", {"cancel_reason": reason})
        for reason in ("fraud", "inventory", "declined", "other", "staff")
    ),
    variant(CANCELLED, "reason-in-capitals", {"cancel_reason": "FRAUD"}),
    variant(CANCELLED, "without-reason", {"cancel_reason": None}),
    variant(CANCELLED, "without-cancelled-at", {"cancelled_at": None}, refused=True),
    variant(CANCELLED, "without-line-items", {"line_items": []}, refused=True),
    variant(CANCELLED, "local-cancelled-at", {"cancelled_at": "2021-12-31T19:00:00"}),
    variant(CANCELLED_AFTER, "without-refunds", {"refunds": []}),
    variant(
        CANCELLED_AFTER,
        "a-line-shipped-twice",
        {"fulfillments[1].status": "success", "fulfillments[1].line_items[0].id": LINE_SHOES},
    ),
    variant(
        CANCELLED_AFTER,
        "a-refund-of-nothing-first",
        {"refunds": [_NOTHING_REFUNDED, _CANCELLATION["refunds"][0]]},
    ),
    variant(
        CANCELLED_AFTER,
        "refund-naming-no-currency",
        _NO_REFUND_CURRENCY,
        # The order's currency tells the refund's, whose bare amounts are in the shop's.
        refused=True,
    ),
    variant(
        CANCELLED_AFTER,
        "refund-in-an-unknown-currency",
        {
            "presentment_currency": "ZZZ",
            **_NO_REFUND_CURRENCY,
        },
        refused=True,
    ),
    variant(
        CANCELLED_AFTER,
        "local-times",
        {"cancelled_at": "2026-01-16T09:00:00", "updated_at": "2026-01-16T09:00:00"},
    ),
    # A refund: cancelled or returned units, and the money.
    variant(RETURNED, "cancel", {f"{_REFUND_LINE}.restock_type": "cancel"}),
    variant(
        RETURNED, "unknown-restock", {f"{_REFUND_LINE}.restock_type": "exchange"}, refused=True
    ),
    variant(
        RETURNED,
        "no-restock-fulfilled",
        {f"{_REFUND_LINE}.restock_type": "no_restock", f"{_LINE}.fulfillment_status": "fulfilled"},
    ),
    variant(
        RETURNED,
        "no-restock-unfulfilled",
        {f"{_REFUND_LINE}.restock_type": "no_restock", f"{_LINE}.fulfillment_status": None},
    ),
    variant(RETURNED, "no-restock-partial", {f"{_REFUND_LINE}.restock_type": "no_restock"}),
    variant(
        RETURNED,
        "legacy-partial-both-units",
        {
            f"{_REFUND_LINE}.restock_type": "legacy_restock",
            f"{_REFUND_LINE}.quantity": 2,
            f"{_REFUND_LINE}.subtotal_set.presentment_money.amount": "240.00",
            f"{_REFUND_LINE}.total_tax_set.presentment_money.amount": "31.20",
        },
    ),
    # Without a restock type, the line's fulfillment decides: it must be stated.
    *(
        variant(RETURNED, label, {f"{_REFUND_LINE}.restock_type": None, path: value}, refused=True)
        for label, path, value in (
            ("partial-without-fulfillable", f"{_LINE}.fulfillable_quantity", None),
            ("partial-without-quantity", f"{_LINE}.quantity", None),
            ("unknown-fulfillment", f"{_LINE}.fulfillment_status", "restocked"),
            ("without-line-item", _LINE, REMOVED),
        )
    ),
    variant(
        RETURNED,
        "lower-case-currency",
        {
            "transactions[1].currency": "usd",
            f"{_REFUND_LINE}.subtotal_set.presentment_money.currency_code": "usd",
        },
    ),
    variant(
        RETURNED,
        "mixed-currencies",
        {f"{_REFUND_LINE}.subtotal_set.presentment_money.currency_code": "EUR"},
        refused=True,
    ),
    variant(
        RETURNED,
        "more-decimals",
        {f"{_REFUND_LINE}.subtotal_set.presentment_money.amount": "120.004"},
        refused=True,
    ),
    variant(
        RETURNED,
        "bare-amounts",
        {f"{_REFUND_LINE}.subtotal_set": REMOVED, f"{_REFUND_LINE}.total_tax_set": REMOVED},
        refused=True,
    ),
    variant(
        RETURNED,
        "line-price-only",
        {
            f"{_REFUND_LINE}.subtotal_set": REMOVED,
            f"{_REFUND_LINE}.subtotal": REMOVED,
            f"{_REFUND_LINE}.total_tax_set": REMOVED,
            f"{_REFUND_LINE}.total_tax": REMOVED,
        },
    ),
    *(
        variant(RETURNED, label, {**_IN_USD_ONLY, **changes})
        for label, changes in (
            ("bare-amounts-in-shop-currency", {}),
            ("bare-subtotal-without-tax", {f"{_REFUND_LINE}.total_tax": REMOVED}),
            (
                "bare-line-price",
                {f"{_REFUND_LINE}.subtotal": REMOVED, f"{_REFUND_LINE}.total_tax": REMOVED},
            ),
        )
    ),
    variant(
        RETURNED,
        "line-price-with-more-decimals",
        {
            f"{_REFUND_LINE}.subtotal_set": REMOVED,
            f"{_REFUND_LINE}.subtotal": REMOVED,
            f"{_REFUND_LINE}.total_tax_set": REMOVED,
            f"{_REFUND_LINE}.total_tax": REMOVED,
            f"{_LINE}.price_set.presentment_money.amount": "120.004",
        },
        refused=True,
    ),
    variant(
        RETURNED,
        "tax-with-more-decimals",
        {f"{_REFUND_LINE}.total_tax_set.presentment_money.amount": "15.604"},
        refused=True,
    ),
    variant(RETURNED, "pending", {"transactions[1].status": "pending"}, refused=True),
    variant(RETURNED, "status-unknown", {"transactions[1].status": None}, refused=True),
    variant(RETURNED, "negative", {"transactions[1].amount": "-1.00"}, refused=True),
    variant(RETURNED, "refunding-nothing", {"transactions[1].amount": "0.00"}),
    variant(RETURNED, "refunding-cents", {"transactions[1].amount": "0.50"}),
    variant(
        RETURNED,
        "after-a-sale",
        {
            "transactions": [
                {**_RETURN["transactions"][1], "kind": "sale"},
                _RETURN["transactions"][1],
            ]
        },
    ),
    # A cancellation refunding nothing still cancels: the goods move.
    variant(
        RETURNED, "cancel-unpaid", {f"{_REFUND_LINE}.restock_type": "cancel", "transactions": []}
    ),
    variant(
        RETURNED,
        "a-line-in-two-parts",
        {
            "refund_line_items": [
                {**_RETURN["refund_line_items"][0], "quantity": 0},
                _RETURN["refund_line_items"][0],
                {
                    **_RETURN["refund_line_items"][0],
                    "id": 9007199254741312,
                    "restock_type": "cancel",
                },
            ],
            "transactions[1].amount": "271.20",
        },
        applied=False,
    ),
    variant(
        RETURNED,
        "partial-nothing-shipped",
        {f"{_REFUND_LINE}.restock_type": None, f"{_LINE}.fulfillable_quantity": 2},
    ),
    variant(
        RETURNED,
        "odd-cents-split",
        {
            f"{_REFUND_LINE}.restock_type": None,
            f"{_REFUND_LINE}.quantity": 2,
            f"{_REFUND_LINE}.subtotal_set.presentment_money.amount": "240.01",
            f"{_REFUND_LINE}.total_tax_set.presentment_money.amount": "31.20",
            "transactions[1].amount": "271.21",
        },
    ),
    variant(
        RETURNED,
        "no-restock-partial-without-fulfillable",
        {f"{_REFUND_LINE}.restock_type": "no_restock", f"{_LINE}.fulfillable_quantity": None},
        refused=True,
    ),
    variant(
        RETURNED,
        "returned-without-any-amount",
        {
            f"{_REFUND_LINE}.subtotal_set": REMOVED,
            f"{_REFUND_LINE}.subtotal": REMOVED,
            f"{_REFUND_LINE}.total_tax_set": REMOVED,
            f"{_REFUND_LINE}.total_tax": REMOVED,
            _LINE: REMOVED,
        },
        refused=True,
    ),
    variant(
        RETURNED,
        "bare-line-price-in-shop-currency-of-another",
        {
            f"{_REFUND_LINE}.subtotal_set": REMOVED,
            f"{_REFUND_LINE}.subtotal": REMOVED,
            f"{_REFUND_LINE}.total_tax": REMOVED,
            f"{_LINE}.price_set": REMOVED,
        },
        refused=True,
    ),
    *(
        variant(RETURNED, label, {**_IN_USD_ONLY, **changes}, refused=True)
        for label, changes in (
            ("bare-tax-with-more-decimals", {f"{_REFUND_LINE}.total_tax": "31.204"}),
            (
                "bare-line-price-with-more-decimals",
                {
                    f"{_REFUND_LINE}.subtotal": REMOVED,
                    f"{_REFUND_LINE}.total_tax": REMOVED,
                    f"{_LINE}.price": "120.004",
                },
            ),
        )
    ),
    # Refunded shipping counts only where money is left for a cancellation to cover.
    variant(
        SHIPPING_REFUNDED,
        "with-a-cancelled-line",
        {"refund_line_items": [_CANCELLED_LINE], "transactions[0].amount": "40.00"},
    ),
    *(
        variant(SHIPPING_ADJUSTED, label, {"transactions[0].amount": "170.00", **changes})
        for label, changes in (
            ("short", {}),
            ("short-after-a-discrepancy", {"order_adjustments": [_DISCREPANCY, _ADJUSTMENT]}),
            ("short-without-tax", {"order_adjustments[0].tax_amount_set": REMOVED}),
            (
                "short-in-the-shop-currency",
                {
                    # The shop sells in US dollars: bare amounts are in them.
                    "refund_line_items[0].subtotal_set.shop_money.currency_code": "USD",
                    "order_adjustments[0].amount_set": REMOVED,
                    "order_adjustments[0].tax_amount_set": REMOVED,
                    "order_adjustments[0].amount": "-15.00",
                    "order_adjustments[0].tax_amount": "-1.95",
                },
            ),
        )
    ),
    variant(
        SHIPPING_ADJUSTED,
        "more-decimals",
        {"order_adjustments[0].amount_set.presentment_money.amount": "-15.004"},
        refused=True,
    ),
    variant(
        SHIPPING_REFUNDED,
        "more-decimals",
        {"refund_shipping_lines[0].subtotal_amount_set.presentment_money.amount": "15.004"},
        refused=True,
    ),
    variant(
        SHIPPING_ADJUSTED,
        "bare-adjustment",
        {
            "order_adjustments[0].amount_set": REMOVED,
            "order_adjustments[0].tax_amount_set": REMOVED,
        },
        refused=True,
    ),
    variant(RETURNED, "failed", {"transactions[1].status": "failure"}),
    variant(RETURNED, "goodwill", {"transactions[1].amount": "150.00"}),
    variant(RETURNED, "created-only", {"processed_at": None}),
    # An order edit: the cart is the order the Admin API answers.
    variant(EDITED, "created-only", {"order_edit.committed_at": None}),
    *(
        variant(EDITED, f"order-{label}", {"order_edit.order_id": edited_order_id(label)})
        for label in EDITED_ORDERS
    ),
    *(
        variant(
            EDITED, f"order-{label}", {"order_edit.order_id": edited_order_id(label)}, refused=True
        )
        for label in EDITED_REFUSED
    ),
)
"""Cases the real payloads do not show, each a change to one of them."""


class TestShopifyContract(WebhookPlatformContract):
    platform = ShopifyPlatform()
    store = shopify_store(options={"shop_domain": SHOP, "access_token": ACCESS_TOKEN})
    samples = (*BASE_SAMPLES, *VARIANTS)
    max_examples = 20

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        with httpx.Client(transport=httpx.WSGITransport(app=admin_api)) as client:
            yield client
