"""The quiz loader: every bank file loads, and every kind of authoring mistake is reported with
the file and the line where it is."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autograder.loader import QuizFormatError, load_quiz_file, parse_quiz
from autograder.quiz import available_quizzes, quizzes_dir
from autograder.schema import Kind, MultipleSelect, OutputShape, SingleChoice

LESSON_STEMS = (
    "01-keras-sequential-api",
    "02-compile-fit-evaluate",
    "03-binary-classification-thresholds",
    "04-multiclass-classification",
    "05-metric-pitfalls",
    "06-leakage-overfitting",
    "07-custom-metrics-callbacks",
    "08-multilabel-classification",
)

# A small valid quiz; each error test changes one thing in it. Line numbers below refer to it.
VALID = textwrap.dedent(
    """\
    schema_version: 1
    title: A small quiz
    questions:
      - id: pick-one
        kind: single_choice
        prompt: Which one?
        choices:
          - text: This one
            correct: true
            feedback: Yes, because it is.
          - text: That one
            feedback: No, that one is the other.
        hints:
          - Look closely.
        solution: Step 1, look. Step 2, pick.
      - id: a-shape
        kind: output_shape
        prompt: What shape?
        answer: (None, 3)
        hints: [Count the units.]
        solution: It is the last layer's units.
    """
)


def _write(tmp_path: Path, text: str, name: str = "99-broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> QuizFormatError:
    path = _write(tmp_path, text)
    with pytest.raises(QuizFormatError) as caught:
        load_quiz_file(path)
    message = str(caught.value)
    assert str(path) in message, message
    assert f"line {caught.value.line}:" in message
    return caught.value


def test_valid_quiz_loads_into_frozen_dataclasses(tmp_path: Path) -> None:
    quiz = load_quiz_file(_write(tmp_path, VALID, "42-small.yaml"))
    assert quiz.stem == "42-small"
    assert quiz.ids == ("pick-one", "a-shape")
    first, second = quiz.questions
    assert isinstance(first, SingleChoice) and first.kind is Kind.SINGLE_CHOICE
    assert [c.correct for c in first.choices] == [True, False]
    assert first.hints == ("Look closely.",) and first.line == 4
    assert isinstance(second, OutputShape) and second.answer == (None, 3)
    with pytest.raises(AttributeError):
        first.prompt = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (
            "    prompt: Which one?\n",
            "    prompt: Which one?\n    promt: typo\n",
            7,
            "unknown key 'promt'",
        ),
        (
            "        feedback: Yes, because it is.\n",
            "        feedback: Yes, because it is.\n        feedbak: typo\n",
            11,
            "unknown key 'feedbak'",
        ),
        ("    solution: Step 1, look. Step 2, pick.\n", "", 4, "missing 'solution'"),
        ("        correct: true\n", "", 7, "no choice marked correct"),
        (
            "        feedback: No, that one is the other.\n",
            "        feedback: No, that one is the other.\n        correct: true\n",
            7,
            "2 correct choices",
        ),
        (
            "        correct: true\n",
            "        correct: yes please\n",
            9,
            "'correct' must be true or false",
        ),
        (
            "    hints:\n      - Look closely.\n",
            "    hints: Look closely.\n",
            13,
            "'hints' must be a list",
        ),
        ("    hints:\n      - Look closely.\n", "    hints: []\n", 13, "at least one hint"),
        ("  - id: a-shape\n", "  - id: pick-one\n", 16, "duplicate id 'pick-one'"),
        ("    kind: output_shape\n", "    kind: essay\n", 17, "unknown kind 'essay'"),
        ("schema_version: 1\n", "schema_version: 2\n", 1, "schema_version 2 is not supported"),
        ("schema_version: 1\n", "", 1, "missing 'schema_version'"),
        ("    answer: (None, 3)\n", "    answer: (None, three)\n", 19, "not a shape"),
        (
            "    answer: (None, 3)\n",
            "    answer: (None, 3)\n    answer: (None, 4)\n",
            20,
            "duplicate key 'answer'",
        ),
        ("    prompt: Which one?\n", "    prompt: [Which one?\n", 6, "not valid YAML"),
        ("  - id: pick-one\n", "  - id: Pick One\n", 4, "lower-case words"),
        ("title: A small quiz\n", "title: 3\n", 2, "'title' must be non-empty text"),
    ],
)
def test_each_authoring_mistake_names_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    assert old in VALID
    error = _error(tmp_path, VALID.replace(old, new, 1))
    assert words in error.problem
    if words == "not valid YAML":
        # libyaml reports the line where it noticed, and names the line where the list began.
        assert error.line in (line, line + 1) and f"line {line}" in str(error), str(error)
    else:
        assert error.line == line, str(error)


def test_fix_model_must_name_a_registered_check_with_known_params(tmp_path: Path) -> None:
    fix = textwrap.dedent(
        """\
        schema_version: 1
        title: Fix it
        questions:
          - id: fix-it
            kind: fix_model
            prompt: Fix the model.
            starter: model = None
            reference: model = None
            check: {check}
            params: {params}
            hints: [Look at the output layer.]
            solution: Add a layer.
        """
    )
    good = "{input_shape: [4], num_classes: 3}"
    error = _error(tmp_path, fix.format(check="run_my_code", params=good))
    assert "unknown check 'run_my_code'" in error.problem and error.line == 9
    error = _error(tmp_path, fix.format(check="model", params="{input_shape: [4], colour: red}"))
    assert "no parameter colour" in error.problem and error.line == 10
    error = _error(tmp_path, fix.format(check="model", params="{input_shape: [4]}"))
    assert "needs params: num_classes" in error.problem
    quiz = parse_quiz(fix.format(check="model", params=good))
    assert quiz.questions[0].params == {"input_shape": [4], "num_classes": 3}


def test_empty_and_unreadable_files_are_reported(tmp_path: Path) -> None:
    assert "empty" in _error(tmp_path, "").problem
    with pytest.raises(QuizFormatError, match="cannot read"):
        load_quiz_file(tmp_path / "missing.yaml")
    assert "must be a mapping" in _error(tmp_path, "- just\n- a list\n").problem


def test_the_bank_has_one_quiz_per_lesson() -> None:
    assert quizzes_dir().is_dir()
    assert set(LESSON_STEMS) <= set(available_quizzes())


@pytest.mark.parametrize("stem", LESSON_STEMS)
def test_every_bank_file_loads_and_meets_the_bar(stem: str) -> None:
    quiz = load_quiz_file(quizzes_dir() / f"{stem}.yaml")
    assert len(quiz.questions) >= 8, f"{stem} has only {len(quiz.questions)} questions"
    for question in quiz.questions:
        assert question.hints and question.solution.strip()
        if isinstance(question, SingleChoice | MultipleSelect):
            assert all(choice.feedback.strip() for choice in question.choices)


def test_the_bank_as_a_whole_uses_every_kind_and_has_60_questions() -> None:
    quizzes = [load_quiz_file(quizzes_dir() / f"{stem}.yaml") for stem in LESSON_STEMS]
    questions = [question for quiz in quizzes for question in quiz.questions]
    assert len(questions) >= 60
    assert {q.kind for q in questions} == set(Kind)
