"""Alerts and the daily digest, against a real SMTP server (aiosmtpd, STARTTLS and AUTH required,
its certificate from a CA made here) and a real HTTP receiver, on a clock the tests set."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import ssl
import time as wall
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from hypothesis import given
from hypothesis import strategies as st
from test_actions import Deliveries

from passerelle.clock import FixedClock
from passerelle.connector.alerts import Alerter, AlertError, next_digest_at, send_email
from passerelle.connector.config import AlertSettings, ConfigError, Settings, SmtpSettings
from passerelle.connector.runtime import Role, build_connector
from passerelle.connector.store import DeliveryStore, ErrorInfo
from passerelle.serving import BackgroundServer

TORONTO = ZoneInfo("America/Toronto")
# 07:55 in Toronto (EST, UTC-5) on a winter morning.
START = datetime(2026, 1, 14, 12, 55, tzinfo=UTC)
SMTP_USER = "alerts@shop.example"
SMTP_PASSWORD = "smtp-password-0123"


# -- a real SMTP server ----------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received, and who logged in."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        assert session.authenticated, "the server let an unauthenticated client send"
        assert envelope.content is not None
        content = envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    # handled=False: the server answers a refusal itself (535).
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    mailbox: Mailbox

    def settings(self, password: str = SMTP_PASSWORD) -> SmtpSettings:
        return SmtpSettings.model_validate(
            {
                "host": "127.0.0.1",
                "port": self.port,
                "username": SMTP_USER,
                "password": password,
                "sender": SMTP_USER,
                "recipients": ["ops@shop.example", "owner@shop.example"],
                "ca_file": self.ca_file,
            }
        )


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path_factory.mktemp("smtp") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    mailbox = Mailbox()
    # The controller checks that it serves by connecting to its port: it needs it known.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        yield SmtpServer(port, ca_file, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Mailbox:
    smtp_server.mailbox.messages.clear()
    smtp_server.mailbox.envelopes.clear()
    return smtp_server.mailbox


# -- a real HTTP receiver for the webhooks ---------------------------------------------------


@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]]
    answer: list[int]

    def texts(self) -> list[str]:
        return [str(body["text"]) for body in self.received]


@pytest.fixture
def hook() -> Iterator[Hook]:
    received: list[dict[str, Any]] = []
    answer = [200]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if answer[0] == 200:
            received.append(json.loads(body))
        await send({"type": "http.response.start", "status": answer[0], "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with BackgroundServer(app, lifespan="off") as server:
        yield Hook(f"{server.url}/hooks/T000/B000/secret-part", received, answer)


# -- the connector's side --------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def alert_settings(**values: Any) -> AlertSettings:
    return AlertSettings.model_validate({"zone": "America/Toronto", **values})


MakeAlerter = Callable[..., Alerter]


@pytest.fixture
def alerter(store: DeliveryStore, clock: FixedClock) -> Iterator[MakeAlerter]:
    """Makes an alerter over `store` with the `[alerts]` values given; stopped afterwards."""
    made: list[Alerter] = []

    def make(**values: Any) -> Alerter:
        settings = alert_settings(**values)
        made.append(Alerter(store, settings, page_url="http://127.0.0.1:8080/", clock=clock))
        return made[-1]

    yield make
    for each in made:
        each.stop()


# -- when the digest is due ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # 07:55 EST: today at 08:00 EST.
        (START, datetime(2026, 1, 14, 13, 0, tzinfo=UTC)),
        # 08:00 sharp has just passed: tomorrow.
        (datetime(2026, 1, 14, 13, 0, tzinfo=UTC), datetime(2026, 1, 15, 13, 0, tzinfo=UTC)),
        # The night clocks go forward (8 March 2026): 08:00 EDT is 12:00 UTC.
        (datetime(2026, 3, 8, 5, 0, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
    ],
)
def test_the_digest_is_due_at_the_local_time(after: datetime, expected: datetime) -> None:
    assert next_digest_at(after, time(8, 0), TORONTO) == expected


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    st.times(),
)
def test_the_digest_is_due_within_a_day_at_that_time_in_utc(after: datetime, at: time) -> None:
    due = next_digest_at(after, at, ZoneInfo("UTC"))

    assert after < due <= after + timedelta(days=1)
    assert due.time() == at


# -- the digest ------------------------------------------------------------------------------


def test_the_digest_goes_out_once_a_day_at_the_local_time(
    alerter: MakeAlerter,
    store: DeliveryStore,
    deliveries: Deliveries,
    clock: FixedClock,
    smtp_server: SmtpServer,
    mailbox: Mailbox,
) -> None:
    clock.set(START - timedelta(days=2))
    deliveries.failed("900")  # failed two days ago: not news
    clock.set(START - timedelta(hours=5))
    deferred = deliveries.deferred("1001", until=timedelta(days=3))
    clock.set(START - timedelta(hours=3))
    first = deliveries.failed("1002")
    deliveries.failed("1003", error=ErrorInfo("backend_unavailable", "the back end answered 503"))
    deliveries.failed("1004", platform="woocommerce", shop="shop.example.ca")
    clock.set(START)
    deliveries.deferred("1005", until=timedelta(days=3))  # deferred only just: not listed
    watcher = alerter(digest_at="08:00", deferred_age=7200, smtp=smtp_server.settings())

    watcher.tick()
    assert mailbox.messages == []  # 07:55 in Toronto

    clock.set(START + timedelta(minutes=5))
    watcher.tick()
    watcher.tick()

    (message,) = mailbox.messages
    assert mailbox.envelopes == [(SMTP_USER, ["ops@shop.example", "owner@shop.example"])]
    # A long subject is folded whole onto its second line; parsing keeps that line's space.
    assert message["Subject"].strip() == (
        "Passerelle daily digest 2026-01-14: 3 new failures, 1 deferred past 2h 00m"
    )
    assert message["To"] == "ops@shop.example, owner@shop.example"
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body.startswith(
        "Failures from 2026-01-13 08:00 to 2026-01-14 08:00 (America/Toronto): 3\n"
        "\n"
        "By code\n"
        "  unknown_order                2\n"
        "  backend_unavailable          1\n"
        "\n"
        "By store\n"
        "  shopify north.myshopify.com  2\n"
        "  woocommerce shop.example.ca  1\n"
    )
    assert f"  #{first} shopify north.myshopify.com, order 1002: unknown_order:" in body
    assert (
        "Still deferred after 2h 00m: 1\n"
        f"  #{deferred} shopify north.myshopify.com, order 1001, received 2026-01-14 02:55:"
        " refund_before_shipment: order #1001 has no shipment to refund yet\n"
    ) in body
    assert "order 1005" not in body
    assert "order 900" not in body
    assert "Action center: http://127.0.0.1:8080/\n" in body
    assert watcher.next_digest == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)

    clock.set(datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    watcher.tick()
    assert [m["Subject"].strip() for m in mailbox.messages][1] == (
        "Passerelle daily digest 2026-01-15: no new failure, 2 deferred past 2h 00m"
    )


def test_a_wrong_smtp_login_is_said_and_the_digest_tried_again_later(
    alerter: MakeAlerter,
    store: DeliveryStore,
    clock: FixedClock,
    smtp_server: SmtpServer,
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = alerter(
        digest_at="08:00",
        min_interval=600,
        smtp=smtp_server.settings(password="wrong-password"),
    )
    clock.set(START + timedelta(minutes=5))

    with caplog.at_level(logging.ERROR, logger="passerelle.alerts"):
        watcher.tick()

    assert mailbox.messages == []
    (record,) = caplog.records
    assert record.getMessage().startswith(
        f"the daily digest was not sent (tried again shortly): SMTP 127.0.0.1:{smtp_server.port}:"
    )
    assert "wrong-password" not in caplog.text
    assert watcher.next_digest == datetime(2026, 1, 14, 13, 0, tzinfo=UTC)


def test_send_email_needs_the_servers_certificate_to_be_trusted(
    smtp_server: SmtpServer, mailbox: Mailbox
) -> None:
    untrusting = smtp_server.settings().model_copy(update={"ca_file": None})
    message = email.message.EmailMessage()
    message["Subject"] = "test"
    message["From"] = SMTP_USER
    message["To"] = "ops@shop.example"
    message.set_content("body")

    with pytest.raises(AlertError, match=r"^SMTP 127\.0\.0\.1:\d+: .*certificate"):
        send_email(untrusting, message)

    send_email(smtp_server.settings(), message)
    assert [m["Subject"] for m in mailbox.messages] == ["test"]


# -- the webhooks ----------------------------------------------------------------------------


def test_a_failure_is_posted_and_the_next_ones_wait_for_the_rate_limit(
    alerter: MakeAlerter,
    deliveries: Deliveries,
    clock: FixedClock,
    hook: Hook,
) -> None:
    watcher = alerter(webhooks=[hook.url], min_interval=300)
    clock.advance(timedelta(seconds=1))
    first = deliveries.failed("1001")

    watcher.tick()

    assert hook.texts() == [
        f"Passerelle: delivery {first} failed (shopify north.myshopify.com, order 1001):"
        " unknown_order: order #1001 is unknown to the back end. Action center:"
        " http://127.0.0.1:8080/"
    ]
    clock.advance(timedelta(minutes=1))
    second = deliveries.failed("1002")
    third = deliveries.failed("1003", error=ErrorInfo("backend_unavailable", "503"))
    watcher.tick()
    assert len(hook.received) == 1  # within the rate limit

    clock.advance(timedelta(minutes=4))
    watcher.tick()
    watcher.tick()

    assert hook.texts()[1:] == [
        f"Passerelle: 2 deliveries failed (unknown_order ×1, backend_unavailable ×1):"
        f" deliveries {second}, {third}. Action center: http://127.0.0.1:8080/"
    ]


def test_a_failure_committed_after_a_round_that_began_later_is_still_told(
    alerter: MakeAlerter, deliveries: Deliveries, clock: FixedClock, hook: Hook
) -> None:
    watcher = alerter(webhooks=[hook.url])
    clock.advance(timedelta(seconds=30))
    watcher.tick()
    # A worker stamped this failure 10 s before that round and committed it after.
    clock.advance(timedelta(seconds=-10))
    late = deliveries.failed("1001")
    clock.advance(timedelta(seconds=40))

    watcher.tick()
    watcher.tick()

    (text,) = hook.texts()
    assert text.startswith(f"Passerelle: delivery {late} failed")


def test_a_webhook_that_fails_loses_no_alert(
    alerter: MakeAlerter,
    deliveries: Deliveries,
    clock: FixedClock,
    hook: Hook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = alerter(webhooks=[hook.url])
    clock.advance(timedelta(seconds=1))
    failed = deliveries.failed("1001")
    hook.answer[0] = 500

    with caplog.at_level(logging.WARNING, logger="passerelle.alerts"):
        watcher.tick()

    assert caplog.messages == ["alert webhook [alerts] webhooks[0] answered 500"]
    assert "secret-part" not in caplog.text
    hook.answer[0] = 200
    clock.advance(timedelta(seconds=30))
    watcher.tick()
    (text,) = hook.texts()
    assert text.startswith(f"Passerelle: delivery {failed} failed")


def test_a_backlog_past_its_threshold_is_posted_once_per_interval(
    alerter: MakeAlerter,
    deliveries: Deliveries,
    clock: FixedClock,
    hook: Hook,
) -> None:
    watcher = alerter(webhooks=[hook.url], backlog_age=900, min_interval=600)
    deliveries.pending("1001")
    deliveries.pending("1002", shop="south.myshopify.com")

    clock.advance(timedelta(minutes=15))
    watcher.tick()
    assert hook.received == []  # not past 15 minutes yet

    clock.advance(timedelta(seconds=1))
    watcher.tick()
    clock.advance(timedelta(minutes=5))
    watcher.tick()

    assert hook.texts() == [
        "Passerelle: the oldest waiting delivery (shopify north.myshopify.com) has waited"
        " 15m, past the 15m alert threshold; 2 deliveries wait in 2 stores. Is the dispatcher"
        " running, and the back end answering? Action center: http://127.0.0.1:8080/"
    ]
    clock.advance(timedelta(minutes=5))
    watcher.tick()
    assert len(hook.received) == 2


# -- in the connector ------------------------------------------------------------------------


def connector_settings(tmp_path: Path, store_url: str, alerts: str) -> Settings:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        "[backend]\n"
        'url = "http://127.0.0.1:9"\ntoken = "backend-token-0123456789"\nmerchant = "m"\n'
        f'[store]\nurl = "{store_url}"\n'
        f"[receiver]\nport = 8181\n[alerts]\n{alerts}",
        encoding="utf-8",
    )
    return Settings.load(path)


@pytest.mark.usefixtures("clean_environment")
def test_the_connector_runs_the_alerts_where_it_dispatches(
    tmp_path: Path, store_url: str, store: DeliveryStore, clock: FixedClock, hook: Hook
) -> None:
    settings = connector_settings(
        tmp_path, store_url, f'webhooks = ["{hook.url}"]\ncheck_every = 0.05\n'
    )
    receiver = build_connector(settings, role=Role.RECEIVER, clock=clock)
    receiver.close()
    assert receiver.alerter is None

    connector = build_connector(settings, clock=clock)
    assert connector.alerter is not None
    assert connector.alerter.page_url == "http://127.0.0.1:8181/"
    connector.start()
    try:
        clock.advance(timedelta(seconds=1))
        failed = Deliveries(store, clock).failed("1001")
        deadline = wall.monotonic() + 10
        while not hook.received and wall.monotonic() < deadline:
            wall.sleep(0.02)
    finally:
        connector.close()

    (text,) = hook.texts()
    assert text.startswith(f"Passerelle: delivery {failed} failed")


# -- the configuration -----------------------------------------------------------------------


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        ('digest_at = "08:00"\n', "alerts: digest_at needs an [alerts.smtp] section to send"),
        ('webhooks = ["hooks.example.com/x"]\n', "alerts.webhooks: webhooks[0] must be an"),
        (
            '[alerts.smtp]\nhost = "smtp.example.com"\nsender = "a@example.com"\n'
            'recipients = ["b@example.com"]\nusername = "a"\n',
            "alerts.smtp: username and password go together",
        ),
        (
            '[alerts.smtp]\nhost = "smtp.example.com"\nsender = "a@example.com"\nrecipients = []\n',
            "alerts.smtp.recipients: list should have at least 1 item",
        ),
    ],
)
def test_bad_alert_settings_name_their_key(
    tmp_path: Path, store_url: str, alerts: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        connector_settings(tmp_path, store_url, alerts)

    assert str(caught.value.problems[0]).startswith(problem)
