"""The admin API's batch calls over a real socket, on SQLite and PostgreSQL: list, show,
reschedule and delete behind the admin token, each refused with one problem after the cutoff,
whether the connector's cutoff or the back end's own clock says so."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from batch_support import PLATFORM, STORE, CpaFiles, business_day, new_originator, payroll
from dispatch_support import make_dispatcher
from pydantic import SecretStr

from passerelle.backend.client import BackendClient
from passerelle.backend.models import BatchStatus
from passerelle.batches import BatchFile, CutoffPolicy, StoreCutoffs
from passerelle.clock import FixedClock
from passerelle.connector.api import create_api
from passerelle.connector.batch_office import BatchOffice
from passerelle.connector.config import AdminToken
from passerelle.connector.files import accept_file
from passerelle.connector.store import DeliveryStore
from passerelle.formats import cpa005
from passerelle.sandbox.server import SandboxServer
from passerelle.serving import BackgroundServer

FULL = "full-access-token-0123456789"
READ = "read-only-token-0123456789"
TOKENS = [
    AdminToken(name="ops", token=SecretStr(FULL), access="full"),
    AdminToken(name="viewer", token=SecretStr(READ), access="read"),
]
CUTOFF = CutoffPolicy()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def api(store: DeliveryStore, client: BackendClient, clock: FixedClock) -> Iterator[str]:
    office = BatchOffice(store, [(PLATFORM, STORE)], client, StoreCutoffs(default=CUTOFF), clock)
    with BackgroundServer(create_api(store, TOKENS, batches=office)) as server:
        yield server.url


def _call(method: str, url: str, token: str = FULL, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def _problem(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    detail: str = response.json()["detail"]
    return detail


def _scheduled(
    store: DeliveryStore, client: BackendClient, clock: FixedClock, *versions: BatchFile
) -> None:
    dispatcher = make_dispatcher(store, client, clock, platform=CpaFiles(), store_id=STORE)
    for batch in versions:
        data = cpa005.write(batch)
        accept_file(
            store, PLATFORM, STORE, [data], filename="PRDIRECT.DAT", received_at=clock.now()
        )
        assert dispatcher.drain() == 1


def test_list_and_show_give_versions_diffs_cutoff_and_the_back_ends_state(
    api: str, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    v1 = payroll(originator, day, "100.00", "250.00")
    v2 = payroll(originator, business_day(day, 1), "100.00")
    _scheduled(store, client, clock, v1, v2)

    listed = _call("GET", f"{api}/batches", READ, params={"store": STORE})
    shown = _call("GET", f"{api}/batches/{v1.batch_id}", READ)

    assert listed.status_code == 200, listed.text
    (row,) = [b for b in listed.json()["batches"] if b["batch"] == v1.batch_id]
    cutoff = CUTOFF.cutoff_for(v2.processing_date).isoformat()
    assert row == {
        "batch": v1.batch_id,
        "platform": PLATFORM,
        "store": STORE,
        "version": 2,
        "processing_date": v2.processing_date.isoformat(),
        "cutoff": cutoff,
        "entries": 1,
        "total": {"amount": "100.00", "currency": "CAD"},
        "back_end": {
            "status": "scheduled",
            "processing_date": v2.processing_date.isoformat(),
            "cutoff": cutoff,
            "entries": 1,
        },
    }
    assert shown.status_code == 200, shown.text
    detail = shown.json()
    assert [(v["version"], v["changes"], v["summary"]) for v in detail["versions"]] == [
        (1, ["entries_added"], f"2 entries for {day}"),
        (
            2,
            ["rescheduled", "entries_removed"],
            f"batch {v1.batch_id}: rescheduled {day} -> {v2.processing_date}; 1 entry removed",
        ),
    ]
    assert detail["payments"] == [
        {
            "direction": "credit",
            "amount": {"amount": "100.00", "currency": "CAD"},
            "payee": "Employee 1",
            "account": "...4501",
            "reference": "EMP0001",
        }
    ]
    assert _call("GET", f"{api}/batches", READ, params={"store": "elsewhere"}).json() == {
        "batches": []
    }


def test_reschedule_and_delete_before_the_cutoff_reach_the_back_end(
    api: str, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "10.00")
    _scheduled(store, client, clock, batch)
    later = business_day(batch.processing_date, 2)

    moved = _call("POST", f"{api}/batches/{batch.batch_id}/reschedule", json={"date": str(later)})
    assert moved.status_code == 200, moved.text
    assert moved.json()["back_end"]["processing_date"] == later.isoformat()
    assert client.get_batch(batch.batch_id).processing_date == later

    deleted = _call("DELETE", f"{api}/batches/{batch.batch_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["back_end"]["status"] == "deleted"
    assert client.get_batch(batch.batch_id).status is BatchStatus.DELETED
    again = _call("DELETE", f"{api}/batches/{batch.batch_id}")
    assert "batch_deleted" in _problem(again, 409, "batch_deleted")


def test_after_the_connectors_cutoff_each_change_is_refused_and_nothing_is_sent(
    api: str, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "10.00", "20.00")
    _scheduled(store, client, clock, batch)
    clock.set(CUTOFF.cutoff_for(batch.processing_date) + dt.timedelta(minutes=1))
    later = business_day(batch.processing_date, 7)

    moved = _call("POST", f"{api}/batches/{batch.batch_id}/reschedule", json={"date": str(later)})
    deleted = _call("DELETE", f"{api}/batches/{batch.batch_id}")

    assert _problem(moved, 409, "batch_past_cutoff") == (
        f"batch {batch.batch_id} for {batch.processing_date} is past its cutoff "
        f"{CUTOFF.cutoff_for(batch.processing_date).strftime('%Y-%m-%d %H:%M %Z')} "
        f"(America/Vancouver) (now {clock.now().astimezone(CUTOFF.tz):%Y-%m-%d %H:%M:%S %Z}): "
        "it can no longer be changed"
    )
    assert _problem(deleted, 409, "batch_past_cutoff").startswith(f"batch {batch.batch_id} for")
    view = client.get_batch(batch.batch_id)
    assert (view.status, view.processing_date) == (BatchStatus.SCHEDULED, batch.processing_date)


def test_the_back_ends_own_cutoff_refusal_is_passed_on(
    api: str,
    store: DeliveryStore,
    client: BackendClient,
    clock: FixedClock,
    sandbox: SandboxServer,
) -> None:
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "10.00")
    _scheduled(store, client, clock, batch)
    sandbox.state.set_clock(CUTOFF.cutoff_for(batch.processing_date) + dt.timedelta(minutes=1))
    try:
        deleted = _call("DELETE", f"{api}/batches/{batch.batch_id}")
        status = client.get_batch(batch.batch_id).status
    finally:
        sandbox.state.release_clock()

    assert _problem(deleted, 409, "batch_past_cutoff").startswith("the back end answered: ")
    assert status is BatchStatus.PROCESSING


def test_the_batch_calls_need_the_admin_token_and_name_what_is_wrong(
    api: str, store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "10.00")
    _scheduled(store, client, clock, batch)
    url = f"{api}/batches/{batch.batch_id}"

    assert httpx.get(f"{api}/batches").status_code == 401
    _problem(_call("DELETE", url, READ), 403, "forbidden")
    _problem(
        _call("POST", f"{url}/reschedule", READ, json={"date": "2030-01-02"}), 403, "forbidden"
    )
    assert _problem(_call("GET", f"{api}/batches/nope"), 404, "batch_not_found") == (
        "no batch 'nope': no file of a configured store carried it"
    )
    bad = _call("POST", f"{url}/reschedule", json={"date": "next friday"})
    _problem(bad, 422, "validation_failed")
    assert bad.json()["errors"][0]["field"] == "date"
    _problem(_call("GET", f"{api}/batches", params={"stor": STORE}), 422, "validation_failed")
    assert client.get_batch(batch.batch_id).status is BatchStatus.SCHEDULED
