"""What every `passerelle demo` scenario runs on: the sandbox back end and a connector in this
process, on temporary files, for one store; and the wait for its deliveries to settle.

The connector's admin token is `ADMIN_TOKEN` (full access), its watched folders settle in
`SETTLE` seconds, and a file platform's store watches the folder given to `running`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

from passerelle.connector.config import Settings
from passerelle.connector.runtime import Connector, build_connector
from passerelle.connector.store import DeliveryStatus
from passerelle.platforms import Store
from passerelle.plugins import Plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN, SandboxConfig
from passerelle.serving import BackgroundServer

__all__ = ["ADMIN_TOKEN", "SETTLE", "DemoFailedError", "running", "settle"]

ADMIN_TOKEN: Final = "demo-admin-token-0123456789abcdef"  # noqa: S105 - the demo's own, on loopback
SETTLE: Final = 0.3


class DemoFailedError(Exception):
    """An outcome was not the expected one; the message lists each."""


@contextmanager
def running(
    directory: Path, plugins: Plugins, store: Store, *, folder: Path | None = None
) -> Iterator[tuple[SandboxServer, Connector, str]]:
    """The sandbox, and a connector serving `store` (watching `folder`, when given) over HTTP
    at the URL yielded; both stopped on the way out."""
    options = dict(store.options)
    if folder is not None:
        options["folder"] = str(folder)
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxServer(SandboxConfig(db=directory / "sandbox.db")))
        settings = Settings.model_validate(
            {
                "backend": {
                    "url": sandbox.url,
                    "token": DEFAULT_TOKEN,
                    "merchant": DEFAULT_MERCHANT,
                },
                "store": {"url": f"sqlite:///{directory / 'inbox.db'}"},
                "stores": [
                    {
                        "platform": store.platform,
                        "id": store.id,
                        "secrets": [secret.get_secret_value() for secret in store.secrets],
                        "options": options,
                    }
                ],
                "dispatcher": {"workers": 2, "backoff_base": 0.2, "backoff_cap": 2.0},
                "batches": {"settle": SETTLE},
                "admin": {"tokens": [{"name": "demo", "token": ADMIN_TOKEN, "access": "full"}]},
            }
        )
        connector = build_connector(settings, plugins=plugins)
        stack.callback(connector.close)
        server = stack.enter_context(BackgroundServer(connector.asgi(), lifespan="on"))
        yield sandbox, connector, server.url


def settle(connector: Connector, ids: Iterable[int], timeout: float = 30.0) -> None:
    """Wait until none of the deliveries `ids` is pending or in progress."""
    deadline = time.monotonic() + timeout
    unsettled = (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING)
    wanted = list(ids)
    while time.monotonic() < deadline:
        if all(connector.store.get(i).status not in unsettled for i in wanted):
            return
        time.sleep(0.05)
    raise DemoFailedError(f"deliveries still in progress after {timeout:g} s")
