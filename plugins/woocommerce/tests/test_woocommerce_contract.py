"""WooCommerce passes the contract suite every Passerelle webhook platform must pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from woo_support import FIXTURES, SAMPLES, SITE, checkout_order, sample, store

from passerelle.events import LineQuantity, OrderCancelled
from passerelle.testing import Sample, WebhookPlatformContract
from passerelle.testing.golden import golden_path
from passerelle_woocommerce import WooCommercePlatform
from passerelle_woocommerce.fake_rest import FakeRestApi
from passerelle_woocommerce.verify import sign

ORDER_727 = checkout_order(sample("order.created.rest-docs.json"))
REFUND_730 = OrderCancelled(
    order="727", id="refund:730", lines=(LineQuantity(line="315", quantity=1),)
)
CONTRACT_API = "http://woocommerce.contract/wp-json/wc/v3"

SNAPSHOTS = {
    # file: (topic, newer than, events applied before)
    "samples/order.created.signed-vector.json": ("order.created", None, ()),
    "samples/order.created.on-hold.wc5.json": ("order.created", None, ()),
    "samples/order.created.rest-docs.json": ("order.created", None, ()),
    "samples/order.updated.completed.rest-docs.json": (
        "order.updated",
        "samples/order.created.rest-docs.json",
        (),
    ),
    "samples/order.updated.completed.wc8.json": ("order.updated", None, ()),
    "fixtures/order.updated.processing.json": ("order.updated", None, ()),
    "fixtures/order.updated.partial-refund.json": (
        "order.updated",
        "fixtures/order.updated.processing.json",
        (),
    ),
    "fixtures/order.updated.completed.after-refund.json": (
        "order.updated",
        "fixtures/order.updated.partial-refund.json",
        (REFUND_730,),
    ),
    "fixtures/order.updated.return-refund.json": (
        "order.updated",
        "fixtures/order.updated.completed.after-refund.json",
        (),
    ),
    "fixtures/order.updated.refunded.json": (
        "order.updated",
        "fixtures/order.updated.return-refund.json",
        (),
    ),
    "fixtures/order.updated.cancelled.json": ("order.updated", None, ()),
    # What WooCommerce sends when an order is trashed (its id alone) and restored (the order).
    "fixtures/order.deleted.json": ("order.deleted", None, ()),
    "fixtures/order.restored.json": ("order.restored", None, ()),
}


def delivery(name: str) -> Sample:
    """`name` as WooCommerce delivers it, every header but the signature; order 727's snapshots
    with the order the checkout created."""
    topic, newer_than, before = SNAPSHOTS[name]
    path = Path(__file__).parent / name
    body = path.read_bytes()
    order = ORDER_727 if json.loads(body)["id"] == 727 else None
    resource, _, event = topic.partition(".")
    return Sample(
        name,
        body,
        {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": f"{SITE}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": "5c6f0a3e9d1b4e2f8a7c6b5d4e3f2a1b",
        },
        order=order,
        before=before,
        golden=golden_path(path),
        # A trashed or restored order reports no state to date.
        versioned=topic in ("order.created", "order.updated"),
        newer_than=newer_than,
    )


def rest_api() -> FakeRestApi:
    api = FakeRestApi()
    for refund in (730, 731, 732):
        api.refunds[(727, refund)] = json.loads((FIXTURES / f"refund.{refund}.json").read_bytes())
    return api


TRACKED = "fixtures/order.updated.completed.after-refund.json"
_TRACKING = "meta_data[2].value[0]"
_URL = "https://tools.usps.com/go/TrackConfirmAction?tLabels="


def tracked(label: str, changes: dict[str, object]) -> Sample:
    """The completed order with its shipment's tracking changed."""
    sample = delivery(TRACKED)
    changes = {f"{_TRACKING}.{name}": value for name, value in changes.items()}
    return sample.variant(label, changes, order=sample.order, before=sample.before)


VARIANTS = (
    tracked("custom-carrier", {"custom_tracking_provider": " Canada Post "}),
    tracked("link", {"custom_tracking_link": f"{_URL}9400111899223100012345"}),
    tracked("link-not-http", {"custom_tracking_link": "ftp://tools.usps.com/9400"}),
    tracked("link-of-2048", {"custom_tracking_link": _URL + "4" * (2048 - len(_URL))}),
    tracked("link-of-2049", {"custom_tracking_link": _URL + "4" * (2049 - len(_URL))}),
    tracked("number-only", {"tracking_provider": " "}),
    tracked("nothing-tracked", {"tracking_provider": "", "tracking_number": ""}),
)
"""Shipments tracked in ways the real payloads do not show."""


class TestWooCommerceContract(WebhookPlatformContract):
    platform = WooCommercePlatform()
    store = store(base_url=CONTRACT_API)
    samples = (*(delivery(name) for name in SNAPSHOTS), *VARIANTS)
    max_examples = 20

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {"X-WC-Webhook-Signature": sign(body, secret)}

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        with httpx.Client(transport=httpx.WSGITransport(app=rest_api().wsgi)) as client:
            yield client


def test_every_sample_is_in_the_contract() -> None:
    files = {f"samples/{p.name}" for p in SAMPLES.glob("order.*.json")}
    files |= {f"fixtures/{p.name}" for p in FIXTURES.glob("order.*.json")}
    assert files == set(SNAPSHOTS)
