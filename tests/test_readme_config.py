"""The README's configuration and sandbox commands, taken literally: its `passerelle.toml` loads,
its connector-to-sandbox section loads, and its order-creating command creates the order in a
real sandbox."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from passerelle.cli import app
from passerelle.connector.config import Settings
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN

README = (Path(__file__).parents[1] / "README.md").read_text()


def _block(language: str, first_line: str) -> str:
    found = re.search(
        rf"```{language}\n({re.escape(first_line)}\n.*?)```", README, re.DOTALL | re.MULTILINE
    )
    assert found, f"the README has no {language} block starting with {first_line!r}"
    return found.group(1)


@pytest.fixture(autouse=True)
def _no_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PASSERELLE_") and not name.upper().startswith(
            "PASSERELLE_TEST"
        ):
            monkeypatch.delenv(name)


def test_the_deployment_example_loads_with_every_section_it_mentions(tmp_path: Path) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(_block("toml", '[backend]\nurl = "https://payments.example.com"'))

    settings = Settings.load(path)

    assert (settings.receiver.host, settings.receiver.port) == ("127.0.0.1", 8080)
    assert settings.alerts.digest_at is not None
    assert settings.alerts.smtp is not None
    assert settings.alerts.smtp.port == 587
    assert "[receiver] port" in README


def test_the_sandbox_section_and_order_command_work_against_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(_block("toml", '[backend]\nurl = "http://127.0.0.1:8765"'))
    backend = Settings.load(path).backend
    words = shlex.split(_block("sh", "curl -X POST http://127.0.0.1:8765/v1/orders \\"))
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = json.loads(words[words.index("-d") + 1])

    with SandboxServer() as sandbox:
        target = next(word for word in words if word.startswith("http://"))
        url = target.replace("http://127.0.0.1:8765", sandbox.url)
        created = httpx.post(url, headers=headers, json=body)
        again = httpx.post(url, headers=headers, json=body)

    assert backend.url == "http://127.0.0.1:8765"
    assert headers["Authorization"] == f"Bearer {backend.token.get_secret_value()}"
    assert headers["Passerelle-Merchant"] == backend.merchant
    assert created.status_code == 201, created.text
    assert created.json()["reference"] == "1001"
    assert created.json()["authorized"] == {"minor": 4800, "currency": "CAD"}
    assert again.json() == created.json()


def test_the_readmes_orders_create_command_makes_the_order_at_the_sandbox() -> None:
    command = (
        'passerelle sandbox orders create --line "Ceramic mug:24.00:2" --line "Linen apron:38.00"'
    )
    words = shlex.split(_block("sh", command).splitlines()[0])
    with SandboxServer() as sandbox:
        # The README's command reaches the sandbox's default port; this one's is another.
        result = CliRunner().invoke(app, [*words[1:], "--url", sandbox.url])
        assert result.exit_code == 0, result.output
        reference = re.search(r"order (\d+)", result.output)
        assert reference, result.output
        shown = httpx.get(
            f"{sandbox.url}/v1/orders/{reference[1]}",
            headers={
                "Authorization": f"Bearer {DEFAULT_TOKEN}",
                "Passerelle-Merchant": DEFAULT_MERCHANT,
            },
        )
    assert shown.status_code == 200, shown.text
    assert shown.json()["authorized"] == {"minor": 8600, "currency": "CAD"}
