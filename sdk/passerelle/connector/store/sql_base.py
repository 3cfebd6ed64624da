"""The base of the store over SQL: the statements' shared text, the transaction a backend
hands the SQL, what a backend provides, and the conversions of rows to records."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from passerelle.clock import Clock
from passerelle.connector.outages import Outage
from passerelle.connector.store.interface import DeliveryStore
from passerelle.connector.store.records import (
    Delivery,
    DeliveryStatus,
    ErrorInfo,
    Headers,
    NewDelivery,
    _require_aware,
)

__all__ = ["CLAIMABLE", "SQLStoreBase", "Tx"]

T = TypeVar("T")

logger = logging.getLogger("passerelle.store")

# ---------------------------------------------------------------------------------------------
# The SQL both backends share. Statements use `:name` parameters; each backend's transaction
# adapter maps them to its driver. Statement text is put together from constants only (hence the
# S608 waivers); every value travels as a parameter.

_COLUMNS = (
    "id, platform, store, delivery_key, ordering_key, headers, body, received_at, status,"
    " deferred, attempts, next_attempt_at, claimed_by, lease_expires_at, error_code,"
    " error_message, first_failed_at, last_failed_at, finished_at, outcome"
)

_BATCH_VERSION = (
    "SELECT platform, store, batch_id, number, delivery_id, batch, recorded_at FROM batch_versions"
)


def _due(alias: str) -> str:
    return (
        f"(({alias}.status = 'pending' AND {alias}.next_attempt_at <= :now)"
        f" OR ({alias}.status = 'processing' AND {alias}.lease_expires_at <= :now))"
    )


_LANE = "e.platform = d.platform AND e.store = d.store AND e.ordering_key = d.ordering_key"
_OPEN = "status IN ('pending', 'processing')"
_OPEN_E = f"e.{_OPEN}"

CLAIMABLE = f"""
d.status IN ('pending', 'processing') AND {_due("d")}
AND (d.ordering_key IS NULL OR (
    NOT EXISTS (
        SELECT 1 FROM deliveries e
        WHERE {_LANE} AND e.status = 'processing' AND e.lease_expires_at > :now AND e.id <> d.id
    )
    AND NOT EXISTS (
        SELECT 1 FROM deliveries e
        WHERE {_LANE} AND {_OPEN_E} AND e.id < d.id AND NOT e.deferred
    )
    AND (NOT d.deferred OR (
        NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE {_LANE} AND {_OPEN_E} AND e.id <> d.id AND NOT e.deferred
        )
        AND NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE {_LANE} AND {_OPEN_E} AND e.deferred AND e.id < d.id AND {_due("e")}
        )
    ))
))
"""  # noqa: S608
"""The lane rule as SQL on `deliveries d` at time `:now`. A lane is one ordering key of one
store of one platform: two shops' order 1001 are different orders. In turn: another delivery of
the lane under a live lease blocks everything; a waiting delivery that has not stepped aside
blocks the later ones, and every other one when `d` has stepped aside; among due deferred
deliveries the oldest goes first. Hence at most one delivery per lane is claimable at any moment.

Each test is a search of its own that an index answers (the live leases of a lane, the lane's
deliveries before `d`), so a claim costs the same however long a lane's backlog: one search
over every condition at once would read a lane head's whole lane."""


class Tx(Protocol):
    """One transaction as the shared SQL sees it."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run `sql` and return every row it yields."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run `sql` and return how many rows it changed."""


class SQLStoreBase(DeliveryStore):
    """What the SQL of the store stands on: a backend supplies transactions, value conversions
    and the way candidates are picked and locked for a claim."""

    random_id_sql: str
    """An SQL expression for a fresh random claim token."""
    lock_rows: str
    """Appended to a SELECT whose rows are about to be changed (FOR UPDATE where it exists)."""

    def __init__(self, clock: Clock, where: str) -> None:
        self.clock = clock
        self.outage = Outage(where, logger)

    # -- what a backend provides -----------------------------------------------------------

    @abc.abstractmethod
    def write(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in a write transaction and return its result once it is durable; if
        `work` raises, nothing it did is kept."""

    @abc.abstractmethod
    def read(self, work: Callable[[Tx], T]) -> T:
        """Run `work` on a consistent snapshot."""

    @abc.abstractmethod
    def candidates(self, tx: Tx, *, limit: int, now: datetime) -> list[int]:
        """Ids worth claiming, locked as the backend needs so that the claim's final check
        (`CLAIMABLE` again, in the same transaction) cannot race with another worker."""

    @abc.abstractmethod
    def id_in(self, column: str) -> str:
        """An SQL condition: `column` is one of the ids in the `:ids` parameter."""

    @abc.abstractmethod
    def to_db_ids(self, ids: Sequence[int]) -> Any:
        """The `:ids` parameter for `id_in`, however many ids there are."""

    @abc.abstractmethod
    def to_db_time(self, value: datetime) -> Any: ...

    @abc.abstractmethod
    def from_db_time(self, value: Any) -> datetime: ...

    @abc.abstractmethod
    def to_db_headers(self, headers: Headers) -> Any: ...

    @abc.abstractmethod
    def from_db_headers(self, value: Any) -> Headers: ...

    def to_db_body(self, body: bytes) -> Any:
        """The body as the backend keeps it (as is unless the backend encodes it)."""
        return body

    def to_db_row(self, delivery: NewDelivery) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
        """`delivery` as the deliveries table keeps it: platform, store, delivery key, ordering
        key, headers, body, received_at."""
        return (
            delivery.platform,
            delivery.store,
            delivery.delivery_key,
            delivery.ordering_key,
            self.to_db_headers(delivery.headers),
            self.to_db_body(delivery.body),
            self.to_db_time(delivery.received_at),
        )

    def from_db_body(self, value: Any) -> bytes:
        """The body exactly as it was received, from what `to_db_body` made of it."""
        return bytes(value)

    def ping(self) -> None:
        self.read(lambda tx: tx.rows("SELECT MAX(version) FROM schema_version"))

    # -- conversions -----------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        if now is None:
            return self.clock.now()
        _require_aware(now, "now")
        return now

    def _maybe_time(self, value: Any) -> datetime | None:
        return None if value is None else self.from_db_time(value)

    def _delivery(self, row: Sequence[Any]) -> Delivery:
        (
            delivery_id,
            platform,
            store,
            delivery_key,
            ordering_key,
            headers,
            body,
            received_at,
            status,
            deferred,
            attempts,
            next_attempt_at,
            claimed_by,
            lease_expires_at,
            error_code,
            error_message,
            first_failed_at,
            last_failed_at,
            finished_at,
            outcome,
        ) = row
        return Delivery(
            id=int(delivery_id),
            platform=platform,
            store=store,
            delivery_key=delivery_key,
            ordering_key=ordering_key,
            headers=self.from_db_headers(headers),
            body=self.from_db_body(body),
            received_at=self.from_db_time(received_at),
            status=DeliveryStatus(status),
            deferred=bool(deferred),
            attempts=int(attempts),
            next_attempt_at=self.from_db_time(next_attempt_at),
            claimed_by=claimed_by,
            lease_expires_at=self._maybe_time(lease_expires_at),
            last_error=ErrorInfo(error_code, error_message or "")
            if error_code is not None
            else None,
            first_failed_at=self._maybe_time(first_failed_at),
            last_failed_at=self._maybe_time(last_failed_at),
            finished_at=self._maybe_time(finished_at),
            outcome=outcome,
        )
