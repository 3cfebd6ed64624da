"""Idempotency keys: every write names one, and the same key never does the work twice.

Per merchant, a key is claimed before the work starts and completed with the exact bytes of the
answer in the same transaction as the state change. Then:

- same key, same request (method, path and JSON body, whatever its key order or spacing):
  the stored answer again, byte for byte, with ``Idempotent-Replayed: true``;
- same key, another request: 422 ``idempotency_key_reused``;
- same key while the first request is still running: 409 ``idempotency_key_in_use``.

What the first request was answered is kept, whether it changed something (2xx) or was refused
(4xx: a malformed request's 422 ``validation_failed``, a rule's 409 ``order_already_shipped``, a
402 ``card_declined``, a 404 ``unknown_order``...). The replay is the same status, the same
``Content-Type`` and headers of the answer, and the same body bytes, so a refusal's ``request_id``
is the first request's; only ``Request-Id`` (this request's) and ``Idempotent-Replayed`` differ.
The same request under the same key is thus answered the same way even after the state changed:
to be judged against the new state, a request needs a new key. A refusal never changes anything.

Not kept, so that a retry with the same key is judged anew:

- a 5xx: the sandbox failed (nothing it did is kept), or fault injection answered before the
  request reached it (likewise a 429 ``rate_limited`` or a dropped connection);
- the key's own conflicts, 409 ``idempotency_key_in_use`` and 422 ``idempotency_key_reused``:
  they answer about the key, not the request;
- what is refused before there is a key to keep it under: 401 and 403 (no merchant yet), 400
  ``idempotency_key_missing``, and a 422 whose only complaint is the key header itself.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from passerelle.clock import Clock
from passerelle.sandbox.db import Headers, SandboxDB, Transaction

__all__ = ["Idempotency", "IdempotencyConflict", "StoredResponse", "WriteGate", "fingerprint"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """An answer as it is kept: status, content type, headers and body bytes."""

    status: int
    content_type: str
    body: bytes
    replayed: bool = False
    headers: Headers = ()

    @property
    def kept(self) -> bool:
        """Whether a repeat of the request under the same key gets this answer again."""
        return self.status < 500


def _changes(status: int) -> bool:
    return 200 <= status < 300


class IdempotencyConflict(Exception):  # noqa: N818 - named after what the client did
    """The key is in use by a running request, or was used for another request."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same" for a key: method, path and the body's JSON value."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


class WriteGate:
    """Holds writes after they claimed their key, for tests of concurrent requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False
        self._waiting = 0

    @contextmanager
    def hold(self) -> Iterator[WriteGate]:
        """Writes that start inside the block wait, key claimed, until it ends."""
        with self._cond:
            self._closed = True
        try:
            yield self
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()

    def wait_for_writes(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until `count` writes are held; False when `timeout` seconds pass first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._waiting >= count, timeout)

    def pass_through(self) -> None:
        with self._cond:
            self._waiting += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: not self._closed)
            finally:
                self._waiting -= 1


class Idempotency:
    """Runs writes under their idempotency key."""

    def __init__(
        self,
        db: SandboxDB,
        clock: Clock,
        *,
        gate: WriteGate | None = None,
        latency: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.gate = gate or WriteGate()
        self._latency = latency

    def run(
        self,
        merchant: str,
        key: str,
        request_fingerprint: str,
        work: Callable[[Transaction], StoredResponse],
    ) -> StoredResponse:
        """The stored answer for (merchant, key), or `work`'s answer, stored unless it is a 5xx.

        `work` runs in the transaction that stores its answer. What it did is kept only when it
        answers a 2xx; when it raises, nothing is kept and the key is free again.
        """
        with self.db.transaction() as tx:
            record = tx.get_key(merchant, key)
            if record is None:
                tx.claim_key(merchant, key, request_fingerprint, self.clock.now())
            elif record.fingerprint != request_fingerprint:
                raise IdempotencyConflict(
                    "idempotency_key_reused",
                    f"Idempotency-Key {key!r} was already used for another request",
                )
            elif record.running:
                raise IdempotencyConflict(
                    "idempotency_key_in_use",
                    f"a request with Idempotency-Key {key!r} is still running",
                )
            else:
                assert record.status is not None
                assert record.body is not None
                return StoredResponse(
                    record.status,
                    record.content_type or "application/json",
                    record.body,
                    replayed=True,
                    headers=record.headers,
                )
        try:
            delay = self._latency()
            if delay > 0:
                time.sleep(delay)
            self.gate.pass_through()
            with self.db.transaction() as tx:
                tx.savepoint()
                response = work(tx)
                if not _changes(response.status):
                    # A refusal changes nothing, even if the work had begun changing things.
                    tx.rollback_to_savepoint()
                if response.kept:
                    tx.complete_key(
                        merchant,
                        key,
                        response.status,
                        response.content_type,
                        response.body,
                        response.headers,
                    )
                else:
                    tx.release_key(merchant, key)
        except BaseException:
            with self.db.transaction() as tx:
                tx.release_key(merchant, key)
            raise
        return response
