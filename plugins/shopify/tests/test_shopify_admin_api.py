"""orders/edited: the order is read from the Admin API (mocked here) and becomes the new cart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx
from shopify_support import (
    LINE_GAITERS,
    LINE_SHOES,
    ORDER_ID,
    SHOP,
    context,
    fixture,
    request,
)

from passerelle.events import CartLine, LineType, OrderEdited
from passerelle.money import Money
from passerelle.platforms import PlatformUnavailableError, Translation, TranslationError
from passerelle_shopify import ShopifyPlatform

URL = f"https://{SHOP}/admin/api/2025-07/orders/{ORDER_ID}.json"
TOKEN = "shpat_test_token"
EDIT = fixture("orders_edited.json")


def edited(platform: ShopifyPlatform, http: httpx.Client, **options: str) -> Translation:
    options.setdefault("access_token", TOKEN)
    return platform.translate(request(EDIT, "orders/edited"), context(http, **options))


@respx.mock
def test_edit_becomes_the_unshipped_cart(platform: ShopifyPlatform, http: httpx.Client) -> None:
    route = respx.get(URL).respond(200, content=fixture("admin_order.edited.json"))
    translation = edited(platform, http)
    assert route.calls.last.request.headers["X-Shopify-Access-Token"] == TOKEN
    # One of two shoes shipped, all socks shipped, the bottle removed, gaiters added (3.00 off).
    # Unshipped product value 150.00 of 307.50: shipping 15.00 and its 5.00 discount enter the
    # cart pro rata, 7.32 and 2.44 (largest remainder).
    assert translation == Translation(
        events=(
            OrderEdited(
                order=str(ORDER_ID),
                id="9007199254741201",
                cart=(
                    CartLine(
                        reference=str(LINE_SHOES),
                        name="Trail Runner Shoes",
                        unit_price=Money.of("120.00", "USD"),
                        quantity=1,
                    ),
                    CartLine(
                        reference=str(LINE_GAITERS),
                        name="Gaiters",
                        unit_price=Money.of("30.00", "USD"),
                        quantity=1,
                    ),
                    CartLine(
                        reference="shipping:9007199254741501",
                        name="Standard",
                        type=LineType.HANDLING,
                        unit_price=Money.of("7.32", "USD"),
                        quantity=1,
                    ),
                    CartLine(
                        reference="discounts",
                        name="Discounts",
                        type=LineType.DISCOUNT,
                        unit_price=Money.of("-5.44", "USD"),
                        quantity=1,
                    ),
                ),
            ),
        ),
        occurred_at=datetime(2026, 1, 15, 8, 2, tzinfo=timezone(timedelta(hours=-5))),
    )


@respx.mock
def test_missing_order_is_a_translation_error(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    respx.get(URL).respond(404, json={"errors": "Not Found"})
    with pytest.raises(TranslationError) as caught:
        edited(platform, http)
    assert str(caught.value) == "the Admin API has no order 9007199254740993 (HTTP 404)"


@respx.mock
@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_unavailable_api_is_a_platform_unavailable_error_with_its_retry_after(
    platform: ShopifyPlatform, http: httpx.Client, status: int
) -> None:
    respx.get(URL).respond(status, headers={"Retry-After": "2"})
    with pytest.raises(PlatformUnavailableError) as caught:
        edited(platform, http)
    assert caught.value.retry_after == "2"
    assert f"HTTP {status}" in str(caught.value)


@respx.mock
def test_network_failure_is_a_platform_unavailable_error(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    respx.get(URL).mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(PlatformUnavailableError) as caught:
        edited(platform, http)
    assert caught.value.retry_after is None
    assert "connection refused" in str(caught.value)


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_a_translation_error(
    platform: ShopifyPlatform, http: httpx.Client, status: int
) -> None:
    respx.get(URL).respond(status)
    with pytest.raises(TranslationError) as caught:
        edited(platform, http)
    assert str(caught.value) == (
        f"the Admin API refused the access token of store main (HTTP {status}) reading order "
        "9007199254740993"
    )


@respx.mock
def test_unexpected_status_is_a_translation_error(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    respx.get(URL).respond(422)
    with pytest.raises(TranslationError) as caught:
        edited(platform, http)
    assert str(caught.value) == "the Admin API answered HTTP 422 reading order 9007199254740993"


@respx.mock
def test_an_answer_that_is_not_an_order_is_a_translation_error(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    respx.get(URL).respond(200, json={"orders": []})
    with pytest.raises(TranslationError) as caught:
        edited(platform, http)
    assert str(caught.value) == ("order: Field required in the Admin API order 9007199254740993")


def test_without_access_token_nothing_is_fetched(
    platform: ShopifyPlatform, http: httpx.Client
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(URL)
        with pytest.raises(TranslationError) as caught:
            edited(platform, http, access_token="")
    assert not route.called
    assert str(caught.value) == (
        "store main has no access_token option: reading order 9007199254740993 needs the "
        "Admin API (scope read_orders)"
    )


@pytest.mark.parametrize(
    ("header", "option", "version"),
    [
        ("2024-10", None, "2024-10"),
        (None, "2025-01", "2025-01"),
        (None, None, "2025-07"),
        ("../../evil", None, "2025-07"),
    ],
)
def test_api_version_comes_from_the_delivery_then_the_store(
    platform: ShopifyPlatform,
    http: httpx.Client,
    header: str | None,
    option: str | None,
    version: str,
) -> None:
    options = {"access_token": TOKEN, **({"api_version": option} if option else {})}
    with respx.mock:
        route = respx.get(f"https://{SHOP}/admin/api/{version}/orders/{ORDER_ID}.json").respond(
            200, content=fixture("admin_order.edited.json")
        )
        platform.translate(
            request(EDIT, "orders/edited", api_version=header), context(http, **options)
        )
    assert route.called


def test_api_base_url_replaces_the_shop_host(platform: ShopifyPlatform, http: httpx.Client) -> None:
    with respx.mock:
        route = respx.get(
            f"http://127.0.0.1:8765/admin/api/2025-07/orders/{ORDER_ID}.json"
        ).respond(200, content=fixture("admin_order.edited.json"))
        edited(platform, http, api_base_url="http://127.0.0.1:8765/")
    assert route.called
