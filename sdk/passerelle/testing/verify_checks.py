"""The contract suite's checks of a platform's name, media types and `verify`: what the
receiver relies on before it stores a delivery."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.platforms import VerificationError, WebhookRequest
from passerelle.testing.constant_time import counted_compare_digest
from passerelle.testing.harness import ContractHarness, check_registers
from passerelle.testing.malformed import NOT_LATIN1
from passerelle.testing.opt_outs import check
from passerelle.testing.samples import Sample

__all__ = ["VerifyChecks"]


class VerifyChecks(ContractHarness):
    """The checks of the platform and of `verify` (verification, binding, some structure)."""

    # The platform

    @check("structure")
    def test_name_is_a_platform_path_segment(self) -> None:
        check_registers(self.platform)

    @check("verification")
    def test_a_signed_delivery_is_not_a_ping(self, sample: Sample) -> None:
        request = self.signed_request(sample)
        assert self.platform.is_ping(request) is False, (
            f"is_ping is true for the signed sample {sample.name}: the receiver would answer "
            "it without storing it"
        )

    @check("structure")
    def test_a_sample_comes_in_a_declared_media_type(self, sample: Sample) -> None:
        content_type = next(
            (v for k, v in sample.headers.items() if k.lower() == "content-type"), ""
        )
        media_type = content_type.partition(";")[0].strip().lower()
        assert media_type in self.platform.media_types, (
            f"the sample {sample.name} comes as {media_type or 'no content type'}, which the "
            f"platform does not declare in media_types ({', '.join(sorted(self.platform.media_types))}): "
            "the receiver would answer 415"
        )

    @check("structure")
    def test_header_values_outside_latin1_never_crash(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)
        headers = {**sample.headers, **signature}
        for name in headers:
            pairs: list[tuple[str | bytes, str | bytes]] = [
                (k, NOT_LATIN1 if k == name else v) for k, v in headers.items()
            ]
            request = self._request(pairs, sample.body)
            what = f"the sample with {name}: {NOT_LATIN1!r}"
            try:
                self.platform.verify(request, self.store)
            except VerificationError:
                pass
            except Exception as exc:
                raise AssertionError(
                    f"verify raised {type(exc).__name__} for {what}: the receiver would answer "
                    "500 instead of 401"
                ) from exc
            self._delivery_key(request)
            self._ordering_key(request)
            self._version(request)

    # verify

    @check("verification")
    def test_verify_accepts_a_signed_delivery(self, sample: Sample) -> None:
        self._assert_accepted(self.signed_request(sample), self.store, "the signed sample")

    @check("verification")
    def test_header_names_are_case_insensitive(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        as_sent = self.signed_request(sample)
        as_received = self.signed_request(sample, lower_case=True)
        self._assert_accepted(as_received, self.store, "the sample with lower-case header names")
        assert self._delivery_key(as_received) == self._delivery_key(as_sent), (
            "delivery_key depends on the case of header names"
        )
        assert self._ordering_key(as_received) == self._ordering_key(as_sent), (
            "ordering_key depends on the case of header names"
        )
        context = self.translation_context(contract_http)
        assert self._translate(as_received, context) == self._translate(as_sent, context), (
            "translate depends on the case of header names"
        )

    @check("verification")
    def test_verify_rejects_another_secret(self, sample: Sample) -> None:
        request = self.signed_request(sample, secret=self.other_secret)
        self._assert_rejected(request, self.store, "a delivery signed with another secret")

    @check("verification")
    def test_verify_rejects_a_changed_body(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)

        def forged(body: bytes) -> WebhookRequest:
            return self._request([*sample.headers.items(), *signature.items()], body)

        self._assert_rejected(forged(sample.body + b" "), self.store, "a body with a byte added")
        if sample.body:
            shorter = forged(sample.body[:-1])
            self._assert_rejected(shorter, self.store, "a body with its last byte removed")

            @settings(
                max_examples=self.max_examples,
                deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow],
            )
            @given(
                position=st.integers(0, len(sample.body) - 1),
                flip=st.integers(1, 255),
            )
            def one_byte_changed(position: int, flip: int) -> None:
                body = bytearray(sample.body)
                body[position] ^= flip
                self._assert_rejected(
                    forged(bytes(body)), self.store, f"a body with byte {position} changed"
                )

            one_byte_changed()

    @check("verification")
    def test_verify_rejects_a_missing_signature_header(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)
        self._assert_rejected(
            self._request(sample.headers.items(), sample.body),
            self.store,
            "a delivery without its signature headers",
        )
        for name in signature:
            kept = [(k, v) for k, v in signature.items() if k != name]
            request = self._request([*sample.headers.items(), *kept], sample.body)
            self._assert_rejected(request, self.store, f"a delivery without its header {name}")

    @check("verification")
    def test_verify_rejects_a_garbled_signature(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)
        for name, value in signature.items():
            empty_body_signature = self.sign(b"", self.secret).get(name, "")
            garbled: tuple[bytes, ...] = (
                b"",
                b"=",
                b"not base64!",
                value.encode("latin-1")[:-2],
                value.encode("latin-1").swapcase(),
                empty_body_signature.encode("latin-1"),
                b"A" * 4096,
                # Header values are bytes: anything but ASCII must not crash a string compare.
                b"\xe9t\xe9\xff",
                "é".encode() * 22,
                NOT_LATIN1,
            )
            for bad in garbled:
                if bad == value.encode("latin-1"):
                    continue
                pairs: list[tuple[str | bytes, str | bytes]] = [
                    *sample.headers.items(),
                    *((k, v) for k, v in signature.items() if k != name),
                    (name.encode("latin-1"), bad),
                ]
                request = self._request(pairs, sample.body)
                self._assert_rejected(request, self.store, f"{name}: {bad[:40]!r}")

    @check("verification")
    def test_a_store_without_a_secret_verifies_nothing(self, sample: Sample) -> None:
        for secrets in ((), ("",)):
            store = self._store_with(*secrets)
            for signed_with in (self.secret, ""):
                self._assert_rejected(
                    self.signed_request(sample, secret=signed_with),
                    store,
                    f"a delivery signed with {'the' if signed_with else 'an empty'} secret, "
                    f"for a store whose secrets are {list(secrets)!r}",
                )
        with_empty = self._store_with("", self.secret)
        self._assert_rejected(
            self.signed_request(sample, secret=""),
            with_empty,
            "a delivery signed with an empty secret, for a store with an empty secret among "
            "its secrets",
        )
        self._assert_accepted(
            self.signed_request(sample),
            with_empty,
            "the signed sample, for a store with an empty secret besides the right one",
        )

    @check("verification")
    def test_a_rotated_secret_keeps_verifying(self, sample: Sample) -> None:
        for store in (
            self._store_with(self.other_secret, self.secret),
            self._store_with(self.secret, self.other_secret),
        ):
            for secret in (self.secret, self.other_secret):
                self._assert_accepted(
                    self.signed_request(sample, secret=secret),
                    store,
                    "a delivery signed with either secret of a store being rotated",
                )
        self._assert_rejected(
            self.signed_request(sample),
            self._store_with(self.other_secret),
            "a delivery signed with a secret the store no longer has",
        )

    @check("verification")
    def test_verify_compares_in_constant_time(self, sample: Sample) -> None:
        calls = [0]
        with counted_compare_digest(calls):
            with contextlib.suppress(VerificationError):
                self.platform.verify(
                    self.signed_request(sample, secret=self.other_secret), self.store
                )
            self.platform.verify(self.signed_request(sample), self.store)
        assert calls[0], (
            "verify compared the signature without hmac.compare_digest: a comparison that stops "
            "at the first difference tells an attacker, by its time, how much of a forged "
            "signature is right; verify with passerelle.plugin.HmacSignature"
        )

    @check("binding")
    def test_verify_refuses_a_delivery_naming_another_origin(self, sample: Sample) -> None:
        self._assert_accepted(self.signed_request(sample), self.store, "the signed sample")
        header = self.platform.origin_header
        if header is None:
            return  # the platform declares no origin: the webhook URL alone names the store
        named = {k: v for k, v in sample.headers.items() if k.lower() == header.lower()}
        assert named, (
            f"the sample {sample.name} has no {header} header, which the platform declares as "
            "naming the delivery's origin"
        )
        foreign = replace(
            sample, headers={**sample.headers, **{k: f"other-{v}" for k, v in named.items()}}
        )
        self._assert_rejected(
            self.signed_request(foreign),
            self.store,
            f"the sample naming another origin in {header} than the store's",
        )
