"""The dispatcher: turns stored deliveries into lifecycle hook calls, once, in order per order.

Workers claim deliveries from the store (FIFO within an order's lane, lanes in parallel). For
each, the platform translates the raw delivery into events; the mirrored ledger checks each event
and computes its effect; the lifecycle hooks run (the built-in backend plugin calls the payment
back end with the event's idempotency key). Then the claim is settled:

- done: every event applied (or was a no-op, such as a fulfillment already shipped);
- ignored: the platform said the delivery means nothing for the back end, or the delivery is
  stale: it reports an older state of an object than one already seen (`WebhookPlatform.version`);
- retry later: a transient failure (network, timeout, 408, 429, 5xx, a platform API outage),
  with capped exponential backoff and jitter, or the back end's ``Retry-After``;
- deferred: an event depends on one not seen yet (a refund before its fulfillment), or the order
  is not known to the back end yet; retried until `DispatchPolicy.defer_for` has passed;
- failed: a rule violation, unreadable content, a batch edit past the configured cutoff, a
  permanent back-end refusal, or retries exhausted — parked in the action center with the full
  error, never dropped.

Events of one delivery are applied in order; a retry applies them all again, which changes
nothing for those already applied (ledger ids and idempotency keys).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from passerelle.backend.errors import APIStatusError, BackendError, UnknownOrderError
from passerelle.backend.retry import RetryPolicy, parse_retry_after
from passerelle.batches import DEFAULT_CUTOFF, BatchPastCutoff, CutoffPolicy, Rescheduled
from passerelle.clock import Clock, SystemClock
from passerelle.connector import metrics
from passerelle.connector.mirror import OrderMirror
from passerelle.connector.store import (
    Attempt,
    AttemptResult,
    Claim,
    DeliveryStore,
    ErrorInfo,
    LeaseLostError,
    NoteAction,
    StoreError,
)
from passerelle.events import (
    BatchFileEdited,
    Envelope,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)
from passerelle.orders import Effect, EventNotYetApplicable, LedgerError
from passerelle.platforms import (
    Store,
    Translation,
    TranslationContext,
    TranslationError,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle.plugins import Plugins

__all__ = ["DispatchPolicy", "Dispatcher"]

log = logging.getLogger("passerelle.dispatcher")

T = TypeVar("T")


@dataclass(frozen=True)
class DispatchPolicy:
    """How the dispatcher works and how patient it is."""

    workers: int = 4
    lease: timedelta = timedelta(minutes=2)
    """How long a claim is held before another worker may take the delivery over. A worker
    renews it every third of it while it works, so only a worker that stopped (crashed, hung)
    loses its deliveries to another."""
    max_attempts: int = 12
    """Attempts at a delivery failing transiently before it goes to the action center."""
    backoff: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(initial_delay=1.0, max_delay=300.0)
    )
    """Waits between attempts: its backoff grows with the attempts, and a ``Retry-After`` is
    honoured up to its `max_delay` (its `max_attempts` and `max_retry_after` are not used here)."""
    defer_for: timedelta = timedelta(hours=24)
    """How long an event may wait for the one it depends on before the action center, from its
    first deferral (or from a retry or replay by hand)."""
    defer_delay: timedelta = timedelta(seconds=5)
    """First wait of a deferred delivery; it doubles up to the backoff's cap."""
    idle_wait: float = 0.5
    """Seconds an idle worker waits before looking for work again (a wake-up cuts it short)."""
    cutoff: CutoffPolicy = DEFAULT_CUTOFF
    """Until when a batch may change: a batch file edit past it goes to the action center
    (``batch_past_cutoff``) before any hook runs."""


