"""Choice questions of graded notebooks (:mod:`autograder.choices`): each learner's options in an
order of their own, and a letter always judged against the order that learner's notebook lists."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from _options import letter_of, letters_in, listed

from autograder.choices import judge_choice, order_seed
from autograder.render.options import read_choice, show_choices
from autograder.result import CheckFailed, Outcome
from autograder.schema import Choice, MultipleSelect, SingleChoice

SINGLE = SingleChoice(id="loss", prompt="Which loss?", hints=(), solution="", choices=(
    Choice("mean_squared_error", "A regression loss: it treats class 3 as closer to 4 than to 0."),
    Choice("sparse_categorical_crossentropy", "Integer labels, one softmax output per class.",
           correct=True),
    Choice("categorical_crossentropy", "That one wants one-hot labels."),
    Choice("binary_crossentropy", "That one is for two classes or independent labels."),
))
MULTIPLE = MultipleSelect(id="leaks", prompt="Which leak?", hints=(), solution="", choices=(
    Choice("Scaling with statistics of all rows", "The test rows shape the scaler.",
           correct=True),
    Choice("Scaling with training statistics only", "That is the honest way."),
    Choice("The same photo in both splits", "The test score then measures memory.",
           correct=True),
    Choice("A fixed random seed", "A seed repeats a run; it leaks nothing."),
    Choice("Early stopping on validation rows", "Validation rows are there for that."),
))
NAMES = [f"learner {n}" for n in range(400)]


def right_texts(question: SingleChoice | MultipleSelect) -> list[str]:
    return [c.text for c in question.choices if c.correct]


def test_each_learner_sees_an_order_of_their_own_the_same_on_every_run() -> None:
    orders = {name: tuple(listed(SINGLE, name).values()) for name in NAMES[:50]}
    assert all(sorted(order) == sorted(c.text for c in SINGLE.choices)
               for order in orders.values())
    assert orders["learner 1"] == tuple(listed(SINGLE, "learner 1").values())
    assert len(set(orders.values())) > 12  # 24 orders exist; 50 learners see most of them
    # Case and spacing of the name do not count: fixing a typo of case keeps the order.
    assert listed(SINGLE, "  Learner   1 ") == listed(SINGLE, "learner 1")
    assert order_seed(None) == order_seed(42) == order_seed("   ") == ""


@pytest.mark.parametrize("question", [SINGLE, MULTIPLE], ids=lambda q: q.id)
def test_right_options_are_listed_in_every_position_about_equally_often(
        question: SingleChoice | MultipleSelect) -> None:
    counts = dict.fromkeys("ABCDE"[:len(question.choices)], 0)
    for name in NAMES:
        for text in right_texts(question):
            counts[letter_of(question, name, text)] += 1
    share = len(right_texts(question)) / len(question.choices)
    expected = len(NAMES) * share
    spread = 5 * (len(NAMES) * share * (1 - share)) ** 0.5
    assert all(abs(seen - expected) <= spread for seen in counts.values()), counts


def test_a_letter_is_judged_against_the_order_listed_for_that_name() -> None:
    for name in NAMES[:40]:
        shown = listed(SINGLE, name)
        for letter, text in shown.items():
            verdict = judge_choice(SINGLE, name, letter)
            assert verdict.passed == (text == right_texts(SINGLE)[0]), (name, letter)
            # The same verdict as answering with the text the letter stands for.
            assert verdict.outcome == judge_choice(SINGLE, "", text).outcome
        right = [letter_of(MULTIPLE, name, text) for text in right_texts(MULTIPLE)]
        assert judge_choice(MULTIPLE, name, right).passed
        assert judge_choice(MULTIPLE, name, ", ".join(right)).passed
        assert not judge_choice(MULTIPLE, name, right[:1]).passed


def test_any_name_only_moves_letters_onto_other_options() -> None:
    """Whatever name a learner writes (or fakes in the export), one letter stands for one option,
    so the verdict is never better than answering with that option's text."""
    for name in NAMES:
        for letter, text in listed(SINGLE, name).items():
            by_text = judge_choice(SINGLE, "", text)
            assert judge_choice(SINGLE, name, letter).passed == by_text.passed
    wrong = letter_of(SINGLE, "ada", "categorical_crossentropy")
    verdict = judge_choice(SINGLE, "ada", wrong)
    assert verdict.outcome is Outcome.FAILED and "one-hot" in verdict.message
    assert "sparse_categorical_crossentropy" not in verdict.message


