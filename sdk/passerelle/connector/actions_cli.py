"""`passerelle actions ...` and `passerelle replay`: the action center from a terminal.

The commands open the configured store directly, so they work while `passerelle serve` is down.
An error (an unknown id, a delivery in the wrong status) is one line on stderr and exit status 1;
nothing was changed.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from passerelle.backend.errors import redact
from passerelle.connector.actions import (
    ActionCenter,
    ActionEntry,
    ActionInputError,
    DeliveryDetail,
    ExportFormat,
    WaitingEntry,
    parse_since,
)
from passerelle.connector.config import Settings
from passerelle.connector.config_sources import ConfigError, config_path
from passerelle.connector.store import DeliveryStore, StoreError, open_store
from passerelle.redaction import redact_url, redact_urls

__all__ = [
    "ConfigOption",
    "JsonOption",
    "action_center",
    "actions_app",
    "configured_store",
    "load_settings",
    "open_configured_store",
    "register",
    "replay",
]

actions_app = typer.Typer(
    name="actions",
    help="The action center: deliveries that failed, to retry or dismiss.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

MESSAGE_WIDTH = 60
"""How much of an error message the list shows; `show` and `--json` give all of it."""
UNBOUNDED = 10_000
MESSAGE_MIN_WIDTH = 16
"""The least of it the table shows before the list turns into blocks, one per entry."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANKS = re.compile(r"\s+")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The configuration file (default: $PASSERELLE_CONFIG, else ./passerelle.toml).",
        dir_okay=False,
    ),
]
PlatformOption = Annotated[str | None, typer.Option("--platform", help="Only this platform.")]
StoreOption = Annotated[str | None, typer.Option("--store", help="Only this store id.")]
_SINCE_FORMS = "2h, 3d, 1w, 2026-03-01, 2026-03-01T09:30 (UTC unless an offset is given)"
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="DATE|DURATION",
        help=f"Only what last failed since then: {_SINCE_FORMS}.",
    ),
]
ReceivedSinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="DATE|DURATION",
        help=f"Only what was received since then: {_SINCE_FORMS}.",
    ),
]
AllOption = Annotated[bool, typer.Option("--all", help="Include the dismissed deliveries too.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IdsArgument = Annotated[list[int], typer.Argument(metavar="ID...", help="Delivery ids.")]


class State(StrEnum):
    FAILED = "failed"
    DEFERRED = "deferred"
    PENDING = "pending"


def register(app: typer.Typer) -> None:
    """Add the `actions` command group and the `replay` command to `app`."""
    app.add_typer(actions_app, name="actions")
    app.command("replay")(replay)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings(config: Path | None) -> Settings:
    """The configuration; a bad one is listed on stderr, problem by problem, and exit 1."""
    try:
        return Settings.load(config)
    except ConfigError as exc:
        count = len(exc.problems)
        typer.echo(
            f"error: {config_path(config)}: {count} configuration problem"
            f"{'s' if count != 1 else ''}",
            err=True,
        )
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def open_configured_store(settings: Settings) -> Iterator[DeliveryStore]:
    """The configured store, open; one that cannot be opened is one line on stderr, exit 1."""
    url = settings.store.url
    # The driver's own retry warnings would bury the one line that says what went wrong.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    try:
        store = open_store(url)
    except (StoreError, ValueError, OSError) as exc:
        password = urlsplit(url).password or ""
        reason = redact_urls(redact(str(exc), [password]))
        _fail(reason if isinstance(exc, StoreError) else f"{redact_url(url)}: {reason}")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def configured_store(config: Path | None) -> Iterator[tuple[Settings, DeliveryStore]]:
    """The settings and the configured store, open; a bad configuration or a store that cannot
    be opened is one line on stderr and exit 1."""
    settings = load_settings(config)
    with open_configured_store(settings) as store:
        yield settings, store


@contextmanager
def _action_center(config: Path | None) -> Iterator[ActionCenter]:
    with action_center(load_settings(config)) as center:
        yield center


@contextmanager
def action_center(settings: Settings) -> Iterator[ActionCenter]:
    """The action center over the configured store; any refusal is one line and exit 1."""
    with open_configured_store(settings) as store:
        try:
            yield ActionCenter(store)
        except (ActionInputError, StoreError) as exc:
            _fail(str(exc))


def _printable(text: str) -> str:
    """`text` without control characters, so stored data cannot drive the terminal."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)


def _one_line(text: str | None, width: int) -> str:
    line = _BLANKS.sub(" ", _printable(text or "")).strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@actions_app.command("list")
def list_command(
    state: Annotated[
        State,
        typer.Option(
            "--state",
            help="failed: the action center; deferred: stepped aside until what they need "
            "arrives; pending: waiting for their turn or a retry.",
        ),
    ] = State.FAILED,
    platform: PlatformOption = None,
    store: StoreOption = None,
    since: SinceOption = None,
    include_dismissed: AllOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the deliveries that failed (or are deferred, or pending), oldest first; times are
    UTC."""
    if state is not State.FAILED:
        for given, name in ((since, "--since"), (include_dismissed, "--all")):
            if given:
                _fail(f"{name} applies to --state failed only")
        with _action_center(config) as center:
            waiting = center.waiting(
                deferred=state is State.DEFERRED, platform=platform, store=store
            )
        if as_json:
            typer.echo(json.dumps([item.as_json() for item in waiting], indent=2))
        else:
            _print_waiting(waiting, state)
        return
    with _action_center(config) as center:
        entries = center.failures(
            platform=platform, store=store, since=since, include_dismissed=include_dismissed
        )
    if as_json:
        typer.echo(json.dumps([entry.as_json() for entry in entries], indent=2))
        return
    _print_entries(entries, with_status=include_dismissed)


def _print_entries(entries: list[ActionEntry], *, with_status: bool) -> None:
    console = Console(highlight=False)
    if not entries:
        console.print("Nothing in the action center.")
        return
    table = _table(entries, with_status=with_status)
    messages = [len(_one_line(entry.error_message, MESSAGE_WIDTH)) for entry in entries]
    room_to_give = max(0, max(messages) - MESSAGE_MIN_WIDTH)
    natural = console.measure(table, options=console.options.update_width(UNBOUNDED)).maximum
    if natural - room_to_give <= console.width:
        console.print(table)
    else:
        # Too narrow for a table without folding ids and codes: one short block per entry.
        for entry in entries:
            _print_block(console, entry, with_status=with_status)
    count = len(entries)
    console.print(f"{count} deliver{'ies' if count != 1 else 'y'}")


def _print_waiting(waiting: list[WaitingEntry], state: State) -> None:
    console = Console(highlight=False)
    if not waiting:
        console.print(f"No {state.value} deliveries.")
        return
    table = Table()
    table.add_column("ID", justify="right", no_wrap=True)
    for column in ("Platform", "Store", "Order", "Why", "Attempts", "Received (UTC)"):
        table.add_column(column, no_wrap=column != "Why", overflow="fold")
    table.add_column("Deferred until (UTC)" if state is State.DEFERRED else "Due (UTC)")
    for item in waiting:
        entry = item.entry
        why = f"{entry.error_code}: {entry.error_message}" if entry.error_code else "its turn"
        table.add_row(
            Text(str(entry.id)),
            Text(_printable(entry.platform)),
            Text(_printable(entry.store)),
            Text(_printable(entry.order or "-")),
            Text(_one_line(why, UNBOUNDED)),
            Text(str(entry.attempts)),
            Text(_when(entry.received_at)),
            Text(_when(item.next_attempt_at)),
        )
    console.print(table)
    count = len(waiting)
    console.print(f"{count} {state.value} deliver{'ies' if count != 1 else 'y'}")


def _table(entries: list[ActionEntry], *, with_status: bool) -> Table:
    table = Table()
    table.add_column("ID", justify="right", no_wrap=True)
    for column in ("Platform", "Store", "Order", *(("Status",) if with_status else ())):
        table.add_column(column, no_wrap=True)
    table.add_column("What failed", no_wrap=True)
    # The message gives way first: on a narrower terminal its cells end in an ellipsis.
    table.add_column(
        "Message", min_width=MESSAGE_MIN_WIDTH, max_width=MESSAGE_WIDTH, overflow="ellipsis"
    )
    table.add_column("Attempts", justify="right", no_wrap=True)
    table.add_column("First failure (UTC)", no_wrap=True)
    table.add_column("Last failure (UTC)", no_wrap=True)
    for entry in entries:
        # Text cells: stored data is shown as it is, never read as Rich markup.
        cells = [
            Text(str(entry.id)),
            Text(_printable(entry.platform)),
            Text(_printable(entry.store)),
            Text(_printable(entry.order or "-")),
            *((Text(entry.status.value),) if with_status else ()),
            Text(_printable(entry.error_code or "-")),
            Text(_one_line(entry.error_message, MESSAGE_WIDTH), no_wrap=True, overflow="ellipsis"),
            Text(str(entry.attempts)),
            Text(_when(entry.first_failed_at)),
            Text(_when(entry.last_failed_at)),
        ]
        table.add_row(*cells)
    return table


def _print_block(console: Console, entry: ActionEntry, *, with_status: bool) -> None:
    attempts = f"{entry.attempts} attempt{'s' if entry.attempts != 1 else ''}"
    head = [
        str(entry.id),
        entry.platform,
        entry.store,
        f"order {entry.order}" if entry.order else "no order",
        *((entry.status.value,) if with_status else ()),
        attempts,
    ]
    failed = f"{entry.error_code or '-'}: {_one_line(entry.error_message, MESSAGE_WIDTH)}"
    times = f"first failure {_when(entry.first_failed_at)}, last {_when(entry.last_failed_at)} UTC"
    for line in ("  ".join(_printable(part) for part in head), f"    {failed}", f"    {times}"):
        console.print(Text(line), no_wrap=True, overflow="ellipsis")


@actions_app.command("show")
def show_command(
    delivery_id: Annotated[int, typer.Argument(metavar="ID", help="The delivery id.")],
    body: Annotated[
        bool,
        typer.Option("--body", help="Print the body too (it may hold personal data)."),
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one delivery: its headers (secrets masked), every attempt and every note.

    The body may hold personal data: it is printed only with --body."""
    with _action_center(config) as center:
        detail = center.show(delivery_id)
    if as_json:
        typer.echo(json.dumps(detail.as_json(include_body=body), indent=2))
        return
    typer.echo(_describe(detail, include_body=body))


def _describe(detail: DeliveryDetail, *, include_body: bool) -> str:
    entry = detail.entry
    out = io.StringIO()

    def line(text: str = "") -> None:
        out.write(_printable(text) + "\n")

    def field(label: str, value: object) -> None:
        if value is not None and value != "":
            line(f"  {label:<15} {value}")

    line(f"Delivery {entry.id}: {entry.status.value}")
    field("outcome", detail.in_words)
    field("platform", entry.platform)
    field("store", entry.store)
    field("order", entry.order)
    field("delivery key", detail.delivery_key)
    field("received", _when(entry.received_at))
    # Once applied or ignored, an earlier failure is history: the attempts below keep it.
    if entry.error_code and not detail.settled:
        field("what failed", entry.error_code)
        field("message", entry.error_message)
        field("first failure", _when(entry.first_failed_at))
        field("last failure", _when(entry.last_failed_at))
    field("attempts", entry.attempts)
    line("Headers")
    for name, value in detail.shown_headers:
        line(f"  {name}: {value}")
    if include_body:
        line(f"Body ({len(detail.body)} bytes)")
        for body_line in detail.shown_body.splitlines():
            line(f"  {body_line}")
    else:
        line(f"Body: {len(detail.body)} bytes, not shown (--body shows it)")
    line("Attempts" if detail.attempts else "Attempts: none")
    for attempt in detail.attempts:
        result = attempt.result.value if attempt.result else "running"
        error = f"  {attempt.error.code}: {attempt.error.message}" if attempt.error else ""
        line(
            f"  #{attempt.number}  {_when(attempt.started_at)}  {attempt.worker_id}  {result}"
            f"{error}"
        )
    line("Notes" if detail.notes else "Notes: none")
    for note in detail.notes:
        line(f"  {_when(note.at)}  {note.action.value}  {note.text}".rstrip())
    return out.getvalue().rstrip("\n")


def _listing(ids: list[int]) -> str:
    return f"deliver{'ies' if len(ids) != 1 else 'y'} {', '.join(map(str, ids))}"


@actions_app.command("retry")
def retry_command(
    ids: IdsArgument,
    note: Annotated[str, typer.Option("--note", help="Why, for the audit trail.")] = "",
    config: ConfigOption = None,
) -> None:
    """Put failed (or dismissed) deliveries back in their lane, in their original place."""
    with _action_center(config) as center:
        done = center.retry(ids, note)
    typer.echo(f"Re-queued {_listing(done)}.")


@actions_app.command("dismiss")
def dismiss_command(
    ids: IdsArgument,
    note: Annotated[str, typer.Option("--note", help="Why they need no retry (required).")],
    config: ConfigOption = None,
) -> None:
    """Take failed deliveries out of the action center, saying why."""
    with _action_center(config) as center:
        done = center.dismiss(ids, note)
    typer.echo(f"Dismissed {_listing(done)}.")


@actions_app.command("export")
def export_command(
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="The file format.")
    ] = ExportFormat.CSV,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file (default: standard output).", dir_okay=False
        ),
    ] = None,
    platform: PlatformOption = None,
    store: StoreOption = None,
    since: SinceOption = None,
    include_dismissed: AllOption = False,
    config: ConfigOption = None,
) -> None:
    """Export the action center as CSV, JSON or XLSX, with the same columns every time.

    A CSV cell a spreadsheet would run as a formula starts with a quote ('); an XLSX cell is
    never a formula. XLSX needs --output."""
    if output_format is ExportFormat.XLSX and output is None:
        _fail("--format xlsx writes a binary file: give --output FILE.xlsx")
    out = io.BytesIO()
    with _action_center(config) as center:
        count = center.export(
            out,
            output_format,
            platform=platform,
            store=store,
            since=since,
            include_dismissed=include_dismissed,
        )
    if output is None:
        typer.echo(out.getvalue().decode(), nl=False)
        return
    try:
        output.write_bytes(out.getvalue())
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"Exported {count} deliver{'ies' if count != 1 else 'y'} to {output}.")


def replay(
    since: ReceivedSinceOption = None,
    order: Annotated[
        str | None, typer.Option("--order", help="Only the deliveries of this order.")
    ] = None,
    platform: PlatformOption = None,
    store: StoreOption = None,
    note: Annotated[str, typer.Option("--note", help="Why, for the audit trail.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
) -> None:
    """Dispatch finished deliveries (done, ignored, failed) again, in their original order.

    Safe after a fix: each call carries its idempotency key, so the back end ignores what it already applied.

    Dismissed deliveries stay dismissed."""
    with _action_center(config) as center:
        start = parse_since(since, now=center.clock.now()) if since else None
        if not yes:
            scope = [
                f"received since {_when(start)} UTC" if start else "",
                f"of order {order}" if order else "",
                f"on platform {platform}" if platform else "",
                f"of store {store}" if store else "",
            ]
            what = " ".join(part for part in scope if part) or "ever received"
            typer.confirm(_printable(f"Dispatch again every finished delivery {what}?"), abort=True)
        count = center.replay(since=start, order=order, platform=platform, store=store, note=note)
    typer.echo(f"Re-queued {count} deliver{'ies' if count != 1 else 'y'} for replay.")
