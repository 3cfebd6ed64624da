"""Fixtures every test folder shares: the asyncio backend, PostgreSQL, and open-file limits.

PostgreSQL comes from `PASSERELLE_TEST_POSTGRES_DSN` (a postgresql:// URL; default
postgresql://postgres@127.0.0.1:5432/test). Each user gets a schema of its own, dropped
afterwards, so parallel runs do not collide. An unreachable server skips the PostgreSQL tests,
or fails them when `PASSERELLE_REQUIRE_POSTGRES=1` (as CI sets it).
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import sys
from collections.abc import Callable, Iterator
from urllib.parse import quote, urlsplit

import pytest

from postgres_support import postgres_missing

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"

NewSchema = Callable[[], contextlib.AbstractContextManager[str]]


@pytest.fixture
def isolated_plugin_imports() -> Iterator[None]:
    """Plugin modules (``passerelle_*``) a test imports from its own folders are forgotten after
    it, so that the next test imports its own."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("passerelle_"):
            del sys.modules[name]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


LOWERED_FILE_LIMIT = 1000


@pytest.fixture
def lowered_file_limit() -> Iterator[int]:
    """This process's soft open-file limit lowered to `LOWERED_FILE_LIMIT` (restored after), so
    that a process started meanwhile inherits it; the hard limit, which it may raise it to."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard > LOWERED_FILE_LIMIT
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOWERED_FILE_LIMIT, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The PostgreSQL server for the tests, or a skip (a failure in CI) saying why not."""
    dsn = os.environ.get("PASSERELLE_TEST_POSTGRES_DSN", DEFAULT_POSTGRES_DSN)
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5):
            pass
    except Exception as exc:  # an import error or any connection failure
        parts = urlsplit(dsn)
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        detail = " ".join(str(exc).split())
        reason = f"PostgreSQL is unreachable at {where} ({type(exc).__name__}: {detail})"
        postgres_missing(reason, "set PASSERELLE_TEST_POSTGRES_DSN to run the PostgreSQL tests")
    return dsn


@pytest.fixture
def new_postgres_schema(postgres_dsn: str) -> NewSchema:
    """Makes a fresh, empty schema of the test database; use it as a context manager, which
    gives the store URL using that schema and drops the schema afterwards."""

    @contextlib.contextmanager
    def schema_url() -> Iterator[str]:
        import psycopg
        from psycopg import sql

        schema = f"passerelle_test_{secrets.token_hex(6)}"
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            separator = "&" if urlsplit(postgres_dsn).query else "?"
            yield f"{postgres_dsn}{separator}options={quote(f'-csearch_path={schema}')}"
        finally:
            with psycopg.connect(postgres_dsn, autocommit=True) as connection:
                connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    return schema_url


@pytest.fixture
def postgres_store_url(new_postgres_schema: NewSchema) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL store location, dropped afterwards."""
    with new_postgres_schema() as url:
        yield url
