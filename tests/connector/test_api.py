"""The action-center API: JSON over HTTP, bearer tokens, problems as RFC 9457."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_actions import ACCESS_TOKEN, BODY, SIGNATURE, START, Deliveries

from passerelle.clock import FixedClock
from passerelle.connector.actions import ENTRY_FIELDS, MASK
from passerelle.connector.api import create_api
from passerelle.connector.config import AdminSettings, AdminToken
from passerelle.connector.store import DeliveryStatus, DeliveryStore, ErrorInfo, NoteAction

FULL = "full-access-token-0123456789"
READ = "read-only-token-0123456789"
TOKENS = AdminSettings(
    tokens=[
        AdminToken(name="ops", token=FULL, access="full"),
        AdminToken(name="viewer", token=READ, access="read"),
    ]
)
PROBLEM = "application/problem+json"

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def deliveries(store: DeliveryStore, clock: FixedClock) -> Deliveries:
    return Deliveries(store, clock)


@pytest.fixture
async def client(store: DeliveryStore, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api(store, TOKENS, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://connector.test",
        headers={"Authorization": f"Bearer {FULL}"},
    ) as opened:
        yield opened


def as_reader(token: str = READ) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"], body["type"]) == (status, code, "about:blank")
    assert body["title"]
    return body


# -- reading ---------------------------------------------------------------------------------


async def test_list_gives_every_failed_delivery(
    client: httpx.AsyncClient, deliveries: Deliveries
) -> None:
    deliveries.done("999")
    failed = deliveries.failed("1001", retries=1)

    response = await client.get("/actions", headers=as_reader())

    assert response.status_code == 200
    assert response.json() == {
        "actions": [
            {
                "id": failed,
                "platform": "shopify",
                "store": "north.myshopify.com",
                "order": "1001",
                "status": "failed",
                "error_code": "unknown_order",
                "error_message": "order #1001 is unknown to the back end",
                "attempts": 2,
                "first_failed_at": "2026-03-02T09:00:00+00:00",
                "last_failed_at": "2026-03-02T09:00:00+00:00",
                "received_at": "2026-03-02T09:00:00+00:00",
            }
        ]
    }


async def test_list_filters(
    client: httpx.AsyncClient, deliveries: Deliveries, clock: FixedClock
) -> None:
    north = deliveries.failed(platform="shopify", shop="north")
    clock.advance(timedelta(hours=3))
    woo = deliveries.failed(
        platform="woocommerce", shop="north", error=ErrorInfo("unknown_line", "no line 9")
    )
    dismissed = deliveries.failed(platform="shopify", shop="south")
    await client.post("/actions/dismiss", json={"ids": [dismissed], "note": "test order"})

    async def listed(**query: str) -> list[int]:
        response = await client.get("/actions", params=query)
        assert response.status_code == 200
        return [entry["id"] for entry in response.json()["actions"]]

    assert await listed() == [north, woo]
    assert await listed(platform="shopify") == [north]
    assert await listed(store="north") == [north, woo]
    assert await listed(since="1h") == [woo]
    assert await listed(since="2026-03-02T10:00:00Z") == [woo]
    assert await listed(all="true") == [north, woo, dismissed]
    assert await listed(all="true", store="south") == [dismissed]
    assert await listed(all="false") == [north, woo]
    assert await listed(code="unknown_line") == [woo]
    assert await listed(code="unknown_order", all="true") == [north, dismissed]
    export = await client.get("/actions/export.csv", params={"code": "unknown_line"})
    assert [row["id"] for row in csv.DictReader(io.StringIO(export.text))] == [str(woo)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            {"since": "last week"},
            "since",
            "'last week' is neither a duration (30m, 2h, 3d, 1w) nor a date or time"
            " (2026-03-01, 2026-03-01T09:30, 2026-03-01T09:30-05:00)",
        ),
        ({"all": "maybe"}, "all", "must be true or false, got 'maybe'"),
        (
            {"order": "1001"},
            "order",
            "unknown parameter; expected all, code, platform, since, store",
        ),
    ],
)
async def test_bad_query_parameters_are_named(
    client: httpx.AsyncClient, query: dict[str, str], field: str, message: str
) -> None:
    body = problem(await client.get("/actions", params=query), 422, "validation_failed")

    assert body["errors"] == [{"field": field, "message": message}]
    assert body["detail"] == f"invalid request: {field}"


async def test_show_gives_attempts_and_notes_but_no_secret(
    client: httpx.AsyncClient, deliveries: Deliveries
) -> None:
    delivery_id = deliveries.failed("1001", retries=1)
    await client.post("/actions/dismiss", json={"ids": [delivery_id], "note": "duplicate"})

    response = await client.get(f"/actions/{delivery_id}", headers=as_reader())

    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "dismissed"
    assert data["error_code"] == "unknown_order"
    assert [(a["number"], a["result"], a["error_code"]) for a in data["attempt_history"]] == [
        (1, "retry", "backend_unavailable"),
        (2, "failed", "unknown_order"),
    ]
    assert [(n["action"], n["text"]) for n in data["notes"]] == [("dismissed", "duplicate")]
    assert ["X-Shopify-Hmac-Sha256", MASK] in data["headers"]
    assert "body" not in data
    assert data["body_bytes"] == len(BODY)
    assert SIGNATURE not in response.text
    assert ACCESS_TOKEN not in response.text


async def test_the_body_needs_full_access(
    client: httpx.AsyncClient, deliveries: Deliveries
) -> None:
    delivery_id = deliveries.failed()

    refused = await client.get(f"/actions/{delivery_id}?body=true", headers=as_reader())
    shown = await client.get(f"/actions/{delivery_id}?body=true")

    assert "personal data" in problem(refused, 403, "forbidden")["detail"]
    assert shown.status_code == 200
    assert shown.json()["body"].startswith('{"id": 1001, "email": "ana@example.com"')
    assert "[redacted card number]" in shown.json()["body"]


async def test_show_of_an_unknown_delivery_is_404(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/actions/404"), 404, "delivery_not_found")

    assert body["detail"] == "no delivery 404"


async def test_export_is_csv_with_stable_columns(
    client: httpx.AsyncClient, deliveries: Deliveries
) -> None:
    first = deliveries.failed("=1+1")
    deliveries.failed("1002", platform="woocommerce")

    response = await client.get("/actions/export.csv", params={"platform": "shopify"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert tuple(rows[0]) == ENTRY_FIELDS
    assert [(row[0], row[3]) for row in rows[1:]] == [(str(first), "'=1+1")]


async def test_stats_count_every_status(client: httpx.AsyncClient, deliveries: Deliveries) -> None:
    deliveries.done()
    deliveries.failed()

    response = await client.get("/stats", headers=as_reader())

    assert response.json() == {
        "pending": 0,
        "processing": 0,
        "done": 1,
        "ignored": 0,
        "failed": 1,
        "dismissed": 0,
    }


# -- acting ----------------------------------------------------------------------------------


async def test_retry_puts_deliveries_back_with_a_note(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    first, second = deliveries.failed("1"), deliveries.failed("2")

    response = await client.post(
        "/actions/retry", json={"ids": [second, first], "note": "SKU mapping fixed"}
    )

    assert response.status_code == 200
    assert response.json() == {"retried": [first, second]}
    assert [store.get(i).status for i in (first, second)] == [DeliveryStatus.PENDING] * 2
    assert [(n.action, n.text) for n in store.notes(first)] == [
        (NoteAction.REQUEUED, "SKU mapping fixed")
    ]


async def test_dismiss_records_why(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()

    response = await client.post(
        "/actions/dismiss", json={"ids": [delivery_id], "note": "refunded by hand"}
    )

    assert response.json() == {"dismissed": [delivery_id]}
    assert store.get(delivery_id).status is DeliveryStatus.DISMISSED
    assert [n.text for n in store.notes(delivery_id)] == ["refunded by hand"]


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"ids": [1]}, [{"field": "note", "message": "Field required"}]),
        ({"ids": [1], "note": "  "}, [{"field": "note", "message": "a dismissal needs a note saying why"}]),
        ({"ids": [], "note": "x"}, [{"field": "ids", "message": "List should have at least 1 item after validation, not 0"}]),
        ({"ids": ["1"], "note": "x"}, [{"field": "ids.0", "message": "Input should be a valid integer"}]),
        ({"ids": [1], "note": "x", "why": "x"}, [{"field": "why", "message": "Extra inputs are not permitted"}]),
    ],
)  # fmt: skip
async def test_a_bad_dismissal_is_refused_naming_the_field(
    client: httpx.AsyncClient,
    deliveries: Deliveries,
    store: DeliveryStore,
    payload: dict[str, Any],
    errors: list[dict[str, str]],
) -> None:
    delivery_id = deliveries.failed()
    if payload["ids"] == [1]:
        payload = {**payload, "ids": [delivery_id]}

    body = problem(await client.post("/actions/dismiss", json=payload), 422, "validation_failed")

    assert body["errors"] == errors
    assert store.get(delivery_id).status is DeliveryStatus.FAILED
    assert store.notes(delivery_id) == []


async def test_a_body_that_is_not_json_is_refused(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/actions/retry", content=b"ids=1"), 422, "validation_failed")

    assert [error["field"] for error in body["errors"]] == ["(body)"]


async def test_an_unknown_id_is_404_and_changes_nothing(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()

    retried = await client.post("/actions/retry", json={"ids": [delivery_id, 999]})
    dismissed = await client.post(
        "/actions/dismiss", json={"ids": [delivery_id, 999], "note": "duplicate"}
    )

    assert problem(retried, 404, "delivery_not_found")["detail"] == (
        "no delivery 999; nothing was requeued"
    )
    assert problem(dismissed, 404, "delivery_not_found")["detail"] == (
        "no delivery 999; nothing was dismissed"
    )
    assert store.get(delivery_id).status is DeliveryStatus.FAILED
    assert store.notes(delivery_id) == []


async def test_a_delivery_in_the_wrong_status_is_409(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    failed, done = deliveries.failed("1"), deliveries.done("2")

    response = await client.post("/actions/dismiss", json={"ids": [failed, done], "note": "x"})

    assert problem(response, 409, "delivery_status_conflict")["detail"] == (
        f"cannot dismiss delivery {done} (done): only failed deliveries can be dismissed;"
        " nothing was dismissed"
    )
    assert store.get(failed).status is DeliveryStatus.FAILED


async def test_replay_answers_how_many(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore, clock: FixedClock
) -> None:
    old = deliveries.done("1")
    clock.advance(timedelta(hours=5))
    done, failed = deliveries.done("2"), deliveries.failed("3")

    by_order = await client.post("/replay", json={"since": "2h", "order": "2", "note": "fix"})
    the_rest = await client.post("/replay", json={"since": "2h"})
    nothing_left = await client.post("/replay", json={"since": "2h"})

    assert [r.json() for r in (by_order, the_rest, nothing_left)] == [
        {"replayed": 1},
        {"replayed": 1},
        {"replayed": 0},
    ]
    assert [store.get(i).status for i in (old, done, failed)] == [
        DeliveryStatus.DONE,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
    ]
    assert [n.text for n in store.notes(done)] == ["fix"]


async def test_replay_with_a_bad_since_changes_nothing(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    done = deliveries.done()

    body = problem(await client.post("/replay", json={"since": "soon"}), 422, "validation_failed")

    assert body["errors"][0]["field"] == "since"
    assert store.get(done).status is DeliveryStatus.DONE


# -- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", f"Basic {FULL}", f"Token {FULL}"],
)
async def test_a_missing_token_is_401(client: httpx.AsyncClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    client.headers.pop("Authorization")

    response = await client.get("/actions", headers=headers)

    body = problem(response, 401, "unauthorized")
    assert body["detail"] == "an admin token is required: Authorization: Bearer <token>"
    assert response.headers["www-authenticate"] == 'Bearer realm="passerelle"'


@pytest.mark.parametrize("token", [FULL + "x", FULL[:-1], READ.upper(), "wrong"])
async def test_an_unknown_token_is_401_on_every_path(client: httpx.AsyncClient, token: str) -> None:
    for method, path in [("GET", "/actions"), ("POST", "/actions/retry"), ("GET", "/nowhere")]:
        response = await client.request(method, path, headers=as_reader(token))

        assert problem(response, 401, "unauthorized")["detail"] == "the admin token is not valid"
        assert "invalid_token" in response.headers["www-authenticate"]
        assert token not in response.text


async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await client.get("/stats", headers={"Authorization": f"bearer {READ}"})

    assert response.status_code == 200


async def test_a_read_only_token_may_read_but_not_act(
    client: httpx.AsyncClient, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()
    reader = as_reader()

    for path in ("/actions", f"/actions/{delivery_id}", "/actions/export.csv", "/stats"):
        assert (await client.get(path, headers=reader)).status_code == 200, path
    for path, payload in [
        ("/actions/retry", {"ids": [delivery_id]}),
        ("/actions/dismiss", {"ids": [delivery_id], "note": "x"}),
        ("/replay", {}),
    ]:
        response = await client.post(path, json=payload, headers=reader)
        assert problem(response, 403, "forbidden")["detail"] == (
            "this token may only read; retry, dismiss, replay and changing a batch need a token "
            "with full access"
        )
    assert store.get(delivery_id).status is DeliveryStatus.FAILED


async def test_no_token_configured_refuses_everything(store: DeliveryStore) -> None:
    app = create_api(store, [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://connector.test"
    ) as client:
        response = await client.get("/stats", headers=as_reader(FULL))

    assert response.status_code == 401


async def test_unknown_paths_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    problem(await client.get("/nowhere"), 404, "not_found")
    problem(await client.get("/actions/abc"), 404, "not_found")
    response = await client.delete("/actions/1")
    assert problem(response, 405, "method_not_allowed")["detail"] == (
        "DELETE is not allowed on /actions/1"
    )
    assert "GET" in response.headers["allow"]


async def test_a_store_failure_is_503(store: DeliveryStore) -> None:
    app = create_api(store, TOKENS)
    store.close()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://connector.test"
    ) as client:
        response = await client.get("/actions", headers=as_reader())

    assert problem(response, 503, "store_unavailable")["detail"] == (
        "the delivery store is unavailable; nothing was changed"
    )


async def test_mounted_under_a_prefix(store: DeliveryStore, deliveries: Deliveries) -> None:
    api = create_api(store, TOKENS)
    deliveries.failed()

    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"]
        assert path.startswith("/api/")
        await api({**scope, "root_path": "/api", "path": path[4:]}, receive, send)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mounted), base_url="http://connector.test"
    ) as client:
        listed = await client.get("/api/actions", headers=as_reader())
        missing = await client.get("/api/nowhere", headers=as_reader())

    assert [entry["order"] for entry in listed.json()["actions"]] == ["1001"]
    assert missing.status_code == 404
