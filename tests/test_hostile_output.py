"""One learner's output costs that learner alone, within the grader's memory bounds.

A gigabyte printed, one 100 MB message on the kernel's own socket, an exported answer and a
display message nested 100,000 deep: each learner gets at most what its honest part earns, the
worker and the grader stay small, and every other learner of the batch is graded as usual.
The batch is :mod:`_hostile_course`'s, graded once by the real ``autograder grade``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _grading_course import ASSIGNMENT, NOTEBOOK, gradebook_scores, results
from _hostile_course import HONEST, HostileBatch, on_batch, shared_hostile_batch

from autograder.grading.autograde import (
    MAX_OUTPUT_BYTES,
    BoundedExecute,
    _size,
    edit_notes,
)
from autograder.grading.layout import CourseLayout
from autograder.grading.logcap import MAX_LOG_BYTES, CappedLog

OUTPUT_ATTACKS = ["loud", "big_message", "raw_flood", "deep_answer", "deep_message"]
# A worker holding the gigabyte (or one copy of the 100 MB message) would pass this.
WORKER_BOUND_MB = 900
GRADER_BOUND_MB = 600


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> HostileBatch:
    """The hostile batch, graded once by `autograder grade`."""
    return shared_hostile_batch(tmp_path_factory)


@on_batch
@pytest.mark.parametrize("student", OUTPUT_ATTACKS)
def test_output_attacks_cost_only_their_learner(batch: HostileBatch, student: str) -> None:
    result = results(batch.path)[student]
    assert result["score"] <= HONEST[student]
    assert sum(gradebook_scores(batch.path)[student].values()) == result["score"]
    # The worker that ran it never held the output.
    assert 0 < result["peak_worker_mb"] < WORKER_BOUND_MB, result


@on_batch
def test_a_gigabyte_of_print_is_dropped_past_the_allowance(batch: HostileBatch) -> None:
    result = results(batch.path)["loud"]
    assert result["reason"] is None and result["score"] == HONEST["loud"]
    assert "output beyond the grader's limit was dropped" in result["notes"]
    notebook = batch.path / "autograded" / "loud" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert notebook.stat().st_size < 2 * MAX_OUTPUT_BYTES


@on_batch
@pytest.mark.parametrize("student", ["big_message", "deep_message"])
def test_a_message_the_worker_refuses_costs_only_that_output(batch: HostileBatch,
                                                             student: str) -> None:
    # The honest answers around the message are graded; the message itself never arrives.
    # A refused message costs its notebook's IOPub connection, so each later cell waits out the
    # IOPub wait: that notebook may run into its own wall-time limit.
    result = results(batch.path)[student]
    assert result["score"] == HONEST[student], result
    assert result["reason"] in (None, "timeout")


@on_batch
def test_writing_past_the_capture_fills_neither_disk_nor_later_kernels(
        batch: HostileBatch) -> None:
    result = results(batch.path)["raw_flood"]
    assert result["reason"] is None and result["score"] == HONEST["raw_flood"], result
    for log in CourseLayout(batch.path).logs(ASSIGNMENT).glob("worker-*.log"):
        assert log.stat().st_size < MAX_LOG_BYTES + 2**20
    # Every kernel started after it on its worker wrote its start-up note and was graded
    # (the learner whose own message was refused may run out of time, see above).
    assert all(found["reason"] is None for student, found in results(batch.path).items()
               if HONEST.get(student, 0) > 0 and student != "big_message")


@on_batch
def test_a_deep_answer_fails_only_its_own_task(batch: HostileBatch) -> None:
    tasks = {task["grade_id"]: task for task in results(batch.path)["deep_answer"]["tasks"]}
    assert tasks["shape_test"]["score"] == 0.0


@on_batch
def test_the_grader_itself_stays_small(batch: HostileBatch) -> None:
    assert 0 < batch.peak_grader_mb < GRADER_BOUND_MB
    assert batch.returncode == 0


@on_batch
def test_everyone_else_is_graded_as_usual(batch: HostileBatch) -> None:
    scores = gradebook_scores(batch.path)
    assert sum(scores["ref"].values()) == HONEST["ref"]
    assert results(batch.path)["ref"]["reason"] is None


# --------------------------------------------------------------------------- without a kernel


def test_output_past_the_allowance_is_dropped_once_and_errors_are_kept_short() -> None:
    executor = BoundedExecute()
    executor.reset_execution_trackers()
    executor.clear_before_next_output = False
    executor._kept_bytes = MAX_OUTPUT_BYTES
    cell = nbformat.v4.new_code_cell()
    stream = {"msg_type": "stream", "content": {"name": "stdout", "text": "x" * 100},
              "parent_header": {}, "header": {"msg_type": "stream"}, "metadata": {}}
    assert executor.process_message(stream, cell, 0) is None
    assert executor.process_message(stream, cell, 0) is None
    assert len(cell["outputs"]) == 1 and "dropped by the grader" in cell["outputs"][0]["text"]
    error = {"msg_type": "error", "parent_header": {}, "header": {"msg_type": "error"},
             "metadata": {}, "content": {"ename": "E", "evalue": "v" * 10_000,
                                         "traceback": ["t" * 10_000] * 1000}}
    executor.process_message(error, cell, 0)
    kept = cell["outputs"][-1]
    assert kept["output_type"] == "error" and len(kept["traceback"]) <= 5
    assert len(kept["evalue"]) <= 2000


def test_a_capped_log_keeps_its_limit_and_counts_the_rest(tmp_path: Path) -> None:
    with open(tmp_path / "worker.log", "ab") as log:
        capped = CappedLog(log, limit=1000)
        with subprocess.Popen([sys.executable, "-c", "import os; os.write(2, b'x' * 300_000)"],
                              stderr=capped) as child:
            child.wait()
        capped.close()
    text = (tmp_path / "worker.log").read_bytes()
    assert text.startswith(b"x" * 1000) and b"[299000 more bytes were dropped" in text
    assert len(text) < 1100


def test_a_message_too_deep_to_measure_counts_as_too_large() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert _size({"content": deep}) > MAX_OUTPUT_BYTES


def test_edit_notes_name_each_undone_edit_once() -> None:
    log = "\n".join([
        "[WARNING] Attribute 'points' for cell shape_test has changed! (should be: 1.0, got: "
        "100.0)",
        "[WARNING] Attribute 'points' for cell shape_test has changed! (should be: 1.0, got: "
        "100.0)",
        "[WARNING] Missing grade cell loss_test encountered, adding to notebook",
        "[WARNING] Skipping unknown notebook: /c/submitted/x/a1/a1-copy.ipynb",
        *(f"[WARNING] Cell with id 'id{n}' exists multiple times!" for n in range(50)),
    ])
    notes = edit_notes(log)
    assert notes[0] == "points of shape_test edited (100.0 instead of 1.0): 1.0 kept"
    assert "grade cell loss_test was deleted: it was put back" in notes
    assert "extra notebook a1-copy.ipynb was not graded" in notes
    assert len(notes) == 21 and notes[-1].startswith("and ")
