"""The action center's operations, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from passerelle.clock import FixedClock
from passerelle.connector.actions import (
    ENTRY_FIELDS,
    MASK,
    ActionCenter,
    ActionInputError,
    ExportFormat,
    csv_cell,
    parse_since,
)
from passerelle.connector.store import (
    AttemptResult,
    DeliveryNotFoundError,
    DeliveryStateError,
    DeliveryStatus,
    DeliveryStore,
    ErrorInfo,
    NewDelivery,
    Note,
    NoteAction,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
UNAVAILABLE = ErrorInfo("backend_unavailable", "the payment back end answered 503")
UNKNOWN_ORDER = ErrorInfo("unknown_order", "order #1001 is unknown to the back end")
MISSING_SHIPMENT = ErrorInfo("refund_before_shipment", "order #1001 has no shipment to refund yet")
SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS1ib2R5LXdpdGgtdGhlLXNlY3JldA=="
ACCESS_TOKEN = "shpat_0123456789abcdef"
CARD = "4111 1111 1111 1111"
HEADERS = (
    ("Content-Type", "application/json"),
    ("X-Shopify-Topic", "orders/fulfilled"),
    ("X-Shopify-Hmac-Sha256", SIGNATURE),
    ("X-Shopify-Access-Token", ACCESS_TOKEN),
)
BODY = f'{{"id": 1001, "email": "ana@example.com", "note": "card {CARD}"}}'.encode()

_keys = itertools.count(1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@dataclass
class Deliveries:
    """Puts deliveries where a test needs them, through the store's own work queue."""

    store: DeliveryStore
    clock: FixedClock

    def _append(self, order: str | None, platform: str, shop: str) -> int:
        delivery = NewDelivery(
            platform=platform,
            store=shop,
            delivery_key=f"delivery-{next(_keys)}",
            ordering_key=order,
            headers=HEADERS,
            body=BODY,
            received_at=self.clock.now(),
        )
        return self.store.append(delivery).id

    def failed(
        self,
        order: str | None = "1001",
        *,
        platform: str = "shopify",
        shop: str = "north.myshopify.com",
        error: ErrorInfo = UNKNOWN_ORDER,
        retries: int = 0,
    ) -> int:
        """A delivery that failed for good after `retries` transient failures."""
        delivery_id = self._append(order, platform, shop)
        for _ in range(retries):
            (held,) = self.store.claim("worker-1", limit=1, lease=LEASE)
            self.store.retry_later(held, self.clock.now(), UNAVAILABLE)
        (held,) = self.store.claim("worker-1", limit=1, lease=LEASE)
        assert held.id == delivery_id
        self.store.fail(held, error)
        return delivery_id

    def deferred(self, order: str = "1001", *, until: timedelta = timedelta(hours=1)) -> int:
        """A delivery that stepped aside, waiting for an earlier event, until `until` from now."""
        delivery_id = self._append(order, "shopify", "north.myshopify.com")
        (held,) = self.store.claim("worker-1", limit=1, lease=LEASE)
        assert held.id == delivery_id
        self.store.defer(held, self.clock.now() + until, MISSING_SHIPMENT)
        return delivery_id

    def pending(self, order: str | None = "1001", *, shop: str = "north.myshopify.com") -> int:
        """A delivery received and not yet tried."""
        return self._append(order, "shopify", shop)

    def done(self, order: str | None = "1001", *, platform: str = "shopify") -> int:
        delivery_id = self._append(order, platform, "north.myshopify.com")
        (held,) = self.store.claim("worker-1", limit=1, lease=LEASE)
        assert held.id == delivery_id
        self.store.complete(held, "1 event applied")
        return delivery_id


@pytest.fixture
def deliveries(store: DeliveryStore, clock: FixedClock) -> Deliveries:
    return Deliveries(store, clock)


@pytest.fixture
def center(store: DeliveryStore, clock: FixedClock) -> ActionCenter:
    return ActionCenter(store, clock=clock)


def statuses(store: DeliveryStore, ids: list[int]) -> list[DeliveryStatus]:
    return [store.get(i).status for i in ids]


# -- listing ---------------------------------------------------------------------------------


