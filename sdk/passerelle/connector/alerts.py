"""Alerts and the daily digest: telling someone about failures without their asking.

`Alerter` runs beside the dispatcher in `passerelle serve` when `[alerts]` asks for anything.
Every `check_every` seconds it reads the store (so it sees the failures of every dispatcher
process) and:

- posts each delivery that failed since the last round to the alert webhooks, as JSON with a
  Slack-compatible ``text``; failures that come while the kind is rate-limited are told
  together in the next message;
- posts once more when the oldest waiting delivery has waited past `backlog_age`;
- once a day at `digest_at` in `zone`, e-mails the digest (SMTP with STARTTLS and a login):
  the failures of the day before by code and by store, what is still deferred after
  `deferred_age`, and the link to the action center.

Each kind of webhook message goes out at most once per `min_interval`. A message that cannot be
sent is logged and never stops the connector; a digest that could not be sent is tried again
after `min_interval`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import httpx

from passerelle.clock import Clock, SystemClock
from passerelle.connector.actions import ActionCenter, ActionEntry, WaitingEntry, age
from passerelle.connector.config import AlertSettings, SmtpSettings
from passerelle.connector.store import DeliveryStore

__all__ = ["AlertError", "Alerter", "Digest", "build_digest", "next_digest_at", "send_email"]

log = logging.getLogger("passerelle.alerts")

DAY = timedelta(days=1)
WEBHOOK_TIMEOUT = 10.0
"""Seconds an alert webhook has to answer."""
LISTED = 20
"""How many deliveries a message names before it only counts the rest."""
SETTLE = timedelta(minutes=1)
"""How far back each round reads again, for failures committed after they were stamped."""


class AlertError(Exception):
    """A message could not be sent; the text says to where and why."""


def next_digest_at(after: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first moment strictly after `after` when the local clock in `zone` reads `at`."""
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), at, zone)
    while candidate <= after:
        candidate = datetime.combine(candidate.date() + DAY, at, zone)
    return candidate.astimezone(UTC)


def _local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _where(entry: ActionEntry) -> str:
    order = f", order {entry.order}" if entry.order else ""
    return f"{entry.platform} {entry.store}{order}"


def _at_most(entries: Sequence[ActionEntry], detail: Callable[[ActionEntry], str]) -> list[str]:
    # One line per delivery, with `detail` after where it is, up to LISTED; then a count.
    lines = [
        f"  #{entry.id} {_where(entry)}{detail(entry)}: {entry.error_code}: {entry.error_message}"
        for entry in entries[:LISTED]
    ]
    if len(entries) > LISTED:
        lines.append(f"  and {len(entries) - LISTED} more")
    return lines


