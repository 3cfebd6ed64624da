"""Run the sandbox on a real port: in the foreground for the CLI, or in a thread for tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from passerelle.sandbox.app import create_app, sandbox_of
from passerelle.sandbox.db import SandboxDBError
from passerelle.sandbox.faults import DROP_CONNECTION
from passerelle.sandbox.state import Sandbox, SandboxConfig
from passerelle.serving import BackgroundServer, ClientLimits, GuardedHttpProtocol, uvicorn_config

__all__ = ["SandboxServer", "SandboxStartError", "run_sandbox"]


class SandboxStartError(Exception):
    """The sandbox cannot start: its database cannot be opened, or its address is taken."""


class _SandboxProtocol(GuardedHttpProtocol):
    """The project's HTTP/1.1 protocol (see `passerelle.serving`), letting the app close its
    connection without answering.

    Fault injection needs a connection that ends with no response at all, as when a process dies
    or a network drops; ASGI has no message for that, so the connection's own close is handed to
    the app in the scope's ``state``.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app_state = {**self.app_state, DROP_CONNECTION: transport.close}


def _config(
    app: FastAPI, host: str, port: int, *, log_level: str, access_log: bool
) -> uvicorn.Config:
    return uvicorn_config(
        app,
        host=host,
        port=port,
        protocol=_SandboxProtocol,
        lifespan="off",
        log_level=log_level,
        access_log=access_log,
    )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` (as uvicorn binds it), so that a taken address is known
    before anything is announced."""
    sock: socket.socket | None = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise SandboxStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run_sandbox(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    log_level: str = "info",
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a sandbox in the foreground until interrupted (Ctrl-C).

    Opens the database and binds the address first, raising `SandboxStartError` when either
    fails; then calls `ready(url)` and serves.
    """
    try:
        app = create_app(config)
    except SandboxDBError as exc:
        raise SandboxStartError(str(exc)) from None
    try:
        sock = _bind(host, port)
        with sock:
            bound_port = sock.getsockname()[1]
            if ready is not None:
                ready(f"http://{host}:{bound_port}")
            server = uvicorn.Server(_config(app, host, port, log_level=log_level, access_log=True))
            server.run(sockets=[sock])
    finally:
        sandbox_of(app).close()


class SandboxServer(BackgroundServer):
    """A sandbox served by uvicorn in a background thread, on a free port unless `port` is given.

    ``with SandboxServer() as sandbox: BackendClient(sandbox.url, ...)``. `sandbox.state` reaches
    the state behind it (clock, faults, database) for tests that set the time or inject faults.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        limits: ClientLimits | None = None,
    ) -> None:
        app = create_app(config)
        self.state: Sandbox = sandbox_of(app)
        super().__init__(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level=log_level,
            limits=limits,
            protocol=_SandboxProtocol,
        )

    def stop(self) -> None:
        """Stop serving, wait for requests in flight, and close the database."""
        super().stop()
        self.state.close()

    def __repr__(self) -> str:
        try:
            where = self.url
        except RuntimeError:
            where = "not started"
        return f"<SandboxServer {where}>"