def test_an_entry_says_where_and_what_failed(
    center: ActionCenter, deliveries: Deliveries, clock: FixedClock
) -> None:
    deliveries.done("999")
    failed = deliveries.failed("1001", retries=2)

    (entry,) = center.failures()

    assert entry.as_json() == {
        "id": failed,
        "platform": "shopify",
        "store": "north.myshopify.com",
        "order": "1001",
        "status": "failed",
        "error_code": "unknown_order",
        "error_message": "order #1001 is unknown to the back end",
        "attempts": 3,
        "first_failed_at": "2026-03-02T09:00:00+00:00",
        "last_failed_at": "2026-03-02T09:00:00+00:00",
        "received_at": "2026-03-02T09:00:00+00:00",
    }
    assert tuple(entry.as_json()) == ENTRY_FIELDS


def test_first_and_last_failure_are_kept_apart(
    center: ActionCenter, store: DeliveryStore, clock: FixedClock
) -> None:
    delivery_id = store.append(
        NewDelivery(
            platform="shopify",
            store="north.myshopify.com",
            delivery_key="k-first-last",
            ordering_key="1001",
            headers=HEADERS,
            body=BODY,
            received_at=START,
        )
    ).id
    (held,) = store.claim("worker-1", limit=1, lease=LEASE)
    store.retry_later(held, START + timedelta(minutes=10), UNAVAILABLE)
    clock.advance(timedelta(minutes=10))
    (held,) = store.claim("worker-1", limit=1, lease=LEASE)
    store.fail(held, UNKNOWN_ORDER)

    (entry,) = center.failures()

    assert entry.id == delivery_id
    assert (entry.first_failed_at, entry.last_failed_at) == (START, START + timedelta(minutes=10))
    assert entry.attempts == 2


def test_failures_are_filtered_by_platform_store_and_time(
    center: ActionCenter, deliveries: Deliveries, clock: FixedClock
) -> None:
    shopify_north = deliveries.failed(platform="shopify", shop="north")
    clock.advance(timedelta(hours=3))
    woo = deliveries.failed(platform="woocommerce", shop="north")
    clock.advance(timedelta(hours=2))
    shopify_south = deliveries.failed(platform="shopify", shop="south")

    def listed(**filters: object) -> list[int]:
        return [entry.id for entry in center.failures(**filters)]  # type: ignore[arg-type]

    assert listed() == [shopify_north, woo, shopify_south]
    assert listed(platform="shopify") == [shopify_north, shopify_south]
    assert listed(store="north") == [shopify_north, woo]
    assert listed(platform="shopify", store="south") == [shopify_south]
    assert listed(since="3h") == [woo, shopify_south]
    assert listed(since="1h") == [shopify_south]
    assert listed(since="2026-03-02T12:00") == [woo, shopify_south]
    assert listed(since="2026-03-02T09:00-03:00") == [woo, shopify_south]
    assert listed(since=START + timedelta(hours=4)) == [shopify_south]
    assert listed(since="2026-03-03") == []


