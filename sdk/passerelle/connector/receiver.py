"""The webhook receiver: an ASGI app that stores authentic deliveries durably, then says 2xx.

Routes:

``POST /webhooks/{platform}/{store}``
    Checked in this order; the first failing check answers and nothing is stored:

    ===  ============================================================================
    413  the body is larger than `max_body_bytes` (announced or streamed)
    404  no such platform, or no such store of that platform
    200  the platform's ping (`WebhookPlatform.is_ping`): answered, not stored
    415  the content type is not one the platform declares (`WebhookPlatform.media_types`,
         ``application/json`` by default; pings are exempt: WooCommerce's is form-encoded)
    401  the platform's `verify` (or a missing key header) raised `VerificationError`
    500  the platform plugin failed otherwise (logged with its traceback)
    503  the durable store failed or did not answer within a second (``Retry-After``): the
         platform retries later
    200  stored, or already stored: ``{"id": ..., "duplicate": false|true}``
    ===  ============================================================================

    An authentic body that is not valid JSON is stored and acknowledged all the same: the
    dispatcher sends it to the action center, while an error status would only make the platform
    retry and eventually drop its subscription.
``GET /healthz``
    200 while the process runs.
``GET /readyz``
    200 when the durable store answers (and whatever `ready` checks besides), else 503 saying
    why.

Any other method on these paths is 405 (with ``Allow``); any other path is 404. Every error
answer is one line of ``text/plain`` saying why. The receiver never calls the back end. Each
delivery is logged on one line (``passerelle.receiver``), without its body or any secret: at INFO
when it is refused, at DEBUG when it is stored, a duplicate, or refused because the store is out
(the store logs the outage itself, once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

import httpx

from passerelle.clock import Clock, SystemClock
from passerelle.connector import metrics
from passerelle.connector.store import DeliveryStore, NewDelivery, StoreUnavailableError
from passerelle.platforms import Store, VerificationError, WebhookPlatform, WebhookRequest

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ASGIApp", "create_receiver"]

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
STORE_WAIT: Final = 1.0
"""Seconds a delivery or a readiness probe waits for the store: a platform that gets no answer
within its own timeout (Shopify's is 5 s) counts a failure, where a 503 only asks it to retry."""
RETRY_AFTER_SECONDS: Final = 10

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("passerelle.receiver")

_WEBHOOK_PREFIX: Final = "/webhooks/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_TEXT: Final = [(b"content-type", b"text/plain; charset=utf-8")]
_JSON: Final = [(b"content-type", b"application/json")]


class _BodyTooLargeError(Exception):
    pass


class _ClientLeftError(Exception):
    pass


def create_receiver(
    platforms: Mapping[str, WebhookPlatform],
    stores: Mapping[tuple[str, str], Store],
    store: DeliveryStore,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_append: Callable[[], None] | None = None,
    ready: Callable[[], Awaitable[tuple[bool, str]]] | None = None,
    clock: Clock | None = None,
) -> ASGIApp:
    """The receiver's ASGI app.

    `platforms` maps a `{platform}` path segment to its platform object, `stores` maps
    `(platform, store id)` to the store it verifies with, `store` is the durable inbox.
    `on_append` is called on the event loop after each new (not duplicate) delivery is stored,
    to wake a dispatcher; it must be quick and must not block. `ready` answers ``/readyz``
    instead of a ping of `store`: whether the process may be counted on, and why not.
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be at least 1, not {max_body_bytes}")
    return _Receiver(
        platforms, stores, store, max_body_bytes, on_append, ready, clock or SystemClock()
    )


class _Receiver:
    def __init__(
        self,
        platforms: Mapping[str, WebhookPlatform],
        stores: Mapping[tuple[str, str], Store],
        store: DeliveryStore,
        max_body_bytes: int,
        on_append: Callable[[], None] | None,
        ready: Callable[[], Awaitable[tuple[bool, str]]] | None,
        clock: Clock,
    ) -> None:
        self._platforms = dict(platforms)
        self._stores = dict(stores)
        self._inbox = store
        self._max_body = max_body_bytes
        self._on_append = on_append
        self._readiness = ready or functools.partial(store_answers, store)
        self._clock = clock
        self._too_large = f"payload too large: the limit is {max_body_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        method: str = scope["method"]
        if path.startswith(_WEBHOOK_PREFIX):
            segments = path[len(_WEBHOOK_PREFIX) :].split("/")
            if len(segments) != 2 or not all(segments):
                await text_answer(send, 404, "not found: the path is /webhooks/{platform}/{store}")
            elif method != "POST":
                await text_answer(
                    send, 405, f"method {method} not allowed: use POST", allow=b"POST"
                )
            else:
                await self._delivery(scope, receive, send, segments[0], segments[1])
        elif path in HEALTH_PATHS:
            await answer_health(send, path, method, self._readiness)
        else:
            await text_answer(send, 404, "not found")

    async def _delivery(
        self, scope: Scope, receive: Receive, send: Send, platform_name: str, store_id: str
    ) -> None:
        started = time.perf_counter()
        status, note = await self._answer_delivery(scope, receive, send, platform_name, store_id)
        metrics.record_received(
            platform_name, platform_name in self._platforms, status, note.partition(" ")[0]
        )
        # A stored delivery is the common case, thousands a second at peak: its line is for
        # debugging, and so is a 503 while the store is out (the store logs the outage once).
        # Everything else says something about the sender or the setup.
        level = logging.DEBUG if status in (200, 503) else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%d %s/%s %s %.1fms",
                status,
                _one_line(platform_name),
                _one_line(store_id),
                note,
                (time.perf_counter() - started) * 1000,
            )

    async def _answer_delivery(
        self, scope: Scope, receive: Receive, send: Send, platform_name: str, store_id: str
    ) -> tuple[int, str]:
        """Answer the delivery; return the status and what happened, for the log."""
        content_type = b""
        # One pass over the server's headers, which may be a lazy sequence.
        raw_headers = list(scope["headers"])
        for name, value in raw_headers:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length" and value.isdigit() and int(value) > self._max_body:
                return await _reject(send, 413, self._too_large)
        try:
            body = await _read_body(receive, self._max_body)
        except _BodyTooLargeError:
            return await _reject(send, 413, self._too_large)
        except _ClientLeftError:
            return 499, "the client left before the body was complete"

        platform = self._platforms.get(platform_name)
        if platform is None:
            return await _reject(send, 404, f"unknown platform {platform_name!r}")
        store = self._stores.get((platform_name, store_id))
        if store is None:
            reason = f"unknown store {store_id!r} of platform {platform_name}"
            return await _reject(send, 404, reason)
        request = WebhookRequest(
            platform=platform_name,
            store=store_id,
            headers=httpx.Headers(raw_headers),
            body=body,
            received_at=self._clock.now(),
        )
        if platform.is_ping(request):
            await text_answer(send, 200, "pong")
            return 200, "ping"
        media_type = content_type.partition(b";")[0].strip().lower().decode("latin-1")
        if media_type not in platform.media_types:
            shown = _one_line(media_type) if media_type else "none"
            expected = " or ".join(sorted(platform.media_types))
            return await _reject(
                send, 415, f"unsupported content type {shown}: expected {expected}"
            )
        try:
            platform.verify(request, store)
            delivery = NewDelivery.from_request(
                request,
                delivery_key=platform.delivery_key(request),
                ordering_key=platform.ordering_key(request),
            )
        except VerificationError as exc:
            return await _reject(send, 401, f"not authentic: {_one_line(str(exc))}")
        except Exception:
            logger.exception("%s/%s: the platform plugin failed", platform_name, store_id)
            return await _reject(send, 500, "internal error: the platform plugin failed")
        key = _one_line(delivery.delivery_key)
        try:
            result = await asyncio.wait_for(self._inbox.append_async(delivery), STORE_WAIT)
        except (StoreUnavailableError, TimeoutError) as exc:
            # The store logs its outage once; a line per refused delivery would bury it.
            why = "unavailable" if isinstance(exc, StoreUnavailableError) else "too slow"
            await text_answer(
                send,
                503,
                f"the delivery could not be stored (the store is {why}): retry later",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return 503, f"not stored, the store is {why}: delivery={key}"
        except Exception:
            logger.exception("%s/%s delivery %s: the store failed", platform_name, store_id, key)
            return await _reject(send, 503, "the delivery could not be stored: retry later")
        if self._on_append is not None and not result.duplicate:
            try:
                self._on_append()
            except Exception:
                # The delivery is stored: the dispatcher finds it on its next poll all the same.
                logger.exception(
                    "%s/%s delivery %s: on_append failed", platform_name, store_id, key
                )
        duplicate = b"true" if result.duplicate else b"false"
        await _send(send, 200, _JSON, b'{"id": %d, "duplicate": %s}' % (result.id, duplicate))
        kind = "duplicate" if result.duplicate else "stored"
        return 200, f"{kind} delivery={key} id={result.id} bytes={len(body)}"


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientLeftError
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _BodyTooLargeError
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _reject(send: Send, status: int, reason: str) -> tuple[int, str]:
    await text_answer(send, status, reason)
    return status, reason


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


HEALTH_PATHS: Final = ("/healthz", "/readyz")


async def answer_health(
    send: Send, path: str, method: str, readiness: Callable[[], Awaitable[tuple[bool, str]]]
) -> None:
    """Answer one of `HEALTH_PATHS`: ``/healthz`` 200 while the process runs, ``/readyz`` 200
    or 503 as `readiness` says, saying why; 405 for a method other than GET or HEAD."""
    if method not in ("GET", "HEAD"):
        await text_answer(send, 405, f"method {method} not allowed: use GET", allow=b"GET, HEAD")
    elif path == "/healthz":
        await text_answer(send, 200, "ok")
    else:
        ready, why = await readiness()
        await text_answer(send, 200 if ready else 503, why if ready else f"not ready: {why}")


async def store_answers(store: DeliveryStore) -> tuple[bool, str]:
    """Readiness as far as `store` goes: whether it answers a ping within `STORE_WAIT`, and
    why not."""
    try:
        await asyncio.wait_for(asyncio.to_thread(store.ping), STORE_WAIT)
    except StoreUnavailableError:
        return False, f"the store is unavailable: {store.outage.cause or 'no answer'}"
    except TimeoutError:
        return False, f"the store did not answer within {STORE_WAIT:g} s"
    except Exception:
        logger.exception("readiness: the store does not answer")
        return False, "the store does not answer"
    return True, "ready"


async def text_answer(
    send: Send,
    status: int,
    reason: str,
    *,
    allow: bytes | None = None,
    retry_after: int | None = None,
) -> None:
    """Answer `status` with `reason` as one line of plain text (every answer but a stored one)."""
    headers = list(_TEXT)
    if allow is not None:
        headers.append((b"allow", allow))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await _send(send, status, headers, (reason + "\n").encode())


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
