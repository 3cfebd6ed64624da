"""Fixtures of the end-to-end tests: the installed test platform, a sandbox, PostgreSQL schemas
(from the root conftest's `new_postgres_schema`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import install_plugin


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
