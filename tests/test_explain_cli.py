from typer.testing import CliRunner

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
