"""Order snapshots into acts: each fixture's events, applied to the order the checkout created,
and repeated, merged and stale snapshots changing nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from woo_support import (
    checkout_order,
    context,
    fixture,
    request,
    sample,
)

from passerelle.events import (
    BatchFileEdited,
    LineQuantity,
    OrderCancelled,
    OrderEvent,
    OrderReturned,
    OrderShipped,
    Tracking,
)
from passerelle.money import Money
from passerelle.orders import OrderLedger
from passerelle.platforms import TranslationError
from passerelle_woocommerce import WooCommercePlatform
from passerelle_woocommerce.fake_rest import FakeRestApi

PLATFORM = WooCommercePlatform()
ORDER = checkout_order(sample("order.created.rest-docs.json"))
TRACKING = Tracking(carrier="usps", number="9400111899223100012345")


@pytest.fixture
def api(rest_api: FakeRestApi) -> FakeRestApi:
    for refund in (730, 731, 732):
        rest_api.refunds[(727, refund)] = json.loads(fixture(f"refund.{refund}.json"))
    return rest_api


def events(http: httpx.Client, api: FakeRestApi, body: bytes) -> tuple[OrderEvent, ...]:
    translation = PLATFORM.translate(request(body), context(http, api.base_url))
    return tuple(e for e in translation.events if not isinstance(e, BatchFileEdited))


def apply(ledger: OrderLedger, acts: tuple[OrderEvent, ...]) -> tuple[OrderLedger, list[bool]]:
    noops = []
    for act in acts:
        ledger, effect = ledger.apply(act)
        noops.append(effect.is_noop)
    return ledger, noops


def counts(ledger: OrderLedger) -> dict[str, tuple[int, int, int]]:
    return {s.reference: (s.shipped, s.cancelled, s.returned) for s in ledger.lines if s.is_product}


def test_the_checkout_order_adds_up_to_the_snapshot_total() -> None:
    assert ORDER.total == Money.of("29.35", "USD")
    prices = {line.reference: (str(line.unit_price), line.quantity) for line in ORDER.lines}
    assert prices == {
        "315": ("3.00 USD", 2),
        "316": ("12.00 USD", 1),
        "tax": ("1.35 USD", 1),
        "shipping:317": ("10.00 USD", 1),
    }


def test_a_processing_order_means_nothing_yet(http: httpx.Client, api: FakeRestApi) -> None:
    translation = PLATFORM.translate(
        request(fixture("order.updated.processing.json")), context(http, api.base_url)
    )
    assert translation.ignored == "order 727 is processing: nothing shipped, cancelled or refunded"
    assert api.calls == 0


def test_a_completed_order_ships_everything_with_its_tracking(
    http: httpx.Client, api: FakeRestApi
) -> None:
    (shipped,) = events(http, api, sample("order.updated.completed.rest-docs.json"))
    assert shipped == OrderShipped(
        order="727",
        id="shipped:727:315x2,316x1",
        lines=(LineQuantity(line="315", quantity=2), LineQuantity(line="316", quantity=1)),
    )
    ledger, _ = apply(OrderLedger.open(ORDER), (shipped,))
    assert ledger.captured == ORDER.total


def test_the_order_story_settles_exactly(http: httpx.Client, api: FakeRestApi) -> None:
    ledger = OrderLedger.open(ORDER)
    # A partial refund before shipment: its unit is cancelled, its money never captured.
    refund = events(http, api, fixture("order.updated.partial-refund.json"))
    assert refund == (
        OrderCancelled(order="727", id="refund:730", lines=(LineQuantity(line="315", quantity=1),)),
    )
    ledger, _ = apply(ledger, refund)
    # Completion: the refund again (a no-op), then what is left ships, with tracking.
    completed = events(http, api, fixture("order.updated.completed.after-refund.json"))
    assert completed[1] == OrderShipped(
        order="727",
        id="shipped:727:315x1,316x1",
        lines=(LineQuantity(line="315", quantity=1), LineQuantity(line="316", quantity=1)),
        tracking=TRACKING,
    )
    ledger, noops = apply(ledger, completed)
    assert noops == [True, False]
    assert ledger.to_ship == 0
    captured = ledger.captured
    # A refund after completion is a return with all its money (shipping and tax included).
    returned = events(http, api, fixture("order.updated.return-refund.json"))
    assert returned[-1] == OrderReturned(
        order="727",
        id="refund:731",
        lines=(LineQuantity(line="316", quantity=1),),
        refund=Money.of("15.00", "USD"),
        reason="Damaged in transit",
    )
    ledger, noops = apply(ledger, returned)
    assert noops == [True, True, False]
    # Fully refunded: WooCommerce's last refund carries the money left; the units left come back.
    refunded = events(http, api, fixture("order.updated.refunded.json"))
    ledger, noops = apply(ledger, refunded)
    assert noops == [True, True, True, False, False]
    assert refunded[-1] == OrderReturned(
        order="727",
        id="closed:727",
        lines=(LineQuantity(line="315", quantity=1),),
        refund=Money.zero("USD"),
        reason=(
            "order refunded after it completed; WooCommerce refunded no more than its refunds "
            "for these units"
        ),
    )
    # The cancelled unit released its share of shipping and tax (4.89), more than WooCommerce
    # refunded for it (3.23): its last refund is capped at what was captured, and says so.
    assert refunded[-2].refund == Money.of("9.46", "USD")  # type: ignore[union-attr]
    assert refunded[-2].reason == (  # type: ignore[union-attr]
        "Order fully refunded.; refund capped at 9.46 USD captured and not refunded; "
        "the platform refunded 11.12 USD"
    )
    assert counts(ledger) == {"315": (1, 1, 1), "316": (1, 0, 1)}
    assert ledger.refunded == captured == Money.of("24.46", "USD")


def test_merged_and_repeated_snapshots_change_nothing(http: httpx.Client, api: FakeRestApi) -> None:
    # WooCommerce merged the intermediate deliveries: only the last state arrives, then again.
    last = events(http, api, fixture("order.updated.refunded.json"))
    ledger, _ = apply(OrderLedger.open(ORDER), last)
    again, noops = apply(ledger, events(http, api, fixture("order.updated.refunded.json")))
    assert all(noops)
    assert again == ledger
    earlier, noops = apply(ledger, events(http, api, fixture("order.updated.return-refund.json")))
    assert all(noops)
    assert counts(earlier) == counts(ledger) == {"315": (1, 1, 1), "316": (1, 0, 1)}


def test_a_cancellation_before_shipment_voids_what_is_left(
    http: httpx.Client, api: FakeRestApi
) -> None:
    cancelled = events(http, api, fixture("order.updated.cancelled.json"))
    assert cancelled[-1] == OrderCancelled(order="727", id="closed:727")
    ledger, _ = apply(OrderLedger.open(ORDER), cancelled)
    assert counts(ledger) == {"315": (0, 2, 0), "316": (0, 1, 0)}
    assert ledger.authorized == ledger.captured == Money.zero("USD")


def test_a_refund_the_api_cannot_give_now_is_retried(http: httpx.Client, api: FakeRestApi) -> None:
    from passerelle.platforms import PlatformUnavailableError

    api.fail_with = 429
    with pytest.raises(PlatformUnavailableError) as raised:
        events(http, api, fixture("order.updated.partial-refund.json"))
    assert raised.value.retry_after == "7"


def test_a_refund_the_api_does_not_have_is_refused(http: httpx.Client, api: FakeRestApi) -> None:
    del api.refunds[(727, 730)]
    with pytest.raises(TranslationError, match="refund 730 of order 727: HTTP 404"):
        events(http, api, fixture("order.updated.partial-refund.json"))


@pytest.mark.parametrize("in_query", [False, True])
def test_the_rest_key_goes_by_basic_auth_or_query(
    http: httpx.Client, api: FakeRestApi, in_query: bool
) -> None:
    ctx = context(http, api.base_url, auth_in_query=str(in_query).lower())
    translation = PLATFORM.translate(request(fixture("order.updated.partial-refund.json")), ctx)
    assert translation.events == (
        OrderCancelled(order="727", id="refund:730", lines=(LineQuantity(line="315", quantity=1),)),
    )


def test_a_refused_rest_key_says_what_permission_is_needed(
    http: httpx.Client, api: FakeRestApi
) -> None:
    ctx = context(http, api.base_url, consumer_secret="cs_wrong")
    with pytest.raises(TranslationError, match="give it read permission"):
        PLATFORM.translate(request(fixture("order.updated.partial-refund.json")), ctx)
