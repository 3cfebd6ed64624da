"""`passerelle demo` is the README's first command: it must run and check its own outcomes."""

import dataclasses
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from connector.testplatform import TestPlatform
from passerelle import demo
from passerelle.hookspecs import hookimpl
from passerelle.platforms import WebhookPlatform
from passerelle.plugins import Plugins

pytest.importorskip("passerelle_shopify", reason="the demo needs the Shopify plugin installed")


def run_demo_command(platform: str) -> str:
    """`passerelle demo --platform PLATFORM`'s output, once it exited 0 with nothing to warn
    about (the demo's own configuration is complete)."""
    script = Path(sys.executable).with_name("passerelle")
    # Wide enough that no table cell wraps.
    env = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run(
        [str(script), "demo", "--platform", platform],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_exits_0() -> None:
    stdout = run_demo_command("shopify")
    assert "All 7 deliveries had the expected outcome." in stdout
    assert "duplicate of delivery 2: stored once, dispatched once" in stdout
    assert "returned: refunded 95.00 CAD; Brass lamp x1" in stdout
    assert "cancelled: released 180.00 CAD (void); Wool quilt x1" in stdout


@pytest.mark.slow
def test_the_demo_fails_when_a_voided_or_disbursed_amount_is_not_the_expected_one() -> None:
    from passerelle_shopify.demo import LAMP_ORDER, QUILT_ORDER, scenario

    shopify = scenario()
    expected = dict(shopify.expected)
    quilt, lamp = str(QUILT_ORDER), str(LAMP_ORDER)
    expected[quilt] = dataclasses.replace(expected[quilt], voided="0.00")
    expected[lamp] = dataclasses.replace(expected[lamp], disbursed="95.00")
    with pytest.raises(demo.DemoFailedError) as failed:
        demo.run_scenario(
            dataclasses.replace(shopify, expected=expected), Console(file=io.StringIO(), width=250)
        )
    assert str(failed.value) == (
        f"order {QUILT_ORDER} voided 180.00 CAD, expected 0.00 CAD; "
        f"order {LAMP_ORDER} disbursed 0.00 CAD, expected 95.00 CAD"
    )


@pytest.mark.slow
def test_the_woocommerce_demo_runs_end_to_end_and_exits_0() -> None:
    stdout = run_demo_command("woocommerce")
    assert "All 6 deliveries had the expected outcome." in stdout
    assert "returned: refunded 12.00 CAD; Ceramic mug x1" in stdout
    assert "duplicate of delivery 3: stored once, dispatched once" in stdout
    assert "ignored: stale: order:8801 was reported as of 2026-03-02T11:00:00+00:00" in stdout
    assert "cancelled: released 180.00 CAD (void); Wool quilt x1" in stdout


def test_demo_names_an_unknown_platform() -> None:
    with pytest.raises(demo.DemoFailedError, match="woo"):
        demo.run_demo(Console(file=io.StringIO()), platform="woo")


def test_demo_runs_only_what_platforms_contribute() -> None:
    from passerelle_shopify.platform import ShopifyPlatform

    plugins = Plugins()
    plugins.register(Registers(TestPlatform()), "test")
    with pytest.raises(demo.DemoFailedError, match=r"^no installed platform contributes"):
        demo.scenarios(plugins)
    plugins.register(Registers(ShopifyPlatform()), "shopify")
    with pytest.raises(demo.DemoFailedError, match=r"^platform test contributes no demo scenario$"):
        demo.scenarios(plugins, "test")
    assert [s.store.platform for s in demo.scenarios(plugins)] == ["shopify"]
    assert [s.store.platform for s in demo.scenarios(plugins, "shopify")] == ["shopify"]


class Registers:
    def __init__(self, platform: WebhookPlatform) -> None:
        self.platform = platform

    @hookimpl
    def register_platforms(self, register: Callable[[WebhookPlatform], None]) -> None:
        register(self.platform)


@pytest.mark.slow
def test_the_sage_demo_runs_end_to_end_and_exits_0() -> None:
    pytest.importorskip("passerelle_sage", reason="the Sage demo needs the Sage plugin installed")
    stdout = run_demo_command("sage")
    assert "All 4 files and 3 back-office actions had the expected outcome." in stdout
    assert "1 entry removed" in stdout
    assert "failed (batch_overlap): batch ACMELUMBR1-0002 repeats 1 entry of batch" in stdout
    assert "200 scheduled" in stdout
    assert "200 deleted" in stdout
    assert "409 batch_past_cutoff: the back end answered" in stdout


@pytest.mark.slow
def test_the_sage_demo_fails_when_the_back_end_does_not_end_as_expected() -> None:
    pytest.importorskip("passerelle_sage", reason="the Sage demo needs the Sage plugin installed")
    from passerelle.file_demo import run_file_scenario
    from passerelle_sage.demo import scenario

    sage = scenario()
    corrected, refused = sage.drops[1], sage.actions[2]
    drops = list(sage.drops)
    drops[1] = dataclasses.replace(corrected, payees=("Ada Tremblay", "Li Wei"))
    actions = [sage.actions[0], dataclasses.replace(refused, expect="done", status="deleted")]
    with pytest.raises(demo.DemoFailedError) as failed:
        run_file_scenario(
            dataclasses.replace(sage, drops=drops, actions=actions),
            Console(file=io.StringIO(), width=250),
        )
    batch = corrected.batch
    assert str(failed.value) == (
        f"file 2: the back end has batch {batch} for {corrected.processing_date} paying "
        f"['Ada Tremblay', 'Omar Haddad'], expected {corrected.processing_date} paying "
        "['Ada Tremblay', 'Li Wei']; "
        f"action 2 (DELETE /api/batches/{refused.batch}) answered batch_past_cutoff, "
        f"expected done; action 2: batch {refused.batch} is processing for "
        f"{sage.actions[0].to}: Papeterie Laval, Nordic Courier, expected deleted"
    )
