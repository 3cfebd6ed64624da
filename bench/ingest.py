"""Ingest: how fast `passerelle serve` acknowledges signed deliveries, beside a bare ASGI endpoint.

    python -m bench ingest [--store sqlite|postgresql] [--postgres-url URL] [--rounds 3]
                           [--seconds 5] [--connections 50] [--size 11264]

Four servers run one after the other, in alternating rounds so that whatever else the machine
does falls on all of them alike, each under uvicorn with the settings `passerelle serve` uses
(`passerelle.connector.serve_cli.server_config`: one process, the same event loop and HTTP
implementation, its logging):

- ``bare``: an ASGI endpoint that reads the body and answers 200, the peer;
- ``serve``: `passerelle serve` as a merchant runs it: the Shopify plugin, the inbox (group
  commit, synchronous), its logging, and the dispatcher working off the inbox;
- ``receiver``: `passerelle serve --role receiver`, the receiving half of a scale-out;
- ``no-inbox``: the same receiver and Shopify plugin with an inbox that keeps nothing, which
  tells the receiver's own cost (checks, signature, keys) from the store's. Nobody should run it.

Beside them, the floor: the database alone keeping the same deliveries, in a process of its own
with no HTTP and no event loop, `--connections` rows to a commit (the most one commit can carry
with that many connections) through the store's own multi-row INSERT, into the store's schema,
synchronous as the store is. A receiver answers only once its delivery is committed, so none that
keeps its deliveries in that database acknowledges faster than this on the same machine.

`--store` picks the inbox: a SQLite file (the default), or PostgreSQL at `--postgres-url` (default
``$PASSERELLE_TEST_POSTGRES_DSN``), each server and the floor in a fresh schema of its own.

The targets: ``serve --role receiver`` at 0.8 or more of the receiver with no inbox and a p99
under 20 ms; ``serve`` at 0.8 or more of ``serve --role receiver``, its dispatcher settling the
(ignored) deliveries as fast as they arrive: the backlog each round leaves is printed.

The deliveries are Shopify ``orders/create`` webhooks signed as Shopify signs them, each with a
fresh event id. The connector acknowledges a topic it does not handle, then its dispatcher
records it as ignored: the whole ingest path runs, and no back end is needed.

A load generator in its own process keeps `--connections` keep-alive connections busy, each
sending the next delivery as soon as the previous answer arrives. It reports acknowledgements
per second and the latency from the request's first byte to the end of the answer. Each
process's CPU use is printed too: a client near 100 % of a core would be the bottleneck, not the
server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import importlib.util
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

from passerelle.connector.store import AppendResult, NewDelivery

SECRET = "bench-webhook-signing-secret"  # noqa: S105 - signs only these benchmark bodies
SHOP = "north-bench.myshopify.com"
HOST = "127.0.0.1"
PATH = f"/webhooks/shopify/{SHOP}"
ORDER_IDS = 820_982_911_946_154_508
"""The id of the order in body number 0; body n is about order ``ORDER_IDS + n``."""
FIXED_HEADERS = (
    ("Host", HOST),
    ("Content-Type", "application/json"),
    ("X-Shopify-Topic", "orders/create"),
    ("X-Shopify-Shop-Domain", SHOP),
    ("X-Shopify-API-Version", "2025-07"),
    ("X-Shopify-Triggered-At", "2026-01-15T15:12:00.000000000Z"),
)
"""The headers every delivery sends alike, before its own."""
TARGET_RATIO = 0.8
TARGET_P99_MS = 20.0
SERVERS = {
    "bare": "bare ASGI endpoint",
    "serve": "passerelle serve",
    "receiver": "serve --role receiver",
    "no-inbox": "receiver, no inbox",
}
PEERS = ("bare", "no-inbox")
"""The servers this benchmark runs itself; the others are `passerelle serve`."""
FLOOR = "floor"
MEASURED = {**SERVERS, FLOOR: "database alone (floor)"}
DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def sign(body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` of `body`."""
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


