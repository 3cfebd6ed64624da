"""The connector assembled from its settings: what each configuration key governs at run time."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path

import pytest

from passerelle.batches import CutoffPolicy
from passerelle.connector.config import Settings
from passerelle.connector.runtime import Connector, Role, build_connector
from passerelle.plugins import Plugins


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PASSERELLE_"):
            monkeypatch.delenv(name)


def settings(tmp_path: Path, extra: str = "") -> Settings:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        '[backend]\nurl = "http://127.0.0.1:9"\ntoken = "t"\nmerchant = "m"\n'
        f'[store]\nurl = "sqlite:///inbox.db"\n{extra}'
    )
    return Settings.load(path)


def build(tmp_path: Path, extra: str = "", role: Role = Role.ALL) -> Connector:
    return build_connector(settings(tmp_path, extra), role=role, plugins=Plugins())


def test_the_batches_section_is_the_dispatchers_cutoff(tmp_path: Path) -> None:
    connector = build(tmp_path, '[batches]\ncutoff = "15:30"\nzone = "America/Toronto"\n')
    try:
        assert connector.dispatcher is not None
        assert connector.dispatcher.policy.cutoff == CutoffPolicy(
            time=time(15, 30), zone="America/Toronto"
        )
    finally:
        connector.close()
