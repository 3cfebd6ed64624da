"""The contract suite fails a platform that reads the clock, opens a connection at import, or
compares signatures otherwise than in constant time, however it imported the comparison."""

from __future__ import annotations

import hmac
import sys
import textwrap
import time
from datetime import UTC, datetime
from hmac import compare_digest
from pathlib import Path

import httpx
import pytest

from connector.testplatform import TestPlatform
from passerelle.events import OrderShipped
from passerelle.platforms import (
    Store,
    Translation,
    TranslationContext,
    VerificationError,
    WebhookRequest,
)
from passerelle.testing.samples import OfflineTransport
from test_contract_suite import SHIPPED, SIGNATURE_HEADER, contract_for, sign


@pytest.fixture
def http() -> httpx.Client:
    return httpx.Client()


class IdsFromTheClock(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        day = datetime.now(UTC).date().isoformat()
        return Translation(events=(OrderShipped(order="1001", id=f"ship-{day}"),))


class IdsFromTheEpoch(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        hours = int(time.time()) // 3600
        return Translation(events=(OrderShipped(order="1001", id=f"ship-{hours}"),))


@pytest.mark.parametrize("platform", [IdsFromTheClock(), IdsFromTheEpoch()], ids=type)
def test_a_platform_whose_event_ids_come_from_the_clock_fails(
    platform: TestPlatform, http: httpx.Client
) -> None:
    # The receive time is the same: only the clock moves, which the retry check cannot see.
    contract_for(platform).test_a_retry_keeps_its_key_and_its_events(SHIPPED, http)
    with pytest.raises(
        AssertionError,
        match=r"^the same delivery of shipped translates otherwise with the clock a day later",
    ):
        contract_for(platform).test_events_do_not_change_with_the_clock(SHIPPED, http)


def test_a_platform_that_reads_no_clock_passes_the_moved_clock(http: httpx.Client) -> None:
    contract_for(TestPlatform()).test_events_do_not_change_with_the_clock(SHIPPED, http)


CALLS_AT_IMPORT = """
    import httpx

    from connector.testplatform import TestPlatform

    try:  # the author's "warm-up": the platform's API, read at import
        SETTINGS = httpx.get("http://127.0.0.1:9/api/settings", timeout=1).json()
    except httpx.HTTPError:
        SETTINGS = {}


    class CallsAtImport(TestPlatform):
        pass
"""


def test_a_plugin_calling_its_api_at_import_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_calls_at_import.py").write_text(textwrap.dedent(CALLS_AT_IMPORT))
    monkeypatch.syspath_prepend(str(tmp_path))
    import acme_calls_at_import

    contract = contract_for(acme_calls_at_import.CallsAtImport())
    assert contract.plugin_modules() == ["acme_calls_at_import"]
    with pytest.raises(
        AssertionError,
        match=r"^importing acme_calls_at_import opened a connection to 127\.0\.0\.1: ",
    ):
        contract.test_the_plugin_imports_without_a_connection()
    sys.modules.pop("acme_calls_at_import")


def test_a_plugin_importing_offline_passes() -> None:
    contract = contract_for(TestPlatform())
    assert contract.plugin_modules() == ["connector", "connector.testplatform"]
    contract.test_the_plugin_imports_without_a_connection()


class ImportsCompareDigest(TestPlatform):
    """Compares in constant time through ``from hmac import compare_digest``."""

    def verify(self, request: WebhookRequest, store: Store) -> None:
        presented = request.headers.get(SIGNATURE_HEADER, "").encode()
        matched = False
        for secret in (s.get_secret_value() for s in store.secrets):
            if secret:
                matched |= compare_digest(sign(request.body, secret).encode(), presented)
        if not matched:
            raise VerificationError(f"{SIGNATURE_HEADER} matches no secret of the store")


def test_a_platform_comparing_with_an_imported_compare_digest_passes() -> None:
    contract_for(ImportsCompareDigest()).test_verify_compares_in_constant_time(SHIPPED)
    assert sys.modules[__name__].compare_digest is hmac.compare_digest  # bound back after


class ReadsItsApi(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        order = context.http.get("https://acme.example/api/orders/1001").json()
        return Translation(events=(OrderShipped(order=str(order["id"]), id="ship-1"),))


def test_a_sample_whose_api_answers_are_not_served_fails_rather_than_skips() -> None:
    with (
        httpx.Client(transport=OfflineTransport()) as offline,
        pytest.raises(AssertionError, match=r"^shipped: translation reads the platform's API"),
    ):
        contract_for(ReadsItsApi()).test_translate_of_a_sample_is_deterministic_and_well_formed(
            SHIPPED, offline
        )


def test_a_sample_whose_api_answers_are_served_passes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": 1001})

    with httpx.Client(transport=httpx.MockTransport(answer)) as served:
        contract_for(ReadsItsApi()).test_translate_of_a_sample_is_deterministic_and_well_formed(
            SHIPPED, served
        )
