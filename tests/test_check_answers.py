"""Answers as learners compute them: numpy numbers and arrays judged as the grader reads them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder.checks.answers import check_answer, parse_number, parse_shape, plain_numbers
from solutions import a1_shapes_and_compile as a1


def _question(variable: str) -> object:
    return next(part.question for part in a1.QUESTIONS if part.variable == variable)


def _exported(value: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """What the grader reads back after the grade cell exported ``value``."""
    from autograder.grading import export
    from autograder.grading.export import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    export.answer("value", value)
    record = json.loads((tmp_path / "answer-value.json").read_text())
    assert "rejected" not in record, record
    return record["value"]


@pytest.mark.parametrize(("variable", "value"), [
    ("flatten_units", np.prod((15, 15, 16))),
    ("flatten_units", np.int32(3600)),
    ("flatten_units", np.array(3600)),
    ("weight_count", np.float64(18432.0)),
    ("dense_params", np.int64(3600) * 5 + 5),
    ("conv_output_shape", (None, np.int64(30), np.int64(30), 16)),
    ("output_shape", [None, np.int64(5)]),
])
def test_numpy_answers_pass_in_the_kernel_as_their_export_does_in_the_grader(
        variable: str, value: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    question = _question(variable)
    kernel = check_answer(question, value)
    grader = check_answer(question, _exported(value, tmp_path, monkeypatch))
    assert kernel.passed, str(kernel)
    assert (grader.passed, grader.message) == (kernel.passed, kernel.message)


@pytest.mark.parametrize(("variable", "value"), [
    ("flatten_units", np.int64(14400)),
    ("dense_params", np.float32(18000.0)),
    ("weight_count", np.int64(18453)),
    ("conv_output_shape", (None, np.int64(32), np.int64(32), 16)),
])
def test_wrong_numpy_answers_fail_alike_with_the_mistakes_feedback(
        variable: str, value: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    question = _question(variable)
    kernel = check_answer(question, value)
    grader = check_answer(question, _exported(value, tmp_path, monkeypatch))
    assert not kernel.passed
    assert (grader.passed, grader.message) == (kernel.passed, kernel.message)
    assert any(mistake.feedback in kernel.message for mistake in question.mistakes)


def test_plain_numbers_mirrors_the_export() -> None:
    assert plain_numbers(np.array([0.25, 0.5], dtype=np.float32)) == [0.25, 0.5]
    assert plain_numbers((np.int64(1), (np.float64(2.0),))) == [1, [2.0]]
    assert type(plain_numbers(np.array(7))) is int
    # Not numbers: left as they are, to be refused as they are.
    text = np.array(["a"])
    assert plain_numbers(text) is text
    assert parse_number(np.float32(0.5)) == 0.5
    assert parse_shape((None, np.int64(3))) == (None, 3)
    with pytest.raises(ValueError):
        parse_number(np.bool_(True))


def test_weight_count_mistakes_are_the_counts_they_describe() -> None:
    # 18453: every parameter; 18000: the Dense kernel alone; 18144: 3x3 kernels on one channel.
    conv_weights, dense_weights, biases = 3 * 3 * 3 * 16, 3600 * 5, 16 + 5
    assert a1.weight_count == conv_weights + dense_weights
    answers = {m.answer for m in _question("weight_count").mistakes}
    assert answers == {a1.weight_count + biases, dense_weights, 3 * 3 * 16 + dense_weights}
