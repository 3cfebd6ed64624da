"""The webhook receiver: what each delivery gets as an answer and what it leaves in the store."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from testplatform import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TestPlatform,
    body,
    sign,
    signed_headers,
)

from passerelle.connector.receiver import DEFAULT_MAX_BODY_BYTES, ASGIApp, create_receiver
from passerelle.connector.store import DeliveryStore
from passerelle.platforms import Store, WebhookPlatform, WebhookRequest

LIMIT = 4096
SHOP = "shop-1"
URL = f"/webhooks/test/{SHOP}"
CURRENT = "whsec-current"
PREVIOUS = "whsec-previous"
STORES = {("test", SHOP): Store("test", SHOP, (SecretStr(CURRENT), SecretStr(PREVIOUS)))}


def receiver(store: DeliveryStore, platform: WebhookPlatform | None = None) -> ASGIApp:
    return create_receiver(
        {"test": platform or TestPlatform()}, STORES, store, max_body_bytes=LIMIT
    )


@pytest.fixture
async def client(store: DeliveryStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=receiver(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as opened:
        yield opened


@pytest.fixture
def server(store: DeliveryStore) -> Iterator[str]:
    """The receiver behind uvicorn on a free port of 127.0.0.1; its base URL."""
    config = uvicorn.Config(
        receiver(store),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        ws="none",
        log_level="warning",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    port = running.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)


def stored(store: DeliveryStore) -> int:
    return sum(store.stats().values())


# Over real sockets


def test_signed_delivery_is_stored_then_acknowledged(server: str, store: DeliveryStore) -> None:
    content = body("1001", topic="orders/cancelled")
    headers = signed_headers(content, CURRENT, delivery="d-1")

    with httpx.Client(base_url=server) as http:
        answer = http.post(URL, content=content, headers=headers)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"id": 1, "duplicate": False}
    delivery = store.get(1)
    assert (delivery.platform, delivery.store) == ("test", SHOP)
    assert (delivery.delivery_key, delivery.ordering_key) == ("d-1", "1001")
    assert delivery.body == content
    # ASGI servers hand header names over in lower case.
    assert (SIGNATURE_HEADER.lower(), headers[SIGNATURE_HEADER]) in delivery.headers
    assert stored(store) == 1


def test_duplicate_delivery_is_stored_once(server: str, store: DeliveryStore) -> None:
    content = body("1001")
    headers = signed_headers(content, CURRENT, delivery="d-1")

    with httpx.Client(base_url=server) as http:
        first = http.post(URL, content=content, headers=headers)
        again = http.post(URL, content=content, headers=headers)

    assert first.json() == {"id": 1, "duplicate": False}
    assert (again.status_code, again.json()) == (200, {"id": 1, "duplicate": True})
    assert stored(store) == 1


def test_concurrent_deliveries_are_each_stored(server: str, store: DeliveryStore) -> None:
    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        URL,
                        content=body(f"order-{n % 3}", n=n),
                        headers=signed_headers(
                            body(f"order-{n % 3}", n=n), CURRENT, delivery=f"d-{n}"
                        ),
                    )
                    for n in range(30)
                )
            )

    answers = asyncio.run(send_all())

    assert [a.status_code for a in answers] == [200] * 30
    assert sorted(a.json()["id"] for a in answers) == list(range(1, 31))
    assert stored(store) == 30


def test_health_and_readiness_over_a_socket(server: str) -> None:
    with httpx.Client(base_url=server) as http:
        health, ready = http.get("/healthz"), http.get("/readyz")
        head = http.head("/readyz")

    assert (health.status_code, health.text) == (200, "ok\n")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert (head.status_code, head.content) == (200, b"")


# Each bad input: its status, its one-line reason, nothing stored


def form(content: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(content)),
    }


REJECTED = [
    pytest.param(
        URL,
        b"x" * (LIMIT + 1),
        signed_headers(b"x" * (LIMIT + 1), CURRENT, delivery="d"),
        413,
        f"payload too large: the limit is {LIMIT} bytes",
        id="oversized",
    ),
    pytest.param(
        "/webhooks/nope/shop-1",
        body(),
        signed_headers(body(), CURRENT, delivery="d"),
        404,
        "unknown platform 'nope'",
        id="unknown-platform",
    ),
    pytest.param(
        "/webhooks/test/other-shop",
        body(),
        signed_headers(body(), CURRENT, delivery="d"),
        404,
        "unknown store 'other-shop' of platform test",
        id="unknown-store",
    ),
    pytest.param(
        URL,
        body(),
        {"Content-Type": "application/json", DELIVERY_HEADER: "d"},
        401,
        f"not authentic: missing header {SIGNATURE_HEADER}",
        id="unsigned",
    ),
    pytest.param(
        URL,
        body(),
        signed_headers(body(), "some-other-secret", delivery="d"),
        401,
        f"not authentic: {SIGNATURE_HEADER} matches no secret of the store",
        id="wrongly-signed",
    ),
    pytest.param(
        URL,
        body(order="1002"),
        {**signed_headers(body(), CURRENT, delivery="d")},
        401,
        f"not authentic: {SIGNATURE_HEADER} matches no secret of the store",
        id="body-changed-after-signing",
    ),
    pytest.param(
        URL,
        body(),
        {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body(), CURRENT)},
        401,
        f"not authentic: missing header {DELIVERY_HEADER}",
        id="no-delivery-key",
    ),
    pytest.param(
        URL,
        body(),
        signed_headers(body(), CURRENT, delivery="d", content_type="text/plain"),
        415,
        "unsupported content type text/plain: expected application/json",
        id="wrong-content-type",
    ),
    pytest.param(
        URL,
        body(),
        {SIGNATURE_HEADER: sign(body(), CURRENT), DELIVERY_HEADER: "d"},
        415,
        "unsupported content type none: expected application/json",
        id="no-content-type",
    ),
    pytest.param(
        "/webhooks/test",
        body(),
        signed_headers(body(), CURRENT, delivery="d"),
        404,
        "not found: the path is /webhooks/{platform}/{store}",
        id="path-without-store",
    ),
    pytest.param(
        f"{URL}/extra",
        body(),
        signed_headers(body(), CURRENT, delivery="d"),
        404,
        "not found: the path is /webhooks/{platform}/{store}",
        id="path-too-long",
    ),
    pytest.param("/other", body(), {}, 404, "not found", id="other-path"),
    # The order of the checks: size, then platform and store, then content type, then signature.
    pytest.param(
        "/webhooks/nope/shop-1",
        b"x" * (LIMIT + 1),
        {},
        413,
        f"payload too large: the limit is {LIMIT} bytes",
        id="oversized-before-unknown-platform",
    ),
    pytest.param(
        "/webhooks/test/other-shop",
        body(),
        {"Content-Type": "text/plain"},
        404,
        "unknown store 'other-shop' of platform test",
        id="unknown-store-before-content-type",
    ),
    pytest.param(
        URL,
        body(),
        {"Content-Type": "text/plain", SIGNATURE_HEADER: "forged"},
        415,
        "unsupported content type text/plain: expected application/json",
        id="content-type-before-signature",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "content", "headers", "status", "reason"), REJECTED)
async def test_bad_delivery_gets_its_status_and_reason_and_stores_nothing(
    client: httpx.AsyncClient,
    store: DeliveryStore,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    answer = await client.post(path, content=content, headers=headers)

    assert answer.status_code == status
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.text == reason + "\n"
    assert stored(store) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_webhook_path_takes_only_post(
    client: httpx.AsyncClient, store: DeliveryStore, method: str
) -> None:
    content = body()

    answer = await client.request(
        method, URL, content=content, headers=signed_headers(content, CURRENT, delivery="d")
    )

    assert (answer.status_code, answer.text) == (405, f"method {method} not allowed: use POST\n")
    assert answer.headers["allow"] == "POST"
    assert stored(store) == 0


@pytest.mark.anyio
async def test_streamed_body_is_cut_off_past_the_limit(
    client: httpx.AsyncClient, store: DeliveryStore
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(10):
            sent.append(number)
            yield b"x" * 1024

    answer = await client.post(URL, content=chunks(), headers={"Content-Type": "application/json"})

    assert (answer.status_code, answer.text) == (
        413,
        f"payload too large: the limit is {LIMIT} bytes\n",
    )
    assert "content-length" not in answer.request.headers
    assert stored(store) == 0


@pytest.mark.anyio
async def test_body_of_exactly_the_limit_is_accepted(
    client: httpx.AsyncClient, store: DeliveryStore
) -> None:
    content = body("1001", pad="")
    content = body("1001", pad="x" * (LIMIT - len(content)))
    assert len(content) == LIMIT

    answer = await client.post(
        URL, content=content, headers=signed_headers(content, CURRENT, delivery="d")
    )

    assert answer.status_code == 200
    assert stored(store) == 1


@pytest.mark.anyio
async def test_malformed_json_behind_a_valid_signature_is_stored(
    client: httpx.AsyncClient, store: DeliveryStore
) -> None:
    content = b'{"order": "1001", "truncated'

    answer = await client.post(
        URL, content=content, headers=signed_headers(content, CURRENT, delivery="d-bad")
    )

    assert (answer.status_code, answer.json()) == (200, {"id": 1, "duplicate": False})
    delivery = store.get(1)
    assert delivery.body == content
    assert delivery.ordering_key is None


@pytest.mark.anyio
async def test_previous_secret_still_verifies_during_rotation(
    client: httpx.AsyncClient, store: DeliveryStore
) -> None:
    content = body()

    answer = await client.post(
        URL, content=content, headers=signed_headers(content, PREVIOUS, delivery="d")
    )

    assert answer.status_code == 200
    assert stored(store) == 1


@pytest.mark.anyio
async def test_ping_is_answered_and_not_stored(
    client: httpx.AsyncClient, store: DeliveryStore
) -> None:
    content = b"webhook_id=12"

    answer = await client.post(URL, content=content, headers=form(content))

    assert (answer.status_code, answer.text) == (200, "pong\n")
    assert stored(store) == 0


@pytest.mark.anyio
async def test_ping_to_an_unknown_store_is_404(client: httpx.AsyncClient) -> None:
    content = b"webhook_id=12"

    answer = await client.post("/webhooks/test/other-shop", content=content, headers=form(content))

    assert answer.status_code == 404


@pytest.mark.anyio
async def test_store_failure_is_503_so_the_platform_retries(
    client: httpx.AsyncClient, store: DeliveryStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.close()
    content = body()

    answer = await client.post(
        URL, content=content, headers=signed_headers(content, CURRENT, delivery="d-9")
    )

    assert (answer.status_code, answer.text) == (
        503,
        "the delivery could not be stored: retry later\n",
    )
    assert any(
        "test/shop-1 delivery d-9: the store failed" in r.getMessage() for r in caplog.records
    )


@pytest.mark.anyio
async def test_readiness_is_503_when_the_store_does_not_answer(
    client: httpx.AsyncClient, store: DeliveryStore
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    store.close()

    answer = await client.get("/readyz")

    assert (answer.status_code, answer.text) == (503, "not ready: the store does not answer\n")
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_paths_take_get_and_head_only(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.head(path)).status_code == 200

    answer = await client.post(path)

    assert (answer.status_code, answer.text) == (405, "method POST not allowed: use GET\n")
    assert answer.headers["allow"] == "GET, HEAD"


class FormPlatform(TestPlatform):
    __test__ = False
    media_types = frozenset({"application/x-www-form-urlencoded", "application/json"})


@pytest.mark.anyio
async def test_the_content_types_accepted_are_those_the_platform_declares(
    store: DeliveryStore,
) -> None:
    transport = httpx.ASGITransport(app=receiver(store, FormPlatform()))
    content = body()
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        form = await http.post(
            URL,
            content=content,
            headers=signed_headers(
                content, CURRENT, delivery="d1", content_type="application/x-www-form-urlencoded"
            ),
        )
        text = await http.post(
            URL,
            content=content,
            headers=signed_headers(content, CURRENT, delivery="d2", content_type="text/plain"),
        )

    assert form.status_code == 200
    assert (text.status_code, text.text) == (
        415,
        "unsupported content type text/plain: expected application/json or "
        "application/x-www-form-urlencoded\n",
    )
    assert stored(store) == 1


class BrokenPlatform(TestPlatform):
    __test__ = False

    def ordering_key(self, request: WebhookRequest) -> str | None:
        raise RuntimeError("a bug in the plugin")


@pytest.mark.anyio
async def test_a_failing_plugin_is_500_and_stores_nothing(
    store: DeliveryStore, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=receiver(store, BrokenPlatform()))
    content = body()
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.post(
            URL, content=content, headers=signed_headers(content, CURRENT, delivery="d")
        )

    assert (answer.status_code, answer.text) == (
        500,
        "internal error: the platform plugin failed\n",
    )
    assert stored(store) == 0
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert failure.getMessage() == "test/shop-1: the platform plugin failed"
    assert failure.exc_info is not None


@pytest.mark.anyio
async def test_receiver_mounted_under_a_prefix(store: DeliveryStore) -> None:
    transport = httpx.ASGITransport(app=receiver(store), root_path="/hooks")
    content = body()
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.post(
            f"/hooks{URL}", content=content, headers=signed_headers(content, CURRENT, delivery="d")
        )

    assert answer.status_code == 200


@pytest.mark.anyio
async def test_one_log_line_per_delivery_without_body_or_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="passerelle.receiver")
    content = body("1001", note="card 4242424242424242")

    await client.post(
        URL, content=content, headers=signed_headers(content, CURRENT, delivery="d-1")
    )
    await client.post(
        URL, content=content, headers=signed_headers(content, "forged", delivery="d-2")
    )

    records = [r for r in caplog.records if r.name == "passerelle.receiver"]
    # Stored is the everyday case, for debugging; a refusal says something about the sender.
    assert [r.levelno for r in records] == [logging.DEBUG, logging.INFO]
    lines = [r.getMessage() for r in records]
    assert lines[0].startswith(f"200 test/shop-1 stored delivery=d-1 id=1 bytes={len(content)} ")
    assert lines[1].startswith(
        f"401 test/shop-1 not authentic: {SIGNATURE_HEADER} matches no secret of the store "
    )
    for line in lines:
        assert line.endswith("ms")
        assert "4242" not in line
        assert CURRENT not in line
        assert sign(content, CURRENT) not in line


def test_limit_must_be_positive(store: DeliveryStore) -> None:
    with pytest.raises(ValueError, match="max_body_bytes must be at least 1, not 0"):
        create_receiver({}, {}, store, max_body_bytes=0)
    assert DEFAULT_MAX_BODY_BYTES == 1024 * 1024


def test_any_authentic_body_is_stored_byte_for_byte_and_any_change_refused(
    store: DeliveryStore,
) -> None:
    app = receiver(store)
    counter = iter(range(1_000_000))

    async def post(content: bytes, signature: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post(
                URL,
                content=content,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature,
                    DELIVERY_HEADER: f"d-{next(counter)}",
                },
            )

    @settings(max_examples=40, deadline=None)
    @given(content=st.binary(max_size=LIMIT), flip=st.integers(min_value=0))
    def check(content: bytes, flip: int) -> None:
        before = stored(store)
        answer = anyio.run(post, content, sign(content, CURRENT))
        assert answer.status_code == 200
        assert store.get(answer.json()["id"]).body == content
        if content:
            index = flip % len(content)
            tampered = content[:index] + bytes([content[index] ^ 1]) + content[index + 1 :]
            refused = anyio.run(post, tampered, sign(content, CURRENT))
            assert refused.status_code == 401
        assert stored(store) == before + 1

    check()


@pytest.mark.anyio
async def test_on_append_is_called_for_each_new_delivery_only(store: DeliveryStore) -> None:
    calls: list[None] = []
    app = create_receiver(
        {"test": TestPlatform()}, STORES, store, on_append=lambda: calls.append(None)
    )
    transport = httpx.ASGITransport(app=app)
    content = body()
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for delivery in ("d-1", "d-1", "d-2"):
            await http.post(
                URL, content=content, headers=signed_headers(content, CURRENT, delivery=delivery)
            )
        await http.post(
            URL, content=content, headers=signed_headers(content, "forged", delivery="d-3")
        )

    assert len(calls) == 2
