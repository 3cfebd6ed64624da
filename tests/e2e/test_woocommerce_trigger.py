"""`passerelle trigger woocommerce` over real sockets: an order snapshot built and signed by the
WooCommerce plugin, sent to a running connector, applied at the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.sandbox.server import SandboxServer
from passerelle.serving import BackgroundServer

from .support import backend
from .test_trigger import created_reference, run
from .test_woocommerce_serve import serve

fake_rest = pytest.importorskip(
    "passerelle_woocommerce.fake_rest", reason="needs the WooCommerce plugin installed"
)
pytestmark = pytest.mark.slow


def trigger(folder: Path, sandbox: SandboxServer, act: str, line: str) -> str:
    """`passerelle trigger woocommerce ACT --sandbox` to a running connector; its output."""
    with (
        BackgroundServer(fake_rest.FakeRestApi()) as rest,
        serve(folder, sandbox, f"{rest.url}/wp-json/wc/v3") as connector,
    ):
        result = run(
            "trigger", "woocommerce", act, "--store", "e2e",
            "-c", str(connector.config), "--sandbox", "--line", line,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr + connector.output()
    return result.stdout


def test_a_triggered_woocommerce_shipment_with_sandbox_ends_done_and_ships_the_order(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    output = trigger(tmp_path, sandbox, "order_shipped", "Ceramic mug:24.00:2")
    assert "done: applied: 1 event: order_shipped" in output
    with backend(sandbox.url) as client:
        view = client.get_order(created_reference(output))
    assert [(line.name, line.shipped) for line in view.lines] == [("Ceramic mug", 2)]
    assert str(view.captured) == "48.00 CAD"


def test_a_triggered_woocommerce_cancellation_voids_the_whole_order(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    output = trigger(tmp_path, sandbox, "order_cancelled", "Wool quilt:180.00")
    assert "done: applied: 1 event: order_cancelled" in output
    with backend(sandbox.url) as client:
        view = client.get_order(created_reference(output))
    assert [(line.name, line.cancelled) for line in view.lines] == [("Wool quilt", 1)]
    assert str(view.voided) == "180.00 CAD"
