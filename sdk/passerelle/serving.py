"""Serve an ASGI app with uvicorn, guarded against slow and too many clients.

Every HTTP server of the project (the connector's receiver and action-center API, the sandbox)
is built by `uvicorn_config`, which gives uvicorn `GuardedHttpProtocol` as its HTTP protocol.

Why a protocol and not ASGI middleware: an ASGI app is called only once a request's headers are
complete, so it cannot see a client that trickles its headers, nor one that opens a connection and
says nothing; and uvicorn has no header or body timeout of its own (its keep-alive timeout only
covers the idle time after an answer). The protocol sees every byte as it arrives, so the guard
lives there, as a subclass of uvicorn's httptools protocol (the parser uvicorn picks itself when
httptools is installed, as it is with Passerelle), with three rules from `ClientLimits`:

- **Headers**: a request's headers must be complete within `header_timeout` of the connection
  opening (or of the request's first byte on a kept-alive connection).
- **Body**: the body must be complete within `body_timeout` plus one second per `body_min_rate`
  bytes received (Apache's ``mod_reqtimeout`` rule): a large body sent at a fair rate passes, a
  trickle does not. Time during which the server itself stopped reading (flow control) does not
  count against the client.
- A client that breaks either rule is answered ``408 Request Timeout`` (unless an answer has
  begun, in which case the connection is only closed) and its connection is closed; the app,
  if it was reading the body, sees the client leave.
- **Connections**: at most `max_connections` at once; one more is closed as soon as it is
  accepted, before anything is read, so that sockets never take the file descriptors the store
  needs. Left unset, the cap is the process's open-file limit less `FILE_RESERVE` (the store, its
  files, logs, the back-end client) and less what one turn of the accept loop may take
  (`ACCEPT_BACKLOG`). `raise_file_limit` lifts the soft limit to the hard one at start.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, ClassVar, Final, Literal, Self

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "ACCEPT_BACKLOG",
    "FILE_RESERVE",
    "BackgroundServer",
    "ClientLimits",
    "GuardedHttpProtocol",
    "connection_ceiling",
    "file_limit",
    "listening_socket",
    "raise_file_limit",
    "socket_url",
    "uvicorn_config",
]

Lifespan = Literal["auto", "on", "off"]

FILE_RESERVE: Final = 256
"""Open files kept for everything but client connections when the cap is derived."""
ACCEPT_BACKLOG: Final = 256
"""The listen queue, which is also how many connections one turn of the accept loop may take
before the cap is checked."""
_REFUSAL_LOG_INTERVAL: Final = 10.0

log = logging.getLogger("passerelle.server")


@dataclass(frozen=True)
class ClientLimits:
    """How long a client may take to send a request, and how many may be connected at once.

    Times are in seconds, `body_min_rate` in bytes per second; `max_connections` None derives
    the cap from the open-file limit (see the module's documentation)."""

    header_timeout: float = 10.0
    body_timeout: float = 20.0
    body_min_rate: float = 500.0
    max_connections: int | None = None

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "body_min_rate"):
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")

    def resolved(self) -> ClientLimits:
        """These limits with `max_connections` set: as given, but never above what the current
        open-file limit allows."""
        ceiling = connection_ceiling()
        wanted = self.max_connections
        if wanted is not None and wanted > ceiling:
            log.warning(
                "max_connections %d is above what the open-file limit allows: capped at %d",
                wanted,
                ceiling,
            )
        return replace(self, max_connections=min(wanted or ceiling, ceiling))


