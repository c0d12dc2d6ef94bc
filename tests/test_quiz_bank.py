"""The question bank keeps itself honest: every reference answer passes, every wrong choice,
known mistake and mutant fails with its own feedback, every code snippet in a question is
executed with the installed Keras so the stored answers are what Keras really prints, and no
right answer gives itself away by its position, in the quiz files, in the graded assignments or
in what learners are shown."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from autograder.checks.answers import check_answer, format_shape, parse_shape
from autograder.loader import load_quiz_file
from autograder.quiz import quizzes_dir
from autograder.render.shuffle import learner_view, referenced_choices
from autograder.render.text import render_question
from autograder.result import Outcome
from autograder.schema import (
    FixModel,
    MultipleSelect,
    Numeric,
    OutputShape,
    PredictOutput,
    Question,
    SingleChoice,
)

QUIZZES = [load_quiz_file(path) for path in sorted(quizzes_dir().glob("*.yaml"))]
QUESTIONS = [(quiz.stem, q) for quiz in QUIZZES for q in quiz.questions]


def _params(kinds: tuple[type[Question], ...]) -> list[Any]:
    return [pytest.param(q, id=f"{stem}:{q.id}") for stem, q in QUESTIONS if isinstance(q, kinds)]


def _reference_answers(question: Question) -> list[Any]:
    """Right answers written the ways a learner might write them."""
    if isinstance(question, SingleChoice):
        index = next(i for i, c in enumerate(question.choices) if c.correct)
        return [index, "ABCDEFGH"[index], question.choices[index].text]
    if isinstance(question, MultipleSelect):
        indices = [i for i, c in enumerate(question.choices) if c.correct]
        return [indices, ", ".join("ABCDEFGH"[i] for i in indices)]
    if isinstance(question, Numeric):
        return [question.answer, str(question.answer)]
    if isinstance(question, OutputShape):
        text = format_shape(question.answer)
        return [question.answer, text, text.lower().replace(" ", ""), text.strip("()")]
    if isinstance(question, PredictOutput):
        return [question.answer, f"  {question.answer}\n"]
    raise AssertionError(f"no reference answer for {type(question).__name__}")


@pytest.mark.parametrize(
    "question", _params((SingleChoice, MultipleSelect, Numeric, OutputShape, PredictOutput))
)
def test_reference_answers_pass(question: Question) -> None:
    for answer in _reference_answers(question):
        result = check_answer(question, answer)
        assert result.passed, f"{answer!r}: {result}"


@pytest.mark.parametrize(
    "question",
    _params((SingleChoice, MultipleSelect, Numeric, OutputShape, PredictOutput, FixModel)),
)
def test_blank_answers_are_not_attempted(question: Question) -> None:
    for blank in (None, ..., "", "   "):
        assert check_answer(question, blank).outcome is Outcome.NOT_ATTEMPTED


def _wrong_choices() -> list[Any]:
    return [
        pytest.param(q, i, id=f"{stem}:{q.id}:{'ABCDEFGH'[i]}")
        for stem, q in QUESTIONS
        if isinstance(q, SingleChoice | MultipleSelect)
        for i, choice in enumerate(q.choices)
        if not choice.correct
    ]


@pytest.mark.parametrize(("question", "index"), _wrong_choices())
def test_each_wrong_choice_fails_with_its_own_feedback(question: Question, index: int) -> None:
    choice = question.choices[index]
    if isinstance(question, SingleChoice):
        result = check_answer(question, index)
        assert result.outcome is Outcome.FAILED
        assert choice.feedback in result.message
    else:
        right = [i for i, c in enumerate(question.choices) if c.correct]
        result = check_answer(question, [*right, index])
        assert result.outcome is Outcome.FAILED
        assert any(choice.feedback in detail for detail in result.details), result.details
    # A wrong answer must not give the right one away.
    shown = " ".join([result.message, *result.details])
    for other in question.choices:
        if other.correct:
            assert other.text not in shown


def _mistakes() -> list[Any]:
    return [
        pytest.param(q, m.answer, m.feedback, id=f"{stem}:{q.id}:{m.answer}")
        for stem, q in QUESTIONS
        if isinstance(q, Numeric | OutputShape | PredictOutput)
        for m in q.mistakes
    ]


@pytest.mark.parametrize(("question", "answer", "feedback"), _mistakes())
def test_each_known_mistake_fails_with_its_own_feedback(
    question: Question, answer: Any, feedback: str
) -> None:
    result = check_answer(question, answer)
    assert result.outcome is Outcome.FAILED
    assert feedback in result.message


def _mutants(kinds: tuple[type[Question], ...]) -> list[Any]:
    return [
        pytest.param(q, m.answer, m.message, id=f"{stem}:{q.id}:mutant{n}")
        for stem, q in QUESTIONS
        if isinstance(q, kinds)
        for n, m in enumerate(q.mutants)
    ]


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    _mutants((SingleChoice, MultipleSelect, Numeric, OutputShape, PredictOutput)),
)
def test_each_mutant_fails_with_its_message(question: Question, answer: Any, message: str) -> None:
    result = check_answer(question, answer)
    assert not result.passed
    assert message in str(result)


def _other_answer(question: Question) -> Any:
    """A different right answer of the same form, for proving feedback does not depend on it."""
    if isinstance(question, OutputShape):
        return tuple(None if d is None else d + 1 for d in question.answer)
    if isinstance(question, PredictOutput):
        return question.answer + " and more"
    answer = question.answer
    return answer / 2 if 0 < abs(answer) <= 1 else answer * 3 + 7


@pytest.mark.parametrize("question", _params((Numeric, OutputShape, PredictOutput)))
def test_a_failed_free_text_check_never_reveals_the_answer(question: Question) -> None:
    # The feedback to a wrong answer must read the same whatever the right answer is.
    twin = dataclasses.replace(question, answer=_other_answer(question))
    for wrong in ("12345", "(7, 7, 7)", "something else", "(None, 999)"):
        result = check_answer(question, wrong)
        if result.outcome is Outcome.FAILED and not check_answer(twin, wrong).passed:
            assert result.message == check_answer(twin, wrong).message


# ---------------------------------------------------------------- executing the snippets

_RUNNER = textwrap.dedent(
    """
    import contextlib, io, json, os, sys, warnings
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.simplefilter("ignore")
    snippets = json.load(sys.stdin)
    results = {}
    for key, code in snippets.items():
        buffer = io.StringIO()
        namespace = {"__name__": "__snippet__"}
        exec("import keras\\nimport numpy as np\\n", namespace)
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, key, "exec"), namespace)
        model = namespace.get("model")
        shape = list(model.output_shape) if model is not None and model.built else None
        results[key] = {"stdout": buffer.getvalue(), "output_shape": shape}
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def snippet_outputs(repo: Path) -> dict[str, Any]:
    """Run every predict-the-output and output-shape snippet once, in one fresh Python."""
    snippets = {
        f"{stem}:{q.id}": q.code
        for stem, q in QUESTIONS
        if isinstance(q, PredictOutput | OutputShape) and q.code
    }
    completed = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(snippets),
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.xdist_group("quiz-snippets")
@pytest.mark.parametrize("question", _params((PredictOutput,)))
def test_predict_output_answer_is_what_keras_prints(
    question: PredictOutput, snippet_outputs: dict[str, Any]
) -> None:
    key = next(f"{stem}:{q.id}" for stem, q in QUESTIONS if q is question)
    printed = snippet_outputs[key]["stdout"]
    assert printed.strip() == question.answer.strip()
    assert check_answer(question, printed).passed


