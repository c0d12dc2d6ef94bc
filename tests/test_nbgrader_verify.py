"""Plain ``nbgrader autograde`` on a built course records the grader's verified scores.

What the formgrader's Autograde button runs is nbgrader's own converter with the course config.
One course, one autograde run with the real nbgrader CLI, four learners:

- ``reference``: every answer right;
- ``faker``: wrong answers, and a custom exception handler that makes every failing cell look
  like a pass in its kernel;
- ``echo``: right answers, plus an IPython hook that prints every cell it runs and a last cell
  that prints the input history, hidden tests included had they run there;
- ``wrong``: one wrong parameter count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from corpus import changed, feedback_text, reference_answers, run_cli

from autograder.choices import NAME_CELL_SOURCE, NAME_VARIABLE

BIN = Path(sys.executable).parent
A1 = "a1_shapes_and_compile"
POINTS = 8.0

FAKE_PASSES = """\
get_ipython().set_custom_exc((BaseException,),
                             lambda shell, etype, evalue, tb, tb_offset=None: None)
"""
ECHO = """\
get_ipython().events.register("pre_run_cell", lambda info: print("ECHO", info.raw_cell))
"""
HISTORY = "print('HISTORY', In)"

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-verify")]


def _plant(root: Path, student: str, answers: dict[str, str], *, last: str = "") -> None:
    notebook = nbformat.read(root / "release" / A1 / f"{A1}.ipynb", as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        elif cell.source == NAME_CELL_SOURCE:
            cell.source = f"{NAME_VARIABLE} = {answers[NAME_VARIABLE]!r}"
    if last:
        notebook.cells.append(nbformat.v4.new_code_cell(last))
    folder = root / "submitted" / student / A1
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{A1}.ipynb")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course whose a1 submissions plain nbgrader autograded and gave feedback on."""
    root = tmp_path_factory.mktemp("plain") / "course"
    run_cli(root.parent, str(BIN / "autograder"), "build-course", str(root), "--skip-timing")
    run_cli(root, str(BIN / "nbgrader"), "generate_assignment", A1)
    reference = reference_answers(nbformat.read(root / "source" / A1 / f"{A1}.ipynb",
                                                as_version=4))
    first = "conv_output_shape-answer"
    wrong_params = changed(reference["dense_params-answer"], "18005", "18000")
    _plant(root, "reference", reference)
    _plant(root, "faker", {**reference, first: FAKE_PASSES + "conv_output_shape = (1, 2)",
                           "dense_params-answer": wrong_params,
                           "flatten_units-answer": "flatten_units = 7"})
    _plant(root, "echo", {**reference, first: ECHO + reference[first]}, last=HISTORY)
    _plant(root, "wrong", {**reference, "dense_params-answer": wrong_params})
    run_cli(root, str(BIN / "nbgrader"), "autograde", A1)
    run_cli(root, str(BIN / "nbgrader"), "generate_feedback", A1)
    return root


def _scores(root: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "keras-classroom") as gradebook:
        submission = gradebook.find_submission(A1, student)
        return {grade.name: grade.score
                for notebook in submission.notebooks for grade in notebook.grades}


def test_plain_autograde_records_verified_scores(course: Path) -> None:
    assert sum(_scores(course, "reference").values()) == POINTS
    assert sum(_scores(course, "echo").values()) == POINTS
    faked = _scores(course, "faker")
    for cell in ("conv_output_shape-test", "dense_params-test", "flatten_units-test"):
        assert faked[cell] == 0, faked
    assert sum(faked.values()) == POINTS - 3
    wrong = _scores(course, "wrong")
    assert wrong["dense_params-test"] == 0 and sum(wrong.values()) == POINTS - 1


def test_plain_autograde_writes_results_the_report_reads(course: Path) -> None:
    from autograder.grading import load_results

    found = {result["student"]: result for result in load_results(course, A1)}
    assert set(found) == {"reference", "faker", "echo", "wrong"}
    assert sum(task["score"] for task in found["wrong"]["tasks"]) == POINTS - 1


def test_every_lost_point_says_why_in_the_feedback(course: Path) -> None:
    text = feedback_text(course, A1, "wrong")
    assert "Checked by the grader: 0 of 1 point." in text
    assert "Each of the 5 units also has a bias." in text
    assert "Checked by the grader: 1 of 1 point." in text


def test_no_hidden_judgement_reaches_a_kernel_or_the_feedback(course: Path) -> None:
    autograded = course / "autograded" / "echo" / A1 / f"{A1}.ipynb"
    outputs = json.dumps([cell.get("outputs", [])
                          for cell in nbformat.read(autograded, as_version=4).cells])
    # The hook and the history did run in the kernel, and printed what the kernel ran ...
    assert "ECHO" in outputs and "HISTORY" in outputs
    # ... which held no expected answer and no judging code.
    for secret in ("check_answer", "judge_choice", "Mistake(", "Choice(text="):
        assert secret not in outputs
    feedback = (course / "feedback" / "echo" / A1 / f"{A1}.html").read_text("utf-8")
    for secret in ("check_answer", "judge_choice", "Mistake(", "BEGIN HIDDEN TESTS"):
        assert secret not in feedback
