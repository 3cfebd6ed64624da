"""A platform opts out of a contract check only with a reason, which the suite prints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from connector.testplatform import TestPlatform
from passerelle.testing.opt_outs import CHECKS, OptOuts
from test_contract_suite import SHIPPED, Contract, contract_for

TESTS = Path(__file__).parent


def test_an_opt_out_without_a_reason_fails_every_test() -> None:
    class Bare(Contract):
        opt_outs: ClassVar[Mapping[str, str]] = {"binding": " ", "identity": None}  # type: ignore[dict-item]

    class Unknown(Contract):
        opt_outs: ClassVar[Mapping[str, str]] = {"signatures": "we trust the network"}

    assert Bare.configuration_problems() == [
        "opt_outs['binding'] gives no reason (' '): say why the platform cannot pass it, the "
        "suite prints it",
        "opt_outs['identity'] gives no reason (None): say why the platform cannot pass it, the "
        "suite prints it",
    ]
    assert Unknown.configuration_problems() == [
        f"opt_outs names no check 'signatures': the checks are {', '.join(CHECKS)}"
    ]


def test_an_opt_out_with_a_reason_skips_its_check_saying_why() -> None:
    contract = contract_for(TestPlatform())
    contract.opt_outs = {"binding": "Acme names no shop in its deliveries"}
    contract.skip_if_opted_out("identity")
    with pytest.raises(
        pytest.skip.Exception,
        match=r"^ForPlatform opts out of the binding check: Acme names no shop in its deliveries$",
    ):
        contract.skip_if_opted_out("binding")
    assert (
        "contract suite: ForPlatform opts out of binding: Acme names no shop in its deliveries"
        in OptOuts.summary()
    )
    OptOuts.taken.clear()  # this run's own summary lists only real suites' opt-outs


SUITE = """
    from pydantic import SecretStr

    from connector.testplatform import TestPlatform
    from passerelle.platforms import Store
    from passerelle.testing import Sample, WebhookPlatformContract


    class TestOptingOut(WebhookPlatformContract):
        platform = TestPlatform()
        store = Store(platform="test", id="north", secrets=(SecretStr("whsec"),))
        samples = (Sample("shipped", {body!r}, {headers!r}),)
        opt_outs = {{"structure": "Acme's names are upper case", "binding": {binding!r}}}
"""


def run_suite(tmp_path: Path, binding: str) -> str:
    test = tmp_path / "test_opting_out.py"
    test.write_text(
        textwrap.dedent(SUITE).format(
            body=SHIPPED.body, headers=dict(SHIPPED.headers), binding=binding
        )
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", str(test), "-p", "no:cacheprovider", "-q", "-rs"),
            *("-k", "platform_path_segment or naming_another_origin", "--rootdir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    return result.stdout


def test_the_reason_shows_in_pytests_output(tmp_path: Path) -> None:
    output = run_suite(tmp_path, "one webhook URL per shop")
    assert "2 skipped" in output
    assert "TestOptingOut opts out of the structure check: Acme's names are upper case" in output
    assert "contract suite: TestOptingOut opts out of binding: one webhook URL per shop" in output


def test_a_bare_opt_out_fails_the_run(tmp_path: Path) -> None:
    output = run_suite(tmp_path, "")
    assert "2 errors" in output
    assert "opt_outs['binding'] gives no reason ('')" in output
