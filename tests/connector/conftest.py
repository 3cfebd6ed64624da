"""Store backends for the connector tests: each store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from `PASSERELLE_TEST_POSTGRES_DSN` (a postgresql:// URL; default
postgresql://postgres@127.0.0.1:5432/test). Every store gets a schema of its own, dropped
afterwards, so parallel runs do not collide. An unreachable server skips the PostgreSQL tests,
or fails them when `PASSERELLE_REQUIRE_POSTGRES=1`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from passerelle.clock import FixedClock
from passerelle.connector.store import DeliveryStore, open_store

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


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


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The PostgreSQL server for the tests, or a skip (a failure in CI) saying why not."""
    dsn = os.environ.get("PASSERELLE_TEST_POSTGRES_DSN", DEFAULT_POSTGRES_DSN)
    required = os.environ.get("PASSERELLE_REQUIRE_POSTGRES") == "1"
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5):
            pass
    except Exception as exc:  # an import error or any connection failure
        parts = urlsplit(dsn)
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        detail = " ".join(str(exc).split())
        reason = f"PostgreSQL is unreachable at {where} ({type(exc).__name__}: {detail})"
        if required:
            pytest.fail(f"{reason}; PASSERELLE_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{reason}; set PASSERELLE_TEST_POSTGRES_DSN to run the PostgreSQL tests")
    return dsn


@contextlib.contextmanager
def _postgres_schema(dsn: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    schema = f"passerelle_test_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        separator = "&" if urlsplit(dsn).query else "?"
        yield f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> _Backend:
    if request.param == "sqlite":
        counter = itertools.count(1)

        @contextlib.contextmanager
        def sqlite_url() -> Iterator[str]:
            yield f"sqlite:///{tmp_path / f'store-{next(counter)}.db'}"

        return _Backend(sqlite_url, _sqlite_schema_versions)
    dsn: str = request.getfixturevalue("postgres_dsn")
    return _Backend(lambda: _postgres_schema(dsn), _postgres_schema_versions)


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
def postgres_store_url(postgres_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL store location, for tests of what only PostgreSQL does."""
    with _postgres_schema(postgres_dsn) as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    """The store's clock; a test module may override it to start elsewhere."""
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def store(store_url: str, clock: FixedClock) -> Iterator[DeliveryStore]:
    with open_store(store_url, clock=clock) as opened:
        yield opened