async def bare_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body and answer 200 with a body the size of the receiver's."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
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
    order_id = ORDER_IDS + number
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


# The servers


def _config(folder: Path, store_url: str, backend_port: int) -> Path:
    path = folder / "passerelle.toml"
    path.write_text(
        f"""\
[backend]
# Never called: every delivery is of a topic the connector acknowledges and ignores. `serve`
# only checks at start that it accepts a connection.
url = "http://{HOST}:{backend_port}"
token = "bench-back-end-token"
merchant = "bench-merchant"

[store]
url = {json.dumps(store_url)}

[[stores]]
platform = "shopify"
id = {json.dumps(SHOP)}
secrets = [{json.dumps(SECRET)}]
"""
    )
    return path


class _KeepsNothing:
    """An inbox that keeps nothing, for the receiver's cost without its store."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def append_async(self, delivery: NewDelivery) -> AppendResult:
        return AppendResult(id=next(self._ids), duplicate=False)

    def ping(self) -> None:
        pass


def _serve_peer(kind: str, port: int) -> None:
    """Serve one of `PEERS` as `passerelle serve` serves its receiver."""
    import uvicorn
    from pydantic import SecretStr

    from passerelle.connector.receiver import ASGIApp, create_receiver
    from passerelle.connector.serve_cli import server_config
    from passerelle.connector.store import DeliveryStore
    from passerelle.platforms import Store
    from passerelle_shopify.platform import ShopifyPlatform

    app: ASGIApp = bare_endpoint
    if kind == "no-inbox":
        store = Store(platform="shopify", id=SHOP, secrets=(SecretStr(SECRET),))
        # The receiver calls only `append_async` and `ping` of its inbox.
        inbox = cast(DeliveryStore, _KeepsNothing())
        app = create_receiver({"shopify": ShopifyPlatform()}, {("shopify", SHOP): store}, inbox)
    uvicorn.Server(server_config(app, HOST, port)).run()


# The client process


@dataclass
class Measurement:
    acks_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    acked_total: int
    client_cpu: float | None
    server_cpu: float | None = None
    stored: int | None = None
    ignored: int | None = None


async def _load(
    port: int, connections: int, size: int, warmup: float, seconds: float
) -> Measurement:
    pool = [(body, sign(body)) for body in (order_body(n, size) for n in range(256))]
    fixed = "".join(f"{name}: {value}\r\n" for name, value in FIXED_HEADERS)
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
                event = f"{run}-{number}-{sent}"
                head = (
                    f"POST {PATH} HTTP/1.1\r\n{fixed}Content-Length: {len(body)}\r\n"
                    f"X-Shopify-Hmac-Sha256: {signature}\r\nX-Shopify-Event-Id: {event}\r\n"
                    f"X-Shopify-Webhook-Id: {event}\r\n\r\n"
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


def _floor(
    store_url: str, connections: int, size: int, warmup: float, seconds: float
) -> Measurement:
    """Append deliveries to a new store at `store_url`, `connections` rows to a transaction,
    with nothing but the database in the way, until `seconds` were spent in it after `warmup`.

    The rate and the CPU share count only the time from BEGIN to COMMIT: building the rows is
    left out, as a receiver does that on its event loop while the previous group commits, and so
    are SQLite's checkpoints, which the store runs beside its commits. The latencies are those
    of the transactions."""
    from passerelle.clock import SystemClock
    from passerelle.connector.store import open_store

    store = open_store(store_url, clock=SystemClock())  # creates and migrates the schema
    commit, close = _floor_committer(store, store_url)
    signed = [(body, sign(body)) for body in (order_body(n, size) for n in range(256))]
    run = os.urandom(4).hex()
    latencies: list[float] = []
    count = measured = 0
    busy = cpu = 0.0
    measure_from = time.perf_counter() + warmup
    while busy < seconds:
        rows: list[tuple[Any, ...]] = []
        for _ in range(connections):
            number = count % len(signed)
            body, signature = signed[number]
            event = f"{run}-{count}"
            headers = _headers(len(body), signature, event)
            received = store.to_db_time(store.clock.now())
            key = f"orders/create#{event}"
            rows.append(
                (
                    "shopify",
                    SHOP,
                    key,
                    str(ORDER_IDS + number),
                    store.to_db_headers(headers),
                    store.to_db_body(body),
                    received,
                )
            )
            count += 1
        began, began_cpu = time.perf_counter(), time.process_time()
        commit(rows)
        if began >= measure_from:
            took = time.perf_counter() - began
            busy += took
            cpu += time.process_time() - began_cpu
            measured += len(rows)
            latencies.append(took)
    close()
    latencies.sort()
    return Measurement(
        acks_per_s=measured / busy,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        errors=0,
        acked_total=count,
        client_cpu=None,
        server_cpu=cpu / busy,
    )


def _floor_committer(
    store: Any, store_url: str
) -> tuple[Callable[[list[tuple[Any, ...]]], None], Callable[[], None]]:
    """How the floor commits a group of rows into `store`, the store's own multi-row INSERT in
    one transaction, and how it closes."""
    from passerelle.connector.store.postgres import PostgresStore, insert_rows
    from passerelle.connector.store.sqlite import SQLiteStore, _append_rows

    if isinstance(store, PostgresStore):
        # The store's own transaction: a connection from its pool, one commit.
        def commit_postgres(rows: list[tuple[Any, ...]]) -> None:
            store._transaction(lambda tx: insert_rows(tx, rows), read_only=False)

        return commit_postgres, store.close
    if not isinstance(store, SQLiteStore):
        raise TypeError(f"no floor for the store at {store_url}")
    store.close()
    # A connection set up as the store sets up its own, without its writer thread.
    connection = store._connect()
    connection.execute("PRAGMA wal_autocheckpoint = 0")

    def commit_sqlite(rows: list[tuple[Any, ...]]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        _append_rows(connection, rows)  # type: ignore[arg-type]
        connection.execute("COMMIT")
        if os.path.getsize(f"{store.path}-wal") > 64 * 1024 * 1024:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    return commit_sqlite, connection.close


def _headers(length: int, signature: str, event: str) -> tuple[tuple[str, str], ...]:
    """The headers of one delivery, as the receiver stores them (names lower case, in order)."""
    sent = (
        *FIXED_HEADERS,
        ("Content-Length", str(length)),
        ("X-Shopify-Hmac-Sha256", signature),
        ("X-Shopify-Event-Id", event),
        ("X-Shopify-Webhook-Id", event),
    )
    return tuple((name.lower(), value) for name, value in sent)


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


def _backend_listener() -> socket.socket:
    """A socket that accepts connections (the kernel does, on its own) and never answers: the
    back end `serve` checks at start and never calls."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(64)
    return listener


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
    """The CPU time of process `pid` and of its children that run (serve's dispatcher)."""
    fields = _stat(pid)
    if fields is None:
        return None
    used = int(fields[11]) + int(fields[12])
    for entry in os.listdir("/proc"):
        child = _stat(int(entry)) if entry.isdigit() else None
        if child is not None and int(child[1]) == pid:
            used += int(child[11]) + int(child[12])
    return used / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command's name (the state first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _server_command(kind: str, port: int, config: Path) -> list[str]:
    if kind in PEERS:
        return [sys.executable, "-m", "bench", "ingest", "--serve-peer", kind, "--port", str(port)]
    # The console script installed beside this interpreter, as a merchant starts it.
    script = Path(sys.executable).with_name("passerelle")
    command = [str(script), "serve", "--config", str(config)]
    command += ["--port", str(port)]
    return command + (["--role", "receiver"] if kind == "receiver" else [])


