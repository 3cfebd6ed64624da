"""Group commit for asyncio callers: what many coroutines hand in at once is written together.

A `GroupCommit` runs one thread. Coroutines `submit` an item and await its result; the thread
takes every item waiting, hands them all to `commit` (one transaction, one durable commit), and
gives each caller its result in one wake-up per event loop. While one group commits the next
gathers, so a hundred concurrent receivers pay for a few commits, not a hundred, and the event
loop never waits for the database nor hops to a thread per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from passerelle.connector.store.errors import StoreClosedError

__all__ = ["GroupCommit"]

I = TypeVar("I")  # noqa: E741 - the item, as T is the result
T = TypeVar("T")

Outcome = tuple[T, None] | tuple[None, BaseException]
"""A result, or the error its caller gets instead."""


@dataclass
class _Waiting(Generic[I, T]):
    item: I
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


class GroupCommit(Generic[I, T]):
    """Commits items in groups of up to `max_group` from one thread named `name`.

    `commit` gets the items of a group in the order they were submitted and returns one outcome
    per item, in that order; it must not raise (an exception it raises is every item's error).
    """

    def __init__(
        self,
        commit: Callable[[Sequence[I]], Sequence[Outcome[T]]],
        *,
        name: str,
        max_group: int = 500,
    ) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, not {max_group}")
        self._commit = commit
        self._name = name
        self._max_group = max_group
        self._waiting: list[_Waiting[I, T]] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    async def submit(self, item: I) -> T:
        """Commit `item` with whatever else is waiting; its result once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._wake:
            if self._stopping:
                raise StoreClosedError(f"{self._name} is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._waiting.append(_Waiting(item, loop, future))
            self._wake.notify()
        return await future

    def stop(self) -> None:
        """Commit every item already submitted, then stop the thread; refuse new ones."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if not self._waiting:
                    return
                group = self._waiting[: self._max_group]
                del self._waiting[: self._max_group]
            try:
                outcomes = list(self._commit([waiting.item for waiting in group]))
                if len(outcomes) != len(group):
                    raise RuntimeError(
                        f"{self._name}: {len(outcomes)} outcomes for {len(group)} items"
                    )
            except BaseException as exc:
                outcomes = [(None, exc)] * len(group)
            _hand_over(group, outcomes)


def _hand_over(group: list[_Waiting[I, T]], outcomes: list[Outcome[T]]) -> None:
    """Give every caller its outcome, in one wake-up per event loop: under load the wake-ups
    would otherwise cost the loop more than the commits."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[T], Outcome[T]]]] = {}
    for waiting, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(waiting.loop, []).append((waiting.future, outcome))
    for loop, settled in by_loop.items():
        # A closed loop has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve_all, settled)


def _resolve_all(settled: list[tuple[asyncio.Future[T], Outcome[T]]]) -> None:
    for future, (value, error) in settled:
        if future.cancelled():
            continue  # the caller gave up waiting (the receiver's time limit)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]
