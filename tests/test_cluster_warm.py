"""Warm Dask workers (``dask worker --preload autograder.grading.warm``) on 127.0.0.1.

A warm worker has imported what grading needs and started its verifier before its first task;
the first batch adopts that verifier and gives the scores local grading gives (the scores
below are those of ``autograder grade --workers 1`` on these submissions, which
``test_cluster.py`` compares with the cluster's on every planted learner); a worker that cannot
warm up is named, with the cause, before any submission is sent.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _dask_cluster import running
from _grading_course import (
    ASSIGNMENT,
    LOSS,
    REFERENCE,
    SHAPE,
    build_course,
    course_env,
    gradebook_scores,
    plant,
    results,
)

from autograder.grading import warm

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("cluster")]

PRELOAD = "autograder.grading.warm"
STUDENTS = {"ref": REFERENCE, "half": {"shape_answer": SHAPE, "loss_answer": LOSS}}
# What local grading records for them: the model task of "half" is not attempted.
LOCAL_SCORES = {"ref": {"shape_test": 1.0, "loss_test": 1.0, "model_test": 2.0},
                "half": {"shape_test": 1.0, "loss_test": 1.0, "model_test": 0.0}}
ENV = {"COURSE_EPOCHS": "8"}


def _grade(course: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "autograder"), "grade", str(course), ASSIGNMENT,
         "--timeout", "90", *options],
        capture_output=True, text=True, env={**course_env(), **ENV}, timeout=600, check=False)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture course with two planted submissions, never graded (tests copy it)."""
    course = build_course(tmp_path_factory.mktemp("warm") / "course")
    for student, answers in STUDENTS.items():
        plant(course, student, answers)
    return course


def _copy(course: Path, name: str) -> Path:
    target = course.parent / name
    shutil.copytree(course, target, symlinks=True)
    return target


def _reports(cluster) -> dict:
    with cluster.client() as client:
        return client.run(warm.report)


def test_a_preloaded_worker_is_warm_before_its_first_task_and_grades_as_one_machine(
        course: Path, tmp_path: Path) -> None:
    on_cluster = _copy(course, "warm")
    with running(tmp_path / "dask", 1, env=ENV, preload=PRELOAD) as cluster:
        (before,) = _reports(cluster).values()
        done = _grade(on_cluster, "--scheduler", cluster.address)
        # After the batch the worker releases its course copy and starts a fresh spare.
        deadline = time.monotonic() + 120
        while True:
            (after,) = _reports(cluster).values()
            if after["spare"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert done.returncode == 0, done.stderr[-3000:]
    # Before any task: every module grading imports was there, and the verifier had imported.
    assert before["modules"] == {name: True for name in warm.MODULES}
    assert before["spare"] and isinstance(before["spare_pid"], int)
    assert before["taken"] == []
    # The batch's course adopted that very verifier, and a new one waits for the next batch.
    assert after["taken"] == [before["spare_pid"]]
    assert after["spare"]
    assert gradebook_scores(on_cluster) == LOCAL_SCORES
    there = results(on_cluster)
    assert sorted(there) == sorted(STUDENTS)
    for student, scores in LOCAL_SCORES.items():
        assert there[student]["reason"] is None, student
        assert {task["grade_id"]: task["score"] for task in there[student]["tasks"]} == scores


def test_a_worker_that_cannot_warm_up_is_named_with_the_cause(
        course: Path, tmp_path: Path) -> None:
    target = _copy(course, "cold")
    # A stage root too deep for a kernel's sockets: the verifier's run folder is refused.
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    env = {**ENV, "AUTOGRADER_STAGE_ROOT": str(deep)}
    with running(tmp_path / "dask", 1, env=env, preload=PRELOAD) as cluster:
        done = _grade(target, "--scheduler", cluster.address)
        log = (cluster.folder / "w0.log").read_text(errors="replace")
    assert done.returncode == 4, done.stderr[-3000:]
    assert "Dask worker w0" in done.stderr and "could not prepare for grading" in done.stderr
    assert f"the stage root {deep} is too deep" in done.stderr
    # The worker's own log names the cause too, from its preload ...
    assert "could not prepare for grading" in log and "is too deep" in log
    # ... and nothing was sent: no submission has a result.
    assert not results(target)
