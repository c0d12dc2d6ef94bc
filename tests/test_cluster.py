"""Grading on a real Dask cluster (``dask scheduler`` and ``dask worker`` on 127.0.0.1).

The cluster must grade exactly as one machine does, even when a worker is lost mid-batch;
a submission whose tasks keep losing workers is stopped and recorded with its reason; a lost
scheduler stops the batch with a clear message; and the course secret never reaches a kernel.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from _dask_cluster import DaskCluster, running
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

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("cluster")]

TIMEOUT = 90
# Looks for the course secret wherever a course copy could be, and prints what it finds.
SECRET_SNOOP = """\
import glob, os
found = []
for pattern in ("/var/tmp/*/course/grader/secret", "/var/tmp/*/*/grader/secret",
                "/tmp/*/course/grader/secret", "/var/tmp/*", "/tmp/*"):
    for path in glob.glob(pattern):
        try:
            found.append((path, open(path).read() if os.path.isfile(path) else "folder"))
        except OSError as exc:
            found.append((path, exc.strerror))
print("SNOOPED", found)
output_shape = (None, 10)"""
STUDENTS = {
    "ref": REFERENCE,
    "half": {"shape_answer": SHAPE, "loss_answer": 'loss_choice = "mse"'},
    "empty": {},
    "os_exit": {"shape_answer": SHAPE, "loss_answer": "import os\nos._exit(1)"},
    "snoop": {"shape_answer": SECRET_SNOOP, "loss_answer": LOSS},
    # Right answers, and a link to the course secret beside the notebook: refused by name.
    "linked": REFERENCE,
}
ENV = {"COURSE_EPOCHS": "8"}


def _grade(course: Path, *options: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "autograder"), "grade", str(course), ASSIGNMENT,
         "--timeout", str(TIMEOUT), *options],
        capture_output=True, text=True, env={**course_env(), **ENV}, timeout=timeout,
        check=False)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture course with the planted submissions, never graded (tests copy it)."""
    course = build_course(tmp_path_factory.mktemp("cluster") / "course")
    for student, answers in STUDENTS.items():
        plant(course, student, answers)
    (course / "submitted" / "linked" / ASSIGNMENT / "notes.txt").symlink_to(
        course / "grader" / "secret")
    return course


def _copy(course: Path, name: str) -> Path:
    target = course.parent / name
    # Links stay links: a planted submission holds one.
    shutil.copytree(course, target, symlinks=True)
    return target


def _kill_a_busy_worker(cluster: DaskCluster, killed: dict, stop: threading.Event,
                        only: str | None = None, times: int = 1) -> None:
    """SIGKILL the worker process running a grading task (``only``'s task, when given), as a
    lost machine would end it, up to ``times`` times; remember what it had started."""
    with cluster.client() as client:
        while not stop.is_set() and killed.get("count", 0) < times:
            try:
                busy = sorted(address for address, keys in client.processing().items()
                              if any(str(key).startswith("grade-")
                                     and (only is None or f"-{only}-" in str(key))
                                     for key in keys))
                if busy:
                    pid = cluster.worker_pid(client, busy[0])
                    children = [child.pid for child in psutil.Process(pid).children(
                        recursive=True)]
                    os.kill(pid, signal.SIGKILL)
                    killed["count"] = killed.get("count", 0) + 1
                    killed.setdefault("children", []).extend(children)
            except Exception as exc:  # noqa: BLE001 - a worker between lives: look again
                killed.setdefault("errors", []).append(repr(exc))
            time.sleep(0.2)


