"""The dispatcher: applies stored deliveries to the payment back end, once, in order per order.

Workers claim deliveries from the store (FIFO within an order's lane, lanes in parallel), as many
at a time as they have free slots, and dispatch each on a slot's thread: up to `DispatchPolicy`'s
`concurrency` back-end calls are in flight at once, and twice as many deliveries in hand, so that
claiming and settling them (a commit each) overlap the calls instead of holding them up. The store
never hands out a delivery while an earlier one of its lane is in hand, so however many are in
flight, a later delivery for an order is never applied before an earlier one.

For each delivery, the platform translates the raw delivery into events; the mirrored ledger
checks each event and computes its effect; the dispatcher calls the payment back end with the
event's idempotency key (`passerelle.backend.calls`), and then the observers' lifecycle hooks,
which so see only what the back end accepted. Then the claim is settled:

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
import functools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, timedelta
from typing import TypeVar

import httpx

from passerelle.backend.calls import call_backend
from passerelle.backend.client import BackendClient
from passerelle.backend.errors import APIStatusError, BackendError, UnknownOrderError
from passerelle.backend.retry import parse_retry_after
from passerelle.batches import BatchPastCutoff, Rescheduled
from passerelle.clock import Clock, SystemClock
from passerelle.codes import is_transient_status
from passerelle.connector import metrics
from passerelle.connector.dispatch_outcomes import (
    DeferError,
    PermanentError,
    TransientError,
    Verdict,
    log_outcome,
)
from passerelle.connector.dispatch_policy import DispatchPolicy
from passerelle.connector.files import describe_edit, translate_file
from passerelle.connector.mirror import OrderMirror
from passerelle.connector.outages import StoreWait
from passerelle.connector.store import (
    Claim,
    DeliveryStore,
    ErrorInfo,
    LeaseLostError,
    StoreError,
    StoreUnavailableError,
)
from passerelle.connector.workers import LeaseKeeper, Slots, WorkerPool
from passerelle.events import (
    BatchFileEdited,
    Envelope,
)
from passerelle.formats import FormatError
from passerelle.ledger_errors import EventNotYetApplicable, LedgerError
from passerelle.platforms import (
    FilePlatform,
    Platform,
    PlatformUnavailableError,
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


class Dispatcher:
    """Dispatches stored deliveries; `start` runs worker threads, `run_once` works inline."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        platforms: Mapping[str, Platform],
        stores: Mapping[tuple[str, str], Store],
        plugins: Plugins,
        backend: BackendClient,
        mirror: OrderMirror | None = None,
        http: httpx.Client | None = None,
        policy: DispatchPolicy | None = None,
        clock: Clock | None = None,
        name: str = "dispatcher",
    ) -> None:
        self._store = store
        self._platforms = platforms
        self._stores = stores
        self._plugins = plugins
        self._backend = backend
        self._mirror = mirror or OrderMirror(backend)
        self._http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
        self._owns_http = http is None
        self.policy = policy or DispatchPolicy()
        self._clock = clock or SystemClock()
        self._name = name
        self._wakes: dict[str, threading.Event] = {}
        """Each worker's: set when there may be work for it."""
        self._wakes_lock = threading.Lock()
        self._workers = WorkerPool(
            self._work,
            workers=self.policy.workers,
            name=name,
            supervise_every=self.policy.supervise_every,
        )
        self._stopping = self._workers.stopping
        self._leases = LeaseKeeper(store)
        self._calls = threading.BoundedSemaphore(self.policy.concurrency)

    # Running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads, and the supervisor that restarts any that stops."""
        self._workers.start()

    def supervise(self) -> int:
        """Restart every worker that stopped (the supervisor does every `supervise_every`);
        return how many were restarted."""
        return self._workers.supervise()

    @property
    def restarts(self) -> int:
        """How many times a worker that stopped was restarted."""
        return self._workers.restarts

    @property
    def in_flight(self) -> int:
        """How many claims are being made and deliveries worked on right now."""
        return self._workers.busy.count

    def wake(self) -> None:
        """Tell idle workers there may be new work (the receiver calls it after an append)."""
        with self._wakes_lock:
            wakes = list(self._wakes.values())
        for wake in wakes:
            wake.set()

    def workers_running(self) -> int:
        """How many worker threads are running: none before `start` or once `stop` is called."""
        return self._workers.running()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Let every worker finish the deliveries in hand, then stop them."""
        self.wake()
        self._workers.stop(timeout)
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
        # Nothing that happens to one delivery, nor the store going away, may end this loop:
        # a worker that stopped would leave every order it would have served waiting.
        store_wait = StoreWait(cap=self.policy.store_wait.total_seconds())
        wake = threading.Event()
        with self._wakes_lock:
            self._wakes[worker_id] = wake
        # A settled delivery may let the next one of its lane be claimed: its worker looks
        # again at once (the others would only claim in its place, each paying for a claim).
        slots = Slots(self.policy.slots_per_worker, name=worker_id, on_free=wake.set)
        try:
            while not self._stopping.is_set():
                free = slots.wait_free(self._stopping)
                if free == 0:
                    continue
                with self._workers.busy:
                    found = self._claim_and_dispatch(worker_id, store_wait, slots, free)
                if found is None:
                    self._stopping.wait(store_wait.next())
                elif found < free:
                    # All that is claimable now is in hand: wait for a settled delivery, an
                    # append, or the idle wait (a retry's time may have come).
                    wake.wait(self.policy.idle_wait)
                    wake.clear()
        except BaseException:
            slots.close(wait=False)  # the other deliveries in hand settle on their own
            raise
        slots.close(wait=True)

    def _claim_and_dispatch(
        self, worker_id: str, store_wait: StoreWait, slots: Slots, limit: int
    ) -> int | None:
        """Claim up to `limit` deliveries and dispatch each on a slot: how many there were;
        None if the store could not be asked."""
        try:
            claims = self._store.claim(worker_id, limit=limit, lease=self.policy.lease)
        except StoreUnavailableError:
            return None  # the store logs the outage; the worker only waits for its end
        except Exception:
            log.exception("%s could not claim work; trying again", worker_id)
            return None
        store_wait.reset()
        for claim in claims:
            self._workers.busy.enter()
            try:
                slots.submit(functools.partial(self._dispatch_in_slot, worker_id, claim))
            except BaseException:
                self._workers.busy.leave()
                raise
        return len(claims)

    def _dispatch_in_slot(self, worker_id: str, claim: Claim) -> None:
        try:
            self.dispatch(claim)
        except Exception:
            log.exception(
                "%s left delivery %s unsettled: its lease runs out and it is tried again",
                worker_id,
                claim.id,
            )
        finally:
            self._workers.busy.leave()

    # One delivery ----------------------------------------------------------------------------

    def dispatch(self, claim: Claim) -> None:
        """Process one claimed delivery and settle its claim, exactly once.

        Whatever the processing raises settles the delivery (an unexpected exception is retried
        with backoff, then filed as ``internal_error``). While the store is unavailable the claim
        is held and settling is tried again until the store answers, or until another worker
        took the delivery over after the lease ran out (which then settles it instead).
        """
        with self._leases.hold(claim, self.policy.lease):
            verdict = self._attempt(claim)
            self._conclude(claim, verdict)

    def _attempt(self, claim: Claim) -> Verdict:
        """Process the claim; what it came to, exceptions included, as a verdict to settle."""
        try:
            quarantined = self._quarantined(claim)
            if quarantined is not None:
                return PermanentError(quarantined)
            return self._process(claim)
        except (TransientError, DeferError, PermanentError) as verdict:
            return verdict
        except StoreUnavailableError as exc:
            return TransientError(ErrorInfo("store_unavailable", str(exc)))
        except Exception as exc:  # a plugin's or an observer's bug, or the dispatcher's own
            log.exception("delivery %s failed unexpectedly", claim.id)
            return TransientError(ErrorInfo("internal_error", f"{type(exc).__name__}: {exc}"))

    def _conclude(self, claim: Claim, verdict: Verdict) -> None:
        store_wait = StoreWait(cap=self.policy.store_wait.total_seconds())
        while True:
            try:
                self._settle(claim, verdict)
                return
            except LeaseLostError:
                # Another worker took over after our lease ran out; it settles the delivery.
                log.warning("lost the lease on delivery %s before settling it", claim.id)
                return
            except StoreUnavailableError:
                if self._stopping.is_set():
                    log.warning(
                        "stopping with delivery %s unsettled while the store is unavailable:"
                        " it is tried again once its lease runs out",
                        claim.id,
                    )
                    return
                self._stopping.wait(store_wait.next())
            except Exception as exc:
                log.exception("delivery %s could not be settled", claim.id)
                error = ErrorInfo("internal_error", f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(StoreError):
                    self._fail(claim, error)
                return

    def _settle(self, claim: Claim, verdict: Verdict) -> None:
        if isinstance(verdict, TransientError):
            self._retry(claim, verdict)
        elif isinstance(verdict, DeferError):
            self._defer(claim, verdict.error)
        elif isinstance(verdict, PermanentError):
            self._fail(claim, verdict.error)
        elif isinstance(verdict, str):
            self._store.ignore(claim, verdict)
            log_outcome(claim, "ignored", verdict)
        else:
            self._store.complete(claim, json.dumps(verdict))
            log_outcome(claim, "done", "; ".join(verdict) or "no events")

    def _fail(self, claim: Claim, error: ErrorInfo) -> None:
        self._store.fail(claim, error)
        log_outcome(claim, "failed", error.message, code=error.code, level=logging.WARNING)

    def _quarantined(self, claim: Claim) -> ErrorInfo | None:
        """Why the delivery is quarantined, if the attempts before this one all ended
        abnormally (their leases ran out unsettled); None otherwise."""
        limit = self.policy.quarantine_after
        if claim.abnormal_ends < limit:
            return None
        last = [a for a in self._store.attempts(claim.id) if a.number < claim.attempt][-limit:]
        workers = ", ".join(sorted({a.worker_id for a in last}))
        return ErrorInfo(
            "quarantined",
            f"the last {limit} attempts ended abnormally: each worker that held the delivery"
            f" ({workers}) stopped, hung or was killed before settling it; it is not tried"
            " again until it is retried by hand",
        )

    def _process(self, claim: Claim) -> list[str] | str:
        delivery = claim.delivery
        platform = self._platforms.get(delivery.platform)
        if platform is None:
            raise PermanentError(
                ErrorInfo("unknown_platform", f"no installed plugin provides {delivery.platform!r}")
            )
        store = self._stores.get((delivery.platform, delivery.store))
        if store is None:
            raise PermanentError(
                ErrorInfo(
                    "unknown_store",
                    f"store {delivery.store!r} of {delivery.platform} is no longer configured",
                )
            )
        if isinstance(platform, FilePlatform):
            translation = self._read_file(platform, store, claim)
        else:
            translation = self._translate_delivery(platform, claim, store)
        if translation.ignored is not None:
            if translation.unless_money_held is not None:
                self._refuse_if_money_held(translation.unless_money_held, translation.ignored)
            return translation.ignored
        occurred_at = translation.occurred_at or delivery.received_at
        redispatch = claim.redispatches
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

    def _translate_delivery(
        self, platform: WebhookPlatform, claim: Claim, store: Store
    ) -> Translation:
        request = claim.delivery.to_request()
        # Before translating, so a delivery that fails translation (a cancelled fulfillment
        # sent to the action center) still makes the older ones stale.
        stale = self._stale(platform, request)
        if stale is not None:
            return Translation.ignore(stale)
        return self._translate(platform, request, store)

    def _read_file(self, platform: FilePlatform, store: Store, claim: Claim) -> Translation:
        try:
            # A person who retried a file that repeats another batch's payments decided to
            # send it anyway.
            checked = claim.redispatches == 0
            return translate_file(
                platform,
                store,
                claim.delivery,
                self._store,
                cutoff=self.policy.cutoffs.of(store.platform, store.id) if checked else None,
                now=self._clock.now(),
            )
        except (FormatError, TranslationError) as exc:
            # A platform's own code stands; the default one is a webhook's, not a file's.
            code = getattr(exc, "code", None)
            if code in (None, "unreadable_delivery"):
                code = "unreadable_file"
            raise PermanentError(ErrorInfo(str(code), str(exc))) from exc

    def _stale(self, platform: WebhookPlatform, request: WebhookRequest) -> str | None:
        """Why `request` is stale; None when it is not (its version, if any, is recorded)."""
        try:
            version = platform.version(request)
        except Exception as exc:
            message = f"version: {type(exc).__name__}: {exc}"
            raise PermanentError(ErrorInfo("unreadable_delivery", message)) from exc
        if version is None:
            return None
        try:
            newer = self._store.record_version(
                request.platform, request.store, version.subject, version.as_of
            )
        except StoreError as exc:
            raise TransientError(ErrorInfo("store_unavailable", str(exc))) from exc
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
            raise PermanentError(ErrorInfo(str(code), str(exc))) from exc
        except PlatformUnavailableError as exc:
            wait = self._retry_after(exc.retry_after)
            raise TransientError(ErrorInfo("platform_unavailable", str(exc)), wait) from exc
        except httpx.TransportError as exc:
            raise TransientError(
                ErrorInfo("platform_unreachable", f"{type(exc).__name__}: {exc}")
            ) from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            message = f"the platform's API answered {status} to {exc.request.url.path}"
            if is_transient_status(status):
                wait = self._retry_after(exc.response.headers.get("Retry-After"))
                raise TransientError(ErrorInfo("platform_unavailable", message), wait) from exc
            raise PermanentError(ErrorInfo("platform_refused", message)) from exc

    def _apply(self, envelope: Envelope) -> str:
        event = envelope.event
        if isinstance(event, BatchFileEdited):
            self._check_cutoff(envelope)
            self._call_backend(lambda: call_backend(self._backend, envelope))
            self._call(lambda: self._plugins.observe(envelope=envelope, event=event))
            return describe_edit(event)
        before = self._call_backend(lambda: self._mirror.get(event.order))
        try:
            after, effect = before.apply(event)
        except LedgerError:
            # The mirror may be behind the back end (another process, a change by hand): look
            # again before calling it a violation or a wait.
            before = self._call_backend(lambda: self._mirror.refresh(event.order))
            try:
                after, effect = before.apply(event)
            except EventNotYetApplicable as exc:
                raise DeferError(ErrorInfo(exc.code, str(exc))) from exc
            except LedgerError as exc:
                raise PermanentError(ErrorInfo(exc.code, str(exc))) from exc
        if effect.is_noop:
            why = "already applied" if before.has_applied(event.kind, event.id) else "no change"
            return f"{event.kind} {event.id} of order {event.order}: {why}"
        # The back end first, then the observers: they see only what it accepted.
        view = self._call_backend(lambda: call_backend(self._backend, envelope))
        self._mirror.put(after if view is None else view.to_ledger())
        try:
            self._call(lambda: self._plugins.observe(envelope=envelope, event=event, effect=effect))
        except BaseException:
            # Put back the ledger the effect was computed from, so that the retry computes the
            # same effect, the back end answers it again under the same idempotency key, and
            # the observers that did not see the event get it.
            self._mirror.put(before)
            raise
        return f"{event.kind} {event.id} of order {event.order}: {effect.describe()}"

    def _refuse_if_money_held(self, order: str, reason: str) -> None:
        """File the delivery as ``money_held`` when the back end still holds money of `order`
        that nothing will now capture or release."""
        try:
            ledger = self._call_backend(lambda: self._mirror.refresh(order))
        except DeferError:
            return  # the back end does not know the order: it holds nothing of it
        held = ledger.remaining_authorization
        if held.amount > 0:
            raise PermanentError(
                ErrorInfo(
                    "money_held",
                    f"{reason}, but order {order} still holds {held} authorized and not"
                    " captured: capture or void it by hand, then dismiss this delivery",
                )
            )

    def _check_cutoff(self, envelope: Envelope) -> None:
        """Refuse a batch edit that its store's cutoff no longer allows: the back end would
        refuse it, and observers must not see an edit that cannot happen."""
        event = envelope.event
        assert isinstance(event, BatchFileEdited)
        date = event.processing_date or next(
            (change.previous for change in event.changes if isinstance(change, Rescheduled)),
            None if event.after is None else event.after.processing_date,
        )
        if date is None:
            return  # the event does not say which date the batch is on: the back end checks
        try:
            self.policy.cutoffs.of(envelope.platform, envelope.store).ensure_changeable(
                event.batch, date, event.changes, self._clock.now()
            )
        except BatchPastCutoff as exc:
            raise PermanentError(ErrorInfo(exc.code, str(exc))) from exc

    def _call_backend(self, work: Callable[[], T]) -> T:
        """`_call` for work that calls the back end: within `concurrency` calls at once."""
        with self._calls:
            return self._call(work)

    def _call(self, work: Callable[[], T]) -> T:
        """Run `work`, sorting back-end failures into transient, deferred and permanent."""
        try:
            return work()
        except UnknownOrderError as exc:
            # Orders are created at checkout, outside the connector; the webhook may be faster.
            metrics.record_backend_error(exc.code or "unknown_order")
            raise DeferError(ErrorInfo(exc.code or "unknown_order", str(exc))) from exc
        except BackendError as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            metrics.record_backend_error(code)
            error = ErrorInfo(code, str(exc))
            if exc.retryable:
                # A client that gave up because the wait asked for would pass its total timeout
                # raises a timeout caused by the answer that asked for it.
                answer = exc if isinstance(exc, APIStatusError) else exc.__cause__
                asked = answer.retry_after if isinstance(answer, APIStatusError) else None
                raise TransientError(error, self._retry_after(asked)) from exc
            raise PermanentError(error) from exc

    def _retry_after(self, value: str | None) -> float | None:
        """The wait a ``Retry-After`` asks for, within the backoff's cap; None without one (the
        backoff then grows with the attempts)."""
        asked = parse_retry_after(value, self._clock.now())
        return None if asked is None else min(asked, self.policy.backoff.max_delay)

    # Settling --------------------------------------------------------------------------------

    def _retry(self, claim: Claim, transient: TransientError) -> None:
        # A merchant who retries a delivery from the action center gives it a fresh budget.
        attempts = claim.attempts_since_action
        if attempts >= self.policy.max_attempts:
            error = ErrorInfo(
                transient.error.code,
                f"gave up after {attempts} attempts: {transient.error.message}",
            )
            self._fail(claim, error)
            return
        wait = transient.wait
        if wait is None:
            wait = self.policy.backoff.backoff(attempts, self.policy.backoff.initial_delay)
        at = self._clock.now() + timedelta(seconds=wait)
        self._store.retry_later(claim, at, transient.error)
        error = transient.error
        log_outcome(claim, "retry", error.message, code=error.code, until=at)

    def _defer(self, claim: Claim, error: ErrorInfo) -> None:
        now = self._clock.now()
        # The wait counts from the first deferral since the last retry or replay by hand.
        waited = now - (claim.waiting_since or now)
        if waited >= self.policy.defer_for:
            message = (
                f"waited {_hours(waited)} for the event this one depends on, which never came: "
                f"{error.message}"
            )
            self._fail(claim, ErrorInfo(error.code, message))
            return
        until = now + self.policy.defer_wait(claim.attempt, waited)
        self._store.defer(claim, until, error)
        log_outcome(claim, "deferred", error.message, code=error.code, until=until)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
