"""`passerelle serve`: run the connector (receiver, dispatcher, action-center API) under uvicorn."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from passerelle.connector.config import ConfigError, Settings
from passerelle.connector.logs import LogFormat, LogLevel, configure_logging
from passerelle.connector.runtime import Role, build_connector

_SWITCH_INTERVAL = 0.0005


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
    log_format: Annotated[
        LogFormat,
        typer.Option(help="text: a line for people; json: an object a line, for a log collector."),
    ] = LogFormat.TEXT,
) -> None:
    """Run the connector until interrupted; SIGTERM or Ctrl-C finishes in-flight work first."""
    try:
        settings = Settings.load(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    configure_logging(log_level, log_format)
    # The store's writer thread and the dispatcher's workers need the GIL for moments at a time,
    # between commits and back-end calls, while the event loop holds it for long stretches.
    # CPython makes a waiting thread wait a whole switch interval (5 ms by default) before the
    # holder must let go, and every commit waits that long several times over; 0.5 ms bounds
    # the wait at little cost to the loop.
    sys.setswitchinterval(_SWITCH_INTERVAL)
    connector = build_connector(settings, role=role)
    if role is Role.DISPATCHER:
        # A dispatcher without a probe could lose its workers unseen: it always answers one.
        host = host or settings.dispatcher.health_host
        port = port or settings.dispatcher.health_port
    # uvicorn raises the signal that stopped it again once its graceful shutdown is over; without
    # a handler of ours that SIGTERM would kill the process (status -15) after a clean stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = uvicorn.Server(
        server_config(
            connector.asgi(),
            host or settings.receiver.host,
            port or settings.receiver.port,
            log_level=log_level,
        )
    )
    server.run()


def server_config(app: Any, host: str, port: int, *, log_level: str = "info") -> uvicorn.Config:
    """How `serve` runs an ASGI app under uvicorn (the ingest benchmark's peer runs alike)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level=log_level,
        # uvicorn's own lines go through the process's handler, in its format (JSON included).
        log_config=None,
        # The receiver logs what became of each delivery (refusals at INFO, the rest at DEBUG):
        # an access log would repeat it, at INFO, at a cost every delivery pays.
        access_log=False,
        timeout_graceful_shutdown=30,
    )
