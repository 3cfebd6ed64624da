"""Fixtures: a sandbox on a real port (SQLite file), its clients, and a raw HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sandbox_support import (
    OTHER_MERCHANT,
    OTHER_TOKEN,
    START,
    Api,
    Sleeps,
    check_registered,
    open_api,
    sandbox_config,
)

from passerelle.sandbox import SandboxServer


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    """A fresh sandbox on a free port, its state in a SQLite file, its clock stopped at START."""
    with SandboxServer(sandbox_config(tmp_path / "sandbox.db")) as server:
        server.state.set_clock(START)
        yield server


@pytest.fixture
def raw(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A plain HTTP client of the sandbox, without the demo merchant's headers; it fails a test
    on any problem answer whose code is not registered."""
    with httpx.Client(
        base_url=sandbox.url, timeout=10, event_hooks={"response": [check_registered]}
    ) as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which client a test runs with: every client test runs with both."""
    return str(request.param)


@pytest.fixture
async def api(flavour: str, sandbox: SandboxServer, sleeps: Sleeps) -> AsyncIterator[Api]:
    """The demo merchant's client (`flavour`), retrying fast and recording its waits."""
    async with open_api(flavour, sandbox.url, sleeps) as call:
        yield call


@pytest.fixture
async def other_api(flavour: str, sandbox: SandboxServer, sleeps: Sleeps) -> AsyncIterator[Api]:
    """Another merchant's client."""
    async with open_api(
        flavour, sandbox.url, sleeps, token=OTHER_TOKEN, merchant=OTHER_MERCHANT
    ) as call:
        yield call
