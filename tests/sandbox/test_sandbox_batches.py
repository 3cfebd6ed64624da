"""The sandbox's batches over a real socket, through both clients: every endpoint and rule."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sandbox_support import (
    ADMIN_TOKEN,
    AUTH,
    VANCOUVER,
    Api,
    cad,
    entries_batch,
    entry,
    problem_of,
)

from passerelle import formats
from passerelle.backend.errors import (
    BatchDeletedError,
    BatchExistsError,
    BatchPastCutoffError,
    InvalidBatchFileError,
    OrderCurrencyMismatchError,
    UnknownBatchError,
)
from passerelle.backend.models import (
    BatchEntryItem,
    BatchFileUpload,
    BatchFormat,
    BatchStatus,
    FieldError,
)
from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction
from passerelle.money import Money
from passerelle.sandbox import SandboxServer

pytestmark = pytest.mark.anyio

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples" / "batch"
SAMPLE_FILES = sorted(SAMPLES.glob("*/*"))


# Batches


async def test_a_batch_from_entries_lives_until_its_cutoff(api: Api) -> None:
    created = await api("create_batch", entries_batch())

    assert created.id == "payroll-11"
    assert created.status is BatchStatus.SCHEDULED
    assert created.cutoff_at == dt.datetime(2030, 3, 15, 11, 0, tzinfo=VANCOUVER)
    assert created.totals.credits == cad("2150.50")
    assert created.totals.credit_count == 2
    assert await api("get_batch", "payroll-11") == created

    moved = await api("reschedule_batch", "payroll-11", dt.date(2030, 3, 18))
    assert moved.processing_date == dt.date(2030, 3, 18)
    assert moved.cutoff_at == dt.datetime(2030, 3, 18, 11, 0, tzinfo=VANCOUVER)

    edited = await api("replace_batch_entries", "payroll-11", [entry("10.00")])
    assert edited.totals.credits == cad("10.00")
    assert edited.entries == (entry("10.00"),)

    deleted = await api("delete_batch", "payroll-11")
    assert deleted.status is BatchStatus.DELETED
    assert (await api("get_batch", "payroll-11")).status is BatchStatus.DELETED


async def test_the_sandbox_names_a_batch_given_without_id(api: Api) -> None:
    batch = entries_batch().model_copy(update={"batch_id": None})

    created = await api("create_batch", batch)

    assert created.id.startswith("bat_")
    assert await api("get_batch", created.id) == created


async def test_unknown_batch(api: Api) -> None:
    with pytest.raises(UnknownBatchError) as unknown:
        await api("get_batch", "nope")

    assert unknown.value.code == "unknown_batch"
    with pytest.raises(UnknownBatchError):
        await api("reschedule_batch", "nope", dt.date(2030, 3, 20))


async def test_a_deleted_batch_cannot_change(api: Api) -> None:
    await api("create_batch", entries_batch())
    await api("delete_batch", "payroll-11")

    with pytest.raises(BatchDeletedError) as deleted:
        await api("replace_batch_entries", "payroll-11", [entry("10.00")])

    assert deleted.value.code == "batch_deleted"
    with pytest.raises(BatchDeletedError):
        await api("delete_batch", "payroll-11")


async def test_replacement_entries_must_fit_the_batch(api: Api, raw: httpx.Client) -> None:
    await api("create_batch", entries_batch())

    with pytest.raises(OrderCurrencyMismatchError) as mismatch:
        await api(
            "replace_batch_entries",
            "payroll-11",
            [entry("10.00").model_copy(update={"amount": Money.of("10.00", "USD")})],
        )
    debit = raw.put(
        "/v1/batches/payroll-11/entries",
        headers={**AUTH, "Idempotency-Key": "d"},
        json={"entries": [entry("5.00", direction=Direction.DEBIT).model_dump(mode="json")]},
    )

    assert mismatch.value.detail == (
        "invalid request: entries.0.amount.currency: entry 0 is in USD, the batch in CAD"
    )
    assert problem_of(debit)["errors"] == [
        {"field": "entries.0.direction", "message": "a debit in a credit batch"}
    ]


@pytest.mark.parametrize(
    ("moment", "changeable"),
    [
        (dt.datetime(2030, 3, 15, 10, 59, tzinfo=VANCOUVER), True),
        (dt.datetime(2030, 3, 15, 11, 0, tzinfo=VANCOUVER), False),
    ],
    ids=["10:59", "11:00"],
)
async def test_the_cutoff_is_eleven_vancouver_time(
    sandbox: SandboxServer, api: Api, moment: dt.datetime, changeable: bool
) -> None:
    await api("create_batch", entries_batch(dt.date(2030, 3, 15)))
    sandbox.state.set_clock(moment)

    if changeable:
        edited = await api("replace_batch_entries", "payroll-11", [entry("10.00")])
        assert edited.status is BatchStatus.SCHEDULED
        moved = await api("reschedule_batch", "payroll-11", dt.date(2030, 3, 16))
        assert moved.processing_date == dt.date(2030, 3, 16)
        return
    assert (await api("get_batch", "payroll-11")).status is BatchStatus.PROCESSING
    with pytest.raises(BatchPastCutoffError) as past:
        await api("replace_batch_entries", "payroll-11", [entry("10.00")])
    assert past.value.code == "batch_past_cutoff"
    assert past.value.detail == (
        "batch payroll-11 for 2030-03-15 is past its cutoff 2030-03-15 11:00 PDT "
        "(America/Vancouver) (now 2030-03-15 11:00:00 PDT): it can no longer be changed"
    )
    with pytest.raises(BatchPastCutoffError):
        await api("reschedule_batch", "payroll-11", dt.date(2030, 3, 16))
    with pytest.raises(BatchPastCutoffError):
        await api("delete_batch", "payroll-11")
    assert len((await api("get_batch", "payroll-11")).entries) == 2


async def test_the_admin_api_sets_the_clock(
    sandbox: SandboxServer, api: Api, raw: httpx.Client
) -> None:
    await api("create_batch", entries_batch(dt.date(2030, 3, 15)))
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    refused = raw.post("/_sandbox/clock", json={"at": "2030-03-15T11:00:00-07:00"}, headers=AUTH)
    answer = raw.post("/_sandbox/clock", json={"at": "2030-03-15T11:00:00-07:00"}, headers=admin)

    assert problem_of(refused)["code"] == "unauthorized"
    assert answer.status_code == 200
    assert answer.json()["stopped"] is True
    assert dt.datetime.fromisoformat(answer.json()["now"]) == dt.datetime(
        2030, 3, 15, 18, tzinfo=dt.UTC
    )
    with pytest.raises(BatchPastCutoffError):
        await api("delete_batch", "payroll-11")
    advanced = raw.post("/_sandbox/clock", json={"advance_seconds": 60}, headers=admin)
    assert dt.datetime.fromisoformat(advanced.json()["now"]) == dt.datetime(
        2030, 3, 15, 18, 1, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"advance_seconds": 10**18}, "advance_seconds", "Input should be less than or equal to"),
        ({"advance_seconds": 3_000_000_000}, "advance_seconds", "the clock must stay between"),
        ({"at": "9999-12-31T23:59:59-12:00"}, "at", "the clock must stay between"),
        ({"at": "0001-01-01T00:00:00+14:00"}, "at", "the clock must stay between"),
    ],
)
async def test_the_admin_clock_stays_within_what_dates_can_hold(
    sandbox: SandboxServer, raw: httpx.Client, change: dict[str, Any], field: str, message: str
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    sandbox.state.set_clock(dt.datetime(8950, 1, 1, tzinfo=dt.UTC))

    refused = raw.post("/_sandbox/clock", json=change, headers=admin)
    clock = raw.get("/_sandbox/clock", headers=admin).json()

    assert refused.status_code == 422
    errors = problem_of(refused)["errors"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["message"].startswith(message)
    assert dt.datetime.fromisoformat(clock["now"]) == dt.datetime(8950, 1, 1, tzinfo=dt.UTC)


async def test_a_batch_cannot_be_rescheduled_to_a_day_past_its_cutoff(api: Api) -> None:
    await api("create_batch", entries_batch(dt.date(2030, 3, 15)))

    with pytest.raises(BatchPastCutoffError) as past:
        await api("reschedule_batch", "payroll-11", dt.date(2030, 3, 13))

    assert "cannot be rescheduled to 2030-03-13" in (past.value.detail or "")


async def test_a_batch_for_a_day_already_past_its_cutoff_is_refused(api: Api) -> None:
    with pytest.raises(BatchPastCutoffError) as past:
        await api("create_batch", entries_batch(dt.date(2030, 3, 13)))

    assert past.value.detail == (
        "batch payroll-11 cannot be scheduled for 2030-03-13: that date's cutoff "
        "2030-03-13T11:00:00-07:00 has passed; choose a later processing date"
    )


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
async def test_each_sample_batch_file_uploads(api: Api, path: Path) -> None:
    data = path.read_bytes()
    day = dt.date(2030, 3, 15)
    expected = formats.read(data, filename=path.name, processing_date=day, batch_id="x")

    view = await api(
        "create_batch", BatchFileUpload(file=data.decode("ascii"), processing_date=day)
    )

    assert view.processing_date == day
    assert view.status is BatchStatus.SCHEDULED
    assert view.currency == expected.currency
    assert view.kind is expected.kind
    assert [item.to_entry() for item in view.entries] == list(expected.entries)
    if path.parent.name != "bambora":
        assert view.id == expected.batch_id
    assert await api("get_batch", view.id) == view


async def test_alphanumeric_and_masked_accounts_reach_the_back_end(api: Api) -> None:
    # NACHA DFI account numbers are alphanumeric, and accounting packages write them with
    # hyphens or masked: the back end takes them as the file has them.
    accounts = ("744-5678-99", "****5678", "XXXXX1234")
    entries = tuple(
        BatchEntry(
            direction=Direction.CREDIT,
            amount=Money.of(f"{100 + i}.00", "USD"),
            payee=f"Payee {i}",
            routing="021000021",
            account=account,
            transaction_code="22",
        )
        for i, account in enumerate(accounts)
    )
    batch = BatchFile(
        batch_id="123456789-300315-A",
        originator="1234567890",
        kind=BatchKind.CREDIT,
        processing_date=dt.date(2030, 3, 15),
        currency="USD",
        entries=entries,
    )
    data = formats.nacha.write(batch)

    uploaded = await api(
        "create_batch", BatchFileUpload(file=data.decode("ascii"), format=BatchFormat.NACHA)
    )
    assert [item.account for item in uploaded.entries] == list(accounts)

    replaced = await api(
        "replace_batch_entries",
        uploaded.id,
        [BatchEntryItem.from_entry(entry) for entry in reversed(entries)],
    )
    assert [item.account for item in replaced.entries] == list(reversed(accounts))
    assert await api("get_batch", uploaded.id) == replaced


def test_an_account_with_surrounding_spaces_or_control_characters_is_refused() -> None:
    for bad in (" 5678", "5678 ", "56\t78", "1" * 18, "caf\u00e9"):
        with pytest.raises(ValidationError, match="account"):
            BatchEntryItem(
                direction=Direction.CREDIT,
                amount=cad("1.00"),
                payee="Ada",
                account=bad,
                institution="001",
                transit="12345",
            )


async def test_a_file_can_travel_as_base64_with_its_format(api: Api) -> None:
    data = (SAMPLES / "nacha" / "moov-testdata-ppd-debit.ach").read_bytes()

    view = await api(
        "create_batch",
        BatchFileUpload(
            file=base64.b64encode(data).decode(),
            encoding="base64",
            format=BatchFormat.NACHA,
            processing_date=dt.date(2030, 3, 15),
        ),
    )

    assert view.totals.debits == Money.of("1000000.00", "USD")
    assert view.totals.debit_count == 1


async def test_an_upload_without_a_date_takes_the_files_own(
    sandbox: SandboxServer, api: Api
) -> None:
    data = (SAMPLES / "cpa005" / "evergrowth-Export_CRONUS_01-works.txt").read_text("ascii")

    with pytest.raises(BatchPastCutoffError):
        await api("create_batch", BatchFileUpload(file=data))
    sandbox.state.set_clock(dt.datetime(2026, 3, 10, 9, 0, tzinfo=VANCOUVER))
    view = await api("create_batch", BatchFileUpload(file=data))

    assert view.processing_date == dt.date(2026, 3, 16)


async def test_a_bambora_file_without_a_date_is_processed_on_the_next_cutoff(
    sandbox: SandboxServer, api: Api
) -> None:
    data = (SAMPLES / "bambora" / "bambora-eft-example.csv").read_text("ascii")

    today = await api("create_batch", BatchFileUpload(file=data))
    sandbox.state.set_clock(dt.datetime(2030, 3, 15, 11, 0, tzinfo=VANCOUVER))
    after_friday_cutoff = await api("create_batch", BatchFileUpload(file=data))

    assert today.processing_date == dt.date(2030, 3, 14)
    assert after_friday_cutoff.processing_date == dt.date(2030, 3, 18)


async def test_a_file_uploaded_twice_is_a_duplicate(api: Api) -> None:
    data = (SAMPLES / "cpa005" / "evergrowth-Export_CRONUS_01-works.txt").read_text("ascii")
    upload = BatchFileUpload(file=data, processing_date=dt.date(2030, 3, 15))
    await api("create_batch", upload)

    with pytest.raises(BatchExistsError) as duplicate:
        await api("create_batch", upload)

    assert duplicate.value.status == 409
    assert duplicate.value.detail == "duplicate file: batch XYZAB55255-0039 was already received"
    assert duplicate.value.problem is not None
    assert duplicate.value.problem.errors == (
        FieldError(field="file", message="batch XYZAB55255-0039 was already received", line=1),
    )


async def test_an_unreadable_file_is_refused_with_its_line_and_column(api: Api) -> None:
    lines = (SAMPLES / "bambora" / "bambora-eft-example.csv").read_bytes().decode().split("\r\n")
    lines[1] = lines[1].replace(",20000,", ",ten,")

    with pytest.raises(InvalidBatchFileError) as invalid:
        await api(
            "create_batch",
            BatchFileUpload(file="\r\n".join(lines), processing_date=dt.date(2030, 3, 15)),
        )

    assert invalid.value.code == "invalid_batch_file"
    assert invalid.value.problem is not None
    errors = invalid.value.problem.errors
    assert errors is not None
    assert (errors[0].field, errors[0].line, errors[0].column) == ("file", 2, 6)
    assert invalid.value.detail == "file line 2, column 6 (amount): 'ten' is not a number"


async def test_a_batch_id_already_used_is_refused(api: Api, raw: httpx.Client) -> None:
    await api("create_batch", entries_batch())

    response = raw.post(
        "/v1/batches",
        headers={**AUTH, "Idempotency-Key": "again"},
        json=entries_batch().model_dump(mode="json"),
    )

    assert (response.status_code, problem_of(response)["code"]) == (409, "batch_exists")
    assert problem_of(response)["errors"] == [
        {"field": "batch_id", "message": "batch payroll-11 already exists"}
    ]
    with pytest.raises(BatchExistsError):
        await api("create_batch", entries_batch())
