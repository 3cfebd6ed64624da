"""Property-based contract test: schemathesis generates requests from the sandbox's own OpenAPI
document and checks every answer is no 5xx and matches the documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sandbox_support import AUTH, START, sandbox_config
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from passerelle.sandbox import SandboxServer
from passerelle.sandbox.openapi import openapi_document


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "sandbox.db"
    with SandboxServer(sandbox_config(db)) as server:
        server.state.set_clock(START)
        # What is generated below is what this running sandbox serves.
        assert httpx.get(server.url + "/openapi.json").json() == schema.raw_schema
        yield server


# The document the running sandbox serves is generated from the same app; test_openapi.py checks
# it is the one checked in.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_follows_the_contract(
    case: schemathesis.Case[Any], served: SandboxServer
) -> None:
    case.call_and_validate(
        base_url=served.url, headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
    )
