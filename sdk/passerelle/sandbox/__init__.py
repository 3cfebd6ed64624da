"""A reference payment back end for demos, tests and plugin authors: no credentials needed.

It implements the back-end API contract (`passerelle.backend.models`) for real: orders follow the
SDK's ledger rules, batches their cutoff, every write its idempotency key; state lives in SQLite.
Faults (latency, 500s, 429s, dropped connections, lost responses) can be injected on demand.

::

    with SandboxServer() as sandbox:
        client = BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT)

From the command line: ``passerelle sandbox --port 8765``.
"""

from passerelle.sandbox.app import API_VERSION, create_app, sandbox_of
from passerelle.sandbox.clock import SandboxClock
from passerelle.sandbox.faults import FaultMode, Faults
from passerelle.sandbox.orders import DECLINE_PREFIX
from passerelle.sandbox.server import SandboxServer, run_sandbox
from passerelle.sandbox.state import (
    DEFAULT_MERCHANT,
    DEFAULT_TOKEN,
    ClockNotSettableError,
    Sandbox,
    SandboxConfig,
)

__all__ = [
    "API_VERSION",
    "DECLINE_PREFIX",
    "DEFAULT_MERCHANT",
    "DEFAULT_TOKEN",
    "ClockNotSettableError",
    "FaultMode",
    "Faults",
    "Sandbox",
    "SandboxClock",
    "SandboxConfig",
    "SandboxServer",
    "create_app",
    "run_sandbox",
    "sandbox_of",
]
