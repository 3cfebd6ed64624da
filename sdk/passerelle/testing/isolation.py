"""What a plugin may not reach behind the contract suite's back: the network and the clock.

`no_sockets` refuses every connection while `translate` runs; `connections_at_import` imports a
plugin's modules afresh, in another interpreter, with sockets refused; `clock_at` stands the
clock (`time.time`, `datetime.now`, and so `passerelle.clock.SystemClock`) at a given time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import freezegun

__all__ = ["clock_at", "connections_at_import", "no_sockets"]


class SocketBlockedError(ConnectionRefusedError):
    """A connection a plugin tried to open by itself while the suite watched."""


@contextlib.contextmanager
def no_sockets(opened: list[str]) -> Iterator[None]:
    """Refuse every connection and name lookup, noting each in `opened`: a plugin reaches its
    platform only through `TranslationContext.http`."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        target = next((a for a in args if isinstance(a, tuple | str)), "?")
        opened.append(str(target))
        raise SocketBlockedError(f"the contract suite blocks sockets: {target}")

    saved = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved  # type: ignore[method-assign]


# Run by a fresh interpreter: imports the modules named in argv[1] (JSON) under `no_sockets` and
# prints, as JSON, each connection tried (even one the module caught) and what failed.
_IMPORTER: Final = """
import importlib, json, sys
from passerelle.testing.isolation import no_sockets
opened, failed = [], None
with no_sockets(opened):
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed = f"{name}: {type(exc).__name__}: {exc}"
            break
print(json.dumps({"opened": opened, "failed": failed}))
"""


def connections_at_import(modules: list[str]) -> tuple[list[str], str | None]:
    """Import `modules` in a fresh interpreter (this one's path) with sockets refused: the
    connections tried, and what failed to import (None when all did)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(  # noqa: S603 - this interpreter, the suite's own script
        [sys.executable, "-c", _IMPORTER, json.dumps(modules)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode or not lines:
        return [], f"{' '.join(modules)}: the interpreter ended with {result.stderr.strip()[-500:]}"
    found = json.loads(lines[-1])
    return list(found["opened"]), found["failed"]


@contextlib.contextmanager
def clock_at(when: datetime) -> Iterator[None]:
    """The clock stands at `when`: `time.time`, `datetime.now`, `date.today` and the SDK's
    `SystemClock`, in every module, whichever way it imported them."""
    # Only the suite's own code and the plugin run inside: nothing that must see real time.
    with freezegun.freeze_time(when, tick=False):
        yield
