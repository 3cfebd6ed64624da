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
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from passerelle.backend.errors import BackendError, UnknownBatchError
from passerelle.backend.models import BatchView
from passerelle.batches import BatchFile, BatchPastCutoff, Deleted, Rescheduled
from passerelle.connector.actions_cli import ConfigOption, configured_store
from passerelle.connector.config import Settings
from passerelle.connector.files import (
    MAX_FILE_BYTES,
    FileTooLargeError,
    accept_file,
    batch_history,
    batch_standing,
    masked_account,
)
from passerelle.connector.runtime import backend_client
from passerelle.connector.store import BatchVersion, DeliveryStatus, DeliveryStore, StoreError
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


def _file_stores(settings: Settings) -> list[tuple[str, str]]:
    plugins = default_plugins()
    files = {n for n, p in plugins.platforms().items() if isinstance(p, FilePlatform)}
    return [(e.platform, e.id) for e in settings.stores if e.platform in files]


def _versions(settings: Settings, inbox: DeliveryStore, batch_id: str) -> list[BatchVersion]:
    for platform, store in _file_stores(settings):
        versions = inbox.batch_versions(platform, store, batch_id)
        if versions:
            return versions
    _fail(f"no batch {batch_id!r}: no file of a configured store carried it")


def _at_back_end(settings: Settings, batch_id: str) -> BatchView | str:
    try:
        with backend_client(settings) as client:
            return client.get_batch(batch_id)
    except UnknownBatchError:
        return "not known to the back end"
    except BackendError as exc:
        return f"unreachable ({exc})"


def _describe_view(view: BatchView | str) -> str:
    if isinstance(view, str):
        return view
    return f"{view.status} for {view.processing_date}, {len(view.entries)} entries"


@batch_app.command("list")
def list_batches(
    store: Annotated[str | None, typer.Option("--store", help="Only this store id.")] = None,
    config: ConfigOption = None,
) -> None:
    """Every batch the files of the configured stores scheduled, newest version of each."""
    with configured_store(config) as (settings, inbox):
        rows = [
            version
            for platform, store_id in _file_stores(settings)
            if store in (None, store_id)
            for version in inbox.latest_batch_versions(platform, store_id)
        ]
        if not rows:
            typer.echo("no batches")
            return
        policy = settings.batches.policy()
        for version in rows:
            standing = batch_standing(version, policy)
            batch = standing.batch
            typer.echo(
                f"{batch.batch_id}  {version.platform}/{version.store}  version {version.number}"
                f"  {batch.processing_date}  {len(batch.entries)} entries  {standing.total}"
                f"  cutoff {standing.cutoff.isoformat()}"
                f"  back end: {_describe_view(_at_back_end(settings, batch.batch_id))}"
            )


@batch_app.command("show")
def show(
    batch_id: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id.")],
    config: ConfigOption = None,
) -> None:
    """A batch: entries, versions and what each changed, cutoff, state at the back end."""
    with configured_store(config) as (settings, inbox):
        versions = _versions(settings, inbox, batch_id)
        latest = batch_standing(versions[-1], settings.batches.policy())
        typer.echo(f"batch {batch_id} ({versions[-1].platform}/{versions[-1].store})")
        typer.echo(
            f"  processing date {latest.batch.processing_date}, cutoff {latest.cutoff.isoformat()}"
        )
        typer.echo(f"  back end: {_describe_view(_at_back_end(settings, batch_id))}")
        typer.echo("  versions:")
        for change in batch_history(versions):
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


def _change(settings: Settings, batch_id: str, asked: str, change: Rescheduled | Deleted) -> None:
    view = _at_back_end(settings, batch_id)
    if isinstance(view, str):
        _fail(f"batch {batch_id}: {view}")
    try:
        settings.batches.policy().ensure_changeable(
            batch_id, view.processing_date, (change,), datetime.now(UTC)
        )
    except BatchPastCutoff as exc:
        _fail(f"{asked} refused: {exc}")
    key = f"cli-{uuid.uuid4().hex}"
    try:
        with backend_client(settings) as client:
            if isinstance(change, Rescheduled):
                done = client.reschedule_batch(
                    batch_id, change.processing_date, idempotency_key=key
                )
            else:
                done = client.delete_batch(batch_id, idempotency_key=key)
    except BackendError as exc:
        _fail(f"{asked} refused by the back end: {exc}")
    typer.echo(f"batch {batch_id}: {_describe_view(done)}")


@batch_app.command("reschedule")
def reschedule(
    batch_id: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id.")],
    day: Annotated[
        dt.datetime, typer.Argument(metavar="DATE", formats=["%Y-%m-%d"], help="YYYY-MM-DD.")
    ],
    config: ConfigOption = None,
) -> None:
    """Move a batch to another processing date, before its cutoff."""
    with configured_store(config) as (settings, inbox):
        versions = _versions(settings, inbox, batch_id)
        current = BatchFile.model_validate_json(versions[-1].batch).processing_date
        change = Rescheduled(previous=current, processing_date=day.date())
        _change(settings, batch_id, f"rescheduling batch {batch_id} to {day.date()}", change)


@batch_app.command("delete")
def delete(
    batch_id: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id.")],
    config: ConfigOption = None,
) -> None:
    """Delete a batch before its cutoff: none of its payments are made."""
    with configured_store(config) as (settings, inbox):
        _versions(settings, inbox, batch_id)
        _change(settings, batch_id, f"deleting batch {batch_id}", Deleted())