@dataclass(frozen=True)
class Digest:
    """What the daily e-mail says: the failures of `start` to `end`, and what is still
    deferred after `deferred_age`."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    failures: tuple[ActionEntry, ...]
    deferred: tuple[WaitingEntry, ...]
    deferred_age: timedelta
    page_url: str

    def by_code(self) -> list[tuple[str, int]]:
        """Failures per error code, most first."""
        counts = Counter(entry.error_code or "unknown" for entry in self.failures)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def by_store(self) -> list[tuple[str, int]]:
        """Failures per platform and store (``"shopify north.myshopify.com"``), most first."""
        counts = Counter(f"{entry.platform} {entry.store}" for entry in self.failures)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @property
    def subject(self) -> str:
        day = self.end.astimezone(self.zone).date().isoformat()
        failed = len(self.failures)
        news = f"{failed} new failure{'s' if failed != 1 else ''}" if failed else "no new failure"
        if self.deferred:
            news += f", {len(self.deferred)} deferred past {age(self.deferred_age)}"
        return f"Passerelle daily digest {day}: {news}"

    @property
    def text(self) -> str:
        zone = self.zone.key
        lines = [
            f"Failures from {_local(self.start, self.zone)} to {_local(self.end, self.zone)}"
            f" ({zone}): {len(self.failures) or 'none'}",
        ]
        if self.failures:
            width = max(len(name) for name, _ in [*self.by_code(), *self.by_store()])
            lines += ["", "By code"]
            lines += [f"  {code:<{width}}  {count}" for code, count in self.by_code()]
            lines += ["", "By store"]
            lines += [f"  {store:<{width}}  {count}" for store, count in self.by_store()]
            lines += ["", "Failed", *_at_most(self.failures, lambda entry: "")]
        lines += [
            "",
            f"Still deferred after {age(self.deferred_age)}: {len(self.deferred) or 'none'}",
            *_at_most(
                [waiting.entry for waiting in self.deferred],
                lambda entry: f", received {_local(entry.received_at, self.zone)}",
            ),
        ]
        lines += [
            "",
            f"Action center: {self.page_url}",
            "Or from a terminal: passerelle actions list --state failed|deferred",
        ]
        return "\n".join(lines) + "\n"

    def message(self, smtp: SmtpSettings) -> EmailMessage:
        """The digest as an e-mail from `smtp.sender` to `smtp.recipients`."""
        message = EmailMessage()
        message["Subject"] = self.subject
        message["From"] = smtp.sender
        message["To"] = ", ".join(smtp.recipients)
        message["Date"] = format_datetime(self.end.astimezone(self.zone))
        message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
        message.set_content(self.text)
        return message


def build_digest(
    center: ActionCenter, settings: AlertSettings, *, page_url: str, end: datetime
) -> Digest:
    """The digest of the day that ends at `end`."""
    start = end - DAY
    failures = tuple(
        entry
        for entry in center.failures(since=start)
        if entry.last_failed_at is not None and entry.last_failed_at < end
    )
    deferred_age = timedelta(seconds=settings.deferred_age)
    deferred = tuple(center.waiting(deferred=True, received_before=end - deferred_age))
    return Digest(start, end, settings.zone, failures, deferred, deferred_age, page_url)


def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Send `message` through `smtp`: STARTTLS with the server's certificate verified (unless
    turned off), then the login if one is configured. `AlertError` says why it could not.

    The standard library's client: the alerts run in a thread of their own, not an event
    loop, and it closes its connection as soon as the message is sent, TLS included."""
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=context)
            if smtp.username is not None and smtp.password is not None:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertError(f"SMTP {smtp.host}:{smtp.port}: {_smtp_reason(exc)}") from None


def _smtp_reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"recipients refused: {', '.join(exc.recipients) or 'none given'}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        return f"{exc.smtp_code} {text}"
    return str(exc) or type(exc).__name__


class _RateLimit:
    def __init__(self, interval: timedelta) -> None:
        self._interval = interval
        self._last: datetime | None = None

    def allows(self, now: datetime) -> bool:
        return self._last is None or now - self._last >= self._interval

    def used(self, now: datetime) -> None:
        self._last = now


