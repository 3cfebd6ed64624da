"""What the end-to-end tests share: the plugin install, connector subprocesses, signed deliveries,
orders in the sandbox, and bounded waits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from passerelle_test_platform import JOURNAL_ENV
from testplatform import PLATFORM, signed_headers
from testplatform import body as delivery_body

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, OrderCreate, OrderView
from passerelle.money import Money
from passerelle.sandbox.app import create_app, sandbox_of
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle.serving import BackgroundServer

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
PLUGIN_CODE = HERE / "plugin"
CONNECTOR_TESTS = HERE.parent / "connector"
PLUGIN = "test"
"""The entry-point name of the test platform's plugin."""
SECRET = "e2e-webhook-secret-1"
STORE_ID = "shop-1"
FILES_PLATFORM = "files"
FILES_STORE = "payroll-1"
READ_TOKEN = "read-token-for-tests-0001"
FULL_TOKEN = "full-token-for-tests-0001"
CURRENCY = "CAD"


def install_plugin(site: Path) -> Path:
    """Make `site` a folder where `importlib.metadata` finds the test platform's distribution
    (its code is on `PLUGIN_CODE`); return `site`."""
    info = site / "passerelle_test_platform-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: passerelle-test-platform\nVersion: 0.1.0\n"
        "Summary: The signed test platform and a journaling observer.\n"
    )
    (info / "entry_points.txt").write_text(f"[passerelle]\n{PLUGIN} = passerelle_test_platform\n")
    return site


def subprocess_env(site: Path, journal: Path | None = None) -> dict[str, str]:
    """The environment of a connector subprocess: this interpreter's, without any configuration
    from the environment, the test platform installed, and no other plugin loaded."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PASSERELLE_")}
    paths = [str(site), str(PLUGIN_CODE), str(CONNECTOR_TESTS)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PASSERELLE_LOAD_PLUGINS"] = PLUGIN
    if journal is not None:
        env[JOURNAL_ENV] = str(journal)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sqlite_url(path: Path) -> str:
    """The store URL of the SQLite file at the absolute `path`."""
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class ConnectorConfig:
    """A `passerelle.toml` for the test platform's store and the sandbox."""

    backend_url: str
    store_url: str
    port: int = field(default_factory=free_port)
    workers: int = 4
    concurrency: int | None = None
    """Back-end calls in flight; the connector's default when None."""
    lease: float = 30.0
    max_attempts: int = 10
    # Short waits: retries and deferrals come round in well under a second.
    backoff_base: float = 0.05
    backoff_cap: float = 0.5
    stores: str | None = None
    """The ``[[stores]]`` entries, in TOML; the test platform's store when None."""
    files_folder: Path | None = None
    """With it, also a store of the file platform (`FILES_STORE`) watching this folder."""

    def _concurrency(self) -> str:
        return "" if self.concurrency is None else f"concurrency = {self.concurrency}\n"

    def write(self, path: Path) -> Path:
        stores = self.stores or (
            f"[[stores]]\nplatform = {json.dumps(PLATFORM)}\nid = {json.dumps(STORE_ID)}\n"
            f"secrets = [{json.dumps(SECRET)}]\n"
        )
        path.write_text(
            f"""\
[backend]
url = {json.dumps(self.backend_url)}
token = {json.dumps(DEFAULT_TOKEN)}
merchant = {json.dumps(DEFAULT_MERCHANT)}

[store]
url = {json.dumps(self.store_url)}

{stores}
{self._files_store()}
[dispatcher]
workers = {self.workers}
{self._concurrency()}lease = {self.lease}
max_attempts = {self.max_attempts}
backoff_base = {self.backoff_base}
backoff_cap = {self.backoff_cap}

[receiver]
host = "127.0.0.1"
port = {self.port}

[[admin.tokens]]
name = "auditor"
token = {json.dumps(READ_TOKEN)}
access = "read"

[[admin.tokens]]
name = "operator"
token = {json.dumps(FULL_TOKEN)}
access = "full"
"""
        )
        return path

    def _files_store(self) -> str:
        if self.files_folder is None:
            return ""
        return f"""
[[stores]]
platform = {json.dumps(FILES_PLATFORM)}
id = {json.dumps(FILES_STORE)}
secrets = [{json.dumps(SECRET)}]
options = {{ folder = {json.dumps(str(self.files_folder))} }}
"""


