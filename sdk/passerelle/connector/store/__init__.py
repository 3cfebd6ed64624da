"""The connector's durable store: the inbox of deliveries, the work queue and the action center.

The receiver appends each verified delivery and answers the platform only once `append` has
returned: the delivery is then committed and durable. Dispatcher workers `claim` deliveries under
a lease and settle each claim with `complete`, `ignore`, `retry_later`, `defer` or `fail`.

Lanes. Deliveries that share an ordering key (usually the order id) form a lane, processed one at
a time in arrival (id) order; lanes run in parallel, and a delivery without an ordering key is a
lane of its own. A delivery is claimable when it is pending and due (or its worker's lease has
expired), no other delivery of its lane is held under a live lease, and no earlier delivery of
its lane is still waiting (pending, including one waiting for a retry, or processing). Two
outcomes take a delivery out of that order:

- `defer`: the delivery cannot apply yet (a refund before its fulfilment). It steps aside: later
  deliveries of its lane go first, and it is retried once it is due and no other delivery of its
  lane is waiting, oldest deferred first. The dispatcher fails it once the missing event
  evidently never comes.
- `fail`: the delivery is parked in the action center and the lane moves on. `requeue` puts it
  back in its original place: it waits for the lane to be free, then goes before any later
  delivery still waiting.

Outages. An operation that fails for want of the store itself (the database unreachable, the disk
full) raises `StoreUnavailableError` and changes nothing; `outage` tells of it in a few log lines
(its start, a count while it lasts, its end), not one per operation.

Crashes. A claim whose worker died is claimable again when its lease expires; the abandoned
attempt is recorded as `lease_expired`. A worker whose lease was lost gets `LeaseLostError`
when it settles the claim, and nothing changes. A worker may settle after its lease expired as
long as no one claimed the delivery again.

Versions. `record_version` keeps the time of the newest state seen of each platform object
(per platform and store), so the dispatcher can tell a delivery reporting an older state.
`record_batch_version` numbers the versions of each batch file (per platform and store), so a new
file of a batch is compared with the one before it.

Open a store with `open_store("sqlite:////var/lib/passerelle/inbox.db")` or
`open_store("postgresql://user@host/db")`.
"""

from __future__ import annotations

from passerelle.clock import Clock, SystemClock
from passerelle.connector.store.errors import (
    DeliveryNotFoundError,
    DeliveryStateError,
    LeaseLostError,
    SchemaVersionError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from passerelle.connector.store.interface import DeliveryStore
from passerelle.connector.store.records import (
    AppendResult,
    Attempt,
    AttemptResult,
    Backlog,
    BatchVersion,
    Claim,
    Delivery,
    DeliveryStatus,
    ErrorInfo,
    Headers,
    NewDelivery,
    Note,
    NoteAction,
    StoreBacklog,
)
from passerelle.redaction import redact_url

__all__ = [
    "AppendResult",
    "Attempt",
    "AttemptResult",
    "Backlog",
    "BatchVersion",
    "Claim",
    "Delivery",
    "DeliveryNotFoundError",
    "DeliveryStateError",
    "DeliveryStatus",
    "DeliveryStore",
    "ErrorInfo",
    "Headers",
    "LeaseLostError",
    "NewDelivery",
    "Note",
    "NoteAction",
    "SchemaVersionError",
    "StoreBacklog",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "open_store",
    "store_url_problem",
]


def open_store(url: str, *, clock: Clock | None = None, pool_size: int = 10) -> DeliveryStore:
    """Open (creating and migrating as needed) the store at `url`.

    - `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`: one file, for one machine
      (the usual SQLAlchemy form: three slashes, then the path).
    - `postgresql://user@host:port/db?options=-csearch_path%3Dschema`: shared by several
      machines; tables live in the connection's current schema. `pool_size` bounds the
      connections this process opens.
    """
    clock = clock or SystemClock()
    problem = store_url_problem(url)
    if problem is not None:
        raise ValueError(f"store URL {redact_url(url)!r} {problem}")
    if url.startswith("sqlite:"):
        from passerelle.connector.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"), clock=clock)
    from passerelle.connector.store.postgres import PostgresStore

    return PostgresStore(url, clock=clock, pool_size=pool_size)


def store_url_problem(url: str) -> str | None:
    """What makes `url` unfit for `open_store` (``must ...``), or None; the configuration
    checks a store URL with this same function."""
    scheme, _, rest = url.partition(":")
    if scheme == "sqlite":
        path = rest[3:] if rest.startswith("///") else ""
        if not path or path == ":memory:":
            return (
                "must name a database file, as in sqlite:///inbox.db (relative) or "
                "sqlite:////var/lib/passerelle/inbox.db (absolute)"
            )
        return None
    if scheme in ("postgresql", "postgres"):
        return None
    return "must start with sqlite:/// or postgresql://"
