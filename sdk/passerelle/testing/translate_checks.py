"""The contract suite's checks of `translate`: well-formed and deterministic, faithful to the
golden expectations and the ledger, unbroken by malformed bodies or API answers, and pure."""

from __future__ import annotations

import difflib
import importlib.metadata
import sys

import httpx
import pytest

from passerelle.platforms import Translation, WebhookRequest
from passerelle.testing.golden import UPDATE_OPTION, Coverage, render
from passerelle.testing.harness import ContractHarness, Raised, sweeps
from passerelle.testing.isolation import connections_at_import
from passerelle.testing.malformed import swept
from passerelle.testing.opt_outs import check
from passerelle.testing.samples import Sample

__all__ = ["TranslateChecks"]

_Asked = tuple[str, str]
"""A request to the platform's API: its method and URL."""


class TranslateChecks(ContractHarness):
    """The checks of `translate` (meaning, structure, purity)."""

    # translate

    @check("structure")
    def test_translate_of_a_sample_is_deterministic_and_well_formed(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        context = self.translation_context(contract_http)
        request = self.signed_request(sample)
        # A variant's refusal names a field of the variant or of the sample it was made from.
        made_from, _ = self._made_from(sample, contract_http)
        first = self._translate(request, context, origin=made_from)
        # A sample left untranslated would count as a pass: its API answers must be served.
        assert not (isinstance(first, Raised) and first.offline), (
            f"{sample.name}: translation reads the platform's API ({first.message}); serve the "
            "answers it needs from fixtures by overriding the contract_http fixture"
        )
        if sample.refused:
            assert isinstance(first, Raised), (
                f"translate {_outcome(first)} for the sample {sample.name}, marked refused: it "
                "must raise TranslationError"
            )
            assert first.refused, (
                f"translate raised {first.type.__name__} for {sample.name}, marked refused: it "
                f"must raise TranslationError ({first.message})"
            )
        else:
            assert not isinstance(first, Raised), (
                f"translate raised {first.type.__name__} for the sample {sample.name}: "
                f"{first.message}; samples are deliveries that translate, or are marked refused"
            )
            self._check_translation(first, f"the sample {sample.name}")
        assert self._translate(request, context) == first, (
            f"translate gave another result for the same delivery {sample.name}: it must be "
            "deterministic, a stored delivery is replayed after a fix"
        )
        assert self._translate(self.signed_request(sample), context) == first, (
            f"translate gave another result for an equal request of {sample.name}"
        )

    @check("meaning")
    def test_the_events_of_each_sample_apply_to_its_order(
        self, contract_http: httpx.Client
    ) -> None:
        context = self.translation_context(contract_http)
        for sample in self.samples:
            if sample.order is not None and not sample.refused:
                self._apply_to_order(sample, sample.order, context)

    @check("meaning")
    def test_a_sample_translates_to_its_golden_expectations(
        self, sample: Sample, contract_http: httpx.Client, request: pytest.FixtureRequest
    ) -> None:
        outcome = self._translate(
            self.signed_request(sample), self.translation_context(contract_http)
        )
        expected_kind = (
            isinstance(outcome, Raised) and outcome.refused
            if sample.refused
            else isinstance(outcome, Translation)
        )
        assert expected_kind, f"translate {_outcome(outcome)} for the sample {sample.name}" + (
            ", marked refused" if sample.refused else ""
        )
        rendered = render(outcome)
        where = f"{type(self).__name__}[{sample.name}]"
        if sample.golden is None:
            Coverage.without.add(where)
            return
        Coverage.with_golden.add(where)
        if request.config.getoption(UPDATE_OPTION, default=False):
            sample.golden.write_text(rendered, encoding="utf-8")
            return
        assert sample.golden.is_file(), (
            f"{sample.golden} does not exist: run pytest {UPDATE_OPTION} and review what it writes"
        )
        expected = sample.golden.read_text(encoding="utf-8")
        if rendered != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    rendered.splitlines(keepends=True),
                    str(sample.golden),
                    "translated now",
                )
            )
            raise AssertionError(
                f"the sample {sample.name} no longer translates to its golden expectations "
                f"(pytest {UPDATE_OPTION} rewrites them, for review):\n{diff}"
            )

    @check("structure")
    @sweeps
    def test_translate_reads_a_malformed_body_or_raises_translation_error(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        context = self.translation_context(contract_http)
        # A refused sample may lack the field its error names, and so may a body made of it.
        origin = () if sample.refused else (sample.body,)

        def check(body: bytes) -> None:
            request = self.signed_request(sample, body=body)
            what = f"{sample.name} with the body {body[:60]!r}"
            outcome = self._translate(request, context, origin=origin)
            if isinstance(outcome, Translation):
                self._check_translation(outcome, what)
            assert self._translate(request, context, origin=origin) == outcome, (
                f"translate gave another result for the same delivery ({what})"
            )

        self._for_malformed_bodies(sample, check)

    @check("structure")
    def test_translate_reads_a_malformed_api_answer_or_raises_translation_error(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        request = self.signed_request(sample)
        answers = self._answers(request, contract_http)
        # A variant's answers are swept where its sample's are not: it asks for others.
        made_from, swept_already = self._made_from(sample, contract_http)
        sources = (sample.body, *made_from)
        for asked, answer in answers.items():
            if swept_already.get(asked) is not None:
                continue
            for content in swept(answer.content):

                def serve(
                    call: httpx.Request, asked: _Asked = asked, content: bytes = content
                ) -> httpx.Response:
                    known = answers.get((call.method, str(call.url)))
                    if known is None:
                        return httpx.Response(404, json={"errors": "Not Found"})
                    headers = {
                        k: v
                        for k, v in known.headers.items()
                        if k.lower() not in {"content-length", "content-encoding"}
                    }
                    body = content if (call.method, str(call.url)) == asked else known.content
                    return httpx.Response(known.status_code, headers=headers, content=body)

                with httpx.Client(transport=httpx.MockTransport(serve)) as http:
                    outcome = self._translate(
                        request, self.translation_context(http), origin=(answer.content, *sources)
                    )
                if isinstance(outcome, Translation):
                    what = f"{sample.name} with {asked[0]} {asked[1]} answering {content[:60]!r}"
                    self._check_translation(outcome, what)

    def _made_from(
        self, sample: Sample, http: httpx.Client
    ) -> tuple[tuple[bytes, ...], dict[_Asked, httpx.Response]]:
        """The documents a variant was made from (its sample's body and the platform's answers
        to it), and those answers; none for a sample."""
        made_from = next((s for s in self.samples if s.name == sample.variant_of), None)
        if made_from is None:
            return (), {}
        answers = self._answers(self.signed_request(made_from), http)
        return (made_from.body, *(answer.content for answer in answers.values())), answers

    def _answers(self, request: WebhookRequest, http: httpx.Client) -> dict[_Asked, httpx.Response]:
        """What the platform's API answered `translate` of `request`, by method and URL."""
        answers: dict[_Asked, httpx.Response] = {}

        def keep(response: httpx.Response) -> None:
            response.read()
            answers[(response.request.method, str(response.request.url))] = response

        hooks = http.event_hooks
        http.event_hooks = {**hooks, "response": [*hooks["response"], keep]}
        try:
            self._translate(request, self.translation_context(http))
        finally:
            http.event_hooks = hooks
        return answers

    @check("purity")
    def test_the_plugin_imports_without_a_connection(self) -> None:
        modules = self.plugin_modules()
        if not modules:
            pytest.skip(
                f"{type(self.platform).__name__} is defined in {type(self.platform).__module__}, "
                "which has no file: not importable"
            )
        opened, failed = connections_at_import(modules)
        assert not opened, (
            f"importing {', '.join(modules)} opened a connection to {opened[0]}: every "
            "passerelle command imports the plugin, offline or not; reach the platform's API "
            "in translate, through context.http"
        )
        assert failed is None, f"the plugin does not import with sockets blocked: {failed}"

    def plugin_modules(self) -> list[str]:
        """The modules a fresh interpreter imports to load the platform: its package, its
        module, and the package's ``passerelle`` entry points."""
        module = type(self.platform).__module__
        # A platform made in a script or by exec has no file a fresh interpreter could import.
        if module == "__main__" or getattr(sys.modules.get(module), "__file__", None) is None:
            return []
        package = module.partition(".")[0]
        entry_points = (
            point.module
            for point in importlib.metadata.entry_points(group="passerelle")
            if point.module.partition(".")[0] == package
        )
        return list(dict.fromkeys((package, module, *sorted(entry_points))))


def _outcome(outcome: Translation | Raised) -> str:
    """What `translate` did, for a failure message."""
    if isinstance(outcome, Raised):
        return f"raised {outcome.type.__name__} ({outcome.message})"
    if outcome.ignored is not None:
        return f"ignored it ({outcome.ignored})"
    return f"translated it to {len(outcome.events)} events"
