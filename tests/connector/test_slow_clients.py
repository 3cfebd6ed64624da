"""Slow and numerous clients against the receiver over real sockets: a client that trickles its
request is answered 408 and closed, one connection too many is refused, and neither keeps a
valid delivery waiting."""

from __future__ import annotations

import logging
import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from testplatform import TestPlatform, body, signed_headers

from passerelle.clock import SystemClock
from passerelle.connector.receiver import create_receiver
from passerelle.connector.store import DeliveryStore, open_store
from passerelle.platforms import Store
from passerelle.serving import BackgroundServer, ClientLimits

SHOP = "shop-1"
PATH = f"/webhooks/test/{SHOP}"
SECRET = "whsec-slow"
STORES = {("test", SHOP): Store("test", SHOP, (SecretStr(SECRET),))}


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[DeliveryStore]:
    with open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=SystemClock()) as store:
        yield store


def serve(inbox: DeliveryStore, limits: ClientLimits) -> BackgroundServer:
    app = create_receiver({"test": TestPlatform()}, STORES, inbox)
    return BackgroundServer(app, limits=limits)


def address(server: BackgroundServer) -> tuple[str, int]:
    host, _, port = server.url.removeprefix("http://").rpartition(":")
    return host, int(port)


def deliver(server: BackgroundServer, delivery: str, *, timeout: float = 5.0) -> httpx.Response:
    content = body(order=delivery)
    return httpx.post(
        server.url + PATH,
        content=content,
        headers=signed_headers(content, SECRET, delivery=delivery),
        timeout=timeout,
    )


