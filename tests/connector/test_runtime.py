"""The connector assembled from its settings: what each configuration key governs at run time."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import time
from pathlib import Path

import pytest
from testplatform import TestPlatform

from passerelle.batches import CutoffPolicy
from passerelle.connector.config import Settings
from passerelle.connector.runtime import Connector, Role, build_connector
from passerelle.hookspecs import hookimpl
from passerelle.platforms import Store, StoreProblem, WebhookPlatform
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


class _NeedsAKey(TestPlatform):
    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return [StoreProblem("options.api_key", "is required")]


class _Registers:
    def __init__(self, platform: WebhookPlatform) -> None:
        self.platform = platform

    @hookimpl
    def register_platforms(self, register: Callable[[WebhookPlatform], None]) -> None:
        register(self.platform)


def test_a_store_its_platform_finds_fault_with_is_logged_when_the_connector_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = Plugins()
    plugins.register(_Registers(_NeedsAKey()), "checked")
    extra = '[[stores]]\nplatform = "test"\nid = "s"\nsecrets = ["whsec-1"]\n'
    with caplog.at_level(logging.WARNING, "passerelle.connector"):
        connector = build_connector(settings(tmp_path, extra), plugins=plugins)
    connector.close()

    assert [r.getMessage() for r in caplog.records] == [
        "configuration: stores[0].options.api_key: is required"
    ]