def test_dismissed_deliveries_are_listed_only_when_asked(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    kept, dismissed = deliveries.failed("1"), deliveries.failed("2")
    center.dismiss([dismissed], "refunded by hand")

    assert [e.id for e in center.failures()] == [kept]
    everything = center.failures(include_dismissed=True)
    assert [(e.id, e.status) for e in everything] == [
        (kept, DeliveryStatus.FAILED),
        (dismissed, DeliveryStatus.DISMISSED),
    ]


def test_a_bad_since_names_the_field(center: ActionCenter) -> None:
    with pytest.raises(ActionInputError, match=r"^since: 'yesterday' is neither a duration"):
        center.failures(since="yesterday")


# -- show ------------------------------------------------------------------------------------


def test_show_gives_attempts_and_notes(
    center: ActionCenter, deliveries: Deliveries, clock: FixedClock
) -> None:
    delivery_id = deliveries.failed("1001", retries=1)
    clock.advance(timedelta(minutes=1))
    center.retry([delivery_id], "back end fixed")
    clock.advance(timedelta(minutes=1))
    (held,) = center.store.claim("worker-2", limit=1, lease=LEASE)
    center.store.fail(held, UNKNOWN_ORDER)
    center.dismiss([delivery_id], "order was cancelled at the till")

    detail = center.show(delivery_id)

    assert detail.entry.status is DeliveryStatus.DISMISSED
    assert [(a.number, a.worker_id, a.result, a.error) for a in detail.attempts] == [
        (1, "worker-1", AttemptResult.RETRY, UNAVAILABLE),
        (2, "worker-1", AttemptResult.FAILED, UNKNOWN_ORDER),
        (3, "worker-2", AttemptResult.FAILED, UNKNOWN_ORDER),
    ]
    assert list(detail.notes) == [
        Note(START + timedelta(minutes=1), NoteAction.REQUEUED, "back end fixed"),
        Note(START + timedelta(minutes=2), NoteAction.DISMISSED, "order was cancelled at the till"),
    ]
    data = detail.as_json()
    assert [a["result"] for a in data["attempt_history"]] == ["retry", "failed", "failed"]
    assert data["notes"][1] == {
        "at": "2026-03-02T09:02:00+00:00",
        "action": "dismissed",
        "text": "order was cancelled at the till",
    }


def test_show_masks_secret_headers_and_keeps_the_body_out_unless_asked(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    delivery_id = deliveries.failed()

    data = center.show(delivery_id).as_json()

    assert data["headers"] == [
        ["Content-Type", "application/json"],
        ["X-Shopify-Topic", "orders/fulfilled"],
        ["X-Shopify-Hmac-Sha256", MASK],
        ["X-Shopify-Access-Token", MASK],
    ]
    assert "body" not in data
    assert data["body_bytes"] == len(BODY)
    text = repr(data)
    assert SIGNATURE not in text
    assert ACCESS_TOKEN not in text
    assert "ana@example.com" not in text


def test_the_body_is_shown_on_request_without_card_numbers(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    delivery_id = deliveries.failed()

    body = center.show(delivery_id).as_json(include_body=True)["body"]

    assert body == '{"id": 1001, "email": "ana@example.com", "note": "card [redacted card number]"}'


def test_show_of_an_unknown_delivery_names_it(center: ActionCenter) -> None:
    with pytest.raises(DeliveryNotFoundError, match=r"^no delivery 404$"):
        center.show(404)


def test_the_outcome_is_told_in_words_in_every_state(
    center: ActionCenter, deliveries: Deliveries, clock: FixedClock
) -> None:
    failed = deliveries.failed("1")
    deferred = deliveries.deferred("2", until=timedelta(hours=2))
    retried = deliveries.pending("3")
    (held,) = center.store.claim("worker-1", limit=1, lease=LEASE)
    center.store.retry_later(held, START + timedelta(minutes=5), UNAVAILABLE)
    processing = deliveries.pending("4")
    (held,) = center.store.claim("worker-7", limit=1, lease=LEASE)
    pending = deliveries.pending("5")
    assert (retried, processing) == (held.id - 1, held.id)

    words = {i: center.show(i).in_words for i in (failed, deferred, pending, retried, processing)}

    assert words == {
        failed: "failed for good (unknown_order: order #1001 is unknown to the back end); in the"
        " action center, to retry or dismiss",
        deferred: "deferred until 2026-03-02 11:00:00 UTC at the earliest, waiting for what it"
        " needs (refund_before_shipment: order #1001 has no shipment to refund yet)",
        pending: "waiting for its turn in its lane (due 2026-03-02 09:00:00 UTC)",
        retried: "waiting to be tried again from 2026-03-02 09:05:00 UTC (backend_unavailable:"
        " the payment back end answered 503)",
        processing: "being applied now by worker-7",
    }
    center.dismiss([failed], "refunded at the till")
    assert center.show(failed).in_words == (
        "dismissed by hand after it failed (unknown_order: order #1001 is unknown to the back end)"
    )


def test_a_delivery_done_after_a_failure_is_settled_and_says_what_it_applied(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    delivery_id = deliveries.failed("1001")
    center.retry([delivery_id], "back end fixed")
    (held,) = center.store.claim("worker-1", limit=1, lease=LEASE)
    center.store.complete(held, '["order_shipped F1 of order 1001: captured 15.00 CAD"]')

    detail = center.show(delivery_id)

    assert detail.settled
    assert detail.in_words == "applied: 1 event: order_shipped F1 of order 1001: captured 15.00 CAD"
    assert detail.as_json()["in_words"] == detail.in_words


# -- waiting and the backlog -----------------------------------------------------------------


def test_waiting_lists_deferred_and_pending_apart(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    deliveries.failed("4")
    deliveries.done("5")
    deferred = deliveries.deferred("1", until=timedelta(hours=2))
    pending = deliveries.pending("2")
    other_shop = deliveries.pending("3", shop="south.myshopify.com")

    stepped_aside = center.waiting(deferred=True)
    waiting = center.waiting(deferred=False)

    assert [(w.entry.id, w.deferred, w.next_attempt_at) for w in stepped_aside] == [
        (deferred, True, START + timedelta(hours=2))
    ]
    assert stepped_aside[0].entry.error_code == "refund_before_shipment"
    assert [w.entry.id for w in waiting] == [pending, other_shop]
    assert [w.entry.id for w in center.waiting(deferred=False, store="south.myshopify.com")] == [
        other_shop
    ]
    assert stepped_aside[0].as_json()["next_attempt_at"] == "2026-03-02T11:00:00+00:00"


def test_the_backlog_counts_each_store_and_what_was_done_today(
    center: ActionCenter, deliveries: Deliveries, clock: FixedClock
) -> None:
    clock.set(START - timedelta(days=1))
    deliveries.done("0")
    first_deferred = deliveries.deferred("1", until=timedelta(days=2))
    clock.set(START)
    deliveries.failed("5")
    deliveries.done("6")
    deliveries.done("7")
    deliveries.deferred("2")
    deliveries.pending("3")
    deliveries.pending("4", shop="south.myshopify.com")

    backlog = center.backlog()

    north, south = backlog
    assert (north.platform, north.store, south.store) == (
        "shopify",
        "north.myshopify.com",
        "south.myshopify.com",
    )
    assert (north.waiting, north.deferred, north.failed, north.done_since) == (1, 2, 1, 2)
    assert north.oldest_deferred_at == center.store.get(first_deferred).received_at
    assert north.oldest_waiting_at == START
    assert (south.waiting, south.deferred, south.failed, south.done_since) == (1, 0, 0, 0)
    assert south.oldest_deferred_at is None


# -- retry and dismiss -----------------------------------------------------------------------


def test_retry_puts_deliveries_back_with_a_note(
    center: ActionCenter, deliveries: Deliveries, store: DeliveryStore
) -> None:
    first, second = deliveries.failed("1"), deliveries.failed("2")

    assert center.retry([second, first, second], "  SKU mapping fixed ") == [first, second]

    assert statuses(store, [first, second]) == [DeliveryStatus.PENDING] * 2
    assert [n.text for n in store.notes(first)] == ["SKU mapping fixed"]
    assert center.failures() == []
    assert sorted(c.id for c in store.claim("worker-1", limit=5, lease=LEASE)) == [first, second]


def test_a_dismissed_delivery_can_be_retried(
    center: ActionCenter, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()
    center.dismiss([delivery_id], "not ours")

    center.retry([delivery_id])

    assert store.get(delivery_id).status is DeliveryStatus.PENDING
    assert [n.action for n in store.notes(delivery_id)] == [
        NoteAction.DISMISSED,
        NoteAction.REQUEUED,
    ]


def test_dismiss_needs_a_note_and_changes_nothing_without_one(
    center: ActionCenter, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()

    for blank in ("", "   "):
        with pytest.raises(ActionInputError, match=r"^note: a dismissal needs a note saying why$"):
            center.dismiss([delivery_id], blank)

    assert store.get(delivery_id).status is DeliveryStatus.FAILED
    assert store.notes(delivery_id) == []


def test_an_unknown_id_changes_nothing(
    center: ActionCenter, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()

    with pytest.raises(DeliveryNotFoundError, match=r"^no delivery 999; nothing was requeued$"):
        center.retry([delivery_id, 999])
    with pytest.raises(DeliveryNotFoundError, match=r"^no delivery 999; nothing was dismissed$"):
        center.dismiss([delivery_id, 999], "duplicate order")

    assert store.get(delivery_id).status is DeliveryStatus.FAILED
    assert store.notes(delivery_id) == []


def test_a_delivery_in_the_wrong_status_changes_nothing(
    center: ActionCenter, deliveries: Deliveries, store: DeliveryStore
) -> None:
    failed, done = deliveries.failed("1"), deliveries.done("2")

    with pytest.raises(
        DeliveryStateError,
        match=rf"^cannot dismiss delivery {done} \(done\): only failed deliveries can be"
        r" dismissed; nothing was dismissed$",
    ):
        center.dismiss([failed, done], "duplicate")
    with pytest.raises(DeliveryStateError, match=rf"^cannot requeue delivery {done} \(done\)"):
        center.retry([failed, done])

    assert statuses(store, [failed, done]) == [DeliveryStatus.FAILED, DeliveryStatus.DONE]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], "ids: give at least one delivery id"),
        (["7"], "ids: delivery ids are integers, got '7'"),
    ],
)
def test_ids_are_checked_before_anything_changes(
    center: ActionCenter, ids: list[object], message: str
) -> None:
    with pytest.raises(ActionInputError, match=f"^{message}$"):
        center.retry(ids)  # type: ignore[arg-type]


# -- export ----------------------------------------------------------------------------------


def exported(center: ActionCenter, **filters: object) -> list[dict[str, str]]:
    out = io.StringIO(newline="")
    count = center.export_csv(out, **filters)  # type: ignore[arg-type]
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert tuple(rows[0]) == ENTRY_FIELDS
    assert count == len(rows) - 1
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_export_has_stable_columns_and_survives_awkward_text(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    message = 'line 1, "quoted"\nline 2; café'
    delivery_id = deliveries.failed("1001", error=ErrorInfo("unknown_line", message))
    deliveries.failed(None, platform="woocommerce")

    rows = exported(center)

    assert rows[0] == {
        "id": str(delivery_id),
        "platform": "shopify",
        "store": "north.myshopify.com",
        "order": "1001",
        "status": "failed",
        "error_code": "unknown_line",
        "error_message": message,
        "attempts": "1",
        "first_failed_at": "2026-03-02T09:00:00+00:00",
        "last_failed_at": "2026-03-02T09:00:00+00:00",
        "received_at": "2026-03-02T09:00:00+00:00",
    }
    assert rows[1]["order"] == ""
    assert [row["platform"] for row in exported(center, platform="woocommerce")] == ["woocommerce"]


def test_export_cells_never_run_as_formulas(center: ActionCenter, deliveries: Deliveries) -> None:
    for text in ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"):
        deliveries.failed(text, error=ErrorInfo("unknown_order", text))

    rows = exported(center)

    assert [row["order"] for row in rows] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\t=1",
    ]
    assert [row["error_message"] for row in rows] == [row["order"] for row in rows]


def test_export_as_json_has_the_same_keys(center: ActionCenter, deliveries: Deliveries) -> None:
    delivery_id = deliveries.failed("=1+1")
    out = io.BytesIO()

    count = center.export(out, ExportFormat.JSON)

    (entry,) = json.loads(out.getvalue())
    assert count == 1
    assert tuple(entry) == ENTRY_FIELDS
    assert (entry["id"], entry["order"], entry["received_at"]) == (
        delivery_id,
        "=1+1",
        "2026-03-02T09:00:00+00:00",
    )


def test_export_as_xlsx_has_the_columns_utc_times_and_no_formula(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    deliveries.failed('=HYPERLINK("http://evil.example","x")')
    deliveries.failed(None, platform="woocommerce")
    out = io.BytesIO()

    count = center.export(out, ExportFormat.XLSX)

    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet is not None
    header, *rows = [list(row) for row in sheet.iter_rows()]
    assert count == len(rows) == 2
    assert [cell.value for cell in header] == [
        f"{name} (UTC)" if name.endswith("_at") else name for name in ENTRY_FIELDS
    ]
    order = rows[0][ENTRY_FIELDS.index("order")]
    assert (order.value, order.data_type) == ('=HYPERLINK("http://evil.example","x")', "s")
    assert rows[0][ENTRY_FIELDS.index("received_at")].value == START.replace(tzinfo=None)
    assert rows[1][ENTRY_FIELDS.index("platform")].value == "woocommerce"
    assert rows[1][ENTRY_FIELDS.index("order")].value is None


@settings(max_examples=200)
@given(st.text())
def test_a_csv_cell_is_the_text_or_the_text_quoted(text: str) -> None:
    cell = csv_cell(text)

    assert cell in (text, "'" + text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


@settings(max_examples=100)
@given(st.lists(st.text(), min_size=1, max_size=5))
def test_csv_rows_read_back_as_written(cells: list[str]) -> None:
    out = io.StringIO(newline="")
    csv.writer(out).writerow([csv_cell(c) for c in cells])

    (row,) = csv.reader(io.StringIO(out.getvalue(), newline=""))

    assert row == [csv_cell(c) for c in cells]


# -- replay ----------------------------------------------------------------------------------


def test_replay_counts_what_it_requeues(
    center: ActionCenter, deliveries: Deliveries, store: DeliveryStore, clock: FixedClock
) -> None:
    old_done = deliveries.done("1")
    clock.advance(timedelta(hours=5))
    done, failed, dismissed = deliveries.done("2"), deliveries.failed("2"), deliveries.failed("3")
    center.dismiss([dismissed], "test order")

    assert center.replay(since="1h", platform="woocommerce") == 0
    assert center.replay(since="1h", order="2", note="after the SKU fix") == 2

    assert statuses(store, [old_done, done, failed, dismissed]) == [
        DeliveryStatus.DONE,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
        DeliveryStatus.DISMISSED,
    ]
    assert store.notes(done) == [Note(clock.now(), NoteAction.REPLAYED, "after the SKU fix")]


def test_replay_without_filters_takes_every_finished_delivery(
    center: ActionCenter, deliveries: Deliveries
) -> None:
    deliveries.done("1")
    deliveries.failed("2")
    deliveries.done(None, platform="woocommerce")

    assert center.replay() == 3
    assert center.replay() == 0


# -- stats and times -------------------------------------------------------------------------


def test_stats_count_every_status(center: ActionCenter, deliveries: Deliveries) -> None:
    deliveries.done()
    deliveries.failed()

    assert center.stats() == {
        "pending": 0,
        "processing": 0,
        "done": 1,
        "ignored": 0,
        "failed": 1,
        "dismissed": 0,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", START - timedelta(seconds=90)),
        ("30m", START - timedelta(minutes=30)),
        ("2h", START - timedelta(hours=2)),
        ("3d", START - timedelta(days=3)),
        ("1w", START - timedelta(weeks=1)),
        ("1h30m", START - timedelta(hours=1, minutes=30)),
        (" 2h ", START - timedelta(hours=2)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T09:30", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01 09:30:15Z", datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)),
        ("2026-03-01T09:30-05:00", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_since_is_a_duration_back_or_a_time(text: str, expected: datetime) -> None:
    assert parse_since(text, now=START) == expected


@pytest.mark.parametrize("text", ["", "2 hours", "h", "-2h", "2026-13-01", "yesterday"])
def test_a_since_that_is_neither_is_refused(text: str) -> None:
    with pytest.raises(ActionInputError) as caught:
        parse_since(text, now=START)

    assert caught.value.field == "since"
    assert str(caught.value) == (
        f"since: {text!r} is neither a duration (30m, 2h, 3d, 1w) nor a date or time"
        " (2026-03-01, 2026-03-01T09:30, 2026-03-01T09:30-05:00)"
    )


def test_a_duration_too_long_is_refused() -> None:
    with pytest.raises(ActionInputError, match=r"^since: '9999999999w' reaches too far back$"):
        parse_since("9999999999w", now=START)


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("smhdw"))
def test_every_duration_goes_back_from_now(amount: int, unit: str) -> None:
    names = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

    since = parse_since(f"{amount}{unit}", now=START)

    assert since == START - timedelta(**{names[unit]: amount})
