"""The sandbox at the HTTP level: the methods each path takes, clients that leave or dawdle."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest
from sandbox_support import ADMIN_TOKEN, AUTH, sandbox_config

from passerelle.sandbox import SandboxServer
from passerelle.serving import ClientLimits

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_ADMIN_PATHS = {"/_sandbox/clock": ("GET", "POST"), "/_sandbox/faults": ("GET", "POST")}


def _address(sandbox: SandboxServer) -> tuple[str, int]:
    host, _, port = sandbox.url.removeprefix("http://").rpartition(":")
    return host, int(port)


def test_every_path_refuses_another_method_naming_all_it_takes(
    sandbox: SandboxServer, raw: httpx.Client
) -> None:
    documented = raw.get("/openapi.json").json()["paths"]
    taken = {
        path: tuple(m for m in _METHODS if m.lower() in operations)
        for path, operations in documented.items()
    } | _ADMIN_PATHS
    assert taken["/v1/batches/{batch_id}"] == ("GET", "PATCH", "DELETE")
    headers = {**AUTH, "Authorization": f"Bearer {ADMIN_TOKEN}", "Idempotency-Key": "k"}

    for template, methods in taken.items():
        path = template.replace("{batch_id}", "b-1").replace("{ref}", "A-1")
        path = path.replace("{code}", "unknown_path")
        for method in set(_METHODS) - set(methods):
            answer = raw.request(method, path, headers=headers)
            assert answer.status_code == 405, (method, path)
            assert answer.headers["Allow"] == ", ".join(methods), (method, path)
            assert answer.json()["detail"] == (
                f"{method} is not allowed on {path}; it takes {', '.join(methods)}"
            )


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/orders/A-1/shipments", "/v1/batches"])
def test_a_client_that_leaves_mid_body_is_a_debug_line(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Passerelle-Merchant: {AUTH['Passerelle-Merchant']}\r\nIdempotency-Key: left\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG):
        with socket.create_connection(_address(sandbox)) as client:
            client.sendall(head.encode() + b'{"reference": "A-')
            time.sleep(0.2)  # the app is reading the body when the client leaves
        deadline = time.monotonic() + 5
        while "the client left" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)

    left = [r for r in caplog.records if "the client left" in r.getMessage()]
    assert [(r.levelname, r.name) for r in left] == [("DEBUG", "passerelle.sandbox")]
    assert left[0].getMessage().startswith(f"POST {path} (req_")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert httpx.get(sandbox.url + "/v1/orders/A-1", headers=AUTH).status_code == 404


def test_a_client_too_slow_with_its_headers_is_answered_408(tmp_path: Path) -> None:
    limits = ClientLimits(header_timeout=0.5)
    with (
        SandboxServer(sandbox_config(tmp_path / "s.db"), limits=limits) as sandbox,
        socket.create_connection(_address(sandbox)) as client,
    ):
        client.sendall(b"GET /v1/orders/A-1 HTTP/1.1\r\nHost: sandbox\r\n")
        client.settimeout(5)
        said = client.recv(4096)
        closed = client.recv(4096)

    assert said.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert closed == b""