def test_texts_are_accepted_whatever_the_name_and_bad_answers_say_what_to_write() -> None:
    for name in ("", "ada", "grace"):
        assert judge_choice(SINGLE, name, "Sparse_Categorical_Crossentropy ").passed
        assert judge_choice(MULTIPLE, name, right_texts(MULTIPLE)).passed
    verdict = judge_choice(SINGLE, "ada", "Z")
    assert verdict.outcome is Outcome.ERROR and "letter from A to D" in verdict.message
    assert judge_choice(SINGLE, "ada", ...).outcome is Outcome.NOT_ATTEMPTED
    assert judge_choice(SINGLE, "ada", None).outcome is Outcome.NOT_ATTEMPTED


def test_the_options_cell_says_how_to_answer_and_asks_for_a_name_when_blank() -> None:
    texts = [c.text for c in SINGLE.choices]
    blank = show_choices("loss", "", texts)
    assert 'loss = "B"' in blank and "YOUR_NAME" in blank and "order of your own" in blank
    named = show_choices("loss", "ada", texts)
    assert "YOUR_NAME" not in named
    many = show_choices("leaks", "ada", [c.text for c in MULTIPLE.choices], multiple=True)
    assert 'leaks = ["A", "C"]' in many


def test_read_choice_says_what_an_answer_stands_for_without_judging_it() -> None:
    shown = listed(SINGLE, "ada")
    wrong = letter_of(SINGLE, "ada", "binary_crossentropy")
    printed = io.StringIO()
    with redirect_stdout(printed):
        read_choice("loss", "ada", wrong)
    assert printed.getvalue() == f"`loss` is read as: {wrong}. “{shown[wrong]}”.\n"
    assert "right" not in printed.getvalue() and "wrong" not in printed.getvalue()
    with pytest.raises(CheckFailed, match="letter from A to D"):
        read_choice("loss", "ada", "Z")
    with pytest.raises(CheckFailed, match="Run the cell that lists the options of `never`"):
        read_choice("never", "ada", "A")


def test_the_grader_judges_the_exported_letter_with_the_exported_name(tmp_path: Path,
                                                                      monkeypatch: Any) -> None:
    from autograder.grading import export
    from autograder.grading.manifest import Manifest, answer_task, quiz_export_code
    from autograder.grading.verify import verify_submission

    monkeypatch.setenv(export.ENV_VAR, str(tmp_path))
    manifest = Manifest("a", (answer_task("nb", "loss-test", "loss", 1, None, question=SINGLE),))
    right = letter_of(SINGLE, "ada", right_texts(SINGLE)[0])
    scope = {"YOUR_NAME": "Ada", "loss": right}
    # The very lines a grade cell runs in the kernel.
    exec(quiz_export_code("loss", SINGLE), scope)  # noqa: S102 - generated course code
    assert verify_submission(manifest, tmp_path)[0].score == 1.0
    # The same letter handed over with another name means another option for the grader.
    elsewhere = next(name for name in NAMES if listed(SINGLE, name)[right] != listed(
        SINGLE, "ada")[right])
    export.answer("loss", right, elsewhere)
    verdict = verify_submission(manifest, tmp_path)[0]
    assert verdict.score == 0.0 and verdict.message == str(judge_choice(SINGLE, elsewhere, right))
    # A name that is not text is not handed over: the letter is read for a blank name.
    export.answer("loss", letter_of(SINGLE, "", right_texts(SINGLE)[0]), {"not": "text"})
    assert verify_submission(manifest, tmp_path)[0].score == 1.0


# ------------------------------------------------------------------ end to end, real nbgrader
E2E = "c1"
# The lines planted before a grade cell to hand the grader another name than the notebook's.
FAKE_NAME = """\
import autograder.export as handover

real_answer = handover.answer
handover.answer = lambda name, value, learner=None: real_answer(name, value, {fake!r})"""


