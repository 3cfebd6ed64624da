"""The asynchronous back-end client: the scenarios of `test_backend_client.py`, awaited."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import format_datetime
from typing import Any

import anyio
import httpx
import pytest
import respx

from passerelle.backend.client import AsyncBackendClient
from passerelle.backend.errors import (
    ERROR_CLASSES,
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BackendError,
    ConflictError,
    RateLimitedError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from passerelle.backend.retry import RetryPolicy, no_jitter
from passerelle.clock import FixedClock
from test_backend_client import (
    BAD_CONFIGURATION,
    BAD_SECONDS,
    BASE,
    CONFIGURED_TIMEOUTS,
    DEFAULT_TIMEOUTS,
    ENDPOINTS,
    MERCHANT,
    NOT_RETRYABLE,
    NOW,
    POLICY,
    RETRYABLE,
    SHIPPED,
    TIMEOUT_ARGUMENTS,
    TOKEN,
    UNREADABLE,
    Endpoint,
    Failure,
    FakeTime,
    Throttle,
    cad,
    check_common_headers,
    check_cut_at_the_deadline,
    check_gave_up_without_waiting,
    check_redacted,
    check_request,
    check_stopped_before_the_attempts_ran_out,
    check_unreadable,
    configuration,
    endpoint_id,
    keys,
    ok,
    order_create,
    order_json,
    problem,
    raising,
    script,
    script_echoes_of_secrets,
    shipment,
    slow_backend,
    throttled_scenarios,
    timed_options,
    timeout_message,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def client(sleeps: list[float]) -> AsyncIterator[AsyncBackendClient]:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with AsyncBackendClient(
        BASE, TOKEN, MERCHANT, retry=POLICY, clock=FixedClock(NOW), sleep=sleep
    ) as c:
        yield c


# Requests


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
async def test_each_method_sends_its_request_and_parses_the_answer(
    client: AsyncBackendClient, router: respx.MockRouter, endpoint: Endpoint
) -> None:
    route = script(router, ok(endpoint.answer))
    result = await getattr(client, endpoint.method_name)(*endpoint.args, **endpoint.kwargs)
    assert result.model_dump(mode="json") == type(result).model_validate(
        endpoint.answer
    ).model_dump(mode="json")
    check_request(route.calls.last.request, endpoint)
    check_common_headers(route.calls.last.request)


def test_both_clients_offer_the_same_methods() -> None:
    from passerelle.backend.client import BackendClient

    def public(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")} - {"close", "aclose"}

    assert public(AsyncBackendClient) == public(BackendClient)


async def test_context_manager_closes_its_own_pool_but_not_a_given_one(
    router: respx.MockRouter,
) -> None:
    script(router, ok())
    given_pool = httpx.AsyncClient()
    async with AsyncBackendClient(BASE, TOKEN, MERCHANT, http_client=given_pool) as c:
        await c.get_order("ORD-1")
    assert not given_pool.is_closed
    await given_pool.aclose()
    async with AsyncBackendClient(BASE, TOKEN, MERCHANT) as own:
        pass
    with pytest.raises(RuntimeError, match="client has been closed"):
        await own.get_order("ORD-1")


async def test_repr_shows_no_token() -> None:
    async with AsyncBackendClient(BASE + "/", TOKEN, MERCHANT) as c:
        assert repr(c) == "AsyncBackendClient('https://backend.test', merchant_id='m_4711')"


@pytest.mark.parametrize(("kwargs", "message"), BAD_CONFIGURATION)
async def test_bad_configuration_is_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        AsyncBackendClient(*configuration(kwargs))


async def test_money_in_answers_is_money(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    script(router, ok(SHIPPED))
    result = await client.ship("ORD-1", shipment())
    assert result.captured == cad("25.00")
    assert result.order.captured == cad("25.00")


async def test_empty_reference_is_refused_before_sending(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    route = script(router)
    with pytest.raises(ValueError, match=r"^order reference must not be empty$"):
        await client.get_order(" ")
    with pytest.raises(ValueError, match=r"^batch id must not be empty$"):
        await client.delete_batch("")
    assert not route.called


# Retries


@pytest.mark.parametrize("failure", RETRYABLE.values(), ids=RETRYABLE.keys())
async def test_transient_failure_is_retried_then_succeeds(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float], failure: Failure
) -> None:
    route = script(router, failure.outcome, ok(SHIPPED))
    assert (await client.ship("ORD-1", shipment())).captured == cad("25.00")
    assert route.call_count == 2
    assert sleeps == [0.5]


@pytest.mark.parametrize("failure", RETRYABLE.values(), ids=RETRYABLE.keys())
async def test_gives_up_after_max_attempts_with_the_last_error(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float], failure: Failure
) -> None:
    route = script(router, *[failure.outcome] * 3)
    with pytest.raises(BackendError) as info:
        await client.ship("ORD-1", shipment())
    assert type(info.value) is failure.error
    assert info.value.retryable
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("code", NOT_RETRYABLE)
async def test_permanent_problem_is_not_retried(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float], code: str
) -> None:
    route = script(router, problem(code))
    with pytest.raises(ERROR_CLASSES[code]):
        await client.ship("ORD-1", shipment())
    assert route.call_count == 1
    assert sleeps == []


async def test_unreadable_success_is_not_retried(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    route = script(router, UNREADABLE)
    with pytest.raises(APIResponseValidationError) as info:
        await client.get_order("ORD-1")
    check_unreadable(info, route)


# Retry-After


async def test_retry_after_seconds_is_honoured(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "7"}), ok())
    await client.get_order("ORD-1")
    assert sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    when = format_datetime(NOW + dt.timedelta(seconds=12), usegmt=True)
    script(router, problem("service_unavailable", headers={"Retry-After": when}), ok())
    await client.get_order("ORD-1")
    assert sleeps == [12.0]


async def test_retry_after_is_capped(router: respx.MockRouter, sleeps: list[float]) -> None:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    script(router, problem("rate_limited", headers={"Retry-After": "3600"}), ok())
    policy = RetryPolicy(max_retry_after=30.0, jitter=no_jitter)
    async with AsyncBackendClient(
        BASE, TOKEN, MERCHANT, retry=policy, sleep=sleep, total_timeout=60.0
    ) as c:
        await c.get_order("ORD-1")
    assert sleeps == [30.0]


async def test_retry_after_in_the_past_retries_at_once(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    when = format_datetime(NOW - dt.timedelta(minutes=5), usegmt=True)
    script(router, problem("rate_limited", headers={"Retry-After": when}), ok())
    await client.get_order("ORD-1")
    assert sleeps == [0.0]


async def test_unreadable_retry_after_falls_back_to_backoff(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "soon"}), ok())
    await client.get_order("ORD-1")
    assert sleeps == [0.5]


# Total timeout


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def timed_client(fake_time: FakeTime, total: float, **options: Any) -> AsyncBackendClient:
    return AsyncBackendClient(
        BASE, TOKEN, MERCHANT, **timed_options(fake_time, total, fake_time.asleep, **options)
    )


async def test_the_total_timeout_stops_retries_before_the_attempts_run_out(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = script(router, *[RETRYABLE["503"].outcome] * 3)
    async with timed_client(fake_time, 2.0) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.ship("ORD-1", shipment())
    check_stopped_before_the_attempts_ran_out(info, route, fake_time)


async def test_a_retry_after_past_the_deadline_gives_up_without_waiting(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = script(router, problem("rate_limited", headers={"Retry-After": "30"}), ok())
    async with timed_client(fake_time, 10.0) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.get_order("ORD-1")
    check_gave_up_without_waiting(info, route, fake_time)


async def test_a_retry_after_within_the_deadline_is_waited_for(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "9"}), ok())
    async with timed_client(fake_time, 10.0) as c:
        await c.get_order("ORD-1")
    assert fake_time.sleeps == [9.0]


async def test_a_slow_attempt_is_cut_at_the_deadline(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    reads: list[float] = []
    route = router.route().mock(side_effect=slow_backend(fake_time, 20.0, reads))
    async with timed_client(fake_time, 12.0, timeout=10.0) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.get_order("ORD-1")
    check_cut_at_the_deadline(info, route, fake_time, reads)


async def test_an_attempt_still_running_at_the_deadline_is_cancelled(
    router: respx.MockRouter,
) -> None:
    async def hangs(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return ok()

    router.route().mock(side_effect=hangs)
    started = time.monotonic()
    async with AsyncBackendClient(BASE, TOKEN, MERCHANT, total_timeout=0.2) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.get_order("ORD-1")
    assert time.monotonic() - started < 2.0
    assert str(info.value) == (
        "the payment back end did not answer within the total timeout of 0.2 s "
        "(GET /v1/orders/ORD-1, 1 attempt); the last attempt was cut at the deadline"
    )


@throttled_scenarios
def test_no_wait_ever_outlasts_the_time_left(total: float, asked: list[int], cost: float) -> None:
    throttle = Throttle(total, asked, cost)

    async def call() -> None:
        async with AsyncBackendClient(
            BASE, TOKEN, MERCHANT, **throttle.options(throttle.asleep)
        ) as c:
            with pytest.raises((APITimeoutError, RateLimitedError)):
                await c.get_order("ORD-1")

    with respx.mock() as mock:
        mock.route().mock(side_effect=throttle.answer)
        anyio.run(call)
    throttle.check()


async def test_an_attempt_that_fits_the_deadline_gets_the_configured_timeouts(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = script(router, ok())
    async with timed_client(fake_time, 30.0, timeout=7.0, connect_timeout=2.0) as c:
        await c.get_order("ORD-1")
    assert route.calls.last.request.extensions["timeout"] == CONFIGURED_TIMEOUTS


async def test_the_default_timeouts(router: respx.MockRouter, fake_time: FakeTime) -> None:
    route = script(router, ok(), problem("rate_limited", headers={"Retry-After": "30"}))
    async with AsyncBackendClient(
        BASE, TOKEN, MERCHANT, sleep=fake_time.asleep, timer=fake_time
    ) as c:
        await c.get_order("ORD-1")
        with pytest.raises(APITimeoutError, match=r"within the total timeout of 30 s "):
            await c.get_order("ORD-1")
    assert route.calls[0].request.extensions["timeout"] == DEFAULT_TIMEOUTS


@pytest.mark.parametrize("argument", TIMEOUT_ARGUMENTS)
@pytest.mark.parametrize("seconds", BAD_SECONDS)
async def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(
    argument: str, seconds: float
) -> None:
    with pytest.raises(ValueError, match=timeout_message(argument, seconds)):
        AsyncBackendClient(BASE, TOKEN, MERCHANT, **{argument: seconds})


# Idempotency keys


async def test_one_idempotency_key_across_all_retries(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    route = script(
        router, RETRYABLE["connect-error"].outcome, RETRYABLE["503"].outcome, ok(SHIPPED)
    )
    await client.ship("ORD-1", shipment())
    sent = keys(route)
    assert len(sent) == 3
    assert sent[0]
    assert len(set(sent)) == 1
    assert len({call.request.content for call in route.calls}) == 1


async def test_each_logical_call_gets_its_own_key(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    route = script(router, ok(SHIPPED), ok(SHIPPED))
    await client.ship("ORD-1", shipment())
    await client.ship("ORD-1", shipment())
    first, second = keys(route)
    assert first
    assert second
    assert first != second


async def test_caller_key_is_used_on_every_attempt(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    route = script(router, RETRYABLE["read-timeout"].outcome, RETRYABLE["429"].outcome, ok())
    await client.create_order(order_create(), idempotency_key="pse1_abc123")
    assert keys(route) == ["pse1_abc123"] * 3


async def test_reads_carry_no_key(client: AsyncBackendClient, router: respx.MockRouter) -> None:
    route = script(router, RETRYABLE["500"].outcome, ok())
    await client.get_order("ORD-1")
    assert keys(route) == [None, None]


# Errors, secrets and card numbers


async def test_connection_error_message_names_the_call(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    script(router, *[RETRYABLE["dropped-connection"].outcome] * 3)
    with pytest.raises(APIConnectionError) as info:
        await client.ship("ORD-1", shipment())
    assert str(info.value) == (
        "no answer from the payment back end (POST /v1/orders/ORD-1/shipments): "
        "RemoteProtocolError: Server disconnected without sending a response."
    )
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


async def test_token_and_card_numbers_never_reach_logs_or_errors(
    client: AsyncBackendClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script_echoes_of_secrets(router)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.ship("ORD-1", shipment())
    check_redacted(info, caplog)


async def test_conflict_other_than_in_progress_is_not_retried(
    client: AsyncBackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = script(router, httpx.Response(409, json={"detail": "conflict"}))
    with pytest.raises(ConflictError):
        await client.ship("ORD-1", shipment())
    assert (route.call_count, sleeps) == (1, [])


async def test_one_retry_policy_attempt_means_no_retry(router: respx.MockRouter) -> None:
    route = script(router, problem("service_unavailable"))
    async with AsyncBackendClient(BASE, TOKEN, MERCHANT, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(ServiceUnavailableError):
            await c.get_order("ORD-1")
    assert route.call_count == 1


async def test_protocol_misconfiguration_is_not_retried(
    client: AsyncBackendClient, router: respx.MockRouter
) -> None:
    route = script(
        router, raising(httpx.UnsupportedProtocol("Request URL has an unsupported protocol"))
    )
    with pytest.raises(APIConnectionError) as info:
        await client.get_order("ORD-1")
    assert not info.value.retryable
    assert route.call_count == 1


@pytest.mark.parametrize("key", ["", "clé", "a\nb", "x" * 256])
async def test_bad_caller_key_is_refused(client: AsyncBackendClient, key: str) -> None:
    with pytest.raises(
        ValueError, match=r"^idempotency_key must be 1 to 255 printable ASCII characters$"
    ):
        await client.create_order(order_create(), idempotency_key=key)


async def test_base_url_path_is_kept(router: respx.MockRouter) -> None:
    route = script(router, ok())
    async with AsyncBackendClient(BASE + "/api/", TOKEN, MERCHANT) as c:
        await c.get_order("ORD-1")
    assert route.calls.last.request.url == httpx.URL(BASE + "/api/v1/orders/ORD-1")


async def test_card_number_in_a_reference_is_not_logged(
    client: AsyncBackendClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="passerelle.backend")
    script(router, RETRYABLE["500"].outcome, ok(order_json("4242424242424242")))
    await client.get_order("4242424242424242")
    assert "4242424242424242" not in caplog.text
    assert "GET /v1/orders/[redacted card number]: attempt 2 of 3" in caplog.text
