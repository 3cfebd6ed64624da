"""`passerelle explain`, through the CLI."""

import pytest
from typer.testing import CliRunner

from passerelle.backend.problems import DECLINES, PROBLEMS
from passerelle.cli import app

runner = CliRunner()


def test_explain_prints_meaning_and_action() -> None:
    result = runner.invoke(app, ["explain", "refund_exceeds_captured"])
    assert result.exit_code == 0
    assert result.output.startswith("refund_exceeds_captured: Refund exceeds what was captured\n")
    assert "HTTP 409 Conflict, not retryable." in result.output
    assert "What to do:" in result.output


def test_explain_a_decline_message_id() -> None:
    result = runner.invoke(app, ["explain", "7"])
    assert result.exit_code == 0
    assert "DECLINE" in result.output


def test_explain_unknown_code_fails_with_a_suggestion() -> None:
    result = runner.invoke(app, ["explain", "refund_exceeds_capture"])
    assert result.exit_code == 1
    assert (
        "unknown problem code 'refund_exceeds_capture'; did you mean refund_exceeds_captured?"
        in (result.output)
    )


@pytest.mark.parametrize("code", ["²", "٣", "३", "¹⁶"])
def test_explain_takes_only_ascii_digits_as_a_decline_id(code: str) -> None:
    result = runner.invoke(app, ["explain", code])

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr == (
        f"error: unknown problem code {code!r}; `passerelle explain --list` shows every known "
        "code\n"
    )


def test_explain_unknown_code_says_how_to_see_the_known_ones() -> None:
    result = runner.invoke(app, ["explain", "zzz"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: unknown problem code 'zzz'; `passerelle explain --list` shows every known code\n"
    )


def test_explain_list_shows_every_code_and_decline_id() -> None:
    result = runner.invoke(app, ["explain", "--list"])

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for code, spec in PROBLEMS.items():
        assert any(line.split() == [code, str(spec.status), *spec.title.split()] for line in lines)
    for message_id, decline in DECLINES.items():
        assert f"{message_id:>3}  {decline.processor_message}" in result.stdout


def test_explain_without_a_code_asks_for_one() -> None:
    result = runner.invoke(app, ["explain"])

    assert result.exit_code == 2
    assert "give a problem code or a decline id" in result.stderr