def _assignment() -> Any:
    from autograder.render.nbgrader_source import Assignment, Instructions, QuizAnswer, right_answer

    return Assignment(E2E, "Choices", "Two choice questions.", (
        Instructions("Answer both."),
        QuizAnswer("loss", SINGLE, right_answer(SINGLE), how_to_answer="a letter or its text."),
        QuizAnswer("leaks", MULTIPLE, right_answer(MULTIPLE),
                   how_to_answer="the letters or their texts."),
    ))


def _plant(course: Path, student: str, name: str | None, answers: dict[str, Any],
           fake: str | None = None) -> None:
    import nbformat

    from autograder.choices import NAME_CELL_SOURCE, NAME_VARIABLE

    notebook = nbformat.read(course / "release" / E2E / f"{E2E}.ipynb", as_version=4)
    cells = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.source == NAME_CELL_SOURCE:
            if name is None:
                continue  # the learner deleted their name cell
            cell.source = f"{NAME_VARIABLE} = {name!r}"
        variable = grade_id.removesuffix("-answer")
        if grade_id.endswith("-answer") and variable in answers:
            cell.source = f"{variable} = {answers[variable]!r}"
        if fake is not None and grade_id == "loss-test":
            cells.append(nbformat.v4.new_code_cell(FAKE_NAME.format(fake=fake)))
        cells.append(cell)
    notebook.cells = cells
    folder = course / "submitted" / student / E2E
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{E2E}.ipynb")


