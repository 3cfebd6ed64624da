"""Connections to the back end for many threads at once: one small pool per group of threads."""

from __future__ import annotations

import itertools
import math
import ssl
import threading

import httpx

__all__ = ["ShardedTransport"]


class ShardedTransport(httpx.BaseTransport):
    """An httpx transport for `connections` calls at once, split among pools of `per_pool`
    connections; each thread keeps to one pool, the threads spread evenly over them.

    One httpx pool takes a lock and looks over all its connections and waiting requests for
    each request: with hundreds of threads sharing one pool that costs more CPU than the call
    itself, while a few threads per pool wait on nothing.
    """

    def __init__(
        self,
        connections: int,
        *,
        per_pool: int = 8,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        if per_pool < 1:
            raise ValueError(f"per_pool must be at least 1, got {per_pool}")
        if verify is True:
            verify = ssl.create_default_context()  # once: each costs a read of the CA store
        size = min(per_pool, connections)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._pools = [
            httpx.HTTPTransport(limits=limits, verify=verify)
            for _ in range(math.ceil(connections / size))
        ]
        self._turn = itertools.count()
        self._local = threading.local()

    @property
    def pools(self) -> int:
        return len(self._pools)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool: httpx.HTTPTransport | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = self._pools[next(self._turn) % len(self._pools)]
        return pool.handle_request(request)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()
