"""`passerelle batch submit FILE --store S`: hand a batch payment file to the connector.

The file goes into the configured store durably (the same bytes twice are one file); the command
then waits for the dispatcher of a running `passerelle serve` to settle it and says in one line
what became of it: a new batch, a new version of a batch and what changed, nothing to do, or why
it was refused (exit 1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from passerelle.connector.actions_cli import ConfigOption, configured_store
from passerelle.connector.files import MAX_FILE_BYTES, FileTooLargeError, accept_file
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
