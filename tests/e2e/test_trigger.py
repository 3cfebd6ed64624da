"""`passerelle trigger` and `passerelle sandbox orders create` over real sockets: a Shopify
delivery built and signed by the plugin, sent to a running connector, applied at the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.sandbox.server import SandboxServer

from .support import backend, free_port, sqlite_url
from .test_shopify_serve import SHOP, serve, write_config

pytest.importorskip("passerelle_shopify", reason="needs the Shopify plugin installed")
pytestmark = pytest.mark.slow

COMMAND = str(Path(sys.executable).with_name("passerelle"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [COMMAND, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def created_reference(output: str) -> str:
    found = re.search(r"order (\d+)", output)
    assert found, output
    return found[1]


def test_a_triggered_shipment_with_sandbox_ends_done_and_ships_the_order(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    with serve(tmp_path, sandbox) as connector:
        result = run(
            "trigger", "shopify", "order_shipped", "--store", SHOP,
            "-c", str(connector.config), "--sandbox", "--line", "Ceramic mug:24.00:2",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr + connector.output()
    assert "done: applied: 1 event: order_shipped" in result.stdout
    reference = created_reference(result.stdout)
    with backend(sandbox.url) as client:
        view = client.get_order(reference)
    assert [(line.name, line.shipped) for line in view.lines] == [("Ceramic mug", 2)]
    assert str(view.captured) == "48.00 CAD"


def test_a_delivery_for_an_order_the_back_end_does_not_know_is_not_applied_and_exits_1(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    with serve(tmp_path, sandbox) as connector:
        result = run(
            "trigger", "shopify", "order_cancelled", "-c", str(connector.config), "--wait", "1"
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "HTTP 200" in result.stdout
    assert "done:" not in result.stdout


def test_an_act_the_platform_cannot_build_is_named(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = write_config(
        tmp_path / "passerelle.toml", sandbox.url, sqlite_url(tmp_path / "x.db"), free_port()
    )
    result = run("trigger", "shopify", "order_edited", "-c", str(config), "--sandbox")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: platform shopify cannot build a order_edited delivery; it builds: "
        "order_cancelled, order_returned, order_shipped"
    )


def test_sandbox_orders_create_makes_the_order_at_a_running_sandbox(
    sandbox: SandboxServer,
) -> None:
    result = run(
        "sandbox", "orders", "create", "--url", sandbox.url,
        "--line", "Ceramic mug:24.00:2", "--line", "Linen apron:38.00",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reference = created_reference(result.stdout)
    with backend(sandbox.url) as client:
        view = client.get_order(reference)
    assert [(line.name, line.ordered) for line in view.lines] == [
        ("Ceramic mug", 2),
        ("Linen apron", 1),
    ]
    assert str(view.authorized) == "86.00 CAD"


def test_sandbox_orders_create_names_a_malformed_line(sandbox: SandboxServer) -> None:
    result = run("sandbox", "orders", "create", "--url", sandbox.url, "--line", "Mug:two")
    assert result.returncode == 2
    assert "--line number 1 'Mug:two': the price is not a decimal amount" in result.stderr