@pytest.mark.slow
@pytest.mark.xdist_group("quiz-snippets")
@pytest.mark.parametrize("question", [p for p in _params((OutputShape,)) if p.values[0].code])
def test_output_shape_answer_is_the_models_output_shape(
    question: OutputShape, snippet_outputs: dict[str, Any]
) -> None:
    key = next(f"{stem}:{q.id}" for stem, q in QUESTIONS if q is question)
    shape = snippet_outputs[key]["output_shape"]
    assert shape is not None, "the snippet must build a variable called `model`"
    assert tuple(shape) == question.answer
    assert parse_shape(str(tuple(shape))) == question.answer


# ---------------------------------------------------------------- fix the model


@pytest.mark.slow
@pytest.mark.xdist_group("quiz-models")
@pytest.mark.parametrize("question", _params((FixModel,)))
def test_fix_model_reference_passes_and_starter_fails(question: FixModel) -> None:
    result = check_answer(question, question.reference)
    assert result.passed, str(result)
    starter = check_answer(question, question.starter)
    assert starter.outcome is Outcome.FAILED, str(starter)


@pytest.mark.slow
@pytest.mark.xdist_group("quiz-models")
@pytest.mark.parametrize(("question", "answer", "message"), _mutants((FixModel,)))
def test_fix_model_mutants_fail_with_their_message(
    question: FixModel, answer: str, message: str
) -> None:
    result = check_answer(question, answer)
    assert not result.passed
    assert message in str(result), str(result)