def file_limit() -> tuple[int, int] | None:
    """The process's soft and hard open-file limits (None where there are none to read)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def raise_file_limit() -> tuple[int, int, int] | None:
    """Lift the soft open-file limit to the hard one; return (soft before, soft now, hard)."""
    if sys.platform == "win32":
        return None
    import resource

    before, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if before != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            # macOS reports an unlimited hard limit that it refuses to grant.
            log.warning("the open-file limit stays at %d: %s", before, exc)
    now, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return before, now, hard


def connection_ceiling() -> int:
    """The most client connections the open-file limit leaves room for."""
    limits = file_limit()
    if limits is None or limits[0] < 0:  # unlimited
        return 65_536
    soft = limits[0]
    return max(soft - FILE_RESERVE - ACCEPT_BACKLOG, soft // 2, 1)


@dataclass
class _Refusals:
    """Connections refused since the last line about them (one line per interval at most)."""

    logged_at: float = float("-inf")
    count: int = 0

    def note(self, cap: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged_at >= _REFUSAL_LOG_INTERVAL:
            log.warning(
                "refused %d connection%s: %d are open, the most allowed (max_connections)",
                self.count,
                "s" if self.count != 1 else "",
                cap,
            )
            self.logged_at, self.count = now, 0


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header and body timeouts and the connection cap of
    `limits` (see the module's documentation). Use `with_limits` for a subclass with others."""

    limits: ClassVar[ClientLimits] = ClientLimits(max_connections=1024)
    refusals: ClassVar[_Refusals] = _Refusals()

    @classmethod
    def with_limits(cls, limits: ClientLimits) -> type[GuardedHttpProtocol]:
        """A subclass applying `limits` (resolved against the open-file limit)."""
        return type(cls.__name__, (cls,), {"limits": limits.resolved(), "refusals": _Refusals()})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._phase: Literal["", "headers", "body"] = ""
        self._phase_start = 0.0
        self._body_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        cap = self.limits.max_connections
        if cap is not None and len(self.connections) >= cap:
            self._refused = True
            self.transport = transport
            transport.close()
            self.refusals.note(cap)
            return
        super().connection_made(transport)
        self._enter("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._refused:
            return
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "headers":
            self._enter("headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._enter("body")

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_bytes += len(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._leave()

    def _enter(self, phase: Literal["headers", "body"]) -> None:
        self._phase = phase
        self._phase_start = self.loop.time()
        self._body_bytes = 0
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        # Never later than the shortest timeout from now: no deadline a phase entered later can
        # set comes before this timer, which therefore never needs moving back.
        limits = self.limits
        soonest = self.loop.time() + min(limits.header_timeout, limits.body_timeout)
        self._timer = self.loop.call_at(min(self._deadline(), soonest), self._check)

    def _leave(self) -> None:
        # The timer stays: at thousands of requests a second on kept-alive connections, one
        # timer per connection that finds nothing to do when it fires costs less than one
        # scheduled and cancelled per request.
        self._phase = ""

    def _deadline(self) -> float:
        limits = self.limits
        if self._phase == "headers":
            return self._phase_start + limits.header_timeout
        return self._phase_start + limits.body_timeout + self._body_bytes / limits.body_min_rate

    def _check(self) -> None:
        # One timer per connection, moved on only when it fires: each request, each chunk of
        # body received moves the deadline without touching the timer.
        self._timer = None
        if not self._phase or self.transport.is_closing():
            return
        cycle = self.cycle
        waiting = self._phase == "headers" and cycle is not None and not cycle.response_complete
        if waiting or (self._phase == "body" and self.flow.read_paused):
            # The server is behind (a request before this one is not answered, or the app does
            # not read): the client is not slow, its time starts anew.
            self._enter(self._phase)
            return
        if self.loop.time() < self._deadline():
            self._schedule()
            return
        self._time_out()

    def _time_out(self) -> None:
        phase, self._phase = self._phase, ""
        cycle = self.cycle
        in_flight = cycle is not None and not cycle.response_complete
        # The body's own request, if not yet answered, is answered 408; an answer under way
        # (pipelining, or an app that answered before reading) is only cut short.
        answer = not in_flight or (phase == "body" and not cycle.response_started)
        if in_flight:
            cycle.disconnected = True
            cycle.message_event.set()
        if answer:
            self.transport.write(self._timeout_answer(phase))
        self.transport.close()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: closed, the request %s was too slow", _peer(self.client), phase)

    def _timeout_answer(self, phase: str) -> bytes:
        limits = self.limits
        if phase == "headers":
            why = f"request timeout: the headers took longer than {limits.header_timeout:g} s\n"
        else:
            why = (
                f"request timeout: the body came slower than {limits.body_min_rate:g} bytes/s "
                f"after {limits.body_timeout:g} s\n"
            )
        body = why.encode()
        head = [b"HTTP/1.1 408 Request Timeout"]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        return b"\r\n".join(head) + b"\r\n\r\n" + body


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    limits: ClientLimits | None = None,
    protocol: type[GuardedHttpProtocol] = GuardedHttpProtocol,
    lifespan: Lifespan = "auto",
    log_level: str = "info",
    access_log: bool = False,
    timeout_graceful_shutdown: int = 5,
    log_config: dict[str, Any] | None = uvicorn.config.LOGGING_CONFIG,
) -> uvicorn.Config:
    """How every server of the project runs `app` under uvicorn: `protocol` with `limits`.
    `log_config` None leaves uvicorn's lines to the process's own logging set-up."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol.with_limits(limits or ClientLimits()),
        backlog=ACCEPT_BACKLOG,
        lifespan=lifespan,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        log_config=log_config,
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket bound to `host`:`port` (0: a free port) and listening, for
    uvicorn to serve on; `OSError` if the address cannot be bound (a port already taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that name it, and
    # without it every answer written in two parts waits out a delayed ACK (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(ACCEPT_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def socket_url(sock: socket.socket) -> str:
    """The base URL of a bound socket, e.g. ``http://127.0.0.1:53121``."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread, on a free port unless `port` is given.

    ``with BackgroundServer(app) as server: httpx.get(server.url + "/healthz")``. `start` returns
    once the server accepts requests (and its lifespan startup ran); `stop` lets requests in
    flight finish and runs the lifespan shutdown.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Lifespan = "auto",
        log_level: str = "warning",
        limits: ClientLimits | None = None,
        protocol: type[GuardedHttpProtocol] = GuardedHttpProtocol,
    ) -> None:
        self.app = app
        self._host = host
        self._port = port
        self.config = uvicorn_config(
            app,
            host=host,
            port=port,
            limits=limits,
            protocol=protocol,
            lifespan=lifespan,
            log_level=log_level,
        )
        self._server = uvicorn.Server(self.config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:53121``."""
        if self._socket is None:
            raise RuntimeError("the server is not started")
        return socket_url(self._socket)

    @property
    def connections(self) -> int:
        """How many client connections are open."""
        return len(self._server.server_state.connections)

    def start(self) -> None:
        """Bind the port and serve in a background thread; return once requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        self._socket = listening_socket(self._host, self._port)
        self._thread = threading.Thread(target=self._serve, name="passerelle-server", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                self._close_socket()
                raise RuntimeError("the server failed to start") from self._failure
            self._thread.join(0.01)

    def _serve(self) -> None:
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()
            self._failure = exc

    def stop(self) -> None:
        """Stop serving; requests in flight finish first."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
            self._thread = None
        self._close_socket()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
