"""`passerelle batch ...`: batch payment files and the batches they schedule.

`submit FILE --store S` puts the file into the configured store durably (the same bytes twice are
one file), then waits for the dispatcher of a running `passerelle serve` to settle it and says in
one line what became of it: a new batch, a new version of a batch and what changed, nothing to
do, or why it was refused (exit 1).

`list`, `show BATCH`, `reschedule BATCH DATE` and `delete BATCH` are the back office's own
actions: they read the versions the store keeps and ask the back end where the batch stands. A
change after the batch's cutoff (`[batches]`) is refused with one line and nothing is sent.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from passerelle.backend.batch_models import (
    BatchView,
)
from passerelle.connector.actions_cli import ConfigOption, configured_store
from passerelle.connector.batch_office import BatchActionError, BatchOffice, describe_back_end
from passerelle.connector.config import Settings
from passerelle.connector.files import (
    MAX_FILE_BYTES,
    FileTooLargeError,
    accept_file,
    masked_account,
)
from passerelle.connector.runtime import backend_client
from passerelle.connector.store import DeliveryStatus, DeliveryStore, StoreError
from passerelle.platforms import FilePlatform
from passerelle.plugins import default_plugins

__all__ = ["batch_app", "register"]

batch_app = typer.Typer(
    name="batch",
    help="Batch payment files (direct deposit, pre-authorized debits).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

CHUNK = 1 << 20
PROGRESS_FROM = 8 * CHUNK
"""Files this large or larger show a progress bar while they are stored."""
_SETTLED = (DeliveryStatus.DONE, DeliveryStatus.IGNORED, DeliveryStatus.FAILED)


def register(app: typer.Typer) -> None:
    """Add the `batch` command group to `app`."""
    app.add_typer(batch_app, name="batch")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _chunks(handle: BinaryIO, size: int, name: str) -> Iterator[bytes]:
    if size < PROGRESS_FROM:
        yield from iter(lambda: handle.read(CHUNK), b"")
        return
    columns = (TextColumn(name), BarColumn(), DownloadColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(name, total=size)
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            progress.advance(task, len(chunk))
            yield chunk


@batch_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="The batch file.", dir_okay=False)],
    store: Annotated[str, typer.Option("--store", help="The store id it is for.")],
    platform: Annotated[
        str | None, typer.Option("--platform", help="The store's platform, if several match.")
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for the outcome (0: do not wait).")
    ] = 30.0,
    config: ConfigOption = None,
) -> None:
    """Store FILE for STORE, then say what became of it."""
    with configured_store(config) as (settings, inbox):
        plugins = default_plugins()
        files = {n for n, p in plugins.platforms().items() if isinstance(p, FilePlatform)}
        matches = sorted(
            entry.platform
            for entry in settings.stores
            if entry.id == store and entry.platform in files and platform in (None, entry.platform)
        )
        if not matches:
            _fail(
                f"no store {store!r} of a file platform is configured (file platforms: "
                f"{', '.join(sorted(files)) or 'none'})"
            )
        if len(matches) > 1:
            _fail(
                f"store {store!r} is on several platforms ({', '.join(matches)}): "
                "name one with --platform"
            )
        try:
            size = file.stat().st_size
            with file.open("rb") as handle:
                receipt = accept_file(
                    inbox,
                    matches[0],
                    store,
                    _chunks(handle, size, file.name),
                    filename=file.name,
                    received_at=datetime.now(UTC),
                    limit=MAX_FILE_BYTES,
                )
        except (FileTooLargeError, StoreError) as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"{file}: {exc.strerror or exc}")
        if receipt.duplicate:
            typer.echo(
                f"{file.name}: duplicate of a file already received (delivery "
                f"{receipt.delivery_id}, sha256 {receipt.sha256[:12]}…): nothing new"
            )
            return
        _report(inbox, receipt.delivery_id, file.name, wait)


def _report(inbox: DeliveryStore, delivery_id: int, name: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    delivery = inbox.get(delivery_id)
    while delivery.status not in _SETTLED and time.monotonic() < deadline:
        time.sleep(0.2)
        delivery = inbox.get(delivery_id)
    if delivery.status is DeliveryStatus.DONE:
        outcomes = json.loads(delivery.outcome or "[]")
        typer.echo(f"{name}: {'; '.join(outcomes) or 'nothing to do'}")
    elif delivery.status is DeliveryStatus.IGNORED:
        typer.echo(f"{name}: nothing to do: {delivery.outcome}")
    elif delivery.status is DeliveryStatus.FAILED and delivery.last_error is not None:
        error = delivery.last_error
        _fail(f"{name}: refused ({error.code}): {error.message} [delivery {delivery_id}]")
    else:
        typer.echo(
            f"{name}: stored as delivery {delivery_id}; not dispatched yet (is `passerelle "
            "serve` running?): see `passerelle actions` later"
        )


# The back office ------------------------------------------------------------------------------


@contextmanager
def _office(config: Path | None) -> Iterator[BatchOffice]:
    with configured_store(config) as (settings, inbox), backend_client(settings) as client:
        yield BatchOffice(inbox, _file_stores(settings), client, settings.cutoffs())


def _file_stores(settings: Settings) -> list[tuple[str, str]]:
    plugins = default_plugins()
    files = {n for n, p in plugins.platforms().items() if isinstance(p, FilePlatform)}
    return [(e.platform, e.id) for e in settings.stores if e.platform in files]


@batch_app.command("list")
def list_batches(
    store: Annotated[str | None, typer.Option("--store", help="Only this store id.")] = None,
    config: ConfigOption = None,
) -> None:
    """Every batch the files of the configured stores scheduled, newest version of each."""
    with _office(config) as office:
        rows = office.batches(store)
    if not rows:
        typer.echo("no batches")
        return
    for row in rows:
        standing, version = row.standing, row.standing.version
        batch = standing.batch
        typer.echo(
            f"{batch.batch_id}  {version.platform}/{version.store}  version {version.number}"
            f"  {batch.processing_date}  {len(batch.entries)} entries  {standing.total}"
            f"  cutoff {standing.cutoff.isoformat()}"
            f"  back end: {describe_back_end(row.back_end)}"
        )


@batch_app.command("show")
def show(
    batch_id: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id.")],
    config: ConfigOption = None,
) -> None:
    """A batch: entries, versions and what each changed, cutoff, state at the back end."""
    with _office(config) as office:
        try:
            detail = office.show(batch_id)
        except BatchActionError as exc:
            _fail(str(exc))
    latest = detail.standing
    typer.echo(f"batch {batch_id} ({latest.version.platform}/{latest.version.store})")
    typer.echo(
        f"  processing date {latest.batch.processing_date}, cutoff {latest.cutoff.isoformat()}"
    )
    typer.echo(f"  back end: {describe_back_end(detail.back_end)}")
    typer.echo("  versions:")
    for change in detail.history:
        version = change.version
        when = version.recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(
            f"    {version.number}  {when}  delivery {version.delivery_id}  {change.summary}"
        )
    typer.echo("  entries:")
    for entry in latest.batch.entries:
        typer.echo(
            f"    {entry.direction:6}  {entry.amount}  {entry.payee or ''}  "
            f"{masked_account(entry)}  {entry.reference or ''}"
        )


def _done(asked: str, action: Callable[[], BatchView]) -> None:
    try:
        view = action()
    except BatchActionError as exc:
        _fail(f"{asked} refused: {exc}")
    typer.echo(f"batch {view.id}: {describe_back_end(view)}")


@batch_app.command("reschedule")
def reschedule(
    batch_id: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id.")],
    day: Annotated[
        dt.datetime, typer.Argument(metavar="DATE", formats=["%Y-%m-%d"], help="YYYY-MM-DD.")
    ],
    config: ConfigOption = None,
) -> None:
    """Move a batch to another processing date, before its cutoff."""
    with _office(config) as office:
        asked = f"rescheduling batch {batch_id} to {day.date()}"
        _done(asked, lambda: office.reschedule(batch_id, day.date()))


@batch_app.command("delete")
def delete(
    batch_id: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id.")],
    config: ConfigOption = None,
) -> None:
    """Delete a batch before its cutoff: none of its payments are made."""
    with _office(config) as office:
        _done(f"deleting batch {batch_id}", lambda: office.delete(batch_id))