class ConnectorProcess:
    """`passerelle serve` in a subprocess; its output goes to `log`. Always `kill` it (the
    context manager does)."""

    def __init__(
        self,
        config: Path,
        env: Mapping[str, str],
        log: Path,
        *,
        role: str = "all",
        port: int | None = None,
        store_url: str | None = None,
        log_level: str | None = None,
    ) -> None:
        self.config = config
        self.log_level = log_level
        self.env = dict(env)
        if store_url is not None:
            self.env["PASSERELLE_STORE__URL"] = store_url
        self.log = log
        self.role = role
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("this connector was started without a --port")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Self:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the connector is already running")
        command = [
            str(Path(sys.executable).with_name("passerelle")),
            "serve",
            "--config",
            str(self.config),
            "--role",
            self.role,
        ]
        if self.port is not None:
            command += ["--port", str(self.port)]
        if self.log_level is not None:
            command += ["--log-level", self.log_level]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until `/readyz` answers 200 (the lifespan ran: the dispatcher is started)."""

        def ready() -> bool:
            self._check_running()
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=timeout, what=f"{self} to be ready")

    def _check_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"{self} exited with {code}:\n{self.output()}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to end and return its exit code (negative: killed by a signal)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self} still running after {timeout:g} s:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL, as a crash would; waits until the process is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def output(self) -> str:
        """What the process wrote to its stdout and stderr, over every start."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def __repr__(self) -> str:
        pid = self.process.pid if self.process is not None else None
        return f"<passerelle serve --role {self.role} pid={pid}>"


