"""The dispatcher's threads: workers that nothing ends but a stop, and the lease keeper.

A `WorkerPool` starts its workers together and a supervisor that restarts any that ended: a
worker that stopped would leave every order it would have served waiting, and `/readyz` counts
it as down until then. The `LeaseKeeper` renews the claims the workers hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

from passerelle.connector.store import (
    Claim,
    DeliveryStore,
    LeaseLostError,
    StoreUnavailableError,
)

__all__ = ["LeaseKeeper", "WorkerPool", "worker_prefix"]

log = logging.getLogger("passerelle.dispatcher")


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


class BusyCount:
    """How many threads are inside its `with` block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
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
