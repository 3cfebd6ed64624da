"""`SagePlatform`: the batch payment files Sage 50 writes (Canadian edition: CPA-005, also as RBC
takes it, in 80-character pieces; US edition: NACHA) and Bambora's batch CSV, read by the SDK's
readers, the format found from the content."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import ClassVar

from pydantic import BaseModel

from passerelle import formats
from passerelle.batches import BatchFile, BatchKind
from passerelle.formats import FormatError
from passerelle.platforms import FilePlatform, Store, TranslationError
from passerelle.scenarios import FileDemoScenario
from passerelle.store_options import StoreOptionsError
from passerelle_sage import demo
from passerelle_sage.names import bambora_name, recognised, sage_file
from passerelle_sage.options import SageOptions

__all__ = ["SagePlatform"]

BAMBORA_ORIGINATOR = "bambora"
"""The originator of a Bambora CSV read without a store: the file names none."""


class SagePlatform(FilePlatform):
    """Sage 50's direct deposit (payroll, vendors) and pre-authorized debit files, and
    Bambora batch CSVs."""

    name = "sage"
    options_model: ClassVar[type[BaseModel] | None] = SageOptions

    def recognises(self, filename: str) -> bool:
        """Sage's names, a Bambora CSV naming its processing date (``payroll-20261215.csv``),
        and CPA-005 or NACHA files by their usual extensions (.dat, .txt, .ach, .cpa, .eft)."""
        return recognised(filename)

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        """The batch in a CPA-005, NACHA or Bambora CSV file (a Bambora file's name carries its
        processing date, see `passerelle_sage.names`); a payroll or vendor file (by Sage's name
        for it) must pay, not draw: a debit in it is refused."""
        return self._read(data, filename, BAMBORA_ORIGINATOR)

    def read_for_store(self, data: bytes, *, filename: str, store: Store) -> BatchFile:
        """`read`, checked against the store's options; a Bambora CSV, which names no
        originator, is the store's originator's."""
        try:
            options = store.options_as(SageOptions)
        except StoreOptionsError as exc:
            raise TranslationError(str(exc)) from None
        if options.format is not None:
            found = formats.detect(data, filename=filename)
            if found != options.format:
                raise TranslationError(
                    f"{filename} is {found}, but store {store.id} takes {options.format}",
                    field="options.format",
                )
        batch = self._read(data, filename, options.originator_id or BAMBORA_ORIGINATOR)
        if options.originator_id is not None and batch.originator != options.originator_id:
            raise TranslationError(
                f"{filename} is from originator {batch.originator!r}, but store {store.id} is "
                f"{options.originator_id!r}: a file for another company is not sent",
                field="options.originator_id",
            )
        if options.currency is not None and batch.currency != options.currency:
            raise TranslationError(
                f"{filename} is in {batch.currency}, but store {store.id} pays in "
                f"{options.currency}",
                field="options.currency",
            )
        return batch

    def _read(self, data: bytes, filename: str, originator: str) -> BatchFile:
        if formats.detect(data, filename=filename) == "bambora":
            named = bambora_name(filename)
            if named is None:
                raise FormatError(
                    "a Bambora CSV says neither which batch it is nor when to pay it: name the "
                    "file after its processing date, e.g. payroll-20261215.csv",
                    filename=filename,
                    field="file name",
                )
            batch = formats.bambora.read(
                data,
                filename=filename,
                processing_date=named.processing_date,
                batch_id=named.batch_id,
                originator=originator,
            )
        else:
            batch = formats.read(data, filename=filename)
        sage = sage_file(filename)
        if sage is not None and batch.kind is not BatchKind.CREDIT and batch.entries:
            raise FormatError(
                f"Sage's {sage.purpose} file carries debits (a {batch.kind} batch): it pays "
                "employees or vendors, it does not draw from them",
                filename=filename,
            )
        return batch

    def demo_scenarios(self, stack: ExitStack) -> Sequence[FileDemoScenario]:
        return [demo.scenario()]