def test_fix_model_code_errors_are_explained_not_raised() -> None:
    question = next(q for _, q in QUESTIONS if isinstance(q, FixModel))
    result = check_answer(question, "import keras\nmodel = keras.Sequential(\n")
    assert result.outcome is Outcome.ERROR and "not valid Python" in result.message
    result = check_answer(question, "x = 1\ny = undefined_name\n")
    assert result.outcome is Outcome.ERROR
    assert "NameError on line 2" in result.message
    result = check_answer(question, "x = 1\n")
    assert "never assigned a variable called `model`" in result.message


# ---------------------------------------------------------------- reading what learners type


@pytest.mark.parametrize(
    "typed",
    [
        "(None, 3)",
        "None,3",
        "[None, 3]",
        "(none, 3)",
        " ( None ,3 ) ",
        (None, 3),
        [None, 3],
        "TensorShape([None, 3])",
        "(?, 3)",
    ],
)
def test_shapes_are_read_leniently(typed: Any) -> None:
    assert parse_shape(typed) == (None, 3)


def test_shape_edge_cases() -> None:
    assert parse_shape("(3,)") == (3,)
    assert parse_shape("()") == ()
    for bad in ("(None, three)", "(None, -3)", "(None, 2.5)", 3):
        with pytest.raises(ValueError):
            parse_shape(bad)


def test_numbers_are_read_leniently() -> None:
    from autograder.checks.answers import parse_number

    assert parse_number("101,770") == 101770
    assert parse_number(" 0.25 ") == 0.25
    assert parse_number("25%") == 0.25
    assert parse_number(7) == 7.0
    for bad in ("a lot", True, "nan", [1]):
        with pytest.raises(ValueError):
            parse_number(bad)


def test_choices_by_letter_index_or_text() -> None:
    question = next(q for _, q in QUESTIONS if isinstance(q, SingleChoice))
    right = next(i for i, c in enumerate(question.choices) if c.correct)
    letter = "abcdefgh"[right]
    for answer in (right, letter, letter.upper(), f" {question.choices[right].text.upper()} "):
        assert check_answer(question, answer).passed, answer
    result = check_answer(question, "Z")
    assert result.outcome is Outcome.ERROR and "letter from A to" in result.message
    multi = next(q for _, q in QUESTIONS if isinstance(q, MultipleSelect))
    letters = "".join("ABCDEFGH"[i] for i, c in enumerate(multi.choices) if c.correct)
    assert check_answer(multi, letters).passed
    assert check_answer(multi, " ".join(letters.lower())).passed
    missing_one = check_answer(multi, letters[:-1])
    assert missing_one.outcome is Outcome.FAILED and "at least one more" in missing_one.message


