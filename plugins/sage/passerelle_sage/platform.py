"""`SagePlatform`: the batch payment files Sage 50 writes (Canadian edition: CPA-005; US edition:
NACHA), read by the SDK's streaming readers, the format found from the content."""

from __future__ import annotations

from collections.abc import Sequence

from passerelle import formats
from passerelle.batches import BatchFile, BatchKind
from passerelle.formats import FormatError
from passerelle.platforms import FilePlatform, Store, StoreProblem, TranslationError
from passerelle_sage.names import sage_file
from passerelle_sage.options import SageOptions

__all__ = ["SagePlatform"]


class SagePlatform(FilePlatform):
    """Sage 50's direct deposit (payroll, vendors) and pre-authorized debit files."""

    name = "sage"

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        """The batch in a CPA-005 or NACHA file; a payroll or vendor file (by Sage's name for
        it) must pay, not draw: a debit in it is refused."""
        found = formats.detect(data, filename=filename)
        if found == "bambora":
            raise FormatError(
                "a Bambora CSV file carries no batch identity nor processing date: upload it "
                "to the processor, Sage writes CPA-005 or NACHA",
                filename=filename,
                line=1,
            )
        batch = formats.read(data, filename=filename)
        named = sage_file(filename)
        if named is not None and batch.kind is not BatchKind.CREDIT and batch.entries:
            raise FormatError(
                f"Sage's {named.purpose} file carries debits (a {batch.kind} batch): it pays "
                "employees or vendors, it does not draw from them",
                filename=filename,
            )
        return batch

    def read_for_store(self, data: bytes, *, filename: str, store: Store) -> BatchFile:
        try:
            options = SageOptions.of(store)
        except ValueError as exc:
            raise TranslationError(f"store {store.id}: {exc}") from None
        if options.format is not None:
            found = formats.detect(data, filename=filename)
            if found != options.format:
                raise TranslationError(
                    f"{filename} is {found}, but store {store.id} takes {options.format}",
                    field="options.format",
                )
        batch = self.read(data, filename=filename)
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

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return SageOptions.problems(store)
