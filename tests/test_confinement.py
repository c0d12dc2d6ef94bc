"""Confined grading, attacked from real submissions graded by the real ``autograder grade``.

Each attack is a learner's notebook in the shared fixture course (see ``_grading_course``): it
tries to read or write the course, reach other processes or the network, hand the grader links
and oversized files, or leave processes behind. Each test asserts what the attack got: nothing,
no points beyond its honest answers, and nothing left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from _grading_course import (
    ASSIGNMENT,
    BROKEN,
    NOTEBOOK,
    REFERENCE,
    SNOOP,
    GradedCourse,
    build_course,
    course_env,
    fill_in,
    gradebook_scores,
    nbgrader,
    plant,
    results,
    shared_graded_course,
)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("grading")]


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> GradedCourse:
    return shared_graded_course(tmp_path_factory)


def _snooped(notebook: Path) -> dict:
    """What the snoop submission printed about its surroundings."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            for line in str(output.get("text", "")).splitlines():
                if line.startswith("SNOOP "):
                    return json.loads(line[len("SNOOP "):])
    raise AssertionError(f"the snoop printed nothing in {notebook}")


@pytest.fixture(scope="module")
def snooped(graded_course: GradedCourse) -> dict:
    return _snooped(graded_course.path / "autograded" / "snoop" / ASSIGNMENT
                    / f"{NOTEBOOK}.ipynb")


def _only_the_python_environment(readable: dict) -> None:
    """Nothing was readable, except that the grader's home may show the folder on the way to
    the Python installation when that lies inside it (read-only, like the system)."""
    from autograder.grading.sandbox import python_paths

    home = readable.pop("grader_home")
    assert readable == dict.fromkeys(readable), readable
    on_the_way = {Path(path).relative_to(Path.home()).parts[0] for path in python_paths()
                  if Path(path).is_relative_to(Path.home())}
    assert home is None or set(home) <= on_the_way, home


def test_a_kernel_reads_nothing_of_the_course_or_the_grader(snooped: dict) -> None:
    _only_the_python_environment(dict(snooped["readable"]))


def test_a_kernel_writes_nowhere_but_its_own_folder(snooped: dict,
                                                    graded_course: GradedCourse) -> None:
    assert not any(snooped["writable"].values()), snooped["writable"]
    assert not (graded_course.path / "planted.txt").exists()
    assert not (Path(sys.prefix) / "planted.pth").exists()
    assert not (Path.home() / ".ipython" / "profile_default" / "startup" / "00.py").exists()


def test_a_kernel_sees_and_signals_no_other_process(snooped: dict) -> None:
    assert snooped["processes"] == [] and snooped["signalled"] == []


def test_a_kernel_has_no_network(snooped: dict, graded_course: GradedCourse) -> None:
    assert snooped["network"] is False
    assert graded_course.connections == 0


def test_snooping_earns_only_the_honest_answer(graded_course: GradedCourse) -> None:
    scores = gradebook_scores(graded_course.path)["snoop"]
    assert scores == {"shape_test": 0.0, "loss_test": 1.0, "model_test": 0.0}


def test_nothing_a_submission_starts_outlives_it(graded_course: GradedCourse) -> None:
    left = [proc.pid for proc in psutil.process_iter(["cmdline"])
            if graded_course.marker in " ".join(proc.info["cmdline"] or [])]
    assert left == []
    assert results(graded_course.path)["daemon"]["score"] == 1.0


def test_links_and_oversized_exports_are_refused_with_a_reason(
        graded_course: GradedCourse) -> None:
    result = results(graded_course.path)["bad_exports"]
    refused = " ".join(note for note in result["notes"] if note.startswith("export refused"))
    assert "answer-loss_choice.json" in refused and "link" in refused
    assert "model-model.keras" in refused and "MB" in refused
    assert result["score"] == 1.0


def test_one_broken_submission_does_not_stop_the_batch(graded_course: GradedCourse) -> None:
    found = results(graded_course.path)
    assert found[BROKEN]["reason"] and found[BROKEN]["score"] == 0.0
    assert found["ref"]["score"] == found["ref"]["max_score"] == 4.0


def test_the_grader_leaves_no_staging_behind(graded_course: GradedCourse) -> None:
    assert graded_course.stages is not None and graded_course.stages.is_dir()
    assert list(graded_course.stages.iterdir()) == []


