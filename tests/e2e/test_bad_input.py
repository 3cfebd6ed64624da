"""Bad input through `passerelle serve`: each refusal has its documented status and a one-line
reason and stores nothing; an authentic body that is not JSON is acknowledged, stored, and fails
in the dispatcher into the action center. None of it reaches the back end, whose every request
is recorded here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from testplatform import DELIVERY_HEADER, PLATFORM, SIGNATURE_HEADER, signed_headers

from .support import (
    FULL_TOKEN,
    SECRET,
    STORE_ID,
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    RecordingBackend,
    api,
    deliver,
    ship,
    sqlite_url,
    stats,
    subprocess_env,
    wait_for_status,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024  # [receiver] max_body_bytes by default
BODY = b'{"order": "o-1", "events": []}'


@pytest.fixture
def backend() -> Iterator[RecordingBackend]:
    with RecordingBackend() as server:
        yield server


@pytest.fixture
def connector(
    tmp_path: Path, plugin_site: Path, backend: RecordingBackend
) -> Iterator[ConnectorProcess]:
    config = ConnectorConfig(backend.url, sqlite_url(tmp_path / "inbox.db"), max_attempts=1)
    process = ConnectorProcess(
        config.write(tmp_path / "passerelle.toml"),
        subprocess_env(plugin_site),
        tmp_path / "connector.log",
        port=config.port,
    )
    with process.start():
        process.wait_ready()
        yield process


@dataclass(frozen=True)
class BadInput:
    name: str
    body: bytes | Iterator[bytes] = BODY
    headers: dict[str, str] = field(
        default_factory=lambda: signed_headers(BODY, SECRET, delivery="d")
    )
    path: str = f"/webhooks/{PLATFORM}/{STORE_ID}"


def _streamed(size: int) -> Iterator[bytes]:
    # Without a Content-Length: the receiver must count what arrives.
    chunk = b" " * 65536
    for _ in range(size // len(chunk)):
        yield chunk
    yield b" " * (size % len(chunk))


_TOO_LARGE = b'{"order": "o-1", "pad": "' + b"x" * LIMIT + b'"}'
_NOT_JSON_HEADERS = {**signed_headers(BODY, SECRET, delivery="d"), "Content-Type": "text/plain"}

BAD_INPUTS = [
    (
        BadInput(
            "oversized",
            _TOO_LARGE,
            signed_headers(_TOO_LARGE, SECRET, delivery="d"),
        ),
        413,
        f"payload too large: the limit is {LIMIT} bytes",
    ),
    (
        BadInput("oversized, streamed", _streamed(LIMIT + 1), {"Content-Type": "application/json"}),
        413,
        f"payload too large: the limit is {LIMIT} bytes",
    ),
    (
        BadInput("unsigned", headers={"Content-Type": "application/json", DELIVERY_HEADER: "d"}),
        401,
        f"not authentic: missing header {SIGNATURE_HEADER}",
    ),
    (
        BadInput("wrongly signed", headers=signed_headers(BODY, "not-the-secret", delivery="d")),
        401,
        f"not authentic: {SIGNATURE_HEADER} matches no secret of the store",
    ),
    (
        BadInput("signed for another body", headers=signed_headers(b"{}", SECRET, delivery="d")),
        401,
        f"not authentic: {SIGNATURE_HEADER} matches no secret of the store",
    ),
    (
        BadInput("unknown store", path=f"/webhooks/{PLATFORM}/elsewhere"),
        404,
        f"unknown store 'elsewhere' of platform {PLATFORM}",
    ),
    (
        BadInput("unknown platform", path=f"/webhooks/magento/{STORE_ID}"),
        404,
        "unknown platform 'magento'",
    ),
    (
        BadInput(
            "malformed JSON, unsigned", b'{"order": "o-1", ', {"Content-Type": "application/json"}
        ),
        401,
        f"not authentic: missing header {SIGNATURE_HEADER}",
    ),
    (
        BadInput("wrong content type", headers=_NOT_JSON_HEADERS),
        415,
        "unsupported content type text/plain: expected application/json",
    ),
    (
        BadInput(
            "no content type",
            headers={k: v for k, v in _NOT_JSON_HEADERS.items() if k != "Content-Type"},
        ),
        415,
        "unsupported content type none: expected application/json",
    ),
]


def test_bad_input_gets_its_status_and_a_one_line_reason_and_reaches_nothing(
    connector: ConnectorProcess, backend: RecordingBackend
) -> None:
    with httpx.Client(base_url=connector.url, timeout=30.0) as http:
        answers = {
            bad.name: http.post(bad.path, content=bad.body, headers=bad.headers)
            for bad, _, _ in BAD_INPUTS
        }
        # An authentic delivery that means nothing: once it is settled, the dispatcher has had
        # its turn at whatever the bad input could have left in the inbox.
        last = json.dumps({"order": "o-1", "ignore": "a test of the dispatcher"}).encode()
        response = http.post(
            f"/webhooks/{PLATFORM}/{STORE_ID}",
            content=last,
            headers=signed_headers(last, SECRET, delivery="last"),
        )
        assert response.status_code == 200, response.text
        wait_settled(connector.url, timeout=30)

    for bad, status, reason in BAD_INPUTS:
        answer = answers[bad.name]
        assert (answer.status_code, answer.text) == (status, reason + "\n"), bad.name
        assert answer.headers["content-type"] == "text/plain; charset=utf-8", bad.name
    counts = stats(connector.url)
    assert counts["ignored"] == 1
    assert sum(counts.values()) == 1, counts  # nothing else was stored
    assert backend.requests == []

    # The record would show a call: a good delivery for an order makes the dispatcher look it up.
    good = Delivery("good", "o-2", (ship("o-2", "F1"),))
    with httpx.Client() as http:
        deliver(http, connector.url, good)
    wait_until(lambda: backend.requests, timeout=30, what="the dispatcher to call the back end")
    assert backend.requests[0] == ("GET", "/v1/orders/o-2")


def test_an_authentic_body_that_is_not_json_is_stored_then_fails_into_the_action_center(
    connector: ConnectorProcess, backend: RecordingBackend
) -> None:
    truncated = b'{"order": "o-1", "events": [{"kind": "order_shipped"'
    with httpx.Client(base_url=connector.url, timeout=30.0) as http:
        response = http.post(
            f"/webhooks/{PLATFORM}/{STORE_ID}",
            content=truncated,
            headers=signed_headers(truncated, SECRET, delivery="truncated"),
        )
    assert response.status_code == 200, response.text
    acknowledged = response.json()
    assert acknowledged["duplicate"] is False

    action = wait_for_status(
        connector.url, acknowledged["id"], "failed", timeout=30, token=FULL_TOKEN, body=True
    )
    assert action["error_code"] == "unreadable_delivery"
    assert action["error_message"] == (
        "the body is not JSON: Expecting ',' delimiter: line 1 column 53 (char 52)"
    )
    assert action["body"] == truncated.decode()
    listed = api(connector.url, "/actions", token=FULL_TOKEN).json()["actions"]
    assert [a["id"] for a in listed] == [acknowledged["id"]]
    assert backend.requests == []
