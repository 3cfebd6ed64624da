"""Ingest: how fast the receiver acknowledges signed deliveries, beside a bare ASGI endpoint.

    python -m bench ingest [--rounds 3] [--seconds 5] [--connections 50] [--size 11264]

Three servers run one after the other, each under uvicorn with the same settings (one worker,
the same event loop and HTTP implementation), in alternating rounds so that whatever else the
machine does falls on all of them alike:

- ``bare``: an ASGI endpoint that reads the body and answers 200, the floor;
- ``receiver``: the receiver in full, durable append to a SQLite store (group commit) included;
- ``no inbox``: the receiver with an inbox that keeps nothing, which tells the receiver's own
  cost from the store's; it is not a configuration anyone should run.

A load generator in its own process keeps `--connections` keep-alive connections busy, each
sending the next Shopify-like order delivery (signed, with a fresh delivery id) as soon as the
previous answer arrives. It reports acknowledgements per second and the latency from the
request's first byte to the end of the answer. The client's CPU use is printed too: a client
near 100 % of a core would be the bottleneck, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import BaseModel, SecretStr, ValidationError

from passerelle.connector.store import AppendResult, DeliveryStore, NewDelivery
from passerelle.platforms import (
    Store,
    Translation,
    TranslationContext,
    VerificationError,
    WebhookPlatform,
    WebhookRequest,
)

SIGNATURE = "X-Bench-Hmac-Sha256"
DELIVERY = "X-Bench-Event-Id"
PLATFORM = "bench"
STORE_ID = "north.example"
SIGNING_KEY = "bench-webhook-signing-key"
HOST = "127.0.0.1"
PATH = f"/webhooks/{PLATFORM}/{STORE_ID}"
TARGET_RATIO = 0.8
TARGET_P99_MS = 20.0
SERVERS = {
    "bare": "bare ASGI endpoint",
    "receiver": "receiver + SQLite",
    "no-inbox": "receiver, no inbox",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.digest(SIGNING_KEY.encode(), body, "sha256")).decode()


class _OrderId(BaseModel):
    id: Any = None


class BenchPlatform(WebhookPlatform):
    """Signed like Shopify: base64 HMAC-SHA256 of the raw body; the order id read from the JSON
    the way the Shopify plugin reads it (only that field, the rest of the body skipped)."""

    name: ClassVar[str] = PLATFORM

    def verify(self, request: WebhookRequest, store: Store) -> None:
        presented = request.headers.get(SIGNATURE)
        if presented is None:
            raise VerificationError(f"missing header {SIGNATURE}")
        matched = False
        for secret in store.secrets:
            digest = hmac.digest(secret.get_secret_value().encode(), request.body, "sha256")
            matched |= hmac.compare_digest(base64.b64encode(digest).decode(), presented)
        if not matched:
            raise VerificationError(f"{SIGNATURE} matches no secret")

    def delivery_key(self, request: WebhookRequest) -> str:
        key: str | None = request.headers.get(DELIVERY)
        if not key:
            raise VerificationError(f"missing header {DELIVERY}")
        return key

    def ordering_key(self, request: WebhookRequest) -> str | None:
        try:
            order = _OrderId.model_validate_json(request.body).id
        except ValidationError:
            return None
        return str(order) if isinstance(order, int) else None

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        return Translation.ignore("benchmark delivery")


class _NoInbox:
    """Acknowledges every append and keeps nothing: isolates the receiver's own cost."""

    def __init__(self) -> None:
        self._count = 0

    async def append_async(self, delivery: NewDelivery) -> AppendResult:
        self._count += 1
        return AppendResult(id=self._count, duplicate=False)

    def close(self) -> None:
        pass


async def bare_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body and answer 200 with a body the size of the receiver's."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    answer = b'{"id": 1000000, "duplicate": false}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


_WORDS = "blue wool merino scarf cotton tee linen shirt denim jacket canvas tote socks".split()


