"""Grade cells show the grader's verdicts, and no output quotes a hidden test."""

from __future__ import annotations

import json
from dataclasses import dataclass

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograder.grading import feedback

EXPORT = """\
### BEGIN HIDDEN TESTS
import autograder.export
autograder.export.answer('units', globals().get('units', ...))
### END HIDDEN TESTS
assert 'units' in globals(), "Assign your answer to units."
### BEGIN HIDDEN TESTS
check_answer(Numeric(id='units', answer=3600.0, tolerance=0.0), units).assert_passed()
### END HIDDEN TESTS"""


@dataclass(frozen=True)
class _Verdict:
    notebook: str
    grade_id: str
    score: float
    max_score: float
    message: str
    outcome: str = "passed"


def _grade_cell(grade_id: str, source: str, points: float, outputs: list) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points,
                                 "locked": True, "solution": False, "schema_version": 3}
    cell.outputs = outputs
    return cell


def _stdout(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_the_judging_region_leaves_and_the_hand_over_stays() -> None:
    stripped = feedback.strip_judgement(EXPORT)
    assert "autograder.export.answer('units'" in stripped
    assert "3600" not in stripped and "check_answer" not in stripped
    assert "assert 'units' in globals()" in stripped
    # A cell with no hidden region, or only a hand-over, is unchanged.
    assert feedback.strip_judgement("x = 1\n") == "x = 1\n"
    assert feedback.strip_judgement(stripped) == stripped


@pytest.mark.parametrize(("score", "kind"), [(0.0, "error"), (1.5, "partial"), (3.0, "full")])
def test_a_verdict_is_shown_and_read_back_by_nbgrader_as_its_score(score: float,
                                                                   kind: str) -> None:
    notebook = nbformat.v4.new_notebook()
    stderr = nbformat.v4.new_output("stream", name="stderr", text="a warning\n")
    notebook.cells = [_grade_cell("model-test", "check(model)", 3,
                                  [_stdout("kernel line\n"), stderr])]
    verdict = _Verdict("a2", "model-test", score, 3.0, "Your model reached 0.62 on the grader's "
                                                          "images; it needs 0.90.")
    assert feedback.present_verdicts(notebook, "a2", [verdict]) == 1
    cell = notebook.cells[0]
    text = nbformat.writes(notebook)
    # What the cell printed stays; stderr (a score of 0 for nbgrader) does not.
    assert "kernel line" in text and "a warning" not in text
    assert "Your model reached 0.62 on the grader's images" in text
    assert f"Checked by the grader: {score:g} of 3 points." in text
    assert determine_grade(cell)[0] == pytest.approx(score)
    assert (cell.outputs[-1].output_type == "error") == (kind == "error")


def test_no_output_of_any_cell_quotes_a_hidden_line() -> None:
    notebook = nbformat.v4.new_notebook()
    hook_echo = _stdout("ran: ### BEGIN HIDDEN TESTS\n"
                        "autograder.export.answer('units', globals().get('units', ...))\n"
                        "learner's own line\n")
    history = nbformat.v4.new_output(
        "execute_result", execution_count=3,
        data={"text/plain": "['autograder.export.answer(\\'units\\', ...)', "
                            "\"autograder.export.answer('units', globals().get('units', ...))\"]",
              "text/html": "<pre>autograder.export.answer('units', globals().get('units', ...))"
                           "</pre>",
              "application/vnd.jupyter.widget-view+json": {"model_id": "x"}})
    notebook.cells = [
        nbformat.v4.new_code_cell("print(In)", outputs=[history]),
        _grade_cell("units-test", feedback.strip_judgement(EXPORT), 1, [hook_echo]),
        nbformat.v4.new_code_cell("get_ipython()", outputs=[hook_echo]),
    ]
    feedback.present_verdicts(notebook, "a1", [_Verdict("a1", "units-test", 1, 1, "Right.")])
    text = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "globals().get('units'" not in text and "HIDDEN TESTS" not in text
    assert feedback.REMOVED_LINE in text and "learner's own line" in text
    assert "widget-view" not in text


def test_a_grade_cell_the_grader_has_no_check_for_earns_nothing_where_asked() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [_grade_cell("old-test", "check()", 2, [_stdout("kernel: passed\n")])]
    assert feedback.present_verdicts(notebook, "a1", []) == 0
    assert determine_grade(notebook.cells[0])[0] == 2
    feedback.present_verdicts(notebook, "a1", [], unverified_fail=True)
    assert determine_grade(notebook.cells[0])[0] == 0
    assert "no check for this grade cell" in notebook.cells[0].outputs[0].evalue


def test_an_untouched_cell_keeps_the_kernels_not_attempted_message() -> None:
    said = nbformat.v4.new_output("error", ename="CheckFailed",
                                  evalue="check_split: not attempted. Write `split` first.",
                                  traceback=[])
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [_grade_cell("split-test", "check()", 2, [said])]
    verdict = _Verdict("a4", "split-test", 0.0, 2.0, "No answer `split` reached the grader.",
                       "not attempted")
    feedback.present_verdicts(notebook, "a4", [verdict])
    assert notebook.cells[0].outputs == [said]
    assert determine_grade(notebook.cells[0])[0] == 0


def test_not_attempted_regions_stay_and_no_kept_region_holds_an_expected_answer() -> None:
    import solutions
    from autograder.render.nbgrader_source import render

    dropped = 0
    for assignment in solutions.assignments():
        for cell in render(assignment).cells:
            if not cell.metadata.get("nbgrader", {}).get("grade"):
                continue
            kept = feedback.strip_judgement(cell.source)
            # What says "not attempted" and what hands the value over both still run ...
            assert ("require(globals()" in kept) == ("require(globals()" in cell.source)
            assert kept.count("autograder.export") == cell.source.count("autograder.export")
            # ... and nothing that stays holds an expected answer or a judging call.
            for marker in ("check_answer(", "judge_choice(", "correct=True", "answer="):
                assert marker not in kept, (assignment.name, cell.source[:80])
            dropped += kept != cell.source
    assert dropped >= 9