_ROOT = Path(__file__).resolve().parents[1]


def _environment() -> dict[str, str]:
    paths = [str(_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _run_part(part: list[str], options: argparse.Namespace) -> Measurement:
    """Run a measuring part of this benchmark in a process of its own; return what it says."""
    shape = ["--connections", str(options.connections), "--size", str(options.size)]
    times = ["--warmup", str(options.warmup), "--seconds", str(options.seconds)]
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "ingest", *part, *shape, *times],
        cwd=_ROOT,
        env=_environment(),
        check=True,
        capture_output=True,
    )
    return Measurement(**json.loads(finished.stdout))


def _measure(kind: str, options: argparse.Namespace, folder: Path) -> Measurement:
    with _new_store(options, folder, kind) as store_url:
        if kind == FLOOR:
            return _run_part(["--floor", "--store-url", store_url], options)
        return _measure_server(kind, options, folder, store_url)


def _measure_server(
    kind: str, options: argparse.Namespace, folder: Path, store_url: str
) -> Measurement:
    port = _free_port()
    env = _environment()
    config = _config(folder, store_url, options.backend_port)
    # The server logs as in production, into a file (a terminal would slow it down unfairly).
    with (folder / f"{kind}.log").open("ab") as log:
        server = subprocess.Popen(
            _server_command(kind, port, config), cwd=_ROOT, env=env, stdout=log, stderr=log
        )
    settled = None
    try:
        _wait_listening(port, server)
        cpu_before = _cpu_seconds(server.pid)
        began = time.perf_counter()
        measurement = _run_part(["--load", "--port", str(port)], options)
        elapsed = time.perf_counter() - began
        cpu_after = _cpu_seconds(server.pid)
        if kind not in PEERS:
            # What the dispatcher had settled when the load ended, before it stops.
            settled = _stored(store_url)[1]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if cpu_before is not None and cpu_after is not None:
        measurement.server_cpu = (cpu_after - cpu_before) / elapsed
    if kind not in PEERS:
        measurement.stored = _stored(store_url)[0]
        measurement.ignored = settled
    return measurement


