"""A connector killed with SIGKILL while it dispatches batch files from a watched folder, and
started again: every file it took reaches the back end as one batch, once."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from batch_support import business_day, payroll, upload

from passerelle.backend.client import BackendClient
from passerelle.backend.errors import UnknownBatchError
from passerelle.connector.store import DeliveryStatus, open_store
from passerelle.formats import cpa005
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import (
    FILES_STORE,
    FULL_TOKEN,
    ConnectorConfig,
    ConnectorProcess,
    RecordingBackend,
    backend,
    sqlite_url,
    subprocess_env,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.slow

FILES = 12


def test_a_killed_connector_schedules_every_batch_file_once(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    folder = tmp_path / "eft"
    folder.mkdir()
    day = business_day(dt.datetime.now(dt.UTC).date(), 7)
    base = random.randrange(10**8)
    batches = [
        payroll(f"K{base + n:09d}", day, f"{100 + n}.00", f"{n + 1}.00", f"{7 + n}.50")
        for n in range(FILES)
    ]
    for n, batch in enumerate(batches):
        (folder / f"PAY{n:04d}.DAT").write_bytes(cpa005.write(batch))
    # Every payment differs, so no batch is held as repeating another's.
    # Back-end calls take a while, so the kills land while files are being dispatched.
    sandbox.state.set_faults(Faults(latency_ms=40))

    store_url = sqlite_url(tmp_path / "inbox.db")
    config = ConnectorConfig(sandbox.url, store_url, lease=1.5, files_folder=folder)
    connector = ConnectorProcess(
        config.write(tmp_path / "passerelle.toml"),
        subprocess_env(plugin_site),
        tmp_path / "connector.log",
        port=config.port,
    )

    def scheduled() -> int:
        count = 0
        with backend(sandbox.url) as client:
            for batch in batches:
                try:
                    client.get_batch(batch.batch_id)
                except UnknownBatchError:
                    continue
                count += 1
        return count

    with connector:
        connector.start().wait_ready()
        for wanted in (3, 7):
            wait_until(lambda w=wanted: scheduled() >= w, timeout=60, what=f"{wanted} batches")
            connector.kill()
            connector.start().wait_ready()
        wait_until(lambda: scheduled() == FILES, timeout=60, what="every batch")
        wait_settled(connector.url, timeout=60)

    with open_store(store_url) as inbox:
        assert inbox.list_failures() == []
        assert inbox.stats()[DeliveryStatus.DONE] == FILES
    with backend(sandbox.url) as client:
        for batch in batches:
            view = client.get_batch(batch.batch_id)
            assert [item.to_entry() for item in view.entries] == list(batch.entries)


def test_a_connector_killed_before_the_back_ends_answer_sends_each_uploaded_batch_once(
    tmp_path: Path, plugin_site: Path
) -> None:
    day = business_day(dt.datetime.now(dt.UTC).date(), 7)
    base = random.randrange(10**8)
    # Every payment differs, so no batch is held as repeating another.
    batches = [payroll(f"U{base + n:09d}", day, f"{200 + n}.00", f"{5 + n}.25") for n in range(3)]
    store_url = sqlite_url(tmp_path / "inbox.db")
    # The file store's folder stays empty: its files come by upload.
    folder = tmp_path / "eft"
    folder.mkdir()
    with RecordingBackend() as recording:
        config = ConnectorConfig(recording.url, store_url, lease=1.5, files_folder=folder)
        connector = ConnectorProcess(
            config.write(tmp_path / "passerelle.toml"),
            subprocess_env(plugin_site),
            tmp_path / "connector.log",
            port=config.port,
        )
        # The back end holds each write for a while before it answers: the kill lands then.
        recording.state.set_faults(Faults(latency_ms=3000))
        creates = ("POST", "/v1/batches")
        with connector:
            connector.start().wait_ready()
            for batch in batches:
                answer = upload(connector.url, batch, FULL_TOKEN, store=FILES_STORE)
                assert answer.status_code == 202, answer.text
            wait_until(lambda: creates in recording.requests, timeout=30, what="a batch sent")
            connector.kill()
            sent_before_the_kill = recording.requests.count(creates)
            recording.state.set_faults(Faults())
            # The back end carries out the write whose answer no one will read.
            with backend(recording.url) as client:
                wait_until(
                    lambda: _known(client, batches[0].batch_id), timeout=30, what="the write"
                )
            connector.start().wait_ready()
            wait_settled(connector.url, timeout=60)

        with open_store(store_url) as inbox:
            assert inbox.list_failures() == []
            assert inbox.stats()[DeliveryStatus.DONE] == len(batches)
        with backend(recording.url) as client:
            for batch in batches:
                view = client.get_batch(batch.batch_id)
                assert [item.to_entry() for item in view.entries] == list(batch.entries)
        # One lane per store: one call was in flight at the kill. After the restart the back-end
        # step found that batch already there and did not create it again.
        assert sent_before_the_kill == 1
        assert recording.requests.count(creates) == len(batches)


def _known(client: BackendClient, batch_id: str) -> bool:
    try:
        client.get_batch(batch_id)
    except UnknownBatchError:
        return False
    return True