def test_predicted_output_ignores_spacing_case_and_quotes() -> None:
    question = next(
        q for _, q in QUESTIONS if isinstance(q, PredictOutput) and q.answer.startswith("[")
    )
    assert check_answer(question, question.answer.upper()).passed
    assert check_answer(question, "  ".join(question.answer.split())).passed
    assert check_answer(question, f"'{question.answer}'").passed


# ---------------------------------------------------------------- where the right answers sit

# No single position may hold the right answer of more than about 40 % of the single-choice
# questions of a collection (at least one, so two questions must differ).
MAX_SHARE = 0.4
SEEDS = [f"learner-{n}" for n in range(400)]


def _right_positions(questions: list[Question]) -> list[int]:
    return [
        next(i for i, c in enumerate(q.choices) if c.correct)
        for q in questions
        if isinstance(q, SingleChoice)
    ]


def _leading_block(question: MultipleSelect) -> bool:
    """True when the right options are exactly the first ones listed."""
    right = [c.correct for c in question.choices]
    return right == sorted(right, reverse=True)


def _position_problems(where: str, questions: list[Question]) -> list[str]:
    """What gives the right answers away by where they are written, as messages."""
    problems = []
    positions = _right_positions(questions)
    if positions:
        allowed = max(1, math.ceil(MAX_SHARE * len(positions)))
        position, count = Counter(positions).most_common(1)[0]
        if count > allowed:
            problems.append(
                f"{where}: {count} of {len(positions)} single-choice questions have their right "
                f"answer in position {'ABCDEFGH'[position]} (at most {allowed} may)"
            )
    multiple = [q for q in questions if isinstance(q, MultipleSelect)]
    if multiple:
        leading = [q.id for q in multiple if _leading_block(q)]
        allowed = max(1, math.ceil(MAX_SHARE * len(multiple)))
        if len(leading) > allowed:
            problems.append(
                f"{where}: {len(leading)} of {len(multiple)} multiple-select questions list their "
                f"right options first (at most {allowed} may): {', '.join(leading)}"
            )
    return problems


def test_right_answers_do_not_cluster_in_one_position_of_the_quiz_files() -> None:
    problems = _position_problems("the question bank", [q for _, q in QUESTIONS])
    for quiz in QUIZZES:
        # Within one file too: a learner who notices a pattern in one quiz uses it.
        positions = _right_positions(list(quiz.questions))
        if len(positions) >= 3 and len(set(positions)) == 1:
            problems.append(f"{quiz.path}: every single-choice right answer is in one position")
    assert not problems, "\n".join(problems)


def test_graded_assignment_choices_list_right_answers_anywhere_across_learners() -> None:
    """Graded notebooks list each learner's options in the order their name gives
    (:mod:`autograder.choices`): across learners, every position holds the right answer about
    equally often, and the notebook's options cell is what lists them."""
    from _options import letter_of

    import solutions
    from autograder.render.nbgrader_source import QuizAnswer

    questions = [
        part.question
        for assignment in solutions.assignments()
        for part in assignment.parts
        if isinstance(part, QuizAnswer)
        and isinstance(part.question, SingleChoice | MultipleSelect)
    ]
    assert questions, "the graded assignments ask no choice question"
    for question in questions:
        right = [c.text for c in question.choices if c.correct]
        counts = Counter()
        for seed in SEEDS:
            counts.update(letter_of(question, seed, text) for text in right)
        n, k = len(question.choices), len(right)
        expected = len(SEEDS) * k / n
        spread = 5 * math.sqrt(len(SEEDS) * (k / n) * (1 - k / n)) + 1
        for letter in "ABCDEFGH"[:n]:
            assert abs(counts[letter] - expected) <= spread, (question.id, letter, counts)


def _choice_quizzes() -> list[Any]:
    return [
        pytest.param(quiz, id=quiz.stem)
        for quiz in QUIZZES
        if any(isinstance(q, SingleChoice | MultipleSelect) for q in quiz.questions)
    ]


def _shown_letters(markdown: str, texts: list[str]) -> list[str]:
    """The letter each text is listed under in a rendered question."""
    listed = dict(
        (line[5:], line[2]) for line in markdown.splitlines() if re.match(r"- [A-H]\. ", line)
    )
    return [listed[text] for text in texts]