def _letters(question: SingleChoice | MultipleSelect, name: str, texts: list[str]) -> Any:
    letters = [letter_of(question, name, text) for text in texts]
    return letters[0] if isinstance(question, SingleChoice) else letters


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A rendered assignment, released and graded confined by ``autograder grade``."""
    import subprocess
    import sys

    import nbformat
    from _grading_course import course_env, nbgrader

    from autograder.grading.manifest import manifest_for
    from autograder.render.nbgrader_source import render

    course = tmp_path_factory.mktemp("choices") / "course"
    (course / "source" / E2E).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'choices'\nc.Execute.timeout = 120\n")
    nbformat.write(render(_assignment()), course / "source" / E2E / f"{E2E}.ipynb")
    nbgrader(course, "generate_assignment", E2E, "--force")
    manifest_for(_assignment()).write(course)
    wrong = ["categorical_crossentropy"]
    # A name under which Ada's right letter for `loss` stands for a wrong option.
    ada = _letters(SINGLE, "ada", right_texts(SINGLE))
    fake = next(name for name in NAMES if listed(SINGLE, name)[ada] != right_texts(SINGLE)[0])
    plans = {
        "ada-right": ("Ada", {"loss": ada, "leaks": _letters(MULTIPLE, "ada",
                                                               right_texts(MULTIPLE))}, None),
        "ada-wrong": ("Ada", {"loss": _letters(SINGLE, "ada", wrong),
                              "leaks": _letters(MULTIPLE, "ada", right_texts(MULTIPLE)[:1])},
                      None),
        "blank-letters": ("", {"loss": _letters(SINGLE, "", right_texts(SINGLE)),
                               "leaks": _letters(MULTIPLE, "", right_texts(MULTIPLE))}, None),
        "deleted-name-texts": (None, {"loss": right_texts(SINGLE)[0],
                                      "leaks": right_texts(MULTIPLE)}, None),
        "faked-name": ("Ada", {"loss": ada, "leaks": right_texts(MULTIPLE)}, fake),
    }
    for student, (name, answers, faked) in plans.items():
        _plant(course, student, name, answers, faked)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "autograder"), "grade", str(course), E2E,
         "--workers", "2"],
        capture_output=True, text=True, env=course_env(), timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"course": course, "plans": plans, "fake": fake}


def _verdicts(course: Path) -> dict[str, dict[str, dict]]:
    from autograder.grading import load_results

    return {result["student"]: {v["grade_id"]: v for v in result["tasks"]}
            for result in load_results(course, E2E)}


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.xdist_group("choices-course")  # one worker builds and grades the course once
def test_letters_are_graded_against_the_order_each_notebook_listed(graded: dict) -> None:
    verdicts = _verdicts(graded["course"])
    scores = {student: {grade_id: v["score"] for grade_id, v in cells.items()}
              for student, cells in verdicts.items()}
    assert scores == {
        "ada-right": {"loss-test": 1, "leaks-test": 1},
        "ada-wrong": {"loss-test": 0, "leaks-test": 0},
        "blank-letters": {"loss-test": 1, "leaks-test": 1},
        "deleted-name-texts": {"loss-test": 1, "leaks-test": 1},
        # The kernel's own test passed (it reads the notebook's name), but the grader judges
        # what was handed over: the faked name only moved the letter onto a wrong option.
        "faked-name": {"loss-test": 0, "leaks-test": 1},
    }
    assert "one-hot" in verdicts["ada-wrong"]["loss-test"]["message"]
    # Results hold the option a letter stood for, so a report counts options, not letters.
    assert verdicts["ada-wrong"]["loss-test"]["answer"] == "categorical_crossentropy"
    assert verdicts["ada-wrong"]["leaks-test"]["answer"] == right_texts(MULTIPLE)[:1]
    assert "sparse_categorical_crossentropy" not in verdicts["ada-wrong"]["loss-test"]["message"]


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.xdist_group("choices-course")  # one worker builds and grades the course once
def test_the_graded_notebook_lists_each_letter_beside_the_option_it_was_graded_as(
        graded: dict) -> None:
    import nbformat

    course = graded["course"]
    for student, (name, answers, _) in graded["plans"].items():
        notebook = nbformat.read(course / "autograded" / student / E2E / f"{E2E}.ipynb",
                                 as_version=4)
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
        shown = cells["loss-options"].outputs[0]["data"]["text/markdown"]
        letters = letters_in(shown)
        assert letters == listed(SINGLE, name or "")
        printed = "".join(o.get("text", "") for o in cells["loss-test"].outputs)
        answer = answers["loss"]
        meant = letters[answer] if answer in letters else answer
        assert f"“{meant}”" in printed, (student, printed)


def test_a_graded_choice_question_renders_its_options_as_a_cell_of_the_learners_order() -> None:
    from autograder.choices import NAME_CELL_SOURCE, NAME_DEFAULT
    from autograder.render.nbgrader_source import (
        BEGIN_SOLUTION,
        HEADER_SOURCE,
        Assignment,
        QuizAnswer,
        render,
    )
    from autograder.schema import Numeric

    notebook = render(_assignment())
    cells = {c.metadata.get("nbgrader", {}).get("grade_id", "name"): c for c in notebook.cells}
    assert cells["header"].source == f"{HEADER_SOURCE}\n{NAME_DEFAULT}"
    # The learner's own cell, right under the header: nbgrader keeps it as written.
    name_cell = notebook.cells[2]
    assert name_cell.source == NAME_CELL_SOURCE and "nbgrader" not in name_cell.metadata
    # The prompt lists no options: only the options cell does, in the learner's order.
    prompt = cells["loss-question"].source
    assert not any(c.text in prompt for c in SINGLE.choices) and "- **A.**" not in prompt
    options = cells["loss-options"]
    assert options.metadata["nbgrader"]["locked"] and not options.metadata["nbgrader"]["grade"]
    assert "show_choices('loss', YOUR_NAME, [" in options.source
    assert all(repr(c.text) in options.source for c in SINGLE.choices)
    assert "multiple=True" in cells["leaks-options"].source
    # The reference answer is the option's text: right whatever order a learner sees.
    answer = cells["loss-answer"].source
    assert f"loss = {right_texts(SINGLE)[0]!r}" in answer and BEGIN_SOLUTION in answer
    test = cells["loss-test"].source
    assert "autograder.read_choice('loss', YOUR_NAME, loss);" in test
    assert "judge_choice(SingleChoice(" in test and "YOUR_NAME, loss).assert_passed();" in test
    assert "globals().get('YOUR_NAME')" in test
    # An assignment without choice questions has neither the name cell nor the header line.
    plain = render(Assignment("c2", "T", "I", (QuizAnswer("n", Numeric(
        id="n", prompt="How many?", hints=(), solution="", answer=3.0), 3.0),)))
    assert "YOUR_NAME" not in "\n".join(c.source for c in plain.cells)
