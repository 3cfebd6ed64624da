"""`platform_get`: a platform's API failing for now is retried, anything else is the plugin's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from passerelle.platforms import PlatformUnavailableError
from passerelle.plugin import platform_get
from passerelle.serving import BackgroundServer


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    status = int(scope["path"].strip("/") or 200)
    headers = [(b"retry-after", b"30")] if status in (429, 503) else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": scope["query_string"]})


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(app) as running:
        yield running


@pytest.mark.parametrize(("status", "retry_after"), [(429, "30"), (503, "30"), (408, None)])
def test_a_transient_answer_is_platform_unavailable(
    server: BackgroundServer, status: int, retry_after: str | None
) -> None:
    with httpx.Client() as http, pytest.raises(PlatformUnavailableError) as raised:
        platform_get(http, f"{server.url}/{status}", what="reading refund 7")
    assert str(raised.value) == f"reading refund 7: HTTP {status}"
    assert raised.value.retry_after == retry_after


@pytest.mark.parametrize("status", [200, 401, 404])
def test_any_other_answer_is_returned(server: BackgroundServer, status: int) -> None:
    with httpx.Client() as http:
        response = platform_get(
            http, f"{server.url}/{status}", what="reading", params={"consumer_key": "ck"}
        )
    assert (response.status_code, response.content) == (status, b"consumer_key=ck")


def test_an_unreachable_platform_is_platform_unavailable(server: BackgroundServer) -> None:
    with BackgroundServer(app) as stopped:
        url = stopped.url
    with httpx.Client() as http, pytest.raises(PlatformUnavailableError, match="could not be"):
        platform_get(http, url, what="reading refund 7")
