"""The README's plugin example, run literally: it loads, and it passes the contract suite."""

from __future__ import annotations

import importlib
import re
import sys
import tempfile
import types
from pathlib import Path

README = (Path(__file__).parents[1] / "README.md").read_text()


def _block(first_line: str) -> str:
    found = re.search(r"```python\n(" + re.escape(first_line) + r"\n.*?)```", README, re.DOTALL)
    assert found, f"the README has no python block starting with {first_line!r}"
    return found.group(1)


def _load_acme() -> types.ModuleType:
    # A file on the path, as an installed plugin is: the contract suite imports it afresh.
    site = Path(tempfile.mkdtemp(prefix="readme-plugin-"))
    package = site / "passerelle_acme"
    package.mkdir()
    (package / "__init__.py").write_text(_block("# passerelle_acme/__init__.py"))
    sys.path.insert(0, str(site))
    return importlib.import_module("passerelle_acme")


_load_acme()
# The README's contract test, as a plugin author would write it, collected from here.
exec(compile(_block("# tests/test_acme_contract.py"), "README.md", "exec"))  # noqa: S102


def test_the_example_plugin_registers_its_platform() -> None:
    from passerelle.plugins import Plugins

    plugins = Plugins()
    plugins.register(sys.modules["passerelle_acme"], "acme")
    assert plugins.webhook_platform("acme").name == "acme"


def test_the_example_plugin_refuses_a_signature_that_is_not_ascii_as_unauthentic() -> None:
    from datetime import UTC, datetime

    import httpx
    import pytest
    from pydantic import SecretStr

    from passerelle.plugin import Store, VerificationError, WebhookRequest

    acme = sys.modules["passerelle_acme"]
    request = WebhookRequest(
        platform="acme",
        store="main",
        headers=httpx.Headers([(b"X-Acme-Signature", "€".encode())]),
        body=b'{"order_id": 1001, "shipment_id": "shp_1"}',
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(VerificationError, match="not ASCII"):
        acme.AcmePlatform().verify(request, Store("acme", "main", (SecretStr("whsec_test"),)))