def serve(config: ConnectorConfig, folder: Path, site: Path) -> ConnectorProcess:
    """`passerelle serve` with `config` written in `folder`, its output in `folder`, on
    `config`'s port and with the test platform of `site`: to start."""
    return ConnectorProcess(
        config.write(folder / "passerelle.toml"),
        subprocess_env(site),
        folder / "connector.log",
        port=config.port,
    )


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Call `check` until it returns something true and return that; fail naming `what` once
    `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# Deliveries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A signed delivery of the test platform: its key and the events its body carries."""

    key: str
    order: str
    events: tuple[dict[str, Any], ...]

    def body(self) -> bytes:
        return delivery_body(self.order, events=list(self.events))

    def headers(self) -> dict[str, str]:
        return signed_headers(self.body(), SECRET, delivery=self.key)


def webhook_url(base: str) -> str:
    return f"{base}/webhooks/{PLATFORM}/{STORE_ID}"


def deliver(
    client: httpx.Client, base: str, delivery: Delivery, *, timeout: float = 60.0
) -> dict[str, Any]:
    """Send `delivery` until the connector acknowledges it with a 2xx, as a platform retries;
    return the acknowledgement. Any other answer fails."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.post(
                webhook_url(base), content=delivery.body(), headers=delivery.headers()
            )
        except httpx.TransportError:
            response = None
        if response is not None and response.is_success:
            answer: dict[str, Any] = response.json()
            return answer
        if response is not None and response.status_code < 500:
            raise AssertionError(
                f"delivery {delivery.key} refused: {response.status_code} {response.text}"
            )
        if time.monotonic() >= deadline:
            raise AssertionError(f"delivery {delivery.key} not acknowledged in {timeout:g} s")
        time.sleep(0.05)


def ship(order: str, event_id: str, line: str = "SKU-1", quantity: int = 1) -> dict[str, Any]:
    return {
        "kind": "order_shipped",
        "order": order,
        "id": event_id,
        "lines": [{"line": line, "quantity": quantity}],
    }


def cancel(order: str, event_id: str, line: str, quantity: int = 1) -> dict[str, Any]:
    return {
        "kind": "order_cancelled",
        "order": order,
        "id": event_id,
        "lines": [{"line": line, "quantity": quantity}],
        "reason": "customer",
    }


def refund(
    order: str, event_id: str, amount: str, line: str = "SKU-1", quantity: int = 1
) -> dict[str, Any]:
    return {
        "kind": "order_returned",
        "order": order,
        "id": event_id,
        "lines": [{"line": line, "quantity": quantity}],
        "refund": {"amount": amount, "currency": CURRENCY},
    }


# The back end ------------------------------------------------------------------------------


def backend(url: str) -> BackendClient:
    return BackendClient(url, DEFAULT_TOKEN, DEFAULT_MERCHANT)


def create_order(
    client: BackendClient, reference: str, lines: Iterable[tuple[str, str, int]]
) -> str:
    """Play the checkout: an order with `(line reference, unit price, quantity)` lines."""
    client.create_order(
        OrderCreate(
            reference=reference,
            currency=CURRENCY,
            lines=tuple(
                CartLineItem(
                    reference=line,
                    name=f"Item {line}",
                    unit_price=Money.of(price, CURRENCY),
                    quantity=quantity,
                )
                for line, price, quantity in lines
            ),
        )
    )
    return reference


def money(amount: str) -> Money:
    return Money.of(amount, CURRENCY)


def ledger(view: OrderView) -> dict[str, Any]:
    """What the back end holds for an order, in a form two orders can be compared in."""
    return {
        "status": view.status.value,
        "lines": {
            line.reference: (line.ordered, line.shipped, line.cancelled, line.returned)
            for line in view.lines
        },
        "authorized": str(view.authorized),
        "captured": str(view.captured),
        "refunded": str(view.refunded),
        "voided": str(view.voided),
        "applied": sorted((event.kind, event.id) for event in view.applied),
    }


class RecordingBackend(BackgroundServer):
    """The sandbox on a real port, recording the method and path of every request it gets."""

    def __init__(self) -> None:
        app = create_app()
        self.state = sandbox_of(app)
        self.requests: list[tuple[str, str]] = []

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.requests.append((scope["method"], scope["path"]))
            await app(scope, receive, send)

        super().__init__(recording, lifespan="off")

    def stop(self) -> None:
        super().stop()
        self.state.close()


# The connector's view ------------------------------------------------------------------------


def api(
    base: str, path: str, *, token: str | None = FULL_TOKEN, body: object = None
) -> httpx.Response:
    """Call the action-center API (a POST when `body` is given)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if body is None:
        return httpx.get(f"{base}/api{path}", headers=headers, timeout=10.0)
    return httpx.post(f"{base}/api{path}", json=body, headers=headers, timeout=10.0)


def stats(base: str) -> dict[str, int]:
    response = api(base, "/stats", token=READ_TOKEN)
    assert response.status_code == 200, response.text
    counts: dict[str, int] = response.json()
    return counts


def settled(counts: Mapping[str, int]) -> bool:
    """Nothing waiting and nothing in hand."""
    return counts.get("pending", 0) == 0 and counts.get("processing", 0) == 0


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The observer's records, oldest first."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def applications(journal: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """How many times the observer saw each (order, event id)."""
    seen: dict[tuple[str, str], int] = {}
    for record in journal:
        key = (str(record["order"]), str(record["id"]))
        seen[key] = seen.get(key, 0) + 1
    return seen


def wait_settled(base: str, *, timeout: float) -> dict[str, int]:
    """Wait until the connector at `base` has nothing waiting or in hand; return its counts."""

    def check() -> dict[str, int] | None:
        counts = stats(base)
        return counts if settled(counts) else None

    return wait_until(check, timeout=timeout, what=f"every delivery at {base} to be settled")


def wait_for_status(
    base: str,
    delivery_id: int,
    status: str,
    *,
    timeout: float,
    token: str = READ_TOKEN,
    body: bool = False,
) -> dict[str, Any]:
    """Wait until the action-center API shows the delivery in `status`; return what it shows
    (with the body when `body`, which needs a full-access `token`)."""
    path = f"/actions/{delivery_id}" + ("?body=true" if body else "")

    def check() -> dict[str, Any] | None:
        shown: dict[str, Any] = api(base, path, token=token).json()
        return shown if shown["status"] == status else None

    return wait_until(check, timeout=timeout, what=f"delivery {delivery_id} to be {status}")
