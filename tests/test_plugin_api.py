"""The plugin API changes only on purpose: its names and signatures match the committed snapshot,
its version accounts for every change, and the changelog names the version."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from passerelle.compatibility import PLUGIN_API_VERSION
from plugin_api_snapshot import changes, current, recorded, versioning_problem

CHANGELOG = Path(__file__).parents[1] / "CHANGELOG.md"


def test_the_plugin_api_matches_its_committed_snapshot() -> None:
    now, snapshot = current(), recorded()

    added, broken = changes(snapshot, now)
    assert (added, broken) == ([], []), (
        f"the plugin API changed (added {added}, removed or changed {broken}): if that is meant, "
        "bump PLUGIN_API_VERSION, add a CHANGELOG.md entry and run "
        "`python tests/plugin_api_snapshot.py`"
    )
    assert now == snapshot


def test_the_changelog_names_the_plugin_api_version() -> None:
    assert f"plugin API {PLUGIN_API_VERSION}" in CHANGELOG.read_text(encoding="utf-8")


def _api(version: str, **names: Any) -> dict[str, Any]:
    return {"plugin_api_version": version, "names": names}


BEFORE = _api("1.2", Money={"kind": "class", "signature": "(amount, currency)"})


@pytest.mark.parametrize(
    ("after", "refused"),
    [
        (_api("1.2", **BEFORE["names"], Extra={"kind": "function"}), "Extra added"),
        (_api("1.3"), "Money removed or changed"),
        (_api("1.3", Money={"kind": "class", "signature": "(amount)"}), "Money removed"),
    ],
)
def test_renewing_the_snapshot_refuses_a_change_its_version_does_not_account_for(
    after: dict[str, Any], refused: str
) -> None:
    problem = versioning_problem(BEFORE, after)

    assert problem is not None
    assert problem.startswith(refused)


@pytest.mark.parametrize(
    "after",
    [
        _api("1.3", **BEFORE["names"], Extra={"kind": "function"}),
        _api("2.0"),
        copy.deepcopy(BEFORE),
    ],
)
def test_renewing_the_snapshot_takes_a_change_its_version_accounts_for(
    after: dict[str, Any],
) -> None:
    assert versioning_problem(BEFORE, after) is None
