"""What one sandbox holds: its configuration, database, clock and fault injector."""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from passerelle.batches import DEFAULT_CUTOFF, CutoffPolicy
from passerelle.clock import Clock
from passerelle.sandbox.clock import SandboxClock
from passerelle.sandbox.db import SandboxDB
from passerelle.sandbox.faults import FaultInjector, Faults
from passerelle.sandbox.idempotency import Idempotency, WriteGate

__all__ = [
    "DEFAULT_MERCHANT",
    "DEFAULT_TOKEN",
    "ClockNotSettableError",
    "Sandbox",
    "SandboxConfig",
    "SettableClock",
]

DEFAULT_TOKEN = "sk_sandbox_demo"  # noqa: S105 - a published demo credential, not a secret
"""The token a sandbox accepts when none is configured; it acts for `DEFAULT_MERCHANT`."""
DEFAULT_MERCHANT = "demo"


@dataclass(frozen=True)
class SandboxConfig:
    """How to start a sandbox.

    `tokens` maps each accepted bearer token to the merchant it acts for (default:
    `DEFAULT_TOKEN` for `DEFAULT_MERCHANT`). `db` is a SQLite file (None: in memory). `clock`
    defaults to a `SandboxClock`. The ``/_sandbox/`` admin endpoints (clock, faults) answer only to
    `admin_token`, and not at all without one. Batches change until `cutoff`; disbursement days
    are calendar days in the cutoff's time zone.
    """

    tokens: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_TOKEN: DEFAULT_MERCHANT})
    db: str | Path | None = None
    clock: Clock | None = None
    faults: Faults = field(default_factory=Faults)
    admin_token: str | None = None
    cutoff: CutoffPolicy = DEFAULT_CUTOFF

    def __post_init__(self) -> None:
        for token, merchant in self.tokens.items():
            if not token or not merchant:
                raise ValueError("a sandbox token and its merchant must not be empty")
        if self.admin_token is not None and not self.admin_token:
            raise ValueError("the admin token must not be empty")


class Sandbox:
    """The live state of a sandbox app; reach it with `sandbox_of(app)` or `SandboxServer.state`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.db = SandboxDB(config.db)
        self.clock: Clock = config.clock if config.clock is not None else SandboxClock()
        self.faults = FaultInjector(config.faults)
        self.gate = WriteGate()
        self.idempotency = Idempotency(
            self.db,
            self.clock,
            gate=self.gate,
            latency=lambda: self.faults.faults.latency_ms / 1000,
        )
        self.cutoff = config.cutoff
        self._tokens = [(token.encode(), merchant) for token, merchant in config.tokens.items()]

    def merchant_for(self, token: str) -> str | None:
        """The merchant `token` acts for, or None; compares every token in constant time."""
        wanted = token.encode()
        found = None
        for known, merchant in self._tokens:
            if hmac.compare_digest(known, wanted):
                found = merchant
        return found

    def is_admin(self, token: str) -> bool:
        admin = self.config.admin_token
        return admin is not None and hmac.compare_digest(admin.encode(), token.encode())

    # Python API for tests and demos

    def set_clock(self, at: datetime) -> None:
        """Stop the clock at `at`; needs a `SandboxClock` or a `passerelle.clock.FixedClock`."""
        _settable(self.clock).set(at)

    def advance_clock(self, by: timedelta) -> None:
        _settable(self.clock).advance(by)

    def release_clock(self) -> None:
        """Follow the system clock again; needs a `SandboxClock`."""
        if not isinstance(self.clock, SandboxClock):
            raise ClockNotSettableError(
                f"the sandbox clock {type(self.clock).__name__} cannot follow the system clock"
            )
        self.clock.release()

    def set_faults(self, faults: Faults) -> None:
        """Inject `faults` from now on (`Faults()` turns them off)."""
        self.faults.configure(faults)

    @contextmanager
    def hold_writes(self) -> Iterator[WriteGate]:
        """Writes started inside the block wait, idempotency key claimed, until it ends."""
        with self.gate.hold() as gate:
            yield gate

    def close(self) -> None:
        self.db.close()


@runtime_checkable
class SettableClock(Clock, Protocol):
    """A clock tests can set: `SandboxClock`, `passerelle.clock.FixedClock`."""

    def set(self, at: datetime) -> None: ...

    def advance(self, by: timedelta) -> None: ...


class ClockNotSettableError(TypeError):
    """The sandbox runs on a clock that cannot be set."""


def _settable(clock: Clock) -> SettableClock:
    if not isinstance(clock, SettableClock):
        raise ClockNotSettableError(
            f"the sandbox clock {type(clock).__name__} cannot be set; "
            "start the sandbox with a SandboxClock or a FixedClock"
        )
    return clock
