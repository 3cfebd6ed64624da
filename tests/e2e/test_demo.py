"""`passerelle demo` is the README's first command: it must run and check its own outcomes."""

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from passerelle import demo

pytest.importorskip("passerelle_shopify", reason="the demo needs the Shopify plugin installed")


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_exits_0() -> None:
    script = Path(sys.executable).with_name("passerelle")
    # Wide enough that no table cell wraps.
    env = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run(
        [str(script), "demo"], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing to warn about: the demo's own configuration is complete.
    assert result.stderr == ""
    assert "All 7 deliveries had the expected outcome." in result.stdout
    assert "duplicate of delivery 2: stored once, dispatched once" in result.stdout
    assert "returned: refunded 95.00 CAD; Brass lamp x1" in result.stdout
    assert "cancelled: released 180.00 CAD (void); Wool quilt x1" in result.stdout


@pytest.mark.slow
def test_the_demo_fails_when_a_voided_or_disbursed_amount_is_not_the_expected_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = dict(demo._EXPECTED_LEDGERS)
    expected[demo.QUILT_ORDER] = dataclasses.replace(expected[demo.QUILT_ORDER], voided="0.00")
    expected[demo.LAMP_ORDER] = dataclasses.replace(expected[demo.LAMP_ORDER], disbursed="95.00")
    monkeypatch.setattr(demo, "_EXPECTED_LEDGERS", expected)
    with pytest.raises(demo.DemoFailedError) as failed:
        demo.run_demo(Console(file=io.StringIO(), width=250))
    assert str(failed.value) == (
        f"order {demo.QUILT_ORDER} voided 180.00 CAD, expected 0.00 CAD; "
        f"order {demo.LAMP_ORDER} disbursed 0.00 CAD, expected 95.00 CAD"
    )


@pytest.mark.slow
def test_the_woocommerce_demo_runs_end_to_end_and_exits_0() -> None:
    pytest.importorskip("passerelle_woocommerce", reason="needs the WooCommerce plugin installed")
    script = Path(sys.executable).with_name("passerelle")
    env = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run(
        [str(script), "demo", "--platform", "woocommerce"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "All 6 deliveries had the expected outcome." in result.stdout
    assert "returned: refunded 12.00 CAD; Ceramic mug x1" in result.stdout
    assert "duplicate of delivery 3: stored once, dispatched once" in result.stdout
    assert "ignored: stale: order:8801 was reported as of 2026-03-02T11:00:00+00:00" in (
        result.stdout
    )
    assert "cancelled: released 180.00 CAD (void); Wool quilt x1" in result.stdout


def test_the_demo_names_the_platforms_it_knows() -> None:
    with pytest.raises(demo.DemoFailedError) as failed:
        demo.run_demo(Console(file=io.StringIO()), platform="magento")
    assert str(failed.value) == "no demo for platform 'magento': one of shopify, woocommerce"
