"""Ways a batch file comes in: `POST /files/{platform}/{store}` over a real socket, and
`passerelle batch submit`, each into the real store and on to the sandbox back end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from batch_support import (
    PLATFORM,
    STORE,
    CpaFiles,
    CpaFilesPlugin,
    business_day,
    new_originator,
    payroll,
)
from dispatch_support import make_dispatcher
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from passerelle.backend.client import BackendClient
from passerelle.cli import app
from passerelle.clock import Clock, SystemClock
from passerelle.connector import batch_cli
from passerelle.connector.config import AdminToken
from passerelle.connector.file_upload import create_file_upload
from passerelle.connector.store import DeliveryStatus, DeliveryStore
from passerelle.formats import cpa005
from passerelle.platforms import Store
from passerelle.plugins import Plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle.serving import BackgroundServer

FULL = "full-token-0123456789abc"
READ = "read-token-0123456789abc"


@pytest.fixture
def clock() -> Clock:
    # The command stores files at the time of day, as a connector serving beside it would.
    return SystemClock()


@pytest.fixture
def upload(store: DeliveryStore, clock: Clock) -> Iterator[str]:
    tokens = [
        AdminToken(name="ops", token=SecretStr(FULL), access="full"),
        AdminToken(name="viewer", token=SecretStr(READ), access="read"),
    ]
    files = create_file_upload(
        store,
        {PLATFORM: CpaFiles()},
        {(PLATFORM, STORE): Store(PLATFORM, STORE)},
        tokens,
        max_bytes=20_000,
        clock=clock,
    )
    with BackgroundServer(files) as server:
        yield server.url


def _post(url: str, path: str, data: bytes, token: str = FULL) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    return httpx.post(
        f"{url}{path}",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}"},
        params={"name": "PRDIRECT.DAT"},
    )


def test_an_uploaded_file_is_stored_once_and_dispatched(
    upload: str, store: DeliveryStore, client: BackendClient, clock: Clock
) -> None:
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "100.00", "250.00")
    data = cpa005.write(batch)

    first = _post(upload, f"/files/{PLATFORM}/{STORE}", data)
    again = _post(upload, f"/files/{PLATFORM}/{STORE}", data)

    assert first.status_code == 202, first.text
    assert first.json()["duplicate"] is False
    assert first.json()["size"] == len(data)
    assert again.status_code == 200
    assert again.json()["delivery"] == first.json()["delivery"]
    assert store.get(first.json()["delivery"]).body == data
    make_dispatcher(store, client, clock, platform=CpaFiles(), store_id=STORE).drain()
    assert len(client.get_batch(batch.batch_id).entries) == 2


@pytest.mark.parametrize(
    ("path", "token", "size", "status", "code"),
    [
        (f"/files/{PLATFORM}/{STORE}", READ, 10, 403, "forbidden"),
        (f"/files/{PLATFORM}/{STORE}", "wrong-token-0123456789", 10, 401, "unauthorized"),
        (f"/files/{PLATFORM}/elsewhere", FULL, 10, 404, "unknown_store"),
        (f"/files/shopify/{STORE}", FULL, 10, 404, "unknown_platform"),
        (f"/files/{PLATFORM}/{STORE}", FULL, 20_001, 413, "file_too_large"),
    ],
)
def test_a_refused_upload_is_one_problem_and_stores_nothing(
    upload: str, store: DeliveryStore, path: str, token: str, size: int, status: int, code: str
) -> None:
    answer = _post(upload, path, b"A" * size, token)

    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
    assert store.stats().get(DeliveryStatus.PENDING, 0) == 0


@pytest.fixture
def config(
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    clean_environment: None,
    sandbox: SandboxServer,
) -> Path:
    plugins = Plugins()
    plugins.register(CpaFilesPlugin(), "files")
    monkeypatch.setattr(batch_cli, "default_plugins", lambda: plugins)
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f"""
[backend]
url = "{sandbox.url}"
token = "{DEFAULT_TOKEN}"
merchant = "{DEFAULT_MERCHANT}"

[store]
url = "{store_url}"