def order_body(number: int, size: int) -> bytes:
    """A compact Shopify-like order of exactly `size` bytes (at least about 1 KB)."""
    rng = random.Random(number)
    order_id = 820_982_911_946_154_508 + number
    money = {"amount": "0.00", "currency_code": "CAD"}
    order: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1000 + number}",
        "email": f"customer{number}@example.com",
        "created_at": "2026-01-15T10:12:00-05:00",
        "currency": "CAD",
        "financial_status": "authorized",
        "total_price": "0.00",
        "total_price_set": {"shop_money": money, "presentment_money": money},
        "shipping_address": {
            "first_name": "Jo",
            "last_name": "Tremblay",
            "address1": f"{rng.randrange(1, 9999)} rue Saint-Denis",
            "city": "Montréal",
            "province_code": "QC",
            "country_code": "CA",
            "zip": "H2X 3K8",
        },
        "line_items": [],
        "note": "",
    }
    total = 0
    while len(json.dumps(order, separators=(",", ":")).encode()) < size - 600:
        cents = rng.randrange(500, 20000)
        quantity = rng.randrange(1, 4)
        total += cents * quantity
        price = f"{cents // 100}.{cents % 100:02d}"
        order["line_items"].append(
            {
                "id": 466_157_049 + rng.randrange(10**12),
                "variant_id": 39_072_856 + rng.randrange(10**12),
                "title": " ".join(rng.choices(_WORDS, k=3)),
                "sku": f"SKU-{rng.randrange(10**6):06d}",
                "quantity": quantity,
                "price": price,
                "price_set": {
                    "shop_money": {"amount": price, "currency_code": "CAD"},
                    "presentment_money": {"amount": price, "currency_code": "CAD"},
                },
                "requires_shipping": True,
                "tax_lines": [{"title": "TPS", "price": "0.00", "rate": 0.05}],
            }
        )
    order["total_price"] = f"{total // 100}.{total % 100:02d}"
    encoded = json.dumps(order, separators=(",", ":")).encode()
    order["note"] = " ".join(rng.choices(_WORDS, k=size))[: max(0, size - len(encoded))]
    return json.dumps(order, separators=(",", ":")).encode()


# The server process


def _serve(kind: str, port: int, db: str, loop: str, http: str) -> None:
    import uvicorn

    from passerelle.connector.receiver import create_receiver
    from passerelle.connector.store import open_store

    inbox: DeliveryStore | None = None
    if kind == "bare":
        app: Any = bare_endpoint
    else:
        inbox = open_store(f"sqlite:///{db}") if kind == "receiver" else None
        app = create_receiver(
            {PLATFORM: BenchPlatform()},
            {(PLATFORM, STORE_ID): Store(PLATFORM, STORE_ID, (SecretStr(SIGNING_KEY),))},
            inbox if inbox is not None else cast(DeliveryStore, _NoInbox()),
        )
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        loop=loop,
        http=http,
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        workers=1,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        if inbox is not None:
            inbox.close()


# The client process


@dataclass
class Measurement:
    acks_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    acked_total: int
    client_cpu: float
    server_cpu: float | None = None
    stored: int | None = None


