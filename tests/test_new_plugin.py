"""`passerelle new-plugin`: the distribution it writes passes its own contract suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from passerelle.cli import app

runner = CliRunner()


def test_the_written_plugin_passes_its_contract_suite_and_registers(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new-plugin", "acme", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "passerelle-acme"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["passerelle"] == {"acme": "passerelle_acme"}
    assert "[testenv:acme]" in (root / "tox.ini").read_text()

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
    assert "skipped" not in tests.stdout
    assert "contract suite: 1 of 1 samples have golden expectations" in tests.stdout

    # What installing the distribution leaves beside the package: its metadata and the entry
    # points its pyproject declares (no build backend is needed for that).
    site = tmp_path / "site"
    info = site / "passerelle_acme-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: passerelle-acme\nVersion: 0.1.0\n")
    points = project["project"]["entry-points"]["passerelle"]
    (info / "entry_points.txt").write_text(
        "[passerelle]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("passerelle")), "plugins", "--json"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(site)])},
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    (acme,) = [p for p in json.loads(listing.stdout) if p["name"] == "acme"]
    assert acme["platforms"] == ["acme"]


@pytest.mark.parametrize("name", ["Acme", "1acme", "ac-me", "", "a" * 32])
def test_a_name_that_cannot_be_a_platform_is_refused_and_nothing_written(
    tmp_path: Path, name: str
) -> None:
    result = runner.invoke(app, ["new-plugin", name, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "lower-case letters and digits" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "passerelle-acme").mkdir()
    result = runner.invoke(app, ["new-plugin", "acme", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert list((tmp_path / "passerelle-acme").iterdir()) == []
