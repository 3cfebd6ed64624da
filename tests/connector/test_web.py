"""The action-center page's sign-in and refusals, in process (the browser tests drive the rest:
tests/e2e/test_action_page.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from test_actions import START, Deliveries

from passerelle.clock import FixedClock
from passerelle.connector import web
from passerelle.connector.config import AdminToken
from passerelle.connector.store import DeliveryStatus, DeliveryStore
from passerelle.connector.web import create_action_page, sessions

FULL = AdminToken(name="ops", token="full-access-token-0123456789", access="full")
READ = AdminToken(name="viewer", token="read-only-token-0123456789", access="read")
BASE = "https://connector.test"

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def deliveries(store: DeliveryStore, clock: FixedClock) -> Deliveries:
    return Deliveries(store, clock)


@pytest.fixture
async def browser(store: DeliveryStore, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_action_page(store, [FULL, READ], clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as opened:
        yield opened


async def sign_in(browser: httpx.AsyncClient, token: AdminToken) -> str:
    """Sign in; return the CSRF token of the first page's forms."""
    response = await browser.post(
        "/login", data={"token": token.token.get_secret_value(), "next": "/"}
    )
    assert response.status_code == 303, response.text
    page = await browser.get("/")
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert found, page.text
    return found.group(1)


def test_a_session_names_its_token_until_it_expires_and_not_once_the_token_changes() -> None:
    cookie = sessions.issue(FULL, START)
    assert sessions.verify([READ, FULL], cookie, START) == FULL
    assert sessions.verify([FULL], cookie, START + sessions.SESSION_TTL) is None
    assert sessions.verify([READ], cookie, START) is None
    rotated = AdminToken(name="ops", token="another-full-token-0123456789", access="full")
    assert sessions.verify([rotated], cookie, START) is None
    name, expires, mac = cookie.split(".")
    longer = str(int(expires) + 3600)
    assert sessions.verify([FULL], f"{name}.{longer}.{mac}", START) is None
    assert sessions.verify([FULL], "garbage", START) is None
    assert sessions.verify([FULL], "!!.99999999999.00", START) is None


def test_the_csrf_token_belongs_to_one_session() -> None:
    first, second = sessions.issue(FULL, START), sessions.issue(FULL, START + timedelta(1))
    token = sessions.csrf_token(FULL, first)
    assert sessions.csrf_valid(FULL, first, token)
    assert not sessions.csrf_valid(FULL, second, token)
    assert not sessions.csrf_valid(READ, first, token)


async def test_pages_send_strangers_to_sign_in_and_back_only_to_this_site(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get("/deliveries/1?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdeliveries%2F1%3Fx%3D1"
    assert (await browser.get("/export.csv")).status_code == 303

    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = await browser.get("/login", params={"next": elsewhere})
        assert 'name="next" value="/"' in form.text
        signed = await browser.post(
            "/login", data={"token": FULL.token.get_secret_value(), "next": elsewhere}
        )
        assert signed.headers["location"] == "/"


async def test_pages_forbid_framing_and_scripts_from_elsewhere(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, FULL)
    response = await browser.get("/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert (await browser.get("/static/style.css")).status_code == 200


async def test_a_read_token_cannot_retry_even_with_its_forms_token(
    browser: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    failed = deliveries.failed()
    csrf = await sign_in(browser, READ)
    response = await browser.post("/retry", data={"id": failed, "note": "try", "csrf": csrf})
    assert response.status_code == 403
    assert "may only read" in response.text
    assert store.get(failed).status is DeliveryStatus.FAILED


async def test_a_retry_of_a_delivery_that_did_not_fail_changes_nothing(
    browser: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    failed, done = deliveries.failed("1001"), deliveries.done("1002")
    csrf = await sign_in(browser, FULL)
    response = await browser.post(
        "/retry", data={"id": [failed, done], "note": "both", "csrf": csrf}
    )
    assert response.status_code == 409
    assert "Nothing was changed" in response.text
    assert store.get(failed).status is DeliveryStatus.FAILED
    missing = await browser.post("/dismiss", data={"id": 999, "note": "gone", "csrf": csrf})
    assert missing.status_code == 404


async def test_an_expired_session_signs_out(
    browser: httpx.AsyncClient, clock: FixedClock, deliveries: Deliveries, store: DeliveryStore
) -> None:
    failed = deliveries.failed()
    csrf = await sign_in(browser, FULL)
    clock.advance(sessions.SESSION_TTL)
    assert (await browser.get("/")).status_code == 303
    response = await browser.post("/retry", data={"id": failed, "note": "late", "csrf": csrf})
    assert response.status_code == 401
    assert store.get(failed).status is DeliveryStatus.FAILED


async def test_an_unknown_delivery_a_local_code_and_a_bad_age_are_said_plainly(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in(browser, FULL)
    missing = await browser.get("/deliveries/999")
    assert missing.status_code == 404
    assert "There is no delivery 999." in missing.text
    local = await browser.get("/codes/unknown_store")
    assert "comes from the connector or a platform plugin" in local.text
    age = await browser.get("/", params={"since": "yesterday"})
    assert age.status_code == 422
    assert "since: " in age.text
    assert (await browser.get("/nowhere")).status_code == 404


async def test_a_long_list_shows_its_first_rows_and_says_how_many_there_are(
    browser: httpx.AsyncClient, deliveries: Deliveries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "MAX_ROWS", 2)
    failed = [deliveries.failed(f"order-{n}") for n in range(3)]
    await sign_in(browser, FULL)
    page = (await browser.get("/")).text
    assert "The first 2 of 3 are shown" in page
    assert [f'href="/deliveries/{i}"' in page for i in failed] == [True, True, False]
    export = await browser.get("/export.csv")
    assert export.text.count("\n") == 4  # the header and every row