def test_plain_nbgrader_autograde_runs_kernels_confined(tmp_path: Path) -> None:
    from autograder.course import KERNEL_MANAGER

    course = build_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"c.Execute.kernel_manager_class = {KERNEL_MANAGER!r}\n")
    plant(course, "snoop", {"shape_answer": fill_in(SNOOP, course, 9, "unused")})
    nbgrader(course, "autograde", ASSIGNMENT, "--student", "snoop")
    seen = _snooped(course / "autograded" / "snoop" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    _only_the_python_environment(dict(seen["readable"]))
    assert not any(seen["writable"].values())
    assert seen["processes"] == [] and seen["network"] is False


def _grade(course: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    command = [str(Path(sys.executable).parent / "autograder"), "grade", str(course),
               ASSIGNMENT, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**course_env(), "COURSE_EPOCHS": "8"},
                            **popen)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def small_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course of its own, for tests that grade again or stop the grader."""
    course = build_course(tmp_path_factory.mktemp("regrade") / "course")
    plant(course, "ref", REFERENCE)
    plant(course, "endless", {"shape_answer": "while True:\n    pass"})
    return course


def test_grades_entered_by_hand_survive_and_automatic_ones_are_verified(
        small_course: Path) -> None:
    from nbgrader.api import Gradebook

    from autograder.grading import gradebook_url

    first = _grade(small_course, "--student", "ref")
    assert first.wait(timeout=900) == 0, first.stderr.read() if first.stderr else ""
    with Gradebook(gradebook_url(small_course), "grading-test") as gradebook:
        grade = gradebook.find_grade("shape_test", NOTEBOOK, ASSIGNMENT, "ref")
        grade.manual_score = 0.25
        gradebook.db.commit()
    again = _grade(small_course, "--student", "ref")
    assert again.wait(timeout=900) == 0
    with Gradebook(gradebook_url(small_course), "grading-test") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "ref")
        grades = {grade.name: grade for notebook in submission.notebooks
                  for grade in notebook.grades}
        assert len(gradebook.find_assignment(ASSIGNMENT).submissions) == 1
        assert grades["shape_test"].manual_score == 0.25
        verified = {task["grade_id"]: task["score"]
                    for task in results(small_course)["ref"]["tasks"]}
        assert {name: grade.auto_score for name, grade in grades.items()} == verified


def _below(pid: int, seen: set[int]) -> list[int]:
    """Add the pids of every process below ``pid`` to ``seen``; return them."""
    try:
        found = [proc.pid for proc in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
    seen.update(found)
    return found


def _spinning(pid: int) -> bool:
    """Whether ``pid`` is a kernel (a confined fork: its parent and grandparent are forkserver
    processes too) that has spent seconds of CPU, as the endless loop soon has.

    CPU time, not a share of a core: on a loaded machine a spinning kernel gets only a little.
    """
    try:
        proc = psutil.Process(pid)
        chain = [proc, *proc.parents()[:2]]
        forks = all(each.cmdline()[1:3] == ["-m", "autograder.grading.forkserver"]
                    for each in chain)
        spent = proc.cpu_times()
        return len(chain) == 3 and forks and spent.user + spent.system > 3.0
    except psutil.Error:
        return False


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_sigterm_stops_every_process_within_ten_seconds(small_course: Path) -> None:
    grader = _grade(small_course, "--student", "endless", "--timeout", "600")
    tree: set[int] = set()
    deadline = time.monotonic() + 300
    # Wait until the endless kernel runs: a forked process under the grader spinning a core.
    while not any(_spinning(pid) for pid in _below(grader.pid, tree)):
        if time.monotonic() > deadline:
            pytest.fail("the endless kernel never started")
    time.sleep(2)
    _below(grader.pid, tree)
    stopped = time.monotonic()
    grader.send_signal(signal.SIGTERM)
    code = grader.wait(timeout=30)
    assert time.monotonic() - stopped < 10
    assert code == 130
    assert "grading stopped" in (grader.stderr.read() if grader.stderr else "")
    assert [pid for pid in tree if _alive(pid)] == []
    # The gradebook is whole: it opens and answers.
    assert isinstance(gradebook_scores(small_course), dict)


def test_without_the_sandbox_every_row_says_so(small_course: Path) -> None:
    run = _grade(small_course, "--student", "ref", "--no-sandbox")
    out, err = run.communicate(timeout=900)
    assert run.returncode == 0, err[-2000:]
    assert "graded unconfined" in out
    assert results(small_course)["ref"]["confined"] is False


def test_grading_refuses_to_run_unconfined_without_being_told(
        small_course: Path, tmp_path: Path) -> None:
    # bubblewrap missing: the sandbox cannot be built.
    env = {**course_env(), "AUTOGRADER_BWRAP": str(tmp_path / "missing-bwrap")}
    done = subprocess.run([str(Path(sys.executable).parent / "autograder"), "grade",
                           str(small_course), ASSIGNMENT, "--student", "ref"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 3
    assert "--no-sandbox" in done.stderr and "Traceback" not in done.stderr
    assert os.path.basename(str(tmp_path / "missing-bwrap")) in done.stderr
