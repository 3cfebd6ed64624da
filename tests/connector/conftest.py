"""Store backends for the connector tests: each store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from the root conftest's `postgres_dsn`: every store gets a schema of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from passerelle.backend.client import BackendClient
from passerelle.backend.retry import RetryPolicy
from passerelle.clock import FixedClock
from passerelle.connector.store import DeliveryStore, open_store
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN

NewStoreURL = Callable[[], contextlib.AbstractContextManager[str]]


def _sqlite_schema_versions(url: str) -> list[int]:
    with contextlib.closing(sqlite3.connect(urlsplit(url).path)) as connection:
        rows = connection.execute("SELECT version FROM schema_version ORDER BY 1")
        return [int(version) for (version,) in rows]


def _postgres_schema_versions(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        return [int(version) for (version,) in rows]


@dataclass(frozen=True)
class _Backend:
    new_url: NewStoreURL
    schema_versions: Callable[[str], list[int]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> _Backend:
    if request.param == "sqlite":
        counter = itertools.count(1)

        @contextlib.contextmanager
        def sqlite_url() -> Iterator[str]:
            yield f"sqlite:///{tmp_path / f'store-{next(counter)}.db'}"

        return _Backend(sqlite_url, _sqlite_schema_versions)
    new_schema = request.getfixturevalue("new_postgres_schema")
    return _Backend(new_schema, _postgres_schema_versions)


@pytest.fixture
def new_store_url(_backend: _Backend) -> NewStoreURL:
    """Makes a fresh, empty store location (file or schema) of the backend under test; use it
    as a context manager, which removes the location afterwards."""
    return _backend.new_url


@pytest.fixture
def schema_versions(_backend: _Backend) -> Callable[[str], list[int]]:
    """The versions recorded in the schema_version table of the store at a URL."""
    return _backend.schema_versions


@pytest.fixture
def store_url(new_store_url: NewStoreURL) -> Iterator[str]:
    """A fresh store location, on every backend (the tests using it run once per backend)."""
    with new_store_url() as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    """The store's clock; a test module may override it to start elsewhere."""
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def store(store_url: str, clock: FixedClock) -> Iterator[DeliveryStore]:
    with open_store(store_url, clock=clock) as opened:
        yield opened


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox back end over a real socket, shared by a module's tests."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    # One attempt per call: the dispatcher's own retry schedule is what these tests observe.
    with BackendClient(
        sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT, retry=RetryPolicy(max_attempts=1)
    ) as backend:
        yield backend


@pytest.fixture
def no_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``PASSERELLE_*`` setting from the environment (the test database's own are kept)."""
    for name in list(os.environ):
        if name.upper().startswith("PASSERELLE_") and not name.upper().startswith(
            "PASSERELLE_TEST"
        ):
            monkeypatch.delenv(name)