def head(length: int) -> bytes:
    """The head of a signed delivery announcing a body of `length` bytes."""
    headers = signed_headers(b"{}", SECRET, delivery="slow")
    lines = [f"POST {PATH} HTTP/1.1", "Host: receiver", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock: socket.socket, within: float) -> bytes:
    """All the server sends until it closes the connection (at most `within` seconds)."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def status(received: bytes) -> int | None:
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None


class Tricklers:
    """`count` connections that send their requests one byte every `interval` seconds, from a
    thread: half their headers, half their body (after complete headers). `outcomes` notes how
    the server ended each: what it answered, or ``closed`` without an answer; None while open."""

    def __init__(self, where: tuple[str, int], count: int, interval: float) -> None:
        self._selector = selectors.DefaultSelector()
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.outcomes: dict[socket.socket, bytes | None] = {}
        self._pending: dict[socket.socket, bytes] = {}
        self._whole: set[socket.socket] = set()
        headers_only = head(100_000)[:-4] + b"\r\nX-Pad: "
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(where)
            self.outcomes[sock] = None
            self._pending[sock] = headers_only if index % 2 else head(100_000)
            if not index % 2:
                self._whole.add(sock)  # a body trickler sends its head whole at first
            self._selector.register(sock, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="tricklers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def open(self) -> int:
        with self._lock:
            return sum(outcome is None for outcome in self.outcomes.values())

    def ended(self) -> list[bytes]:
        with self._lock:
            return [outcome for outcome in self.outcomes.values() if outcome is not None]

    def _run(self) -> None:
        next_round = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_round:
                next_round = now + self._interval
                with self._lock:
                    still_open = [s for s, outcome in self.outcomes.items() if outcome is None]
                for sock in still_open:
                    self._trickle(sock)
            for key, _ in self._selector.select(timeout=0.05):
                self._read(key.fileobj)  # type: ignore[arg-type]

    def _trickle(self, sock: socket.socket) -> None:
        pending = self._pending[sock]
        piece = pending if sock in self._whole else (pending[:1] or b"a")
        try:
            sent = sock.send(piece)
        except OSError:
            return  # not connected yet, or closed by the server: the read says how
        self._whole.discard(sock)
        self._pending[sock] = pending[sent:]

    def _read(self, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        with self._lock:
            if chunk:
                self.outcomes[sock] = (self.outcomes[sock] or b"") + chunk
                return
            self.outcomes[sock] = self.outcomes[sock] or b"closed"
        self._selector.unregister(sock)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.outcomes:
            sock.close()
        self._selector.close()


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for 2,000 connections at both ends, within this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    assert wanted >= 5000, f"the hard open-file limit ({hard}) leaves no room for the test"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
@pytest.mark.usefixtures("many_files")
def test_valid_deliveries_are_answered_while_2000_connections_trickle(
    inbox: DeliveryStore,
) -> None:
    # Long enough for 2,000 connections and 20 deliveries on a busy machine (about 2.5 s on two
    # idle cores), short enough for a quick test.
    limits = ClientLimits(header_timeout=10, body_timeout=10, body_min_rate=1000)
    with serve(inbox, limits) as server:
        tricklers = Tricklers(address(server), 2000, interval=1.0)
        started = time.monotonic()
        tricklers.start()
        try:
            deadline = time.monotonic() + 5
            while server.connections < 2000 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert server.connections >= 2000

            answers = [deliver(server, f"d-{n}", timeout=1.0) for n in range(20)]

            took = time.monotonic() - started
            # Every trickler was still connected when the last delivery was answered.
            assert tricklers.open() == 2000, f"connections and deliveries took {took:.1f} s"
            assert [a.status_code for a in answers] == [200] * 20
            assert sum(inbox.stats().values()) == 20

            deadline = time.monotonic() + 30
            while tricklers.open() and time.monotonic() < deadline:
                time.sleep(0.1)
            ended = tricklers.ended()
        finally:
            tricklers.close()
        assert len(ended) == 2000
        assert {status(outcome) for outcome in ended} <= {408, None}
        assert sum(status(outcome) == 408 for outcome in ended) >= 1000
        assert sum(inbox.stats().values()) == 20  # nothing of theirs was stored


@pytest.mark.slow
def test_headers_not_complete_in_time_are_answered_408_and_closed(inbox: DeliveryStore) -> None:
    with (
        serve(inbox, ClientLimits(header_timeout=0.5)) as server,
        socket.create_connection(address(server)) as silent,
        socket.create_connection(address(server)) as partial,
    ):
        partial.sendall(head(2)[:40])
        said = answer(partial, within=5)
        said_to_silent = answer(silent, within=5)

    assert status(said) == 408
    assert said.endswith(b"request timeout: the headers took longer than 0.5 s\n")
    assert b"connection: close" in said
    assert status(said_to_silent) == 408
    assert sum(inbox.stats().values()) == 0


@pytest.mark.slow
def test_a_body_slower_than_the_minimum_rate_is_answered_408_and_not_stored(
    inbox: DeliveryStore,
) -> None:
    limits = ClientLimits(body_timeout=1.0, body_min_rate=1000)
    content = body(order="1001", pad="x" * 2000)
    headers = signed_headers(content, SECRET, delivery="fair")
    with serve(inbox, limits) as server:
        # A fair body takes longer than body_timeout in all, and passes: each chunk buys time.
        chunks = [content[i : i + 500] for i in range(0, len(content), 500)]

        def fair_body() -> Iterator[bytes]:
            for chunk in chunks:
                yield chunk
                time.sleep(0.3)

        fair = httpx.post(server.url + PATH, content=fair_body(), headers=headers, timeout=10)

        with socket.create_connection(address(server)) as slow:
            slow.sendall(head(1000))
            for _ in range(5):
                slow.sendall(b"a")
                time.sleep(0.1)
            said = answer(slow, within=5)

    assert (len(chunks) - 1) * 0.3 > limits.body_timeout
    assert fair.status_code == 200
    assert status(said) == 408
    assert said.endswith(b"the body came slower than 1000 bytes/s after 1 s\n")
    assert sum(inbox.stats().values()) == 1


@pytest.mark.slow
def test_a_connection_past_the_cap_is_refused_and_the_next_one_served(
    inbox: DeliveryStore, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(inbox, ClientLimits(max_connections=20)) as server:
        idle = [socket.create_connection(address(server)) for _ in range(20)]
        try:
            deadline = time.monotonic() + 5
            while server.connections < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            with caplog.at_level(logging.WARNING, "passerelle.server"):
                with socket.create_connection(address(server)) as extra:
                    extra.sendall(head(2) + b"{}")
                    refused = answer(extra, within=5)
                with pytest.raises(httpx.TransportError):
                    deliver(server, "refused")
        finally:
            for sock in idle[:5]:
                sock.close()
        try:
            deadline = time.monotonic() + 5
            while server.connections > 15 and time.monotonic() < deadline:
                time.sleep(0.01)
            served = deliver(server, "served")
        finally:
            for sock in idle[5:]:
                sock.close()

    assert refused == b""  # closed before anything was read
    assert served.status_code == 200
    assert sum(inbox.stats().values()) == 1
    assert "refused 1 connection: 20 are open, the most allowed (max_connections)" in [
        record.getMessage() for record in caplog.records
    ]