[[stores]]
platform = "{PLATFORM}"
id = "{STORE}"
secrets = ["unused-by-files-0123456789"]
""",
        encoding="utf-8",
    )
    return path


def _batch(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["batch", *args, "--config", str(config)])


def _submit(config: Path, file: Path, *options: str) -> Result:
    return CliRunner().invoke(
        app, ["batch", "submit", str(file), "--config", str(config), "--wait", "10", *options]
    )


def test_submit_says_what_became_of_the_file(
    config: Path,
    tmp_path: Path,
    store: DeliveryStore,
    client: BackendClient,
    clock: Clock,
) -> None:
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    first = tmp_path / "PRDIRECT.DAT"
    first.write_bytes(cpa005.write(payroll(originator, day, "100.00", "250.00")))
    dispatcher = make_dispatcher(store, client, clock, platform=CpaFiles(), store_id=STORE)
    dispatcher.start()
    try:
        created = _submit(config, first, "--store", STORE)
        archive = tmp_path / "PRDI0001.DAT"
        archive.write_bytes(first.read_bytes())
        duplicate = _submit(config, archive, "--store", STORE)
        first.write_bytes(cpa005.write(payroll(originator, business_day(day, 1), "100.00")))
        edited = _submit(config, first, "--store", STORE)
    finally:
        dispatcher.stop()

    batch_id = f"{originator}-0001"
    assert created.exit_code == 0, created.output
    assert created.stdout == (
        f"PRDIRECT.DAT: new batch {batch_id}: 2 entries, 350.00 CAD for {day}\n"
    )
    assert duplicate.exit_code == 0
    assert duplicate.stdout.startswith("PRDI0001.DAT: duplicate of a file already received")
    assert edited.stdout == (
        f"PRDIRECT.DAT: batch {batch_id}: rescheduled {day} -> {business_day(day, 1)}; "
        "1 entry removed\n"
    )


def test_submit_refuses_a_malformed_file_with_its_position(
    config: Path, tmp_path: Path, store: DeliveryStore, client: BackendClient, clock: Clock
) -> None:
    file = tmp_path / "APDIRECT.DAT"
    file.write_bytes(b"A000000001" + b" " * 20 + b"\n")
    dispatcher = make_dispatcher(store, client, clock, platform=CpaFiles(), store_id=STORE)
    dispatcher.start()
    try:
        result = _submit(config, file, "--store", STORE)
    finally:
        dispatcher.stop()

    assert result.exit_code == 1
    assert result.stderr.startswith("error: APDIRECT.DAT: refused (unreadable_file): APDIRECT.DAT")
    assert "line 1" in result.stderr


def test_submit_for_an_unknown_store_or_a_missing_file_is_one_line(
    config: Path, tmp_path: Path, store: DeliveryStore
) -> None:
    unknown = _submit(config, tmp_path / "x.DAT", "--store", "elsewhere")
    missing = _submit(config, tmp_path / "x.DAT", "--store", STORE)

    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "error: no store 'elsewhere' of a file platform is configured (file platforms: files)\n"
    )
    assert missing.exit_code == 1
    assert missing.stderr == f"error: {tmp_path / 'x.DAT'}: No such file or directory\n"
    assert store.stats().get(DeliveryStatus.PENDING, 0) == 0


def test_the_back_office_commands_list_show_reschedule_and_delete(
    config: Path, tmp_path: Path, store: DeliveryStore, client: BackendClient, clock: Clock
) -> None:
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    batch_id = f"{originator}-0001"
    file = tmp_path / "PRDIRECT.DAT"
    dispatcher = make_dispatcher(store, client, clock, platform=CpaFiles(), store_id=STORE)
    for amounts in (("100.00", "250.00"), ("100.00",)):
        file.write_bytes(cpa005.write(payroll(originator, day, *amounts)))
        _submit(config, file, "--store", STORE, "--wait", "0")
        dispatcher.drain()

    listed = _batch(config, "list")
    shown = _batch(config, "show", batch_id)
    moved = _batch(config, "reschedule", batch_id, str(business_day(day, 1)))
    past = (clock.now() - dt.timedelta(days=3)).date()
    refused = _batch(config, "reschedule", batch_id, str(past))
    deleted = _batch(config, "delete", batch_id)

    assert listed.exit_code == 0, listed.output
    (line,) = [row for row in listed.stdout.splitlines() if row.startswith(batch_id)]
    assert f"{PLATFORM}/{STORE}  version 2  {day}  1 entries  100.00 CAD" in line
    assert line.endswith(f"back end: scheduled for {day}, 1 entries")
    assert shown.exit_code == 0, shown.output
    assert f"delivery {store.batch_versions(PLATFORM, STORE, batch_id)[1].delivery_id}" in (
        shown.stdout
    )
    assert f"batch {batch_id}: 1 entry removed" in shown.stdout
    assert moved.stdout == f"batch {batch_id}: scheduled for {business_day(day, 1)}, 1 entries\n"
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        f"error: rescheduling batch {batch_id} to {past} refused: batch {batch_id} for "
        f"{business_day(day, 1)} cannot be rescheduled to {past}: that date's cutoff"
    )
    assert deleted.stdout == f"batch {batch_id}: deleted for {business_day(day, 1)}, 1 entries\n"
    assert _batch(config, "show", "nope").stderr == (
        "error: no batch 'nope': no file of a configured store carried it\n"
    )