@pytest.mark.parametrize("quiz", _choice_quizzes())
def test_every_position_shows_the_right_answer_about_equally_often(quiz: Any) -> None:
    """Across many learners, what the text renderer lists puts right answers anywhere."""
    questions = [q for q in quiz.questions if isinstance(q, SingleChoice | MultipleSelect)]
    counts = {q.id: Counter() for q in questions}
    leading = Counter()
    for seed in SEEDS:
        shown, _ = learner_view(quiz, seed)
        for question in questions:
            view = shown.question(question.id)
            right = [c.text for c in view.choices if c.correct]
            letters = _shown_letters(render_question(view), right)
            counts[question.id].update(letters)
            if isinstance(view, MultipleSelect) and _leading_block(view):
                leading[question.id] += 1
    for question in questions:
        n, k = len(question.choices), sum(c.correct for c in question.choices)
        expected = len(SEEDS) * k / n  # times each position should hold a right answer
        # Five standard deviations: a fair shuffle never fails, a biased one always does.
        spread = 5 * math.sqrt(len(SEEDS) * (k / n) * (1 - k / n)) + 1
        for letter in "ABCDEFGH"[:n]:
            seen = counts[question.id][letter]
            assert abs(seen - expected) <= spread, (
                f"{quiz.stem}:{question.id}: position {letter} holds a right answer for "
                f"{seen} of {len(SEEDS)} learners; about {expected:.0f} expected"
            )
        if isinstance(question, MultipleSelect):
            chance = len(SEEDS) / math.comb(n, k)
            assert leading[question.id] <= 2 * chance + 5, (question.id, leading[question.id])


@pytest.mark.parametrize("quiz", _choice_quizzes())
def test_a_learner_sees_one_order_every_time_and_learners_differ(quiz: Any) -> None:
    first, _ = learner_view(quiz, "learner-a")
    again, _ = learner_view(quiz, "learner-a")
    other, _ = learner_view(quiz, "learner-b")
    assert first == again
    assert first != other
    # Reordering the file does not move anything for a learner: the order follows the texts.
    flipped = dataclasses.replace(
        quiz,
        questions=tuple(
            dataclasses.replace(q, choices=q.choices[::-1]) if hasattr(q, "choices") else q
            for q in quiz.questions
        ),
    )
    assert _shown_texts(learner_view(flipped, "learner-a")[0]) == _shown_texts(first)


def _shown_texts(quiz: Any) -> list[list[str]]:
    return [[c.text for c in q.choices] for q in quiz.questions if hasattr(q, "choices")]


def _choice_texts_of(question: SingleChoice | MultipleSelect) -> list[tuple[str, str]]:
    texts = [("prompt", question.prompt), ("solution", question.solution)]
    texts += [(f"hint {n}", hint) for n, hint in enumerate(question.hints, start=1)]
    texts += [(f"choice {c.text!r}", f"{c.text} {c.feedback}") for c in question.choices]
    return texts


@pytest.mark.parametrize("question", _params((SingleChoice, MultipleSelect)))
def test_references_to_choices_name_real_choices(question: Question) -> None:
    """A text that names a choice by letter or position must name one that exists; a
    single-choice solution that names choices must name the right one among them (learners
    read it under their own letter)."""
    count = len(question.choices)
    for where, text in _choice_texts_of(question):
        for index in referenced_choices(text, count):
            assert index < count, f"{question.id}: the {where} names a choice it does not have"
    named = referenced_choices(question.solution, count)
    if named and isinstance(question, SingleChoice):
        right = next(i for i, c in enumerate(question.choices) if c.correct)
        assert right in named, (
            f"{question.id}: the solution names choice(s) "
            f"{', '.join('ABCDEFGH'[i] for i in named)} of the quiz file, but the right one is "
            f"{'ABCDEFGH'[right]}; name choices by their text rather than their position"
        )