async def _load(
    port: int, connections: int, size: int, warmup: float, seconds: float
) -> Measurement:
    pool = [(body, sign(body)) for body in (order_body(n, size) for n in range(256))]
    run = os.urandom(4).hex()
    latencies: list[float] = []
    counts = {"acked": 0, "acked_total": 0, "errors": 0}
    measure_from = time.perf_counter() + warmup
    end = measure_from + seconds
    cpu_at_start: list[float] = []

    async def connection(number: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        sent = 0
        try:
            while (started := time.perf_counter()) < end:
                body, signature = pool[(number * 5 + sent) % len(pool)]
                head = (
                    f"POST {PATH} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n{SIGNATURE}: {signature}\r\n"
                    f"{DELIVERY}: {run}-{number}-{sent}\r\n\r\n"
                ).encode()
                writer.writelines((head, body))
                answer_head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in answer_head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                done = time.perf_counter()
                sent += 1
                acked = answer_head[9:10] == b"2"
                counts["acked_total"] += acked
                if started >= measure_from and done <= end:
                    if acked:
                        counts["acked"] += 1
                        latencies.append(done - started)
                    else:
                        counts["errors"] += 1
        finally:
            writer.close()

    async def mark_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_at_start.append(time.process_time())

    marker = asyncio.ensure_future(mark_cpu())
    await asyncio.gather(*(connection(n) for n in range(connections)))
    await marker
    latencies.sort()
    return Measurement(
        acks_per_s=counts["acked"] / seconds,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        errors=counts["errors"],
        acked_total=counts["acked_total"],
        client_cpu=(time.process_time() - cpu_at_start[0]) / seconds,
    )


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# The conductor


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on port {port} within {timeout:g} s")


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", "ingest", *args]


def _measure(kind: str, options: argparse.Namespace, db: str) -> Measurement:
    port = str(_free_port())
    root = Path(__file__).resolve().parents[1]
    paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    server = subprocess.Popen(
        _command(
            "--serve",
            kind,
            "--port",
            port,
            "--db",
            db,
            "--loop",
            options.loop,
            "--http",
            options.http,
        ),
        cwd=root,
        env=env,
    )
    try:
        _wait_listening(int(port), server)
        cpu_before = _cpu_seconds(server.pid)
        began = time.perf_counter()
        client = subprocess.run(
            _command(
                "--load",
                "--port",
                port,
                "--connections",
                str(options.connections),
                "--size",
                str(options.size),
                "--warmup",
                str(options.warmup),
                "--seconds",
                str(options.seconds),
            ),
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        elapsed = time.perf_counter() - began
        cpu_after = _cpu_seconds(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    measurement = Measurement(**json.loads(client.stdout))
    if cpu_before is not None and cpu_after is not None:
        measurement.server_cpu = (cpu_after - cpu_before) / elapsed
    return measurement


def _stored(db: str) -> int:
    from passerelle.connector.store import open_store

    with open_store(f"sqlite:///{db}") as store:
        return sum(store.stats().values())


def _median(rows: list[Measurement]) -> Measurement:
    """The round with the median rate (the lower middle one for an even count)."""
    ordered = sorted(rows, key=lambda row: row.acks_per_s)
    return ordered[(len(ordered) - 1) // 2]


def _line(label: str, row: Measurement) -> str:
    server_cpu = "n/a" if row.server_cpu is None else f"{row.server_cpu:.0%}"
    return (
        f"{label:30}{row.acks_per_s:>8.0f}{row.p50_ms:>8.1f}{row.p99_ms:>8.1f}{row.errors:>7}"
        f"{server_cpu:>8}{row.client_cpu:>8.0%}"
    )


def _report(options: argparse.Namespace, results: dict[str, list[Measurement]]) -> bool:
    import uvicorn

    print(
        f"ingest: {options.size}-byte signed order deliveries, {options.connections} keep-alive"
        f" connections, {options.rounds} rounds of {options.seconds:g} s per server"
        f" (after {options.warmup:g} s warm-up each)"
    )
    print(
        f"servers: uvicorn {uvicorn.__version__}, --loop {options.loop} --http {options.http},"
        f" 1 worker each; client: one asyncio process; {os.cpu_count()} CPUs"
    )
    print()
    print(f"{'':30}{'acks/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'server':>8}{'client':>8}")
    for number in range(options.rounds):
        for kind, label in SERVERS.items():
            print(_line(f"round {number + 1}: {label}", results[kind][number]))
    medians = {kind: _median(rows) for kind, rows in results.items()}
    for kind, label in SERVERS.items():
        print(_line(f"median: {label}", medians[kind]))
    print()
    bare, receiver = medians["bare"], medians["receiver"]
    ratio = receiver.acks_per_s / bare.acks_per_s
    print(f"receiver + SQLite / bare: {ratio:.2f}   (target >= {TARGET_RATIO:.2f})")
    print(f"receiver + SQLite p99:    {receiver.p99_ms:.1f} ms (target < {TARGET_P99_MS:g} ms)")
    print(f"receiver, no inbox / bare: {medians['no-inbox'].acks_per_s / bare.acks_per_s:.2f}")
    acked = sum(row.acked_total for row in results["receiver"])
    stored = sum(row.stored or 0 for row in results["receiver"])
    missing = acked - stored
    print(
        f"stored: {stored} deliveries for {acked} acknowledgements"
        + (f": {missing} MISSING" if missing else "")
    )
    met = ratio >= TARGET_RATIO and receiver.p99_ms < TARGET_P99_MS
    print(f"targets {'met' if met else 'missed'}")
    return missing == 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench ingest", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every server")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=11 * 1024, help="body bytes")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop, the same for all")
    parser.add_argument("--http", default="auto", help="uvicorn --http, the same for all")
    parser.add_argument("--serve", choices=tuple(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    if options.serve:
        _serve(options.serve, options.port, options.db, options.loop, options.http)
        return 0
    if options.load:
        load = _load(
            options.port, options.connections, options.size, options.warmup, options.seconds
        )
        print(json.dumps(asdict(asyncio.run(load))))
        return 0

    results: dict[str, list[Measurement]] = {kind: [] for kind in SERVERS}
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as folder:
        for number in range(options.rounds):
            for kind in SERVERS:
                db = str(Path(folder) / f"inbox-{number}.db")
                measurement = _measure(kind, options, db)
                if kind == "receiver":
                    measurement.stored = _stored(db)
                results[kind].append(measurement)
    return 0 if _report(options, results) else 1
