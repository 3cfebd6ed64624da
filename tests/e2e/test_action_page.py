"""The action-center page in a real browser (Debian's chromium driven by Playwright) over a
`passerelle serve` with real failures: signing in, filtering, a delivery's detail, retry and
dismiss with a note, the export, the refusals (a wrong token, a forged form), and the batches
two uploaded versions of a batch file scheduled.

Set ``PASSERELLE_SCREENSHOTS`` to a folder to keep a screenshot of each page there (the README's
come from ``PASSERELLE_SCREENSHOTS=docs``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from batch_support import business_day, new_originator, payroll, upload
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, CartUpdate
from passerelle.backend.problems import explain
from passerelle.sandbox.server import SandboxServer

from .support import (
    FILES_STORE,
    FULL_TOKEN,
    READ_TOKEN,
    ConnectorConfig,
    Delivery,
    api,
    backend,
    create_order,
    deliver,
    money,
    refund,
    serve,
    ship,
    sqlite_url,
    wait_for_status,
    wait_until,
)

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("PASSERELLE_SCREENSHOTS")


@dataclass(frozen=True)
class Failures:
    """The connector and what became of the deliveries sent to it."""

    url: str
    client: BackendClient
    too_many: int
    """Ships two of a line ordered once: fixed by editing the order, then retried."""
    too_many_too: int
    unknown_line: int
    over_refund: int
    deferred: int
    """A shipment of an order the back end does not know yet."""


@pytest.fixture(scope="module")
def failures(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Failures]:
    folder = tmp_path_factory.mktemp("action-page")
    with SandboxServer() as sandbox, backend(sandbox.url) as client:
        drop = folder / "drop"
        drop.mkdir()
        config = ConnectorConfig(sandbox.url, sqlite_url(folder / "inbox.db"), files_folder=drop)
        with (
            serve(config, folder, plugin_site) as connector,
            httpx.Client() as http,
        ):
            connector.start().wait_ready()
            a = create_order(client, "page-a", [("SKU-1", "10.00", 1)])
            b = create_order(client, "page-b", [("SKU-1", "10.00", 1)])
            c = create_order(client, "page-c", [("SKU-1", "10.00", 1)])
            d = create_order(client, "page-d", [("SKU-1", "10.00", 1)])

            def send(key: str, order: str, *events: dict[str, object]) -> int:
                answer = deliver(http, connector.url, Delivery(key, order, events))
                return int(answer["id"])

            found = Failures(
                url=connector.url,
                client=client,
                too_many=send("page-1", a, ship(a, "F1", quantity=2)),
                too_many_too=send("page-2", d, ship(d, "F1", quantity=3)),
                unknown_line=send("page-3", b, ship(b, "F1", line="SKU-9")),
                over_refund=send("page-4", c, ship(c, "F1"), refund(c, "R1", "99.00")),
                deferred=send("page-5", "page-missing", ship("page-missing", "F1")),
            )
            for failed in (found.too_many, found.too_many_too, found.unknown_line):
                wait_for_status(connector.url, failed, "failed", timeout=30)
            wait_for_status(connector.url, found.over_refund, "failed", timeout=30)
            wait_until(
                lambda: api(connector.url, f"/actions/{found.deferred}").json()["deferred"],
                timeout=30,
                what="the shipment of an unknown order to be deferred",
            )
            yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        opened = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield opened
        opened.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1360, "height": 860}, accept_downloads=True)
    yield opened
    opened.close()


def sign_in(context: BrowserContext, url: str, token: str = FULL_TOKEN) -> Page:
    page = context.new_page()
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Failed deliveries")
    return page


def screenshot(page: Page, name: str) -> None:
    path = page.screenshot(full_page=True)
    assert path.startswith(b"\x89PNG")
    if SCREENSHOTS:
        Path(SCREENSHOTS, f"action-center-{name}.png").write_bytes(path)


def rows(page: Page) -> list[str]:
    return page.locator("main table tbody tr td:nth-child(2) a").all_inner_texts()


def test_a_wrong_token_is_refused_and_a_right_one_signs_in_with_a_strict_cookie(
    failures: Failures, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(failures.url + "/waiting")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fwaiting$"))
    screenshot(page, "login")
    page.fill("#token", "not-a-token-of-this-connector")
    with page.expect_response(lambda r: r.url.endswith("/login")) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    expect(page.locator(".error")).to_have_text("This token is not valid.")
    assert context.cookies() == []

    page.fill("#token", READ_TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Waiting deliveries")
    (cookie,) = context.cookies()
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    assert READ_TOKEN not in cookie["value"]
    # A read token sees the failures but is offered no action.
    page.goto(failures.url + "/")
    assert page.locator("button", has_text="Retry selected").count() == 0
    assert page.locator("input[name=id]").count() == 0
    # The API still wants its bearer token: the page's cookie opens nothing there.
    assert page.request.get(failures.url + "/api/actions").status == 401

    page.click("button:has-text('Sign out')")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert context.cookies() == []
    page.goto(failures.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))


def test_failures_are_listed_counted_per_code_and_filtered(
    failures: Failures, context: BrowserContext
) -> None:
    page = sign_in(context, failures.url)
    failed = {
        f"#{i}"
        for i in (
            failures.too_many,
            failures.too_many_too,
            failures.unknown_line,
            failures.over_refund,
        )
    }
    assert failed <= set(rows(page))
    counts = page.locator("ul.codes li")
    expect(counts.filter(has_text="ship_exceeds_ordered")).to_contain_text("2")
    expect(counts.filter(has_text="unknown_line")).to_contain_text("1")
    screenshot(page, "failed")

    page.select_option("select[name=code]", "ship_exceeds_ordered")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"code=ship_exceeds_ordered"))
    assert rows(page) == [f"#{failures.too_many}", f"#{failures.too_many_too}"]
    page.select_option("select[name=since]", "1h")
    page.click("form.filters button[type=submit]")
    assert len(rows(page)) == 2
    page.select_option("select[name=store]", "")
    page.select_option("select[name=code]", "")
    page.select_option("select[name=platform]", "test")
    page.click("form.filters button[type=submit]")
    assert failed <= set(rows(page))

    # Each code links to what `passerelle explain` says of it.
    page.locator("a.code", has_text="unknown_line").first.click()
    expect(page.locator("pre.explain")).to_have_text(explain("unknown_line"))
    screenshot(page, "code")

    page.goto(failures.url + "/waiting")
    deferred = page.locator("table").first.locator("tbody tr")
    expect(deferred.filter(has_text=f"#{failures.deferred}")).to_contain_text("unknown_order")
    expect(deferred.filter(has_text=f"#{failures.deferred}")).to_contain_text(" UTC")
    screenshot(page, "waiting")


def test_one_delivery_is_shown_then_retried_once_its_order_is_fixed(
    failures: Failures, context: BrowserContext
) -> None:
    page = sign_in(context, failures.url)
    page.click(f"a[href='/deliveries/{failures.too_many}']")
    expect(page.locator("h1")).to_contain_text(f"Delivery #{failures.too_many}")
    expect(page.locator(".status").first).to_have_text("failed")
    expect(page.locator(".answer")).to_contain_text("SKU-1")
    signature = page.locator("table.headers tr", has_text="X-Test-Signature")
    expect(signature.locator("td")).to_have_text("********")
    expect(page.locator("section", has_text="Attempts").locator("tbody tr")).to_have_count(1)
    screenshot(page, "delivery")

    # A retry needs a note.
    page.click("button:has-text('Retry')")
    expect(page.locator("[role=alert]")).to_have_text("A note is required to retry: say why.")
    page.go_back()

    # The merchant edits the order at the back end: two of SKU-1 now; then retries.
    failures.client.update_cart(
        "page-a",
        CartUpdate(
            event_id="page-edit-1",
            cart=(
                CartLineItem(
                    reference="SKU-1", name="Item SKU-1", unit_price=money("10.00"), quantity=2
                ),
            ),
        ),
    )
    page.fill("#note", "order corrected to two at the back end")
    page.click("button:has-text('Retry')")
    expect(page.locator(".notice")).to_have_text(f"Retried: #{failures.too_many}.")

    def done() -> bool:
        page.reload()
        return page.locator(".status").first.inner_text() == "done"

    wait_until(done, timeout=30, what="the retried delivery to be done")
    expect(page.locator("ul.became")).to_contain_text("order_shipped F1 of order page-a")
    expect(page.locator("section", has_text="Notes").locator("tbody")).to_contain_text(
        "order corrected to two at the back end"
    )
    assert failures.client.get_order("page-a").captured == money("20.00")


def test_several_are_dismissed_with_a_note_and_the_rest_exported(
    failures: Failures, context: BrowserContext, tmp_path: Path
) -> None:
    page = sign_in(context, failures.url)
    page.check(f"input[name=id][value='{failures.unknown_line}']")
    page.click("button:has-text('Dismiss selected')")
    expect(page.locator("[role=alert]")).to_contain_text("A note is required to dismiss")
    assert api(failures.url, f"/actions/{failures.unknown_line}").json()["status"] == "failed"
    page.go_back()

    page.check(f"input[name=id][value='{failures.unknown_line}']")
    page.check(f"input[name=id][value='{failures.too_many_too}']")
    page.fill("#bulk-note", "customer cancelled by phone")
    page.click("button:has-text('Dismiss selected')")
    expect(page.locator(".notice")).to_have_text(
        f"Dismissed: #{failures.too_many_too}, #{failures.unknown_line}."
    )
    for dismissed in (failures.unknown_line, failures.too_many_too):
        shown = api(failures.url, f"/actions/{dismissed}").json()
        assert shown["status"] == "dismissed"
        assert [(n["action"], n["text"]) for n in shown["notes"]] == [
            ("dismissed", "customer cancelled by phone")
        ]
    assert f"#{failures.unknown_line}" not in rows(page)
    page.check("input[name=all]")
    page.click("form.filters button[type=submit]")
    dismissed_row = page.locator("tbody tr", has_text=f"#{failures.unknown_line}")
    expect(dismissed_row.locator(".status")).to_have_text("dismissed")
    page.goto(failures.url + "/")
    page.check("input[data-select-all]")
    assert page.locator("input[name=id]:not(:checked)").count() == 0
    page.uncheck("input[data-select-all]")
    assert page.locator("input[name=id]:checked").count() == 0

    with page.expect_download() as download:
        page.click("a:has-text('Export CSV')")
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    exported = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert str(failures.over_refund) in {row["id"] for row in exported}
    assert str(failures.unknown_line) not in {row["id"] for row in exported}
    (over_refund,) = [row for row in exported if row["id"] == str(failures.over_refund)]
    assert over_refund["error_code"] == "refund_exceeds_captured"


def test_a_forged_form_and_a_form_from_another_site_are_refused(
    failures: Failures, context: BrowserContext
) -> None:
    page = sign_in(context, failures.url)
    target = failures.over_refund
    forged = page.request.post(
        failures.url + "/retry",
        form={"id": str(target), "note": "forged", "csrf": "0" * 64},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "not sent from this page" in forged.text()

    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    elsewhere = page.request.post(
        failures.url + "/retry",
        form={"id": str(target), "note": "from elsewhere", "csrf": csrf},
        headers={"Origin": "https://attacker.example"},
        max_redirects=0,
    )
    assert elsewhere.status == 403

    # Without the session cookie, the token of the forms is worth nothing.
    with httpx.Client() as stranger:
        anonymous = stranger.post(
            failures.url + "/retry", data={"id": str(target), "note": "x", "csrf": csrf}
        )
    assert anonymous.status_code == 401
    assert api(failures.url, f"/actions/{target}").json()["status"] == "failed"


def test_the_batches_page_lists_a_batch_and_shows_what_each_version_changed(
    failures: Failures, context: BrowserContext
) -> None:
    originator = new_originator()
    day = business_day(dt.datetime.now(dt.UTC).date(), 7)
    batch_id = f"{originator}-0001"
    for version in (
        payroll(originator, day, "1200.00", "980.50", "75.25"),
        payroll(originator, day, "1200.00", "1010.50"),
    ):
        answer = upload(failures.url, version, FULL_TOKEN, store=FILES_STORE)
        assert answer.status_code == 202, answer.text
        wait_for_status(failures.url, answer.json()["delivery"], "done", timeout=30)

    page = sign_in(context, failures.url, READ_TOKEN)
    page.click("nav.tabs a:has-text('Batches')")
    expect(page.locator("h1")).to_have_text("Batches")
    row = page.locator("tbody tr", has_text=batch_id)
    expect(row).to_contain_text("2210.50 CAD")
    expect(row).not_to_contain_text("passed")
    screenshot(page, "batches")

    row.locator("a", has_text=batch_id).click()
    expect(page.locator("h1")).to_have_text(f"Batch {batch_id}")
    expect(page.locator("main")).to_contain_text("removed: credit 75.25 CAD Employee 3 ...4503")
    expect(page.locator("main")).to_contain_text("changed: credit 980.50 CAD")
    assert "1234501" not in page.content()
    screenshot(page, "batch")
