"""Submissions that try to game the grader, or misbehave, graded by the real ``autograder grade``.

Every tampering variant answers wrongly (or not at all) and attacks the kernel-side tests; none
may score more than an empty submission. Misbehaving notebooks (exits, an endless loop, a memory
bomb, floods of output, stderr noise) must each be graded on what they exported, with a reason,
and the batch must complete.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from _grading_course import (
    ASSIGNMENT,
    BROKEN,
    NOTEBOOK,
    SUBMISSIONS,
    TAMPERING,
    GradedCourse,
    gradebook_scores,
    results,
    shared_graded_course,
)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("grading")]


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> GradedCourse:
    """The fixture course, every planted submission graded once by `autograder grade`."""
    return shared_graded_course(tmp_path_factory)


def test_every_submission_is_graded(graded_course: GradedCourse) -> None:
    # Every planted submission, and the one that is not a notebook at all.
    everyone = sorted([*SUBMISSIONS, BROKEN])
    assert sorted(results(graded_course.path)) == everyone
    assert sorted(gradebook_scores(graded_course.path)) == everyone


@pytest.mark.parametrize("student", TAMPERING)
def test_tampering_scores_no_more_than_an_empty_submission(
        graded_course: GradedCourse, student: str) -> None:
    scores = gradebook_scores(graded_course.path)
    assert sum(scores[student].values()) <= sum(scores["empty"].values())
    assert sum(scores["ref"].values()) == 4.0


@pytest.mark.parametrize("student", ["fake_module", "import_hook", "always_equal",
                                     "patch_keras"])
def test_tampering_that_fooled_the_kernel_is_flagged(
        graded_course: GradedCourse, student: str) -> None:
    result = results(graded_course.path)[student]
    kernel = sum(task["kernel_score"] or 0.0 for task in result["tasks"])
    # The kernel-side tests were fooled; the verified score is what the gradebook holds.
    assert kernel > result["score"] == 0.0
    assert any(task["disagrees"] for task in result["tasks"])


def test_faked_autograder_module_exports_nothing(graded_course: GradedCourse) -> None:
    found = results(graded_course.path)["fake_module"]["tasks"]
    tasks = {task["grade_id"]: task for task in found}
    assert tasks["shape_test"]["outcome"] == "not attempted"
    assert "did not run" in tasks["shape_test"]["message"]


def test_always_equal_objects_are_rejected_as_not_plain_data(graded_course: GradedCourse) -> None:
    tasks = {task["grade_id"]: task
             for task in results(graded_course.path)["always_equal"]["tasks"]}
    assert "not plain data" in tasks["shape_test"]["message"]
    assert "AlwaysEqual" in tasks["loss_test"]["message"]
    assert "not a Keras model" in tasks["model_test"]["message"]


def test_patched_evaluate_does_not_reach_the_grader(graded_course: GradedCourse) -> None:
    tasks = {task["grade_id"]: task
             for task in results(graded_course.path)["patch_keras"]["tasks"]}
    model = tasks["model_test"]
    assert model["kernel_score"] == 2.0 and model["score"] == 0.0
    assert "check_metrics" in model["message"]


def test_edited_and_deleted_grade_cells_are_restored(graded_course: GradedCourse) -> None:
    folder = graded_course.path / "autograded" / "edit_grade_cells" / ASSIGNMENT
    path = folder / f"{NOTEBOOK}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert 'autograder.export.answer("loss_choice", loss_choice)' in sources  # deleted, put back
    assert "print('ok')" not in sources  # edited, restored from the gradebook
    tasks = {task["grade_id"]: task
             for task in results(graded_course.path)["edit_grade_cells"]["tasks"]}
    # The restored cells ran and exported the (wrong) answers.
    assert tasks["loss_test"]["answer"] == "binary_crossentropy"
    assert tasks["shape_test"]["answer"] == [None, 3]


@pytest.mark.parametrize(("student", "reason", "score"), [
    ("os_exit", "kernel died", 1.0),
    ("endless", "timeout", 1.0),
    ("memory_bomb", "memory", 1.0),
    ("sys_exit", None, 3.0),
    ("flood", None, 2.0),
    ("noise", None, 4.0),
])
def test_misbehaving_notebooks_get_what_they_exported(
        graded_course: GradedCourse, student: str, reason: str | None, score: float) -> None:
    result = results(graded_course.path)[student]
    assert result["reason"] == reason
    assert result["score"] == score
    assert sum(gradebook_scores(graded_course.path)[student].values()) == score


def test_killing_the_kernels_parent_costs_only_that_submission(
        graded_course: GradedCourse) -> None:
    # Its shape answer was exported before the kill; everyone else is graded as usual.
    assert results(graded_course.path)["kill_parent"]["score"] == 1.0
    assert sum(gradebook_scores(graded_course.path)["ref"].values()) == 4.0


def test_memory_bomb_was_stopped_near_the_limit(graded_course: GradedCourse) -> None:
    result = results(graded_course.path)["memory_bomb"]
    assert 1500 < result["peak_kernel_mb"] < 4000


def test_flood_is_truncated_in_the_autograded_notebook(graded_course: GradedCourse) -> None:
    result = results(graded_course.path)["flood"]
    assert "output longer than the limit was truncated" in result["notes"]
    path = graded_course.path / "autograded" / "flood" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert path.stat().st_size < 1_000_000


def test_sys_exit_is_noted(graded_course: GradedCourse) -> None:
    assert "the notebook called sys.exit" in results(graded_course.path)["sys_exit"]["notes"]


def test_grader_reports_progress_and_summary(graded_course: GradedCourse) -> None:
    # Every planted submission, and the one that is not a notebook.
    total = len(SUBMISSIONS) + 1
    assert f"{total}/{total}" in graded_course.output
    assert "kernel and verified scores differ" in graded_course.output
    summary = json.dumps(results(graded_course.path)["endless"])
    assert "timeout" in summary