class _TransientError(Exception):
    """An attempt failed for a reason that may pass; retry after `wait` seconds (or backoff)."""

    def __init__(self, error: ErrorInfo, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


class _DeferError(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


class _PermanentError(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


class Dispatcher:
    """Dispatches stored deliveries; `start` runs worker threads, `run_once` works inline."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        platforms: Mapping[str, WebhookPlatform],
        stores: Mapping[tuple[str, str], Store],
        plugins: Plugins,
        mirror: OrderMirror,
        http: httpx.Client | None = None,
        policy: DispatchPolicy | None = None,
        clock: Clock | None = None,
        name: str = "dispatcher",
    ) -> None:
        self._store = store
        self._platforms = platforms
        self._stores = stores
        self._plugins = plugins
        self._mirror = mirror
        self._http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
        self._owns_http = http is None
        self.policy = policy or DispatchPolicy()
        self._clock = clock or SystemClock()
        self._name = name
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._leases = _LeaseKeeper(store)

    # Running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads."""
        self._stopping.clear()
        for n in range(self.policy.workers):
            thread = threading.Thread(
                target=self._work, args=(f"{self._name}-{n}",), name=f"{self._name}-{n}"
            )
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Tell idle workers there may be new work (the receiver calls it after an append)."""
        self._wake.set()

    def workers_running(self) -> int:
        """How many worker threads are running: none before `start` or once `stop` is called."""
        if self._stopping.is_set():
            return 0
        return sum(thread.is_alive() for thread in self._threads)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Let every worker finish the delivery in hand, then stop them."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self._leases.stop()
        if self._owns_http:
            self._http.close()

    def run_once(self, worker_id: str | None = None, *, limit: int = 100) -> int:
        """Claim what is claimable now and dispatch it inline; return how many were handled."""
        claims = self._store.claim(
            worker_id or f"{self._name}-inline", limit=limit, lease=self.policy.lease
        )
        for claim in claims:
            self.dispatch(claim)
        return len(claims)

    def drain(self, *, max_rounds: int = 1000) -> int:
        """`run_once` until nothing is claimable now; return how many were handled."""
        handled = 0
        for _ in range(max_rounds):
            n = self.run_once()
            if n == 0:
                break
            handled += n
        return handled

    def _work(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            try:
                claims = self._store.claim(worker_id, limit=1, lease=self.policy.lease)
            except Exception:
                log.exception("%s could not claim work; trying again", worker_id)
                claims = []
            if not claims:
                self._wake.wait(self.policy.idle_wait)
                self._wake.clear()
                continue
            for claim in claims:
                self.dispatch(claim)

    # One delivery ----------------------------------------------------------------------------

    def dispatch(self, claim: Claim) -> None:
        """Process one claimed delivery and settle its claim."""
        delivery = claim.delivery
        try:
            with self._leases.hold(claim, self.policy.lease):
                outcome = self._process(claim)
        except _TransientError as transient:
            self._retry(claim, transient)
        except _DeferError as deferred:
            self._defer(claim, deferred.error)
        except _PermanentError as permanent:
            self._settle(self._store.fail, claim, permanent.error)
        except Exception as exc:  # an observer plugin's bug must not kill the worker
            log.exception("delivery %s failed unexpectedly", delivery.id)
            self._settle(
                self._store.fail, claim, ErrorInfo("internal_error", f"{type(exc).__name__}: {exc}")
            )
        else:
            if isinstance(outcome, str):
                self._settle(self._store.ignore, claim, outcome)
            else:
                self._settle(self._store.complete, claim, json.dumps(outcome))

    def _process(self, claim: Claim) -> list[str] | str:
        delivery = claim.delivery
        platform = self._platforms.get(delivery.platform)
        if platform is None:
            raise _PermanentError(
                ErrorInfo("unknown_platform", f"no installed plugin provides {delivery.platform!r}")
            )
        store = self._stores.get((delivery.platform, delivery.store))
        if store is None:
            raise _PermanentError(
                ErrorInfo(
                    "unknown_store",
                    f"store {delivery.store!r} of {delivery.platform} is no longer configured",
                )
            )
        request = delivery.to_request()
        # Before translating, so a delivery that fails translation (a cancelled fulfillment
        # sent to the action center) still makes the older ones stale.
        stale = self._stale(platform, request)
        if stale is not None:
            return stale
        translation = self._translate(platform, request, store)
        if translation.ignored is not None:
            return translation.ignored
        occurred_at = translation.occurred_at or delivery.received_at
        redispatch = self._redispatches(claim) if translation.events else 0
        applied: list[str] = []
        for position, event in enumerate(translation.events):
            envelope = Envelope(
                platform=delivery.platform,
                store=delivery.store,
                delivery=delivery.delivery_key,
                position=position,
                occurred_at=occurred_at,
                event=event,
                redispatch=redispatch,
            )
            applied.append(self._apply(envelope))
        return applied

    def _stale(self, platform: WebhookPlatform, request: WebhookRequest) -> str | None:
        """Why `request` is stale; None when it is not (its version, if any, is recorded)."""
        try:
            version = platform.version(request)
        except Exception as exc:
            message = f"version: {type(exc).__name__}: {exc}"
            raise _PermanentError(ErrorInfo("unreadable_delivery", message)) from exc
        if version is None:
            return None
        try:
            newer = self._store.record_version(
                request.platform, request.store, version.subject, version.as_of
            )
        except StoreError as exc:
            raise _TransientError(ErrorInfo("store_unavailable", str(exc))) from exc
        if newer is None:
            return None
        return (
            f"stale: {version.subject} was reported as of {newer.astimezone(UTC).isoformat()},"
            f" this delivery as of {version.as_of.astimezone(UTC).isoformat()}"
        )

    def _translate(
        self, platform: WebhookPlatform, request: WebhookRequest, store: Store
    ) -> Translation:
        try:
            return platform.translate(request, TranslationContext(store=store, http=self._http))
        except TranslationError as exc:
            # A platform may file an authentic act it has no event for under its own code.
            code = getattr(exc, "code", None) or "unreadable_delivery"
            raise _PermanentError(ErrorInfo(str(code), str(exc))) from exc
        except httpx.TransportError as exc:
            raise _TransientError(
                ErrorInfo("platform_unreachable", f"{type(exc).__name__}: {exc}")
            ) from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            message = f"the platform's API answered {status} to {exc.request.url.path}"
            if status in (408, 429) or status >= 500:
                wait = self._retry_after(exc.response.headers.get("Retry-After"))
                raise _TransientError(ErrorInfo("platform_unavailable", message), wait) from exc
            raise _PermanentError(ErrorInfo("platform_refused", message)) from exc

    def _apply(self, envelope: Envelope) -> str:
        event = envelope.event
        if isinstance(event, BatchFileEdited):
            self._check_cutoff(event)
            self._call(lambda: self._plugins.batch_file_edited(envelope=envelope, event=event))
            return f"batch {event.batch}: {', '.join(c.change for c in event.changes)}"
        before = self._call(lambda: self._mirror.get(event.order))
        try:
            after, effect = before.apply(event)
        except LedgerError:
            # The mirror may be behind the back end (another process, a change by hand): look
            # again before calling it a violation or a wait.
            before = self._call(lambda: self._mirror.refresh(event.order))
            try:
                after, effect = before.apply(event)
            except EventNotYetApplicable as exc:
                raise _DeferError(ErrorInfo(exc.code, str(exc))) from exc
            except LedgerError as exc:
                raise _PermanentError(ErrorInfo(exc.code, str(exc))) from exc
        if effect.is_noop:
            why = "already applied" if before.has_applied(event.kind, event.id) else "no change"
            return f"{event.kind} {event.id} of order {event.order}: {why}"
        try:
            self._call(lambda: self._run_hook(envelope, effect))
        except BaseException:
            # The back end may have applied the event before a later hook failed. Put back the
            # ledger the effect was computed from, so that the retry computes the same effect,
            # the back end answers it again under the same idempotency key, and the observers
            # that did not see the event get it.
            self._mirror.put(before)
            raise
        self._mirror.put_if_unchanged(before, after)
        return f"{event.kind} {event.id} of order {event.order}: {_describe(effect)}"

    def _check_cutoff(self, event: BatchFileEdited) -> None:
        """Refuse a batch edit that the cutoff no longer allows: the back end would refuse it,
        and observers must not see an edit that cannot happen."""
        date = event.processing_date or next(
            (change.previous for change in event.changes if isinstance(change, Rescheduled)), None
        )
        if date is None:
            return  # the event does not say which date the batch is on: the back end checks
        try:
            self.policy.cutoff.ensure_changeable(
                event.batch, date, event.changes, self._clock.now()
            )
        except BatchPastCutoff as exc:
            raise _PermanentError(ErrorInfo(exc.code, str(exc))) from exc

    def _run_hook(self, envelope: Envelope, effect: Effect) -> None:
        event = envelope.event
        if isinstance(event, OrderShipped):
            self._plugins.order_shipped(envelope=envelope, event=event, effect=effect)
        elif isinstance(event, OrderCancelled):
            self._plugins.order_cancelled(envelope=envelope, event=event, effect=effect)
        elif isinstance(event, OrderReturned):
            self._plugins.order_returned(envelope=envelope, event=event, effect=effect)
        elif isinstance(event, OrderEdited):
            self._plugins.order_edited(envelope=envelope, event=event, effect=effect)

    def _call(self, work: Callable[[], T]) -> T:
        """Run `work`, sorting back-end failures into transient, deferred and permanent."""
        try:
            return work()
        except UnknownOrderError as exc:
            # Orders are created at checkout, outside the connector; the webhook may be faster.
            metrics.record_backend_error(exc.code or "unknown_order")
            raise _DeferError(ErrorInfo(exc.code or "unknown_order", str(exc))) from exc
        except BackendError as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            metrics.record_backend_error(code)
            error = ErrorInfo(code, str(exc))
            if exc.retryable:
                # A client that gave up because the wait asked for would pass its total timeout
                # raises a timeout caused by the answer that asked for it.
                answer = exc if isinstance(exc, APIStatusError) else exc.__cause__
                asked = answer.retry_after if isinstance(answer, APIStatusError) else None
                raise _TransientError(error, self._retry_after(asked)) from exc
            raise _PermanentError(error) from exc

    def _retry_after(self, value: str | None) -> float | None:
        """The wait a ``Retry-After`` asks for, within the backoff's cap; None without one (the
        backoff then grows with the attempts)."""
        asked = parse_retry_after(value, self._clock.now())
        return None if asked is None else min(asked, self.policy.backoff.max_delay)

    # Settling --------------------------------------------------------------------------------

    def _retry(self, claim: Claim, transient: _TransientError) -> None:
        attempts = self._attempts_since_manual_action(claim)
        if attempts >= self.policy.max_attempts:
            error = ErrorInfo(
                transient.error.code,
                f"gave up after {attempts} attempts: {transient.error.message}",
            )
            self._settle(self._store.fail, claim, error)
            return
        wait = transient.wait
        if wait is None:
            wait = self.policy.backoff.backoff(attempts, self.policy.backoff.initial_delay)
        at = self._clock.now() + timedelta(seconds=wait)
        self._settle(self._store.retry_later, claim, at, transient.error)

    def _redispatches(self, claim: Claim) -> int:
        """How many times a person sent the delivery again: its events' keys change with it."""
        return sum(
            note.action in (NoteAction.REQUEUED, NoteAction.REPLAYED)
            for note in self._store.notes(claim.id)
        )

    def _attempts_since_manual_action(self, claim: Claim) -> int:
        """Attempts since the delivery was last retried or replayed by hand: a merchant who
        retries a delivery from the action center gives it a fresh budget."""
        notes = self._store.notes(claim.id)
        if not notes:
            return claim.attempt
        return len(self._attempts_since(claim, notes[-1].at))

    def _attempts_since(self, claim: Claim, since: datetime | None) -> list[Attempt]:
        attempts = self._store.attempts(claim.id)
        return attempts if since is None else [a for a in attempts if a.started_at >= since]

    def _waiting_since(self, claim: Claim) -> datetime:
        """When the delivery began waiting for what it depends on: its first deferral since the
        last retry or replay by hand, else now (this is the first)."""
        notes = self._store.notes(claim.id)
        attempts = self._attempts_since(claim, notes[-1].at if notes else None)
        deferred = [a.started_at for a in attempts if a.result is AttemptResult.DEFERRED]
        return deferred[0] if deferred else self._clock.now()

    def _defer(self, claim: Claim, error: ErrorInfo) -> None:
        now = self._clock.now()
        waited = now - self._waiting_since(claim)
        if waited >= self.policy.defer_for:
            message = (
                f"waited {_hours(waited)} for the event this one depends on, which never came: "
                f"{error.message}"
            )
            self._settle(self._store.fail, claim, ErrorInfo(error.code, message))
            return
        cap = timedelta(seconds=self.policy.backoff.max_delay)
        wait = min(self.policy.defer_delay * 2 ** max(0, claim.attempt - 1), cap)
        self._settle(self._store.defer, claim, now + wait, error)

    def _settle(self, action: Callable[..., None], claim: Claim, *args: Any) -> None:
        try:
            action(claim, *args)
        except LeaseLostError:
            # Another worker took over after our lease ran out; it will settle the delivery.
            log.warning("lost the lease on delivery %s before settling it", claim.id)
        else:
            error = next((arg for arg in args if isinstance(arg, ErrorInfo)), None)
            metrics.record_dispatch(action.__name__, error)


class _LeaseKeeper:
    """Renews the leases of the deliveries in hand, from one thread, every third of a lease: a
    slow back end (retries, ``Retry-After``) must not let a second worker take a delivery over
    while the first is still applying it."""

    def __init__(self, store: DeliveryStore) -> None:
        self._store = store
        self._held: dict[int, tuple[Claim, timedelta]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def hold(self, claim: Claim, lease: timedelta) -> Iterator[None]:
        """Keep `claim` renewed by `lease` at a time until the block ends."""
        with self._lock:
            self._held[claim.id] = (claim, lease)
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=self._run, name="passerelle-lease-keeper", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(claim.id, None)

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            thread.join()

    def renew(self) -> None:
        """Renew every lease in hand now."""
        with self._lock:
            held = list(self._held.values())
        for claim, lease in held:
            try:
                renewed = self._store.extend(claim, lease)
            except LeaseLostError:
                if claim.id in self._held:
                    log.warning("lost the lease on delivery %s while working on it", claim.id)
                continue
            except Exception:
                log.exception("could not renew the lease on delivery %s", claim.id)
                continue
            with self._lock:
                if claim.id in self._held:
                    self._held[claim.id] = (renewed, lease)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._held:
                    self._thread = None  # the next hold starts another
                    return
                shortest = min(lease for _, lease in self._held.values())
            if self._stopping.wait(shortest.total_seconds() / 3):
                return
            self.renew()


def _describe(effect: Effect) -> str:
    lines = ", ".join(f"{lq.line} x{lq.quantity}" for lq in effect.lines)
    verb = {
        "order_shipped": "captured",
        "order_cancelled": "released",
        "order_returned": "refunded",
        "order_edited": "authorization changed by",
    }[effect.kind]
    text = f"{verb} {effect.amount}"
    if effect.void:
        text += " (void)"
    return f"{text}; {lines}" if lines else text


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