def test_a_cluster_grades_as_one_machine_does_even_when_a_worker_is_lost(
        course: Path, tmp_path: Path) -> None:
    local, on_cluster = _copy(course, "local"), _copy(course, "on-cluster")
    graded = _grade(local, "--workers", "2")
    assert graded.returncode == 0, graded.stderr[-3000:]
    with running(tmp_path / "dask", 2, env=ENV) as cluster:
        killed: dict = {}
        stop = threading.Event()
        killer = threading.Thread(target=_kill_a_busy_worker, args=(cluster, killed, stop))
        killer.start()
        try:
            done = _grade(on_cluster, "--scheduler", cluster.address)
        finally:
            stop.set()
            killer.join()
    assert done.returncode == 0, done.stderr[-3000:]
    assert killed.get("count") == 1  # a worker was lost mid-batch ...
    # ... and nothing was lost or counted twice: one result per student, the same as locally.
    assert gradebook_scores(on_cluster) == gradebook_scores(local)
    assert gradebook_scores(on_cluster)["ref"] == {"shape_test": 1.0, "loss_test": 1.0,
                                                   "model_test": 2.0}
    here, there = results(local), results(on_cluster)
    assert sorted(there) == sorted(STUDENTS)
    for student in STUDENTS:
        assert there[student]["reason"] == here[student]["reason"], student
        assert ([(task["grade_id"], task["score"], task["outcome"])
                 for task in there[student]["tasks"]]
                == [(task["grade_id"], task["score"], task["outcome"])
                    for task in here[student]["tasks"]]), student
    # A link in the folder refuses the submission by name on the cluster too.
    assert there["linked"]["reason"].startswith("refused: ") and "notes.txt" in (
        there["linked"]["reason"])
    # The summary lists each student once; the autograded notebooks came back for feedback
    # (nbgrader keeps none for a notebook whose kernel died, on a cluster as locally).
    summary = [line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()]
    assert sorted(summary) == sorted(STUDENTS)
    for student in STUDENTS:
        notebook = Path("autograded", student, ASSIGNMENT, "a1.ipynb")
        assert (on_cluster / notebook).is_file() == (local / notebook).is_file(), student
    assert (on_cluster / "autograded" / "ref" / ASSIGNMENT / "a1.ipynb").is_file()
    # What the lost worker had started did not outlive it.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(psutil.pid_exists(pid)
                                              for pid in killed["children"]):
        time.sleep(0.5)
    assert not [pid for pid in killed["children"] if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    # The kernel looked for the course secret on its worker and found none of it.
    secret = (on_cluster / "grader" / "secret").read_text().strip()
    snooped = nbformat.read(on_cluster / "autograded" / "snoop" / ASSIGNMENT / "a1.ipynb",
                            as_version=4)
    printed = "".join(output.get("text", "") for cell in snooped.cells
                      for output in cell.get("outputs", []))
    assert "SNOOPED" in printed and secret not in printed


def test_a_submission_that_keeps_losing_workers_is_stopped_with_its_reason(
        course: Path, tmp_path: Path) -> None:
    target = _copy(course, "poisoned")
    plant(target, "poison", REFERENCE)
    # One failure allowed: the second worker lost on that submission ends its tries. One
    # worker, which its nanny starts again each time; the same cluster then grades the next
    # batch as usual.
    env = {**ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    with running(tmp_path / "dask", 1, nanny=True, env=env) as cluster:
        killed: dict = {}
        stop = threading.Event()
        killer = threading.Thread(target=_kill_a_busy_worker,
                                  args=(cluster, killed, stop, "poison", 2))
        killer.start()
        try:
            done = _grade(target, "--scheduler", cluster.address, "--student", "poison")
        finally:
            stop.set()
            killer.join()
        after = _grade(target, "--scheduler", cluster.address, "--student", "ref")
    assert done.returncode == 0, done.stderr[-3000:]
    assert killed.get("count") == 2, killed
    found = results(target)
    assert found["poison"]["reason"].startswith("lost:")
    assert found["poison"]["score"] == 0.0
    assert all("could not be graded" in task["message"] for task in found["poison"]["tasks"])
    assert "poison" in done.stdout and "lost:" in done.stdout
    assert after.returncode == 0, after.stderr[-3000:]
    scores = gradebook_scores(target)
    assert sum(scores["poison"].values()) == 0.0
    assert sum(scores["ref"].values()) == 4.0 and found["ref"]["reason"] is None


def test_a_lost_scheduler_stops_the_batch_with_a_clear_message(
        course: Path, tmp_path: Path) -> None:
    target = _copy(course, "scheduler-lost")
    with running(tmp_path / "dask", 1, env=ENV) as cluster:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "autograder"), "grade", str(target), ASSIGNMENT,
             "--timeout", str(TIMEOUT), "--scheduler", cluster.address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**course_env(), **ENV})
        with cluster.client() as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not any(client.processing().values()):
                time.sleep(0.2)
        cluster.stop_scheduler()
        out, err = process.communicate(timeout=300)
    assert process.returncode == 4, err[-3000:]
    assert f"lost the Dask scheduler at {cluster.address}" in err
    assert "run the command again" in err


def test_an_unreachable_scheduler_or_a_bad_address_is_named(
        course: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from autograder.cli import main
    from autograder.grading import cluster

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 2)
    # Nothing listens on port 9 of the loopback.
    assert main(["grade", str(course), ASSIGNMENT, "--scheduler", "tcp://127.0.0.1:9"]) == 4
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert main(["grade", str(course), ASSIGNMENT, "--scheduler", "tcp://127.0.0.1:9",
                 "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["grade", str(course), ASSIGNMENT, "--scheduler", "127.0.0.1"]) == 2
    assert "is not a scheduler address" in capsys.readouterr().err
