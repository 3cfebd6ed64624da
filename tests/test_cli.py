"""The `passerelle` command: its version and the `plugins` listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from packaging.specifiers import SpecifierSet
from typer.testing import CliRunner

from passerelle._version import __version__
from passerelle.cli import app
from passerelle.compatibility import PLUGIN_API_VERSION

DISTS = Path(__file__).parent / "fixtures" / "plugin_dist"

EXAMPLE = {
    "name": "example",
    "distribution": "passerelle-example",
    "version": "1.2.3",
    "platforms": ["example", "example-files"],
    "hooks": ["order_shipped", "register_platforms"],
    "plugin_api": None,
}


pytestmark = pytest.mark.usefixtures("isolated_plugin_imports")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for variable in ("PASSERELLE_LOAD_PLUGINS", "PASSERELLE_DISABLE_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("PASSERELLE_TRACE_PLUGINS", raising=False)
    # Wide enough that the table keeps every cell on one line.
    return CliRunner(env={"COLUMNS": "200"})


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == "passerelle 0.1.0\n"
    assert __version__ == "0.1.0"


def test_without_a_command_help_is_shown(runner: CliRunner) -> None:
    result = runner.invoke(app, [])

    assert "plugins" in result.stdout
    assert "--version" in result.stdout


def test_plugins_json_lists_the_installed_plugin(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "example"))

    result = runner.invoke(app, ["plugins", "--json"])

    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert EXAMPLE in listed
    assert [entry["name"] for entry in listed] == sorted(entry["name"] for entry in listed)


def test_plugins_json_is_empty_when_nothing_is_loaded(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "example"))
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "")

    result = runner.invoke(app, ["plugins", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_plugins_json_leaves_out_a_disabled_plugin(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "example"))
    monkeypatch.setenv("PASSERELLE_DISABLE_PLUGINS", "passerelle-example")

    result = runner.invoke(app, ["plugins", "--json"])

    assert result.exit_code == 0, result.output
    assert "example" not in [entry["name"] for entry in json.loads(result.stdout)]


def test_plugins_table(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "example"))
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "example")

    result = runner.invoke(app, ["plugins"])

    assert result.exit_code == 0, result.output
    header, row = (
        [cell.strip() for cell in line.strip("┃│ ").split("┃" if "┃" in line else "│")]
        for line in result.stdout.splitlines()
        if "┃" in line or "│" in line
    )
    assert header == ["Name", "Distribution", "Version", "Plugin API", "Platforms", "Hooks"]
    assert row == [
        "example",
        "passerelle-example",
        "1.2.3",
        "any",
        "example, example-files",
        "order_shipped, register_platforms",
    ]


def test_plugins_table_without_plugins(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "")

    result = runner.invoke(app, ["plugins"])

    assert result.exit_code == 0
    assert result.stdout == "No plugins.\n"


def test_plugins_reports_a_rejected_plugin(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "typo"))
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "typo")

    result = runner.invoke(app, ["plugins", "--json"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: plugin 'typo' (passerelle-typo 0.1.0) implements unknown hook 'order_shiped'; "
        "did you mean 'order_shipped'?\n"
    )


def test_plugins_refuses_a_plugin_made_for_another_plugin_api_in_one_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "future"))

    result = runner.invoke(app, ["plugins"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: plugin 'future' (passerelle-future 3.0.0) cannot load: it requires plugin API "
        f">=2.0,<3, and this passerelle has {PLUGIN_API_VERSION}; install a release of it made "
        f"for plugin API {PLUGIN_API_VERSION}, or disable it with PASSERELLE_DISABLE_PLUGINS\n"
    )


def test_the_shipped_plugins_declare_the_plugin_api_they_work_with(runner: CliRunner) -> None:
    result = runner.invoke(app, ["plugins", "--json"])

    assert result.exit_code == 0, result.output
    declared = {entry["name"]: entry["plugin_api"] for entry in json.loads(result.stdout)}
    for name in ("shopify", "woocommerce", "sage"):
        assert SpecifierSet(declared[name]).contains(PLUGIN_API_VERSION), (name, declared)


@pytest.mark.slow
def test_console_script_traces_hook_calls_on_stderr() -> None:
    script = Path(sys.executable).with_name("passerelle")
    env = {
        **os.environ,
        "PYTHONPATH": str(DISTS / "example"),
        "PASSERELLE_LOAD_PLUGINS": "example",
        "PASSERELLE_TRACE_PLUGINS": "1",
    }
    env.pop("PASSERELLE_DISABLE_PLUGINS", None)

    result = subprocess.run(
        [str(script), "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [EXAMPLE]
    assert result.stderr == (
        "passerelle.plugins: call register_platforms(register) -> example\n"
        "passerelle.plugins: done register_platforms\n"
    )


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in getattr(group, "commands", {}).items():
        yield from _command_paths(command, (*prefix, name))


def test_no_help_shows_a_type_for_a_flag(runner: CliRunner) -> None:
    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("actions", "list") in paths
    assert ("serve",) in paths

    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, path
    # A flag shows none; an option that takes a value still shows its type.
    assert "<int>" in runner.invoke(app, ["serve", "--help"]).stdout


def test_serve_takes_c_like_the_other_commands(runner: CliRunner) -> None:
    for path in (("serve",), ("status",), ("actions", "list"), ("config", "check")):
        assert "-c" in runner.invoke(app, [*path, "--help"]).stdout.split(), path
