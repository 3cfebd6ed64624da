from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from passerelle.serving import BackgroundServer
from passerelle_woocommerce.fake_rest import FakeRestApi


@pytest.fixture
def rest_api() -> Iterator[FakeRestApi]:
    """A local WooCommerce REST API over a real socket; its refunds are set by each test."""
    api = FakeRestApi()
    with BackgroundServer(api) as server:
        api.base_url = f"{server.url}/wp-json/wc/v3"
        yield api


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client
