"""A PostgreSQL cluster of a test's own, from the installed server's `initdb` and `pg_ctl`, on a
free port in a temporary folder: a test may kill its postmaster without touching anyone else's
database."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from .support import free_port


def server_binaries() -> Path | None:
    """The folder of the installed server's `initdb` and `pg_ctl`, or None."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, check=True)
            candidates.append(Path(out.stdout.decode().strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


class PrivateCluster:
    """`initdb` into a fresh folder, then `start`, `kill` (SIGKILL of the postmaster and its
    children, as a crash would) and `start` again. The server refuses to run as root: as root,
    it runs as the `postgres` user."""

    def __init__(self, binaries: Path) -> None:
        self._bin = binaries
        self.port = free_port()
        self._as: list[str] = []
        self._folder = Path(tempfile.mkdtemp(prefix="passerelle-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self._folder, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.data = self._folder / "data"
        self.log = self._folder / "server.log"
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E",
            "UTF8",
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._folder}"
            " -c fsync=off -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def kill(self) -> None:
        """SIGKILL the postmaster and every process it started; return once the port is
        closed."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = [p for p in _processes() if _parent(p) == pid]
        os.kill(pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _accepts(self.port) or any(_alive(p) for p in [pid, *children]):
            if time.monotonic() > deadline:
                raise AssertionError("the killed PostgreSQL still answers")
            time.sleep(0.02)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def remove(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.remove()

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self._bin / program), *args],
            check=True,
            capture_output=True,
            cwd=self._folder,
        )


def _processes() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
