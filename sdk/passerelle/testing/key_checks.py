"""The contract suite's checks of identity and ordering: the keys, the version, and events
that do not change with the delivery or the clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx

from passerelle.platforms import Translation
from passerelle.testing.harness import ContractHarness, another_attempt, sweeps
from passerelle.testing.isolation import clock_at
from passerelle.testing.opt_outs import check
from passerelle.testing.samples import Sample

__all__ = ["KeyChecks"]


class KeyChecks(ContractHarness):
    """The checks of `delivery_key`, `ordering_key`, `version` and of events' ids."""

    # Keys

    @check("identity")
    def test_a_retry_keeps_its_key_and_its_events(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        first = self.signed_request(sample)
        again = replace(
            sample,
            headers={
                k: another_attempt(v) if k.lower() in self.platform.attempt_headers else v
                for k, v in sample.headers.items()
            },
        )
        retry = self.signed_request(again, received_at=self.received_at + timedelta(days=1))
        assert self._delivery_key(retry) == self._delivery_key(first), (
            f"delivery_key of {sample.name} changes on a retry (received a day later, other "
            f"values of {', '.join(sorted(self.platform.attempt_headers)) or 'no header'}): "
            "the retry would pass the inbox and be applied twice"
        )
        context = self.translation_context(contract_http)
        before, after = self._translate(first, context), self._translate(retry, context)
        if isinstance(before, Translation) and isinstance(after, Translation):
            assert (after.events, after.ignored) == (before.events, before.ignored), (
                f"the events of {sample.name} change on a retry (received a day later, other "
                "attempt headers): event ids must come from the act, never from the delivery "
                "or the clock, or the retry applies twice"
            )
        else:
            assert after == before, f"translate of a retry of {sample.name} gave {after!r}"

    @check("identity")
    def test_events_do_not_change_with_the_clock(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        request = self.signed_request(sample)
        context = self.translation_context(contract_http)
        with clock_at(self.received_at):
            now = self._translate(request, context)
        with clock_at(self.received_at + timedelta(days=1)):
            later = self._translate(request, context)
        assert later == now, (
            f"the same delivery of {sample.name} translates otherwise with the clock a day "
            f"later: {later!r} instead of {now!r}; event ids and contents must come from the "
            "act, never from the time translate runs, or a delivery replayed after a fix "
            "applies again"
        )

    @check("identity")
    def test_delivery_key_is_the_same_for_every_delivery_of_an_act(self, sample: Sample) -> None:
        key = self._delivery_key(self.signed_request(sample))
        again = self.signed_request(
            sample, secret=self.other_secret, received_at=self.received_at + timedelta(hours=4)
        )
        assert self._delivery_key(again) == key, (
            f"delivery_key of {sample.name} changes when the same delivery comes again (later, "
            "signed with the other secret of a rotation): duplicates would be applied twice"
        )

    @check("identity")
    def test_ordering_key_is_the_same_for_every_delivery_of_an_act(self, sample: Sample) -> None:
        key = self._ordering_key(self.signed_request(sample))
        again = self.signed_request(
            sample, secret=self.other_secret, received_at=self.received_at + timedelta(hours=4)
        )
        assert self._ordering_key(again) == key, (
            f"ordering_key of {sample.name} changes when the same delivery comes again"
        )

    @check("ordering")
    def test_version_is_the_same_for_every_delivery_of_an_act(self, sample: Sample) -> None:
        version = self._version(self.signed_request(sample))
        again = self.signed_request(
            sample, secret=self.other_secret, received_at=self.received_at + timedelta(hours=4)
        )
        assert self._version(again) == version, (
            f"version of {sample.name} changes when the same delivery comes again: a "
            "redelivery could make the first delivery look stale"
        )
        if sample.versioned or sample.newer_than:
            assert version is not None, (
                f"version is None for {sample.name}, which carries a dated state: a late, older "
                "delivery of it would be applied over a newer one"
            )
        if sample.newer_than:
            older = next((s for s in self.samples if s.name == sample.newer_than), None)
            assert older is not None, f"{sample.name} is newer than no sample {sample.newer_than}"
            before = self._version(self.signed_request(older))
            assert before is not None, f"version is None for {older.name}"
            assert version is not None
            assert (before.subject, before.as_of < version.as_of) == (version.subject, True), (
                f"version of {sample.name} ({version.subject} as of {version.as_of.isoformat()}) "
                f"is not newer than that of {older.name} ({before.subject} as of "
                f"{before.as_of.isoformat()}): the older state could be applied after the newer"
            )

    @check("structure")
    @sweeps
    def test_keys_never_raise_on_a_malformed_body(self, sample: Sample) -> None:
        def check(body: bytes) -> None:
            request = self.signed_request(sample, body=body)
            self._delivery_key(request)
            self._ordering_key(request)
            self._version(request)

        self._for_malformed_bodies(sample, check)