@contextlib.contextmanager
def _new_store(options: argparse.Namespace, folder: Path, kind: str) -> Iterator[str]:
    """The URL of a new, empty inbox for one measurement: a SQLite file in `folder`, or a
    PostgreSQL schema of its own, dropped afterwards."""
    if options.store == "sqlite":
        yield f"sqlite:///{folder / f'inbox-{kind}-{time.monotonic_ns()}.db'}"
        return
    import psycopg
    from psycopg import sql

    schema = f"passerelle_bench_{os.urandom(6).hex()}"
    with psycopg.connect(options.postgres_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        separator = "&" if urlsplit(options.postgres_url).query else "?"
        yield f"{options.postgres_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(options.postgres_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _stored(store_url: str) -> tuple[int, int]:
    """How many deliveries the inbox holds, and how many of them the dispatcher settled."""
    from passerelle.connector.store import DeliveryStatus, open_store

    with open_store(store_url) as store:
        counts = store.stats()
    return sum(counts.values()), counts[DeliveryStatus.IGNORED]


def _median(rows: list[Measurement]) -> Measurement:
    """The round with the median rate (the lower middle one for an even count)."""
    ordered = sorted(rows, key=lambda row: row.acks_per_s)
    return ordered[(len(ordered) - 1) // 2]


def _line(label: str, row: Measurement) -> str:
    server_cpu, client_cpu = (
        "n/a" if share is None else f"{share:.0%}" for share in (row.server_cpu, row.client_cpu)
    )
    return (
        f"{label:34}{row.acks_per_s:>8.0f}{row.p50_ms:>8.1f}{row.p99_ms:>8.1f}{row.errors:>7}"
        f"{server_cpu:>8}{client_cpu:>8}"
    )


def _report(options: argparse.Namespace, results: dict[str, list[Measurement]]) -> bool:
    import uvicorn

    database = DATABASES[options.store]
    print(
        f"ingest: {options.size}-byte signed Shopify deliveries, {options.connections} keep-alive"
        f" connections, {options.rounds} rounds of {options.seconds:g} s per server"
        f" (after {options.warmup:g} s warm-up each), inbox in {database}"
    )
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"servers: uvicorn {uvicorn.__version__} ({loop}, {http}) as passerelle serve runs it,"
        f" one process each; client: one asyncio process; {os.cpu_count()} CPUs"
    )
    print(
        f"floor: {database} alone, {options.connections} deliveries to a commit, no HTTP (its"
        " rate and CPU count the time from BEGIN to COMMIT; its latencies are the commits')"
    )
    print()
    print(f"{'':34}{'acks/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'server':>8}{'client':>8}")
    labels = {**MEASURED, FLOOR: f"{database} alone (floor)"}
    for number in range(options.rounds):
        for kind, label in labels.items():
            print(_line(f"round {number + 1}: {label}", results[kind][number]))
    medians = {kind: _median(rows) for kind, rows in results.items()}
    for kind, label in labels.items():
        print(_line(f"median: {label}", medians[kind]))
    print()
    met = True
    for kind, peer in (("receiver", "no-inbox"), ("serve", "receiver")):
        row, against = medians[kind], medians[peer]
        ratio = row.acks_per_s / against.acks_per_s
        met = met and ratio >= TARGET_RATIO and row.p99_ms < TARGET_P99_MS
        print(
            f"{SERVERS[kind]} / {SERVERS[peer]}: {ratio:.2f} (target >= {TARGET_RATIO:.2f})"
            f"   p99 {row.p99_ms:.1f} ms (target < {TARGET_P99_MS:g} ms)"
            f"   / floor: {row.acks_per_s / medians[FLOOR].acks_per_s:.2f}"
        )
    bare = medians["bare"]
    for kind in ("no-inbox", FLOOR):
        print(f"{labels[kind]} / bare: {medians[kind].acks_per_s / bare.acks_per_s:.2f}")
    complete = True
    for kind in ("serve", "receiver"):
        acked = sum(row.acked_total for row in results[kind])
        stored = sum(row.stored or 0 for row in results[kind])
        missing = acked - stored
        complete = complete and missing == 0
        print(
            f"{SERVERS[kind]}: {stored} deliveries stored for {acked} acknowledgements"
            + (f": {missing} MISSING" if missing else "")
        )
    for number, row in enumerate(results["serve"], start=1):
        stored, settled = row.stored or 0, row.ignored or 0
        backlog = stored - settled
        met = met and backlog * 10 <= stored  # what is left is at most the last moment's
        print(
            f"round {number}: passerelle serve's dispatcher had settled {settled} of {stored}"
            f" deliveries (as ignored) when the load ended: backlog {backlog}"
        )
    print(f"targets {'met' if met else 'missed'}")
    return complete


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench ingest", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every server")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=11 * 1024, help="body bytes")
    parser.add_argument("--store", choices=DATABASES, default="sqlite", help="the inbox")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PASSERELLE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="the PostgreSQL database for --store postgresql (a schema per server is made)",
    )
    parser.add_argument("--serve-peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    if options.serve_peer:
        _serve_peer(options.serve_peer, options.port)
        return 0
    if options.load:
        load = _load(
            options.port, options.connections, options.size, options.warmup, options.seconds
        )
        print(json.dumps(asdict(asyncio.run(load))))
        return 0
    if options.floor:
        floor = _floor(
            options.store_url,
            options.connections,
            options.size,
            options.warmup,
            options.seconds,
        )
        print(json.dumps(asdict(floor)))
        return 0

    results: dict[str, list[Measurement]] = {kind: [] for kind in MEASURED}
    with (
        tempfile.TemporaryDirectory(prefix="passerelle-bench-") as folder,
        _backend_listener() as backend,
    ):
        options.backend_port = backend.getsockname()[1]
        for _ in range(options.rounds):
            for kind in MEASURED:
                results[kind].append(_measure(kind, options, Path(folder)))
    return 0 if _report(options, results) else 1
