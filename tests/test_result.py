"""CheckResult renders as text, Markdown and a dict, and raises CheckFailed for grade cells."""

from __future__ import annotations

import json

import pytest

from autograder import result
from autograder.result import CheckFailed, CheckResult, Outcome

FAILED = result.failed(
    "check_metrics", "Recall is too low.", details=("recall: 0.100", "accuracy: 0.980"),
    metrics={"accuracy": 0.98, "recall": 0.1},
)


def test_builders_set_the_outcome():
    assert result.passed("c", "ok").outcome is Outcome.PASSED
    assert FAILED.outcome is Outcome.FAILED
    assert result.not_attempted("c").outcome is Outcome.NOT_ATTEMPTED
    assert result.error("c", "broken").outcome is Outcome.ERROR
    assert "`...`" in result.not_attempted("c").message


@pytest.mark.parametrize("res, passed, fraction", [
    (result.passed("c", "ok"), True, 1.0),
    (FAILED, False, 0.0),
    (result.not_attempted("c"), False, 0.0),
    (result.error("c", "broken"), False, 0.0),
    (result.failed("c", "half", score=0.5), False, 0.5),
])
def test_passed_fraction_and_truth(res, passed, fraction):
    assert res.passed is passed and bool(res) is passed
    assert res.fraction == fraction


def test_text_lists_verdict_message_details_and_figures():
    text = str(FAILED)
    assert text.splitlines() == [
        "check_metrics: failed. Recall is too low.",
        "  - recall: 0.100",
        "  - accuracy: 0.980",
        "  Figures: accuracy = 0.9800, recall = 0.1000",
    ]
    assert str(result.passed("c", "Fine.")) == "c: passed. Fine."


def test_a_partly_paid_failure_says_what_share_it_still_earns():
    half = result.failed("check_figures", "One figure is wrong.", score=0.5)
    assert str(half).splitlines()[-1] == "  Partial credit: this earns 50% of the task's points."
    assert "Partial credit: this earns 50%" in half._repr_markdown_()
    # Nothing earned, everything earned, or no share given: no such line.
    for whole in (FAILED, result.failed("c", "m", score=0.0), result.passed("c", "ok")):
        assert "Partial credit" not in str(whole) + whole._repr_markdown_()


def test_markdown_has_icon_bullets_and_a_metrics_table():
    markdown = FAILED._repr_markdown_()
    assert markdown.startswith("❌ **check_metrics: failed.** Recall is too low.")
    assert "- recall: 0.100" in markdown
    assert "| metric | value |" in markdown and "| recall | 0.1000 |" in markdown
    icons = {outcome: result.CheckResult("c", outcome, "m")._repr_markdown_()[0]
             for outcome in Outcome}
    assert len(set(icons.values())) == len(Outcome)


def test_dict_is_json_ready_and_round_trips():
    as_dict = FAILED.to_dict()
    assert as_dict == {
        "check": "check_metrics", "outcome": "failed", "passed": False,
        "message": "Recall is too low.", "details": ["recall: 0.100", "accuracy: 0.980"],
        "metrics": {"accuracy": 0.98, "recall": 0.1}, "score": 0.0,
    }
    rebuilt = CheckResult.from_dict(json.loads(json.dumps(as_dict)))
    assert rebuilt.outcome is FAILED.outcome
    assert (rebuilt.message, rebuilt.details, dict(rebuilt.metrics)) == (
        FAILED.message, FAILED.details, dict(FAILED.metrics))


def test_assert_passed_returns_a_pass_and_raises_an_assertion_error_otherwise():
    ok = result.passed("c", "ok")
    assert ok.assert_passed() is ok
    with pytest.raises(AssertionError) as caught:
        FAILED.assert_passed()
    assert isinstance(caught.value, CheckFailed)
    assert caught.value.result is FAILED
    assert str(caught.value) == str(FAILED)
    with pytest.raises(CheckFailed):
        result.not_attempted("c").assert_passed()


def test_results_are_immutable():
    with pytest.raises(AttributeError):
        FAILED.message = "changed"  # type: ignore[misc]
