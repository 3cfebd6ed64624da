"""What `passerelle config check` says about a Shopify store's options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from passerelle.platforms import Store, StoreProblem
from passerelle_shopify import ShopifyPlatform

SECRET = (SecretStr("whsec-test"),)


def problems(store_id: str, **options: str) -> list[StoreProblem]:
    return list(ShopifyPlatform().check_store(Store("shopify", store_id, SECRET, options)))


def test_a_complete_store_has_no_problem() -> None:
    assert problems("north.myshopify.com", access_token="shpat_x") == []
    assert (
        problems(
            "north",
            shop_domain="North.myshopify.com",
            access_token="shpat_x",
            api_version="2025-07",
            api_base_url="http://127.0.0.1:8080",
        )
        == []
    )


def test_a_store_without_its_shop_domain_or_access_token_is_reported() -> None:
    found = problems("north")
    assert [problem.key for problem in found] == ["options.shop_domain", "options.access_token"]
    assert "store id 'north' is not a *.myshopify.com domain" in found[0].message
    assert "read_orders" in found[1].message


@pytest.mark.parametrize(
    ("options", "key", "says"),
    [
        ({"shop_domain": "north.example.com"}, "options.shop_domain", "not a *.myshopify.com"),
        ({"api_version": "2025-13"}, "options.api_version", "use YYYY-MM"),
        ({"api_version": "latest"}, "options.api_version", "use YYYY-MM"),
        ({"api_base_url": "ftp://north"}, "options.api_base_url", "http:// or https://"),
        ({"api_base_url": "north.example"}, "options.api_base_url", "http:// or https://"),
    ],
)
def test_malformed_options_are_reported_with_their_key(
    options: dict[str, str], key: str, says: str
) -> None:
    found = problems("north.myshopify.com", access_token="shpat_x", **options)
    assert [problem.key for problem in found] == [key]
    assert says in found[0].message


def test_no_problem_quotes_the_access_token() -> None:
    found = problems("north", shop_domain="bad domain", access_token="shpat_secret")
    assert all("shpat_secret" not in problem.message for problem in found)


def test_config_check_reports_the_shopify_store_by_its_key_and_fails(tmp_path: Path) -> None:
    config = tmp_path / "passerelle.toml"
    config.write_text(
        '[backend]\nurl = "https://api.example.com"\nmerchant = "m"\n\n'
        '[[stores]]\nplatform = "shopify"\nid = "north.myshopify.com"\n\n'
        '[[stores]]\nplatform = "shopify"\nid = "south"\n'
        'options = { shop_domain = "south.myshopify.com" }\n'
    )
    env = {
        **os.environ,
        "PASSERELLE_BACKEND__TOKEN": "t",
        "PASSERELLE_STORES__0__SECRETS": "whsec-0",
        "PASSERELLE_STORES__1__SECRETS": "whsec-1",
        "PASSERELLE_STORES__1__OPTIONS__ACCESS_TOKEN": "shpat_env",
    }
    script = Path(sys.executable).with_name("passerelle")

    result = subprocess.run(
        [str(script), "config", "check", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    errors = [line.strip() for line in result.stderr.splitlines() if "warning: " not in line]
    assert errors[0].endswith("passerelle.toml: 1 problem")
    assert errors[1].startswith("stores[0].options.access_token: is missing: ")
    assert len(errors) == 2
    assert "shpat_env" not in result.stdout + result.stderr
