"""`passerelle serve`: run the connector (receiver, dispatcher, action-center API) under uvicorn."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from passerelle.connector.config import Settings
from passerelle.connector.config_sources import ConfigError
from passerelle.connector.dispatcher_process import watch_parent
from passerelle.connector.logs import LogFormat, LogLevel, configure_logging
from passerelle.connector.metrics import MULTIPROCESS_ENV, count_across_processes
from passerelle.connector.runtime import Connector, Role, build_connector
from passerelle.connector.startup import (
    StartupError,
    check_backend,
    listen,
    open_checked_store,
    serve_summary,
)
from passerelle.plugins import PluginError, default_plugins
from passerelle.serving import ClientLimits, raise_file_limit, socket_url, uvicorn_config

_SWITCH_INTERVAL = 0.0005


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
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
            "dispatcher role)."
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
    supervised: Annotated[
        bool,
        typer.Option(
            "--supervised",
            hidden=True,
            help="A dispatcher started by `serve`: woken through standard input, and stopped"
            " when it ends.",
        ),
    ] = False,
) -> None:
    """Run the connector until interrupted; SIGTERM or Ctrl-C finishes in-flight work first.

    With role all on PostgreSQL, the dispatcher runs in a process of its own, which this one
    restarts if it exits and stops when it stops; their log lines go to the same output."""
    try:
        settings = Settings.load(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    own_process = role is Role.ALL and _dispatches_apart(settings)
    with _metrics_shared_with_dispatcher(own_process):
        _serve(settings, config, role, host, port, log_level, log_format, supervised, own_process)


def _serve(
    settings: Settings,
    config: Path | None,
    role: Role,
    host: str | None,
    port: int | None,
    log_level: LogLevel,
    log_format: LogFormat,
    supervised: bool,
    own_process: bool,
) -> None:
    configure_logging(log_level, log_format)
    # The store's writer thread and the dispatcher's workers need the GIL for moments at a time,
    # between commits and back-end calls, while the event loop holds it for long stretches.
    # CPython makes a waiting thread wait a whole switch interval (5 ms by default) before the
    # holder must let go, and every commit waits that long several times over; 0.5 ms bounds
    # the wait at little cost to the loop.
    sys.setswitchinterval(_SWITCH_INTERVAL)
    # Raised before the store opens its files; told once the start-up checks have passed, so
    # that a refusal stays one line.
    raised = raise_file_limit()
    if supervised:
        # Its supervisor watches the process itself; its probe is for nobody, on any free port.
        host, port = "127.0.0.1", 0
    elif role is Role.DISPATCHER:
        # A dispatcher without a probe could lose its workers unseen: it always answers one.
        host = host or settings.dispatcher.health_host
        port = port or settings.dispatcher.health_port
    else:
        host = host or settings.receiver.host
        port = port or settings.receiver.port
    dispatcher = _dispatcher_command(config, log_level, log_format) if own_process else None
    try:
        connector, sock = _start_checked(settings, role, host, port, dispatcher)
    except StartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    summary = serve_summary(
        settings, connector.plugins.list_plugins(), role=role.value, listening=socket_url(sock)
    )
    typer.echo("\n".join(summary))
    if raised is not None:
        before, soft, hard = raised
        logging.getLogger("passerelle.server").info(
            "open-file limit: soft %d (was %d), hard %d", soft, before, hard
        )
    # uvicorn raises the signal that stopped it again once its graceful shutdown is over; without
    # a handler of ours that SIGTERM would kill the process (status -15) after a clean stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if supervised and (workers := connector.dispatcher) is not None:
        watch_parent(workers.wake, lambda: workers.workers_running() >= workers.policy.workers)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(
        server_config(
            connector.asgi(),
            host,
            bound,
            log_level=log_level,
            limits=settings.receiver.client_limits(),
        )
    )
    server.run(sockets=[sock])


def _dispatcher_command(
    config: Path | None, log_level: LogLevel, log_format: LogFormat
) -> list[str]:
    """How `serve` (role all) starts its dispatcher: this command's own, role dispatcher."""
    command = [sys.executable, "-c", "from passerelle.cli import main; main()", "serve"]
    command += ["--role", "dispatcher", "--supervised"]
    command += ["--log-level", log_level.value, "--log-format", log_format.value]
    return command + ([] if config is None else ["--config", str(config.resolve())])


def _dispatches_apart(settings: Settings) -> bool:
    """Whether role all runs its dispatcher in a process of its own: on PostgreSQL. A SQLite
    file has one writer at a time: in one process the receiver's and the dispatcher's writes
    share each commit (group commit), where two processes would take turns at the file's lock,
    each waiting in SQLite's busy handler (a millisecond and more a turn)."""
    return settings.store.url.partition(":")[0] in ("postgresql", "postgres")


@contextmanager
def _metrics_shared_with_dispatcher(own_process: bool) -> Iterator[None]:
    """With a dispatcher process, and no ``PROMETHEUS_MULTIPROC_DIR`` set, count in a folder of
    this command's own, which the dispatcher's process shares: ``/metrics`` then tells what both
    did. The folder is removed when the command ends."""
    if not own_process or os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="passerelle-metrics-")
    count_across_processes(folder)
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _start_checked(
    settings: Settings,
    role: Role,
    host: str,
    port: int,
    dispatcher_command: list[str] | None = None,
) -> tuple[Connector, socket.socket]:
    """The connector and the socket it is to serve on, once the port is free, the store opens
    and (for the roles that dispatch) the back end answers; `StartupError` otherwise."""
    what = "health checks" if role is Role.DISPATCHER else "receiver"
    sock = listen(host, port, what=what)
    try:
        store = open_checked_store(settings.store.url)
        try:
            if role is not Role.RECEIVER:
                check_backend(settings.backend)
            try:
                plugins = default_plugins()
            except PluginError as exc:
                raise StartupError(f"plugins: {exc}") from None
            connector = build_connector(
                settings,
                role=role,
                plugins=plugins,
                store=store,
                dispatcher_command=dispatcher_command,
            )
            return connector, sock
        except BaseException:
            store.close()
            raise
    except BaseException:
        sock.close()
        raise


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
        # uvicorn's own lines go through the process's handler, in its format (JSON included).
        log_config=None,
        # The receiver logs what became of each delivery (refusals at INFO, the rest at DEBUG):
        # an access log would repeat it, at INFO, at a cost every delivery pays.
        access_log=False,
        timeout_graceful_shutdown=30,
    )
