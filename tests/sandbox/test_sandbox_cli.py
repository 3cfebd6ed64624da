"""``passerelle sandbox`` as a merchant runs it: the installed command on a real port, its state
in the ``--db`` file, and each fault option taking effect."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sandbox_support import new_order

from passerelle.backend.client import BackendClient
from passerelle.backend.errors import UnknownOrderError

TOKEN = "sk_cli"
MERCHANT = "cli-shop"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Passerelle-Merchant": MERCHANT}
# The console script installed beside this interpreter, as `pip install passerelle` makes it.
PASSERELLE = str(Path(sys.executable).with_name("passerelle"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """A sandbox command running in its own process."""

    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.process = process
        self.output = b""


@contextmanager
def serving(command: Sequence[str], db: Path, *options: str) -> Iterator[Served]:
    """Run `command` with a free ``--port``, ``--db`` and `options`; stop it afterwards (its
    output is then in `Served.output`)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            *command,
            "--port",
            str(port),
            "--db",
            str(db),
            "--token",
            f"{TOKEN}={MERCHANT}",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(served.url + "/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else b""
                    pytest.fail(f"the sandbox did not start: {output.decode(errors='replace')}")
                time.sleep(0.05)
        yield served
    finally:
        process.terminate()
        served.output, _ = process.communicate(timeout=10)
    # A service manager's SIGTERM: requests in flight finished, then the process ends as it was
    # told to. The token is never printed.
    assert b"Finished server process" in served.output, served.output.decode(errors="replace")
    assert process.returncode in (0, -signal.SIGTERM)
    assert TOKEN.encode() not in served.output


def get_order(url: str) -> httpx.Response:
    return httpx.get(url + "/v1/orders/A-100", headers=HEADERS, timeout=10)


def test_the_passerelle_command_serves_the_sandbox_and_keeps_its_state(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"

    with (
        serving([PASSERELLE, "sandbox"], db) as first,
        BackendClient(first.url, TOKEN, MERCHANT) as backend,
    ):
        with pytest.raises(UnknownOrderError):
            backend.get_order("A-100")
        backend.create_order(new_order())
    with (
        serving([PASSERELLE, "sandbox"], db) as second,
        BackendClient(second.url, TOKEN, MERCHANT) as backend,
    ):
        kept = backend.get_order("A-100")

    assert kept.reference == "A-100"
    assert f"Sandbox payment back end on {first.url} for merchants: cli-shop".encode() in (
        first.output
    )
    assert f"State: {db}".encode() in first.output


def test_a_latency_option_slows_every_request(tmp_path: Path) -> None:
    with serving([PASSERELLE, "sandbox"], tmp_path / "s.db", "--fault-latency", "400") as served:
        started = time.monotonic()
        answer = get_order(served.url)
        elapsed = time.monotonic() - started

    assert answer.status_code == 404
    assert elapsed >= 0.4
    assert b'Faults: {"latency_ms":400}' in served.output


def test_a_throttle_option_answers_429_with_retry_after(tmp_path: Path) -> None:
    options = ("--fault-throttle-rate", "1", "--fault-retry-after", "7", "--fault-limit", "1")
    with serving([PASSERELLE, "sandbox"], tmp_path / "s.db", *options) as served:
        throttled = get_order(served.url)
        after = get_order(served.url)

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert throttled.json()["code"] == "rate_limited"
    assert after.status_code == 404


def test_a_drop_option_closes_connections_without_an_answer(tmp_path: Path) -> None:
    options = ("--fault-drop-rate", "1", "--fault-limit", "1")
    with serving([PASSERELLE, "sandbox"], tmp_path / "s.db", *options) as served:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            get_order(served.url)
        after = get_order(served.url)

    assert after.status_code == 404


def test_the_module_runs_the_same_command(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "passerelle.sandbox.cli"]
    options = ("--fault-error-rate", "1", "--fault-limit", "1")
    with serving(command, tmp_path / "s.db", *options) as served:
        failed = get_order(served.url)
        after = get_order(served.url)

    assert failed.status_code == 500
    assert after.status_code == 404
    assert after.json()["code"] == "unknown_order"


def test_fault_rates_adding_up_past_one_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [PASSERELLE, "sandbox", "--fault-error-rate", "0.6", "--fault-drop-rate", "0.6"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "the fault rates add up to 1.2, more than 1" in result.stderr


def run_sandbox_command(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PASSERELLE, "sandbox", *options], capture_output=True, text=True, timeout=30
    )


def test_a_db_in_a_missing_directory_is_one_line_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "sandbox.db"

    result = run_sandbox_command("--port", str(_free_port()), "--db", str(db))

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"error: cannot open {db}: the directory {db.parent} does not exist\n")


def test_a_db_that_is_not_sqlite_is_one_line_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("not a database, just long enough to have a header of its own\n" * 4)

    result = run_sandbox_command("--port", str(_free_port()), "--db", str(db))

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: {db} is not a SQLite database\n"


def test_a_port_already_taken_is_one_line_and_no_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_sandbox_command("--port", str(port), "--db", str(tmp_path / "s.db"))

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_the_sandbox_raises_its_open_file_limit_to_the_hard_one(
    tmp_path: Path, lowered_file_limit: int
) -> None:
    with serving([PASSERELLE, "sandbox"], tmp_path / "s.db") as served:
        limits = Path(f"/proc/{served.process.pid}/limits").read_text()
        # The process was started with the lowered limit: it lifted it itself.
        lifted = [line.split()[3:5] for line in limits.splitlines() if "open files" in line]

    hard = lowered_file_limit
    assert lifted == [[str(hard), str(hard)]]
    assert f"Open-file limit: soft {hard} (was 1000), hard {hard}".encode() in served.output
