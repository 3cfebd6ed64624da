"""The dispatcher's threads: workers that nothing ends but a stop, their slots, and the lease
keeper.

A `WorkerPool` starts its workers together and a supervisor that restarts any that ended: a
worker that stopped would leave every order it would have served waiting, and `/readyz` counts
it as down until then. Each worker claims as many deliveries as it has free `Slots` and runs
each on a slot's thread, so a slow back end is waited on by many calls at once. The
`LeaseKeeper` renews the claims the workers hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from passerelle.connector.store import (
    Claim,
    DeliveryStore,
    LeaseLostError,
    StoreUnavailableError,
)

__all__ = ["DEFAULT_CONCURRENCY", "LeaseKeeper", "Slots", "WorkerPool", "worker_prefix"]

log = logging.getLogger("passerelle.dispatcher")

DEFAULT_CONCURRENCY = 32
"""Deliveries a dispatcher keeps in hand at once unless told otherwise: at a back end's 200 ms,
some 130 deliveries a second, without pressing a back end that meters its callers."""


def worker_prefix(name: str) -> str:
    """Worker ids name the host and the process, so that an attempt says where it ran."""
    return f"{socket.gethostname()}:{os.getpid()}:{name}"


class WorkerPool:
    """`workers` threads running `work(worker_id)` until `stopping` is set; ids are
    ``host:pid:name-N``."""

    def __init__(
        self,
        work: Callable[[str], None],
        *,
        workers: int,
        name: str,
        supervise_every: float,
    ) -> None:
        self._work = work
        self._workers = workers
        self._name = name
        self._supervise_every = supervise_every
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.stopping = threading.Event()
        """Set by `stop`: a worker's `work` returns once it sees it."""
        self.busy = BusyCount()
        """Workers inside it are busy (claiming or working on a delivery)."""
        self.restarts = 0
        """How many times a worker that ended was restarted."""

    def start(self) -> None:
        self.stopping.clear()
        with self._lock:
            for n in range(self._workers):
                self._start(f"{worker_prefix(self._name)}-{n}")
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"{self._name}-supervisor", daemon=True
        )
        self._supervisor.start()

    def running(self) -> int:
        """How many workers run: none before `start` or once `stop` is called."""
        if self.stopping.is_set():
            return 0
        with self._lock:
            return sum(thread.is_alive() for thread in self._threads.values())

    def supervise(self) -> int:
        """Restart every worker that ended; return how many."""
        restarted = 0
        with self._lock:
            if self.stopping.is_set():
                return 0
            for worker_id, thread in list(self._threads.items()):
                if not thread.is_alive():
                    log.error("worker %s stopped unexpectedly; restarting it", worker_id)
                    self._start(worker_id)
                    restarted += 1
            self.restarts += restarted
        return restarted

    def stop(self, timeout: float | None) -> None:
        """Set `stopping`, then wait for each worker to return (up to `timeout` each)."""
        self.stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
            self._supervisor = None
        with self._lock:
            threads = list(self._threads.values())
            self._threads.clear()
        for thread in threads:
            thread.join(timeout)

    def _start(self, worker_id: str) -> None:
        thread = threading.Thread(target=self._work, args=(worker_id,), name=worker_id)
        thread.start()
        self._threads[worker_id] = thread

    def _supervise(self) -> None:
        while not self.stopping.wait(self._supervise_every):
            self.supervise()


class Slots:
    """Up to `size` calls running at once, each on a thread of its own, for one worker.

    A call that would have ended its thread (a plugin's ``sys.exit``) ends the worker instead,
    at its next `wait_free`: the supervisor then restarts it, as it would have restarted a
    worker that ran the call itself.
    """

    def __init__(self, size: int, *, name: str, on_free: Callable[[], None]) -> None:
        if size < 1:
            raise ValueError(f"slots must be at least 1, got {size}")
        self._size = size
        self._on_free = on_free
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._cond = threading.Condition()
        self._busy = 0
        self._ended: BaseException | None = None

    def wait_free(self, stopping: threading.Event, poll: float = 0.1) -> int:
        """How many slots are free, once at least one is or `stopping` is set (then maybe
        none); raises what a call ended with if it would have ended its thread."""
        with self._cond:
            while self._busy >= self._size and self._ended is None and not stopping.is_set():
                # A stop does not notify this condition: look at it now and then.
                self._cond.wait(poll)
            if self._ended is not None:
                ended, self._ended = self._ended, None
                raise ended
            return self._size - self._busy

    def submit(self, call: Callable[[], None]) -> None:
        """Run `call` on a free slot's thread; `call` handles its own exceptions."""
        with self._cond:
            self._busy += 1
        try:
            future = self._executor.submit(call)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)

    def close(self, *, wait: bool) -> None:
        """Take no more calls; with `wait`, return once the running ones ended."""
        self._executor.shutdown(wait=wait)

    def _release(self, future: Future[None] | None) -> None:
        ended = None if future is None or future.cancelled() else future.exception()
        with self._cond:
            self._busy -= 1
            if ended is not None and not isinstance(ended, Exception):
                self._ended = ended
            self._cond.notify_all()
        self._on_free()


class BusyCount:
    """How many threads are inside its `with` block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        self.leave()

    def enter(self) -> None:
        """Count one more busy thread or call, until its `leave`."""
        self.__enter__()

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


class LeaseKeeper:
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
            except StoreUnavailableError:
                continue  # the store logs its outage; the next round tries again
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
