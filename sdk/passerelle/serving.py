"""Serve an ASGI app with uvicorn on a real port, in the foreground or in a background thread."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn

__all__ = ["BackgroundServer", "listening_socket", "socket_url"]

Lifespan = Literal["auto", "on", "off"]


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
        sock.listen(1024)
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
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self._host = host
        self._port = port
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan=lifespan,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            **uvicorn_options,
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
