"""Notebook edits gain nothing and break nothing.

Raised points, duplicated grade ids, a grade cell turned into Markdown, pre-filled outputs, an
unlocked and rewritten cell, another kernelspec, extra notebooks, a notebook that is JSON but
not a notebook, and one of 200 MB: each scores at most what its honest part earns, is recorded
with a reason, and leaves everyone else's grade alone. (Deleted and edited grade cells, and a
file that is not JSON, are in :mod:`test_tamper`.) The batch is :mod:`_hostile_course`'s,
graded once by the real ``autograder grade``.
"""

from __future__ import annotations

import nbformat
import pytest
from _grading_course import ASSIGNMENT, NOTEBOOK, gradebook_scores, results
from _hostile_course import EDITS, HONEST, HUGE_MB, HostileBatch, on_batch, shared_hostile_batch

EDITED = [*EDITS, "extra_notebooks", "not_a_notebook", "huge"]
# student -> what its result must say about the edit.
NOTED = {
    "raised_points": "points of shape_test edited (100.0 instead of 1.0): 1.0 kept",
    "duplicate_ids": "grade id shape_test appears more than once: only its last cell counts",
    "markdown_grade": "cell loss_test was turned into markdown: it is code again",
    "unlocked": "locked cell header was edited: its source was put back",
    "kernelspec": "the notebook names the kernel 'evil': it ran in the grading kernel",
    "extra_notebooks": "extra notebook a1-copy.ipynb was not graded",
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> HostileBatch:
    """The hostile batch, graded once by `autograder grade`."""
    return shared_hostile_batch(tmp_path_factory)


@on_batch
@pytest.mark.parametrize("student", EDITED)
def test_an_edit_scores_at_most_the_honest_part(batch: HostileBatch, student: str) -> None:
    result = results(batch.path)[student]
    assert result["score"] == HONEST[student], result
    assert result["max_score"] == 4.0
    gradebook = gradebook_scores(batch.path)
    if student != "huge":
        assert sum(gradebook[student].values()) == HONEST[student]


@on_batch
@pytest.mark.parametrize("student", sorted(NOTED))
def test_an_edit_is_recorded_with_a_reason(batch: HostileBatch, student: str) -> None:
    assert NOTED[student] in results(batch.path)[student]["notes"]


@on_batch
def test_raised_points_reach_neither_gradebook_nor_result(batch: HostileBatch) -> None:
    from nbgrader.api import Gradebook

    from autograder.grading import gradebook_url

    with Gradebook(gradebook_url(batch.path), "grading-test") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "raised_points")
        assert submission.max_score == 4.0
    tasks = {task["grade_id"]: task for task in results(batch.path)["raised_points"]["tasks"]}
    assert tasks["shape_test"]["max_score"] == 1.0


@on_batch
def test_prefilled_outputs_are_cleared_before_grading(batch: HostileBatch) -> None:
    tasks = {task["grade_id"]: task for task in results(batch.path)["prefilled"]["tasks"]}
    assert tasks["loss_test"]["score"] == 0.0
    # The fake "True" outputs are gone: what is there is what the grading kernel printed.
    path = batch.path / "autograded" / "prefilled" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    texts = [output.get("data", {}).get("text/plain") for cell in notebook.cells
             for output in cell.get("outputs", [])]
    assert "True" not in texts


@on_batch
def test_the_notebooks_kernelspec_never_chooses_what_runs(batch: HostileBatch) -> None:
    assert not batch.marker.exists()
    assert results(batch.path)["kernelspec"]["reason"] is None


@on_batch
def test_extra_notebooks_are_not_graded(batch: HostileBatch) -> None:
    result = results(batch.path)["extra_notebooks"]
    assert result["score"] == 0.0 and result["reason"] is None
    folder = batch.path / "autograded" / "extra_notebooks" / ASSIGNMENT
    # (nbgrader copies a hidden notebook along as an ordinary file; it is never run.)
    graded = sorted(path.name for path in folder.glob("*.ipynb") if not path.name.startswith("."))
    assert graded == [f"{NOTEBOOK}.ipynb"]


@on_batch
def test_a_notebook_that_is_not_one_is_recorded(batch: HostileBatch) -> None:
    reason = results(batch.path)["not_a_notebook"]["reason"]
    assert reason.startswith(f"refused: {NOTEBOOK}.ipynb is not a notebook nbgrader can read")


@on_batch
def test_a_huge_notebook_is_refused_before_anything_reads_it(batch: HostileBatch) -> None:
    result = results(batch.path)["huge"]
    assert result["reason"].startswith(f"refused: {NOTEBOOK}.ipynb is {HUGE_MB} MB")
    assert result["peak_worker_mb"] == 0.0


@on_batch
def test_edits_leave_everyone_else_alone(batch: HostileBatch) -> None:
    assert sum(gradebook_scores(batch.path)["ref"].values()) == HONEST["ref"]
    assert batch.returncode == 0
