"""`passerelle serve`: run the connector (receiver, dispatcher, action-center API) under uvicorn."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from passerelle.connector.config import ConfigError, Settings
from passerelle.connector.runtime import Connector, Role, build_connector


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
            help="Listen address (default: [receiver] host; [dispatcher] health_host for the "
            "dispatcher role)."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Listen port (default: [receiver] port; [dispatcher] health_port for the "
            "dispatcher role, which serves no HTTP without one)."
        ),
    ] = None,
) -> None:
    """Run the connector until interrupted; SIGTERM or Ctrl-C finishes in-flight work first."""
    try:
        settings = Settings.load(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    uvicorn.run(
        connector.asgi(),
        host=host or settings.receiver.host,
        port=port or settings.receiver.port,
        lifespan="on",
        log_level="info",
        timeout_graceful_shutdown=30,
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
