"""`passerelle serve` starting: one summary when all is there; when the store, the back end or
the port is not, one line naming what and where, exit status 2, and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from passerelle.compatibility import PLUGIN_API_VERSION
from passerelle.sandbox.server import SandboxServer

from .support import ConnectorConfig, ConnectorProcess, free_port, sqlite_url, subprocess_env

pytestmark = pytest.mark.slow

PASSERELLE = str(Path(sys.executable).with_name("passerelle"))
# Every check gives up after 2 s; this bounds the whole run, interpreter start included, on a
# busy machine.
BOUND = 15
FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port some other process holds."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held


def serve(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PASSERELLE, "serve", "-c", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )


def started(
    config: ConnectorConfig, folder: Path, plugin_site: Path, *, role: str = "all"
) -> ConnectorProcess:
    """`serve` of `config`, started."""
    path = config.write(folder / "passerelle.toml")
    log = folder / "connector.log"
    process = ConnectorProcess(path, subprocess_env(plugin_site), log, role=role, port=config.port)
    return process.start()


def refused(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: {line}\n"
    assert result.stdout == ""


def test_an_unreachable_postgresql_is_one_line(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    port = free_port()
    url = f"postgresql://passerelle:hunter2-secret@127.0.0.1:{port}/inbox"
    config = ConnectorConfig(sandbox.url, url).write(tmp_path / "passerelle.toml")

    result = serve(config, subprocess_env(plugin_site))

    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: store: cannot reach PostgreSQL at postgresql://***@127.0.0.1:{port}/inbox: "
    )
    assert "Connection refused" in line
    assert "hunter2-secret" not in result.stderr


def test_an_unopenable_sqlite_path_is_one_line(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    missing = tmp_path / "no-such-folder" / "inbox.db"
    config = ConnectorConfig(sandbox.url, sqlite_url(missing)).write(tmp_path / "passerelle.toml")

    refused(
        serve(config, subprocess_env(plugin_site)),
        f"store: cannot open the SQLite file {missing}: the folder {missing.parent} does not exist",
    )


def test_a_port_already_taken_is_one_line(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"), port=port)

    refused(
        serve(config.write(tmp_path / "passerelle.toml"), subprocess_env(plugin_site)),
        f"receiver: cannot listen on 127.0.0.1:{port}: the port is already taken by another"
        " process",
    )


def test_an_unreachable_back_end_is_one_line(tmp_path: Path, plugin_site: Path) -> None:
    port = free_port()
    config = ConnectorConfig(f"http://127.0.0.1:{port}", sqlite_url(tmp_path / "inbox.db"))

    refused(
        serve(config.write(tmp_path / "passerelle.toml"), subprocess_env(plugin_site)),
        f"back end: cannot connect to http://127.0.0.1:{port} (127.0.0.1 port {port}):"
        " Connection refused",
    )


def test_a_plugin_made_for_another_plugin_api_is_one_line(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    config = ConnectorConfig(sandbox.url, sqlite_url(tmp_path / "inbox.db"))
    env = subprocess_env(plugin_site)
    env["PYTHONPATH"] += os.pathsep + str(FIXTURES / "plugin_dist" / "future")
    env["PASSERELLE_LOAD_PLUGINS"] += ",future"

    refused(
        serve(config.write(tmp_path / "passerelle.toml"), env),
        "plugins: plugin 'future' (passerelle-future 3.0.0) cannot load: it requires plugin API "
        f">=2.0,<3, and this passerelle has {PLUGIN_API_VERSION}; install a release of it made "
        f"for plugin API {PLUGIN_API_VERSION}, or disable it with PASSERELLE_DISABLE_PLUGINS",
    )


def test_a_receiver_starts_without_the_back_end(tmp_path: Path, plugin_site: Path) -> None:
    # Only the dispatcher calls the back end: webhooks are taken while it is down.
    config = ConnectorConfig(f"http://127.0.0.1:{free_port()}", sqlite_url(tmp_path / "inbox.db"))
    process = started(config, tmp_path, plugin_site, role="receiver")
    with process:
        process.wait_ready()


def test_serve_prints_one_summary(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    inbox = tmp_path / "inbox.db"
    config = ConnectorConfig(sandbox.url, sqlite_url(inbox))
    with started(config, tmp_path, plugin_site) as process:
        process.wait_ready()
        output = process.output()

    assert (
        "passerelle 0.1.0, role all\n"
        "  plugins     test 0.1.0 (files, test)\n"
        "  stores      test: shop-1\n"
        f"  back end    {sandbox.url} as merchant demo\n"
        f"  store       sqlite:///{inbox}\n"
        f"  listening   http://127.0.0.1:{config.port}\n"
    ) in output
    assert output.count("passerelle 0.1.0, role all") == 1
    assert "Traceback" not in output
