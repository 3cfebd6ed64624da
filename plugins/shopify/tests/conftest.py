from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from passerelle_shopify import ShopifyPlatform


@pytest.fixture
def platform() -> ShopifyPlatform:
    return ShopifyPlatform()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client
