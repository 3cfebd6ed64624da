"""Fault injection: each mode seen by a raw HTTP call, and the clients riding it out with one
idempotency key and a single change of state."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest
from sandbox_support import ADMIN_TOKEN, AUTH, Api, Sleeps, open_api

from passerelle.backend.errors import APITimeoutError, InternalError, RateLimitedError
from passerelle.backend.models import (
    CartLineItem,
    LineQuantityItem,
    OrderCreate,
    ShipmentCreate,
)
from passerelle.backend.retry import RetryPolicy
from passerelle.money import Money
from passerelle.sandbox import Faults, SandboxConfig, SandboxServer
from passerelle.sandbox.faults import FaultInjector, FaultMode

pytestmark = pytest.mark.anyio

ORDER = OrderCreate(
    reference="F-1",
    currency="CAD",
    lines=(
        CartLineItem(
            reference="lamp", name="Lamp", unit_price=Money.of("40.00", "CAD"), quantity=2
        ),
    ),
)
SHIPMENT = ShipmentCreate(event_id="ful-1", lines=(LineQuantityItem(line="lamp", quantity=1),))


def order_json() -> dict[str, object]:
    return ORDER.model_dump(mode="json")


def ship(raw: httpx.Client, key: str) -> httpx.Response:
    return raw.post(
        "/v1/orders/F-1/shipments",
        headers={**AUTH, "Idempotency-Key": key},
        json=SHIPMENT.model_dump(mode="json"),
    )


def captured(raw: httpx.Client) -> int:
    minor: int = raw.get("/v1/orders/F-1", headers=AUTH).json()["captured"]["minor"]
    return minor


@pytest.fixture
def order(raw: httpx.Client) -> None:
    response = raw.post(
        "/v1/orders", headers={**AUTH, "Idempotency-Key": "checkout"}, json=order_json()
    )
    assert response.status_code == 201


# Each mode, seen raw


@pytest.mark.usefixtures("order")
def test_server_error_happens_before_any_change(sandbox: SandboxServer, raw: httpx.Client) -> None:
    sandbox.state.set_faults(Faults(error_rate=1.0, limit=1))

    failed = ship(raw, "k-1")
    after = ship(raw, "k-1")

    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["code"] == "internal_error"
    assert failed.json()["request_id"] == failed.headers["request-id"]
    assert after.status_code == 201
    assert "idempotent-replayed" not in after.headers
    assert captured(raw) == 4000


@pytest.mark.usefixtures("order")
def test_throttling_says_when_to_retry(sandbox: SandboxServer, raw: httpx.Client) -> None:
    sandbox.state.set_faults(Faults(throttle_rate=1.0, retry_after=3, limit=1))

    throttled = raw.get("/v1/orders/F-1", headers=AUTH)

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "3"
    assert throttled.json()["code"] == "rate_limited"
    assert raw.get("/v1/orders/F-1", headers=AUTH).status_code == 200


@pytest.mark.usefixtures("order")
def test_a_dropped_connection_changes_nothing(sandbox: SandboxServer, raw: httpx.Client) -> None:
    sandbox.state.set_faults(Faults(drop_rate=1.0, limit=1))

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        ship(raw, "k-1")

    assert captured(raw) == 0
    assert ship(raw, "k-1").status_code == 201


@pytest.mark.usefixtures("order")
def test_a_lost_response_is_found_again_with_its_key(
    sandbox: SandboxServer, raw: httpx.Client
) -> None:
    sandbox.state.set_faults(Faults(lost_response_rate=1.0, limit=1))

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        ship(raw, "k-1")

    assert captured(raw) == 4000
    again = ship(raw, "k-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["captured"] == {"minor": 4000, "currency": "CAD"}
    assert captured(raw) == 4000


@pytest.mark.usefixtures("order")
async def test_a_slow_write_keeps_its_key_in_use_until_it_is_done(
    sandbox: SandboxServer, raw: httpx.Client
) -> None:
    sandbox.state.set_faults(Faults(latency_ms=1500))

    with pytest.raises(httpx.ReadTimeout):
        raw.post(
            "/v1/orders/F-1/shipments",
            headers={**AUTH, "Idempotency-Key": "k-1"},
            json=SHIPMENT.model_dump(mode="json"),
            timeout=0.2,
        )
    in_use = ship(raw, "k-1")
    sandbox.state.set_faults(Faults())
    for _ in range(200):
        if captured(raw):
            break
        await anyio.sleep(0.05)

    assert in_use.status_code == 409
    assert in_use.json()["code"] == "idempotency_key_in_use"
    assert captured(raw) == 4000
    assert ship(raw, "k-1").headers["idempotent-replayed"] == "true"


def test_faults_only_touch_the_api(sandbox: SandboxServer, raw: httpx.Client) -> None:
    sandbox.state.set_faults(Faults(error_rate=1.0))

    assert raw.get("/problems/unknown_order").status_code == 200
    assert raw.get("/openapi.json").status_code == 200
    assert sandbox.state.faults.injected == 0


# Repeatable


@pytest.mark.usefixtures("order")
def test_the_same_seed_gives_the_same_faults(sandbox: SandboxServer, raw: httpx.Client) -> None:
    faults = Faults(error_rate=0.3, throttle_rate=0.2, seed=7)

    runs = []
    for _ in range(2):
        sandbox.state.set_faults(faults)
        runs.append([raw.get("/v1/orders/F-1", headers=AUTH).status_code for _ in range(30)])

    assert runs[0] == runs[1]
    assert {200, 429, 500} <= set(runs[0])


def test_draws_follow_the_rates_and_the_limit() -> None:
    injector = FaultInjector(Faults(drop_rate=0.5, lost_response_rate=0.5, seed=1, limit=3))

    draws = [injector.draw() for _ in range(5)]

    assert all(mode in (FaultMode.DROP, FaultMode.LOST_RESPONSE) for mode in draws[:3])
    assert draws[3:] == [None, None]
    assert injector.injected == 3


def test_rates_above_one_in_all_are_refused() -> None:
    with pytest.raises(ValueError, match=r"the fault rates add up to 1\.2, more than 1"):
        Faults(error_rate=0.6, drop_rate=0.6)


# The clients ride the faults out


@pytest.mark.parametrize(
    ("faults", "waits"),
    [
        (Faults(error_rate=1.0, limit=2), None),
        (Faults(throttle_rate=1.0, retry_after=3, limit=2), [3.0, 3.0]),
        (Faults(drop_rate=1.0, limit=2), None),
        (Faults(lost_response_rate=1.0, limit=2), None),
    ],
    ids=["server_error", "throttle", "drop", "lost_response"],
)
async def test_the_client_retries_with_one_key_and_changes_state_once(
    sandbox: SandboxServer,
    api: Api,
    raw: httpx.Client,
    sleeps: Sleeps,
    faults: Faults,
    waits: list[float] | None,
) -> None:
    sandbox.state.set_faults(faults)
    created = await api("create_order", ORDER)
    sandbox.state.set_faults(faults)
    shipped = await api("ship", "F-1", SHIPMENT)

    # A retry under a new key would have met order_exists, and a shipment recorded under a new
    # key would have answered a no-op capturing nothing: both answers are the first ones.
    assert created.reference == "F-1"
    assert shipped.captured == Money.of("40.00", "CAD")
    assert sandbox.state.faults.injected == 2
    assert captured(raw) == 4000
    disbursed = (await api("list_disbursements")).disbursements
    assert [(d.captured, [o.order for o in d.orders]) for d in disbursed] == [
        (Money.of("40.00", "CAD"), ["F-1"])
    ]
    if waits is not None:
        assert sleeps == waits * 2


@pytest.mark.parametrize(
    ("faults", "error"),
    [(Faults(error_rate=1.0), InternalError), (Faults(throttle_rate=1.0), RateLimitedError)],
    ids=["server_error", "throttle"],
)
async def test_the_client_gives_up_after_its_attempts(
    sandbox: SandboxServer, sleeps: Sleeps, flavour: str, faults: Faults, error: type[Exception]
) -> None:
    sandbox.state.set_faults(faults)
    async with open_api(flavour, sandbox.url, sleeps, retry=RetryPolicy(max_attempts=3)) as api:
        with pytest.raises(error):
            await api("create_order", ORDER)

    assert sandbox.state.faults.injected == 3


# Set over HTTP and from the command line


def test_the_admin_api_sets_faults(sandbox: SandboxServer, raw: httpx.Client) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    refused = raw.post("/_sandbox/faults", json={"error_rate": 1.0}, headers=AUTH)
    invalid = raw.post("/_sandbox/faults", json={"error_rate": 2}, headers=admin)
    accepted = raw.post("/_sandbox/faults", json={"error_rate": 1.0, "limit": 1}, headers=admin)
    failed = raw.get("/v1/orders/F-1", headers=AUTH)

    assert refused.status_code == 401
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "error_rate"
    assert accepted.json()["faults"]["error_rate"] == 1.0
    assert failed.status_code == 500
    assert raw.get("/_sandbox/faults", headers=admin).json()["injected"] == 1


def test_without_an_admin_token_there_is_no_admin_api(tmp_path: Path) -> None:
    with SandboxServer(SandboxConfig(db=tmp_path / "s.db")) as sandbox:
        response = httpx.post(
            sandbox.url + "/_sandbox/faults",
            json={"error_rate": 1.0},
            headers={"Authorization": "Bearer anything"},
        )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_total_timeout_cuts_a_slow_answer(
    sandbox: SandboxServer, sleeps: Sleeps, flavour: str
) -> None:
    sandbox.state.set_faults(Faults(latency_ms=1500))
    async with open_api(flavour, sandbox.url, sleeps, total_timeout=0.3) as api:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match=r"within the total timeout of 0\.3 s "):
            await api("get_order", "F-1")
        elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 1.2
    assert sleeps == []
