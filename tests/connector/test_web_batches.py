"""The action-center page's batches, over real sockets: files uploaded through the real intake,
dispatched to the sandbox, then read on the page as a signed-in browser would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta

import httpx
import pytest
from batch_support import (
    PLATFORM,
    STORE,
    CpaFiles,
    business_day,
    new_originator,
    payroll,
    upload,
)
from dispatch_support import make_dispatcher
from pydantic import SecretStr

from passerelle.backend.client import BackendClient
from passerelle.batches import BatchFile, CutoffPolicy, StoreCutoffs
from passerelle.clock import Clock, FixedClock, SystemClock
from passerelle.connector.config import AdminToken
from passerelle.connector.file_upload import create_file_upload
from passerelle.connector.store import DeliveryStore
from passerelle.connector.web import create_action_page, sessions
from passerelle.platforms import Store
from passerelle.serving import BackgroundServer

FULL = AdminToken(name="ops", token=SecretStr("full-token-0123456789abc"), access="full")
READ = AdminToken(name="viewer", token=SecretStr("read-token-0123456789abc"), access="read")
POLICY = CutoffPolicy()


@pytest.fixture
def clock() -> Clock:
    # Files are stored and dispatched at the time of day, as a serving connector does them.
    return SystemClock()


@dataclass
class Connector:
    upload: str
    page: str
    page_clock: FixedClock


@pytest.fixture
def connector(store: DeliveryStore, clock: Clock) -> Iterator[Connector]:
    stores = {
        (PLATFORM, STORE): Store(PLATFORM, STORE),
        ("shopify", "shop-1"): Store("shopify", "shop-1"),
    }
    files = create_file_upload(store, {PLATFORM: CpaFiles()}, stores, [FULL], clock=clock)
    page_clock = FixedClock(clock.now())
    page = create_action_page(
        store, [FULL, READ], stores=stores, clock=page_clock, cutoffs=StoreCutoffs(default=POLICY)
    )
    with BackgroundServer(files) as intake, BackgroundServer(page) as served:
        yield Connector(intake.url, served.url, page_clock)


def _upload(connector: Connector, batch: BatchFile) -> None:
    answer = upload(connector.upload, batch, FULL.token.get_secret_value())
    assert answer.status_code == 202, answer.text


def _signed_in(connector: Connector, token: AdminToken) -> httpx.Client:
    """A client carrying the session cookie (the cookie is `Secure`, so it is set by hand
    over this plain-HTTP socket, as a browser does for localhost)."""
    secret = token.token.get_secret_value()
    answer = httpx.post(f"{connector.page}/login", data={"token": secret, "next": "/batches"})
    assert answer.status_code == 303, answer.text
    assert answer.cookies.get(sessions.COOKIE)
    return httpx.Client(
        base_url=connector.page, cookies={sessions.COOKIE: answer.cookies[sessions.COOKIE]}
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_batches_page_lists_each_batch_and_its_versions_with_what_changed(
    connector: Connector, store: DeliveryStore, client: BackendClient, clock: Clock
) -> None:
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    later = business_day(day, 1)
    batch_id = f"{originator}-0001"
    dispatcher = make_dispatcher(store, client, clock, platform=CpaFiles(), store_id=STORE)
    first = payroll(originator, day, "100.00", "250.00", "75.50")
    # The second version drops entry 3, changes entry 2's amount and moves to the next day.
    second = payroll(originator, later, "100.00", "260.00")
    for version in (first, second):
        _upload(connector, version)
        dispatcher.drain()

    with _signed_in(connector, READ) as reader:
        listed = reader.get("/batches")
        link = f"/batches/{PLATFORM}/{STORE}/{batch_id}"
        shown = reader.get(link)
        missing = reader.get(f"/batches/{PLATFORM}/{STORE}/nope")
        connector.page_clock.set(POLICY.cutoff_for(later) + timedelta(minutes=1))
    with _signed_in(connector, READ) as again:
        # A session is only as old as the page's clock: sign in again after moving it.
        past = again.get("/batches")

    assert listed.status_code == 200, listed.text
    assert f'href="{link}"' in listed.text
    assert 'href="/batches" aria-current="page"' in listed.text
    row = _text(listed.text)
    cutoff = POLICY.cutoff_for(later)
    when = cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"{batch_id} 2 {later} 2 360.00 CAD {when}" in row
    assert "passed" not in row
    assert "passed" in _text(past.text)
    assert "shopify" not in row

    assert shown.status_code == 200, shown.text
    page = _text(shown.text)
    versions = store.batch_versions(PLATFORM, STORE, batch_id)
    assert f'href="/deliveries/{versions[0].delivery_id}"' in shown.text
    assert f"3 entries for {day}" in page
    assert f"rescheduled from {day} to {later}" in page
    assert "removed: credit 75.50 CAD Employee 3 ...4503 EMP0003" in page
    assert "changed: credit 250.00 CAD Employee 2 ...4502 EMP0002 → credit 260.00 CAD" in page
    # Account numbers show only their last four digits.
    assert "1234502" not in shown.text
    assert "...4501" in page
    assert missing.status_code == 404
    assert "has no batch nope" in missing.text


def test_the_batches_page_needs_a_signed_in_user_and_says_when_there_is_none(
    connector: Connector,
) -> None:
    stranger = httpx.get(f"{connector.page}/batches")
    with _signed_in(connector, FULL) as ops:
        empty = ops.get("/batches")

    assert stranger.status_code == 303
    assert stranger.headers["location"] == "/login?next=%2Fbatches"
    assert empty.status_code == 200
    assert "No batch file has scheduled a batch." in empty.text
