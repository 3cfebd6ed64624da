"""`passerelle serve`: run the connector (receiver, dispatcher, action-center API) under uvicorn."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from passerelle.connector.config import ConfigError, Settings
from passerelle.connector.runtime import Connector, Role, build_connector
from passerelle.serving import ClientLimits, raise_file_limit, uvicorn_config

_SWITCH_INTERVAL = 0.0005


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The configuration file (default: $PASSERELLE_CONFIG or ./passerelle.toml).",
        ),
    ] = None,
    role: Annotated[
        Role,
        typer.Option(
            help="all: receive and dispatch; receiver or dispatcher: one half, for scale-out."
        ),
    ] = Role.ALL,
    host: Annotated[
        str | None,
        typer.Option(
            help="Listen address (default: \\[receiver] host; \\[dispatcher] health_host for the "
            "dispatcher role)."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Listen port (default: \\[receiver] port; \\[dispatcher] health_port for the "
            "dispatcher role, which serves no HTTP without one)."
        ),
    ] = None,
    log_level: Annotated[
        LogLevel,
        typer.Option(help="debug adds a line per stored delivery; info logs those refused."),
    ] = LogLevel.INFO,
) -> None:
    """Run the connector until interrupted; SIGTERM or Ctrl-C finishes in-flight work first."""
    try:
        settings = Settings.load(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The store's writer thread and the dispatcher's workers need the GIL for moments at a time,
    # between commits and back-end calls, while the event loop holds it for long stretches.
    # CPython makes a waiting thread wait a whole switch interval (5 ms by default) before the
    # holder must let go, and every commit waits that long several times over; 0.5 ms bounds
    # the wait at little cost to the loop.
    sys.setswitchinterval(_SWITCH_INTERVAL)
    _raise_file_limit()
    connector = build_connector(settings, role=role)
    if role is Role.DISPATCHER:
        host = host or settings.dispatcher.health_host
        port = port or settings.dispatcher.health_port
        if port is None:
            logging.getLogger("passerelle.connector").info(
                "no health checks: set [dispatcher] health_port (or --port) to answer /readyz"
            )
            _dispatch_until_stopped(connector)
            return
    # uvicorn raises the signal that stopped it again once its graceful shutdown is over; without
    # a handler of ours that SIGTERM would kill the process (status -15) after a clean stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = uvicorn.Server(
        server_config(
            connector.asgi(),
            host or settings.receiver.host,
            port or settings.receiver.port,
            log_level=log_level,
            limits=settings.receiver.client_limits(),
        )
    )
    server.run()


def server_config(
    app: Any, host: str, port: int, *, log_level: str = "info", limits: ClientLimits | None = None
) -> uvicorn.Config:
    """How `serve` runs an ASGI app under uvicorn (the ingest benchmark's peer runs alike)."""
    return uvicorn_config(
        app,
        host=host,
        port=port,
        limits=limits,
        lifespan="on",
        log_level=log_level,
        # The receiver logs what became of each delivery (refusals at INFO, the rest at DEBUG):
        # an access log would repeat it, at INFO, at a cost every delivery pays.
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def _raise_file_limit() -> None:
    raised = raise_file_limit()
    if raised is not None:
        before, soft, hard = raised
        logging.getLogger("passerelle.server").info(
            "open-file limit: soft %d (was %d), hard %d", soft, before, hard
        )


def _dispatch_until_stopped(connector: Connector) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    connector.start()
    try:
        stop.wait()
    finally:
        connector.close()
