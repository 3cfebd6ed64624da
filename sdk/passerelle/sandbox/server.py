"""Run the sandbox on a real port: in the foreground for the CLI, or in a thread for tests."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from passerelle.sandbox.app import create_app, sandbox_of
from passerelle.sandbox.faults import DROP_CONNECTION
from passerelle.sandbox.state import Sandbox, SandboxConfig
from passerelle.serving import BackgroundServer

__all__ = ["SandboxServer", "run_sandbox"]


class _SandboxProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, letting the app close its connection without answering.

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
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_SandboxProtocol,
        lifespan="off",
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=5,
    )


def run_sandbox(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    log_level: str = "info",
) -> None:
    """Serve a sandbox in the foreground until interrupted (Ctrl-C)."""
    app = create_app(config)
    try:
        uvicorn.Server(_config(app, host, port, log_level=log_level, access_log=True)).run()
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
    ) -> None:
        app = create_app(config)
        self.state: Sandbox = sandbox_of(app)
        super().__init__(
            app, host=host, port=port, lifespan="off", log_level=log_level, http=_SandboxProtocol
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
