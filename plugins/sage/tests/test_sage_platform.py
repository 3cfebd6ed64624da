"""Reading what Sage 50 writes: real CPA-005 and NACHA files, Sage's file names, store options."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction
from passerelle.connector.config import Settings
from passerelle.connector.config_checks import store_problems
from passerelle.formats import FormatError, cpa005
from passerelle.money import Money
from passerelle.platforms import Store, TranslationError
from passerelle.plugins import default_plugins
from passerelle_sage import SagePlatform, sage_file
from passerelle_sage.names import Purpose

FIXTURES = Path(__file__).parent / "fixtures"
CPA005 = (FIXTURES / "evergrowth-Export_CRONUS_01-works.txt").read_bytes()
NACHA_CREDIT = (FIXTURES / "moov-testdata-ppd-credit.ach").read_bytes()
NACHA_DEBIT = (FIXTURES / "moov-testdata-ppd-debit.ach").read_bytes()

platform = SagePlatform()


def _store(**options: str) -> Store:
    return Store("sage", "payroll", options=options)


def test_the_plugin_is_installed_under_the_passerelle_group() -> None:
    assert isinstance(default_plugins().file_platform("sage"), SagePlatform)


def test_a_canadian_file_is_read_as_cpa005() -> None:
    batch = platform.read(CPA005, filename="PRDIRECT.DAT")

    assert batch.batch_id == "XYZAB55255-0039"
    assert batch.originator == "XYZAB55255"
    assert batch.currency == "CAD"
    assert batch.processing_date == dt.date(2026, 3, 16)
    assert [e.transaction_code for e in batch.entries] == ["450", "450"]


def test_a_us_file_is_read_as_nacha() -> None:
    batch = platform.read(NACHA_CREDIT, filename="PRDIRECT.DAT")

    assert batch.kind is BatchKind.CREDIT
    assert batch.currency == "USD"
    assert batch.processing_date == dt.date(2019, 8, 16)


def test_a_payroll_file_that_draws_money_is_refused() -> None:
    with pytest.raises(FormatError, match=r"Sage's payroll file carries debits \(a debit batch\)"):
        platform.read(NACHA_DEBIT, filename="PRDIRECT.DAT")
    # Under another name, a debit file is a pre-authorized debit batch.
    assert platform.read(NACHA_DEBIT, filename="pad-june.ach").kind is BatchKind.DEBIT


def test_a_bambora_csv_is_read_with_the_date_its_name_carries() -> None:
    data = (FIXTURES / "bambora-eft-example.csv").read_bytes()

    batch = platform.read(data, filename="C:\\EFT\\bambora-eft-20261215.csv")

    assert (batch.batch_id, batch.originator) == ("BAMBORA-EFT-20261215", "bambora")
    assert batch.processing_date == dt.date(2026, 12, 15)
    assert batch.currency == "CAD"
    assert [(e.payee, e.amount) for e in batch.entries] == [
        ("ACME Corp", Money.of("100.00", "CAD")),
        ("John Doe", Money.of("200.00", "CAD")),
        ("Jane Doe", Money.of("300.00", "CAD")),
    ]
    assert platform.read(data, filename="bambora-eft-2026-12-15.csv").processing_date == (
        dt.date(2026, 12, 15)
    )


@pytest.mark.parametrize(
    "name", ["upload.csv", "payroll-20261301.csv", "from-20261201-to-20261215.csv"]
)
def test_a_bambora_csv_whose_name_carries_no_date_is_refused(name: str) -> None:
    data = (FIXTURES / "bambora-eft-example.csv").read_bytes()
    with pytest.raises(FormatError, match="name the file after its processing date") as got:
        platform.read(data, filename=name)
    assert got.value.field == "file name"


def test_a_bambora_csv_for_a_store_is_the_stores_originators() -> None:
    data = (FIXTURES / "bambora-eft-example.csv").read_bytes()
    store = _store(originator_id="0123456789", currency="CAD", format="bambora")

    batch = platform.read_for_store(data, filename="payroll-20261215.csv", store=store)

    assert batch.originator == "0123456789"
    with pytest.raises(TranslationError, match="is bambora, but store payroll takes cpa005"):
        platform.read_for_store(
            data, filename="payroll-20261215.csv", store=_store(format="cpa005")
        )


def test_an_rbc_file_in_80_character_pieces_is_the_same_batch() -> None:
    whole = platform.read(
        (FIXTURES / "passerelle-prdirect-0042.dat").read_bytes(), filename="PRDIRECT.DAT"
    )
    for fixture in (
        "passerelle-prdirect-0042-rbc80.dat",
        "passerelle-prdirect-0042-rbc80-run-on.dat",
    ):
        data = (FIXTURES / fixture).read_bytes()
        assert data.startswith(b"$$AA01CPA1464[PROD[80$$")
        assert platform.read(data, filename="PRDIRECT.DAT") == whole
    store = _store(originator_id="0123456789", format="cpa005")
    rbc = (FIXTURES / "passerelle-prdirect-0042-rbc80.dat").read_bytes()
    assert platform.read_for_store(rbc, filename="PRDIRECT.DAT", store=store) == whole


def test_masked_and_hyphenated_accounts_are_kept_as_written() -> None:
    batch = platform.read(
        (FIXTURES / "passerelle-prdirect-0042.dat").read_bytes(), filename="PRDIRECT.DAT"
    )
    assert [e.account for e in batch.entries] == ["5012345", "744-5678-99", "****5678"]


def test_a_malformed_file_names_its_line_and_position() -> None:
    broken = bytearray(CPA005)
    broken[1464 + 1 + 27] = ord("X")  # the first credit's amount
    with pytest.raises(FormatError) as got:
        platform.read(bytes(broken), filename="APDIRECT.DAT")
    assert got.value.filename == "APDIRECT.DAT"
    assert got.value.line == 2


@pytest.mark.parametrize(
    ("name", "purpose", "generation"),
    [
        ("PRDIRECT.DAT", Purpose.PAYROLL, None),
        ("prdirect.dat", Purpose.PAYROLL, None),
        ("C:\\Sage\\EFT\\APDIRECT.DAT", Purpose.VENDORS, None),
        ("/srv/eft/PRDI0012.DAT", Purpose.PAYROLL, 12),
        ("APDI0001.DAT", Purpose.VENDORS, 1),
    ],
)
def test_sage_file_names(name: str, purpose: Purpose, generation: int | None) -> None:
    found = sage_file(name)
    assert found is not None
    assert (found.purpose, found.generation) == (purpose, generation)


@pytest.mark.parametrize("name", ["PRDI12.DAT", "PRDIRECT.TXT", "payroll.dat", "XXDIRECT.DAT"])
def test_other_names_are_not_sages(name: str) -> None:
    assert sage_file(name) is None


def test_a_file_of_another_originator_is_refused_for_the_store() -> None:
    with pytest.raises(TranslationError) as got:
        platform.read_for_store(CPA005, filename="PRDIRECT.DAT", store=_store(originator_id="ABC"))
    assert got.value.field == "options.originator_id"
    assert "from originator 'XYZAB55255', but store payroll is 'ABC'" in str(got.value)
    batch = platform.read_for_store(
        CPA005, filename="PRDIRECT.DAT", store=_store(originator_id="XYZAB55255", currency="cad")
    )
    assert batch.batch_id == "XYZAB55255-0039"


def test_a_file_in_another_currency_or_format_is_refused_for_the_store() -> None:
    with pytest.raises(TranslationError, match="is in CAD, but store payroll pays in USD"):
        platform.read_for_store(CPA005, filename="PRDIRECT.DAT", store=_store(currency="USD"))
    with pytest.raises(TranslationError, match="is nacha, but store payroll takes cpa005"):
        platform.read_for_store(NACHA_CREDIT, filename="x.ach", store=_store(format="cpa005"))


def test_config_check_names_each_bad_option(tmp_path: Path) -> None:
    problems = platform.check_store(
        _store(
            originator_id="MUCH-TOO-LONG-ID",
            currency="EUR",
            format="xml",
            folder=str(tmp_path / "missing"),
            colour="blue",
        )
    )
    assert [(p.key, p.message) for p in problems] == [
        (
            "options.originator_id",
            "'MUCH-TOO-LONG-ID' is not an originator ID: at most 10 ASCII characters, as "
            "the bank gave it (CPA-005 positions 11-20, NACHA company ID)",
        ),
        ("options.currency", "'EUR' is not CAD or USD"),
        (
            "options.format",
            "'xml' is not a format the Sage plugin reads: use cpa005, nacha or bambora, or "
            "leave it out to find it from each file",
        ),
        ("options.folder", f"'{tmp_path / 'missing'}' is not a folder"),
        ("options.colour", "is not an option of this platform"),
    ]
    for fmt in ("cpa005", "nacha", "bambora"):
        good = _store(originator_id="0123456789", currency="CAD", format=fmt, folder=str(tmp_path))
        assert platform.check_store(good) == []


def test_config_check_names_a_folder_this_user_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "eft"
    folder.mkdir(mode=0o000)
    # Root reads every folder whatever its mode: the user's access is what is asked, so ask
    # as a user without it.
    access = os.access
    monkeypatch.setattr(
        "passerelle_sage.options.os.access",
        lambda path, mode: False if Path(path) == folder else access(path, mode),
    )
    try:
        problems = platform.check_store(_store(folder=str(folder)))
    finally:
        folder.chmod(0o700)
    assert [(p.key, p.message) for p in problems] == [
        ("options.folder", f"'{folder}' cannot be read by this user")
    ]


def test_what_sage_writes_reads_back_as_the_same_batch() -> None:
    batch = BatchFile(
        batch_id="0123456789-0042",
        originator="0123456789",
        kind=BatchKind.CREDIT,
        processing_date=dt.date(2026, 12, 15),
        currency="CAD",
        entries=(
            BatchEntry(
                direction=Direction.CREDIT,
                amount=Money.of("1520.35", "CAD"),
                payee="Ada Tremblay",
                institution="003",
                transit="00012",
                account="5012345",
                reference="EMP0001",
                transaction_code="200",
            ),
        ),
    )
    assert platform.read(cpa005.write(batch), filename="PRDIRECT.DAT") == batch


def test_config_check_asks_the_sage_plugin_about_its_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.upper().startswith("PASSERELLE_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "passerelle.toml"
    path.write_text(
        """
[backend]
url = "https://payments.example.com"
token = "backend-token-0123456789"
merchant = "acme"

[[stores]]
platform = "sage"
id = "payroll"
secrets = ["unused-by-files-0123456789"]
options = { currency = "EUR" }
""",
        encoding="utf-8",
    )
    problems = store_problems(Settings.load(path), {"sage": platform})
    assert [str(problem) for problem in problems] == [
        "stores[0].options.currency: 'EUR' is not CAD or USD"
    ]