class Alerter:
    """Watches a store and tells of failures, a stuck backlog and the day's digest (see the
    module documentation). `tick` does one round; `start` runs rounds in a thread."""

    def __init__(
        self,
        store: DeliveryStore,
        settings: AlertSettings,
        *,
        page_url: str,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.page_url = page_url
        self.clock = clock or SystemClock()
        self._center = ActionCenter(store, clock=self.clock)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=WEBHOOK_TIMEOUT)
        now = self.clock.now()
        self._since = now
        self._told: set[tuple[int, datetime | None]] = set()
        self._unsent: list[ActionEntry] = []
        interval = timedelta(seconds=settings.min_interval)
        self._failure_limit = _RateLimit(interval)
        self._backlog_limit = _RateLimit(interval)
        self._digest_at = (
            next_digest_at(now, settings.digest_at, settings.zone)
            if settings.digest_at is not None
            else None
        )
        self._digest_retry: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def next_digest(self) -> datetime | None:
        """When the next digest is due, in UTC; None without a digest."""
        return self._digest_at

    def tick(self) -> None:
        """One round: tell new failures and a stuck backlog, send the digest if it is due."""
        now = self.clock.now()
        if self.settings.webhooks:
            self._tell_failures(now)
            if self.settings.backlog_age is not None:
                self._tell_backlog(now)
        if self._digest_at is not None and now >= self._digest_at:
            self._send_digest(now)

    def _tell_failures(self, now: datetime) -> None:
        failed = self._center.failures(since=self._since)
        told = {(entry.id, entry.last_failed_at) for entry in failed}
        self._unsent += [e for e in failed if (e.id, e.last_failed_at) not in self._told]
        # A worker stamps a failure before it commits it: the next round reads back a little
        # way, and this round's failures are remembered so none is told twice.
        self._told, self._since = told, max(self._since, now - SETTLE)
        if not self._unsent or not self._failure_limit.allows(now):
            return
        if self.post(_failure_text(self._unsent, self.page_url)):
            self._failure_limit.used(now)
            self._unsent = []

    def _tell_backlog(self, now: datetime) -> None:
        assert self.settings.backlog_age is not None
        threshold = timedelta(seconds=self.settings.backlog_age)
        stuck = [
            item
            for item in self._center.backlog()
            if item.oldest_waiting_at is not None and now - item.oldest_waiting_at > threshold
        ]
        if not stuck or not self._backlog_limit.allows(now):
            return
        oldest = min(stuck, key=lambda item: item.oldest_waiting_at or now)
        assert oldest.oldest_waiting_at is not None
        waiting = sum(item.waiting for item in stuck)
        text = (
            f"Passerelle: the oldest waiting delivery ({oldest.platform} {oldest.store}) has"
            f" waited {age(now - oldest.oldest_waiting_at)}, past the {age(threshold)} alert"
            f" threshold; {waiting} deliveries wait in {len(stuck)} store"
            f"{'s' if len(stuck) != 1 else ''}. Is the dispatcher running, and the back end"
            f" answering? Action center: {self.page_url}"
        )
        if self.post(text):
            self._backlog_limit.used(now)

    def post(self, text: str) -> bool:
        """Post `text` to every alert webhook; whether one took it. Failures are logged."""
        delivered = False
        for index, url in enumerate(self.settings.webhooks):
            try:
                answer = self._http.post(url.get_secret_value(), json={"text": text})
                answer.raise_for_status()
            except httpx.HTTPError as exc:
                # The URL itself is a secret (a Slack hook holds its token): name it by place.
                reason = (
                    f"answered {exc.response.status_code}"
                    if isinstance(exc, httpx.HTTPStatusError)
                    else type(exc).__name__
                )
                log.warning("alert webhook [alerts] webhooks[%d] %s", index, reason)
            else:
                delivered = True
        return delivered

    def _send_digest(self, now: datetime) -> None:
        smtp, end = self.settings.smtp, self._digest_at
        if smtp is None or end is None:
            return
        if self._digest_retry is not None and now < self._digest_retry:
            return
        digest = build_digest(self._center, self.settings, page_url=self.page_url, end=end)
        try:
            send_email(smtp, digest.message(smtp))
        except AlertError as exc:
            self._digest_retry = now + timedelta(seconds=self.settings.min_interval)
            log.error("the daily digest was not sent (tried again shortly): %s", exc)
            return
        log.info("daily digest sent: %s", digest.subject)
        self._digest_retry = None
        assert self.settings.digest_at is not None
        self._digest_at = next_digest_at(now, self.settings.digest_at, self.settings.zone)

    def start(self) -> None:
        """Run a round every `check_every` seconds in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="passerelle-alerts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.check_every):
            try:
                self.tick()
            except Exception:
                log.exception("alerts: a round failed; the next one tries again")

    def stop(self) -> None:
        """Stop the rounds (the one running finishes) and release the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._owns_http:
            self._http.close()


def _failure_text(failed: Sequence[ActionEntry], page_url: str) -> str:
    if len(failed) == 1:
        (entry,) = failed
        return (
            f"Passerelle: delivery {entry.id} failed ({_where(entry)}): {entry.error_code}:"
            f" {entry.error_message}. Action center: {page_url}"
        )
    codes = Counter(entry.error_code or "unknown" for entry in failed)
    listed = ", ".join(f"{code} ×{count}" for code, count in codes.most_common())
    ids = ", ".join(str(entry.id) for entry in failed[:LISTED])
    more = f" and {len(failed) - LISTED} more" if len(failed) > LISTED else ""
    return (
        f"Passerelle: {len(failed)} deliveries failed ({listed}): deliveries {ids}{more}."
        f" Action center: {page_url}"
    )
