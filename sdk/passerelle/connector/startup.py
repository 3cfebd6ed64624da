"""What `passerelle serve` and `passerelle config check --connect` check before they run: the
store opens, the back end answers, the port is free; and the summary `serve` prints once all is.

Each failure is a `StartupError`: one line naming what failed and where, secrets masked, that
the commands print instead of a traceback (and exit with status 2). Every check gives up within
a few seconds, so a wrong address never hangs a start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from passerelle._version import __version__
from passerelle.backend.errors import redact
from passerelle.clock import Clock
from passerelle.connector.config import BackendSettings, Settings, redact_url
from passerelle.connector.store import DeliveryStore, StoreError, open_store
from passerelle.connector.store.migrations import Backend, newer_schema
from passerelle.plugins import PluginInfo
from passerelle.serving import listening_socket

__all__ = [
    "CONNECT_TIMEOUT",
    "StartupError",
    "check_backend",
    "listen",
    "open_checked_store",
    "probe_store",
    "serve_summary",
]

CONNECT_TIMEOUT = 2.0
"""Seconds a start-up check waits for the store's database or the back end to answer."""


class StartupError(Exception):
    """Something the connector needs is not there; the message is one line saying what, where."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def open_checked_store(
    url: str, *, clock: Clock | None = None, timeout: float = CONNECT_TIMEOUT
) -> DeliveryStore:
    """The store at `url`, opened; a database that does not answer within `timeout` seconds or
    a file that cannot be opened is a `StartupError`."""
    where = redact_url(url)
    password = urlsplit(url).password or ""
    if url.partition(":")[0] in ("postgresql", "postgres"):
        _reach_postgres(url, where, password, timeout)
    try:
        return open_store(url, clock=clock)
    except (StoreError, OSError, ValueError) as exc:
        reason = _one_line(redact(str(exc), [password]))
        if url.startswith("sqlite:///"):
            raise StartupError(_sqlite_problem(url, reason)) from None
        raise StartupError(f"store {where}: {reason}") from None


def probe_store(url: str, *, timeout: float = CONNECT_TIMEOUT) -> str:
    """Check, changing nothing, that the store at `url` can be opened; say how it stands
    (`StartupError` if it cannot). A SQLite file not made yet is fine where it can be made."""
    if url.partition(":")[0] in ("postgresql", "postgres"):
        version = _reach_postgres(url, redact_url(url), urlsplit(url).password or "", timeout)
        _refuse_newer_schema("postgresql", f"PostgreSQL store {redact_url(url)}", version)
        return "answers"
    path = Path(url[len("sqlite:///") :])
    if not path.exists():
        if not path.parent.is_dir():
            raise StartupError(_sqlite_problem(url, ""))
        if not os.access(path.parent, os.W_OK):
            raise StartupError(
                f"store: cannot create the SQLite file {path}: the folder {path.parent} is"
                " not writable"
            )
        return "not made yet; serve will create it"
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            made = db.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_version'"
            ).fetchone()[0]
            version = (
                db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
                if made
                else 0
            )
    except sqlite3.Error as exc:
        raise StartupError(_sqlite_problem(url, str(exc))) from None
    _refuse_newer_schema("sqlite", f"SQLite store {path}", int(version))
    return "opens"


def _refuse_newer_schema(backend: Backend, store: str, version: int) -> None:
    # serve refuses such a store; saying so here spares finding out at start-up.
    newer = newer_schema(backend, store, version)
    if newer:
        raise StartupError(f"store: {newer}")


def _reach_postgres(url: str, where: str, password: str, timeout: float) -> int:
    """The schema version of the PostgreSQL store at `url` (0 before its first start)."""
    # The store's pool retries for long in the background and then says only that it gave up:
    # one plain connection attempt says why, and soon.
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout))) as connection:
            made = connection.execute("SELECT to_regclass('schema_version')").fetchone()
            row = (
                connection.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version"
                ).fetchone()
                if made and made[0] is not None
                else None
            )
    except psycopg.Error as exc:
        reason = _one_line(redact(str(exc), [password]))
        raise StartupError(f"store: cannot reach PostgreSQL at {where}: {reason}") from None
    return int(row[0]) if row else 0


def _sqlite_problem(url: str, reason: str) -> str:
    path = Path(url[len("sqlite:///") :])
    folder = path.parent
    if not folder.is_dir():
        return f"store: cannot open the SQLite file {path}: the folder {folder} does not exist"
    return f"store: cannot open the SQLite file {path}: {reason.rpartition(': ')[2]}"


def check_backend(backend: BackendSettings, *, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise `StartupError` unless the back end's host accepts a connection within `timeout`
    seconds. Nothing is sent: a connector that cannot even connect is told at once, and the
    back end sees no request it did not ask for."""
    url = urlsplit(backend.url)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        raise StartupError(
            f"back end: cannot connect to {redact_url(backend.url)} ({host} port {port}): "
            f"{_one_line(reason)}"
        ) from None


def listen(host: str, port: int, *, what: str) -> socket.socket:
    """`passerelle.serving.listening_socket` for `what` (the receiver, the health checks); a
    port already taken, or an address not of this machine, is a `StartupError`."""
    try:
        return listening_socket(host, port)
    except OSError as exc:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = (exc.strerror or str(exc)).lower()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is already taken by another process"
        raise StartupError(f"{what}: cannot listen on {where}: {reason}") from None


def serve_summary(
    settings: Settings,
    plugins: Sequence[PluginInfo],
    *,
    role: str,
    listening: str | None,
) -> list[str]:
    """What `serve` runs, in a few lines, secrets masked: version, plugins, stores per
    platform, back end, store and where it listens."""
    backend = settings.backend
    by_platform: dict[str, list[str]] = {}
    for entry in settings.stores:
        by_platform.setdefault(entry.platform, []).append(entry.id)
    stores = "; ".join(
        f"{platform}: {', '.join(ids)}" for platform, ids in sorted(by_platform.items())
    )
    shown = ", ".join(
        f"{info.name} {info.version}"
        + (f" ({', '.join(info.platforms)})" if info.platforms else "")
        for info in plugins
    )
    return [
        f"passerelle {__version__}, role {role}",
        f"  plugins     {shown or 'none'}",
        f"  stores      {stores or 'none configured: every webhook will be answered 404'}",
        f"  back end    {redact_url(backend.url)} as merchant {backend.merchant}",
        f"  store       {settings.store.redacted_url}",
        f"  listening   {listening or 'no HTTP (set [dispatcher] health_port to answer /readyz)'}",
    ]
