"""Fixtures of the end-to-end tests: the installed test platform, a sandbox, PostgreSQL schemas.

PostgreSQL comes from `PASSERELLE_TEST_POSTGRES_DSN` (default
postgresql://postgres@127.0.0.1:5432/test); each test gets a schema of its own, dropped
afterwards. An unreachable server skips the PostgreSQL tests, or fails them when
`PASSERELLE_REQUIRE_POSTGRES=1`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import install_plugin

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for a subprocess's PYTHONPATH where the test platform is an installed plugin."""
    return install_plugin(tmp_path_factory.mktemp("site"))


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox back end on a real port, its faults off."""
    with SandboxServer() as server:
        yield server
        server.state.set_faults(Faults())


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The PostgreSQL server for the tests, or a skip (a failure when required) saying why not."""
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


@pytest.fixture
def postgres_store_url(postgres_dsn: str) -> Iterator[str]:
    """The URL of a fresh, empty schema of the test database, dropped afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"passerelle_e2e_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        separator = "&" if urlsplit(postgres_dsn).query else "?"
        yield f"{postgres_dsn}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
