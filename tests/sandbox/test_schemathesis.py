"""Property-based contract test: schemathesis generates requests from the sandbox's own OpenAPI
document and checks that no answer is a 5xx and that every answer has a documented status, a
documented content type, the documented schema and the headers the document requires
(``Request-Id`` on every answer, ``Retry-After`` on a 429).

The sandbox is seeded first (orders in every state, live and deleted batches), and path
parameters are drawn from the seeded ids as often as not, so operations on existing orders and
batches are exercised, not only 404s. A stateful run then follows the document's links (create an
order, then ship, cancel, return or edit it; create a batch, then reschedule, replace or delete
it) through sequences of calls.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sandbox_support import (
    AUTH,
    START,
    cad,
    check_problem_body,
    entries_batch,
    new_order,
    sandbox_config,
    units,
)
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from passerelle.backend.client import IDEMPOTENCY_HEADER, BackendClient
from passerelle.backend.models import (
    CancellationCreate,
    ReturnCreate,
    ShipmentCreate,
)
from passerelle.backend.problems import PROBLEM_CONTENT_TYPE
from passerelle.sandbox import DEFAULT_MERCHANT, DEFAULT_TOKEN, SandboxServer
from passerelle.sandbox.openapi import openapi_document


@schemathesis.check
def registered_problem_code(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """A problem answer carries a registered code, with a client class and an explanation."""
    if response.headers.get("content-type") == [PROBLEM_CONTENT_TYPE]:
        check_problem_body(response.content)
    return None


CHECKS = [
    registered_problem_code,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]

SEEDED_ORDERS = ["S-OPEN", "S-PARTLY-SHIPPED", "S-SHIPPED", "S-CANCELLED", "S-RETURNED"]
SEEDED_BATCHES = ["S-SCHEDULED", "S-DELETED", "S-LATER"]
SEEDED = {"ref": SEEDED_ORDERS, "batch_id": SEEDED_BATCHES}

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# The document the running sandbox serves is generated from the same app; test_openapi.py checks
# it is the one checked in.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """As often as not, name a seeded order or batch instead of the generated one."""
    generated = st.just(path_parameters)
    params = path_parameters or {}
    named = [name for name in SEEDED if name in params]
    if not named:
        return generated
    # Operations name one order or one batch: there is one seeded parameter at most.
    seeded = st.sampled_from(SEEDED[named[0]]).map(lambda id_: {**params, named[0]: id_})
    return st.one_of(generated, seeded)


_keys = itertools.count(1)


def _in_cad(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "CAD" if k == "currency" else _in_cad(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_cad(item) for item in value]
    return value


@schema.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> Any:
    """Keep valid requests valid enough to reach the rules: a key of their own (generated keys
    collide, and a reused key is refused before anything else), and the merchant's currency (a
    well-formed but unknown code is refused too)."""

    def valid(location: ParameterLocation) -> bool:
        return case.meta is None or not case.meta.is_negative_at(location)

    if case.headers and IDEMPOTENCY_HEADER in case.headers and valid(ParameterLocation.HEADER):
        case.headers[IDEMPOTENCY_HEADER] = f"schemathesis-{next(_keys)}"
    if isinstance(case.body, dict) and valid(ParameterLocation.BODY):
        case.body = _in_cad(case.body)
    return case


def seed(url: str) -> None:
    """Orders in each state of their lifecycle and batches live and deleted, for the demo
    merchant (the one the generated requests act for)."""
    with BackendClient(url, DEFAULT_TOKEN, DEFAULT_MERCHANT) as backend:
        for reference in SEEDED_ORDERS:
            backend.create_order(new_order(reference, installments=3))
        shirt = units(shirt=1)
        backend.ship("S-PARTLY-SHIPPED", ShipmentCreate(event_id="f1", lines=shirt))
        backend.ship("S-SHIPPED", ShipmentCreate(event_id="f1"))
        backend.cancel("S-CANCELLED", CancellationCreate(event_id="c1"))
        backend.ship("S-RETURNED", ShipmentCreate(event_id="f1"))
        backend.refund("S-RETURNED", ReturnCreate(event_id="r1", lines=shirt, refund=cad("25.00")))
        tomorrow = START.date() + dt.timedelta(days=1)
        backend.create_batch(entries_batch(tomorrow, "S-SCHEDULED"))
        backend.create_batch(entries_batch(tomorrow, "S-DELETED"))
        backend.delete_batch("S-DELETED")
        backend.create_batch(entries_batch(tomorrow + dt.timedelta(days=20), "S-LATER"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "sandbox.db"
    with SandboxServer(sandbox_config(db)) as server:
        server.state.set_clock(START)
        # What is generated below is what this running sandbox serves.
        assert httpx.get(server.url + "/openapi.json").json() == schema.raw_schema
        seed(server.url)
        yield server


@schema.parametrize()
@settings(SETTINGS, max_examples=40)
def test_every_answer_follows_the_contract(
    case: schemathesis.Case[Any], served: SandboxServer
) -> None:
    case.call_and_validate(base_url=served.url, headers=AUTH, checks=CHECKS)


def test_sequences_of_calls_follow_the_contract(served: SandboxServer) -> None:
    # Each scenario starts from the same sandbox: which rules a step may take depends on what the
    # sandbox answered before, and hypothesis requires equal choices to draw equal data.
    db = served.state.db
    seeded = sqlite3.connect(":memory:", check_same_thread=False)
    with db._lock:
        db._conn.backup(seeded)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            with db._lock:
                seeded.backup(db._conn)

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": served.url, "headers": AUTH}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case[Any],
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(settings=settings(SETTINGS, max_examples=30, stateful_step_count=6))
