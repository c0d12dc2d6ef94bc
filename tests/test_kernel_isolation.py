"""Kernels share nothing with each other or with the grader, attacked from real submissions.

One batch graded by the real ``autograder grade`` (two workers) from a grader whose environment
holds a cloud key and whose session keyring holds a key of its own:

- ``a_holder`` fills ``/dev/shm``, makes POSIX and System V shared memory, a POSIX message
  queue, an abstract Unix socket and keys in its session and user keyrings, and holds them;
- ``b_seeker`` runs at the same time on the other worker and looks for all of them;
- ``c_after`` runs after the holder on the holder's worker (forked from the same preloader) and
  looks for what the holder left;
- ``e_environ`` prints every environment it can read (and earns full marks otherwise);
- ``l_*`` submit links, a FIFO, or a linked assignment folder instead of regular files.

Then the same attacks through plain ``nbgrader autograde`` on a course whose config is the one
``build-course`` writes.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from _grading_course import (
    ASSIGNMENT,
    NOTEBOOK,
    REFERENCE,
    build_course,
    course_env,
    gradebook_scores,
    nbgrader,
    plant,
    results,
)
from _isolation_attacks import (
    AFTER,
    ENVIRON,
    HOLDER,
    PRINT_SECRET,
    SEEKER,
    USE_ANSWERS,
    WITH_GRADER_KEY,
    files_holding,
    fill,
    reported,
)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("isolation"),
              pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"),
                                 reason="the attacks' keyring system call numbers")]

CLOUD_KEY = "AWS_SECRET_ACCESS_KEY"
LINKS = ("l_dir", "l_fifo", "l_notebook", "l_answers", "l_secret")


@dataclass
class Batch:
    """A course graded once, and the values no learner may see."""

    course: Path
    output: str
    cloud_secret: str
    course_secret: str
    grader_key: str
    grader_key_payload: str


def _plant_links(course: Path, secret_cell: str) -> None:
    """Submissions that are, or hold, something other than regular files."""
    source = course / "source" / ASSIGNMENT
    (course / "submitted" / "l_dir").mkdir(parents=True)
    (course / "submitted" / "l_dir" / ASSIGNMENT).symlink_to(source)
    folder = course / "submitted" / "l_notebook" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{NOTEBOOK}.ipynb").symlink_to(source / f"{NOTEBOOK}.ipynb")
    plant(course, "l_answers", {"shape_answer": USE_ANSWERS})
    (course / "submitted" / "l_answers" / ASSIGNMENT / "answers.json").symlink_to(
        course / "grader" / f"{ASSIGNMENT}.json")
    plant(course, "l_secret", {"shape_answer": secret_cell})
    (course / "submitted" / "l_secret" / ASSIGNMENT / "secret.txt").symlink_to(
        course / "grader" / "secret")
    plant(course, "l_fifo", REFERENCE)
    os.mkfifo(course / "submitted" / "l_fifo" / ASSIGNMENT / "data.csv")


def _secrets(course: Path) -> tuple[str, str, str]:
    course_secret = f"course-secret-{uuid.uuid4().hex}"
    (course / "grader" / "secret").write_text(course_secret + "\n")
    return course_secret, f"AKIA-{uuid.uuid4().hex}", f"ag-grader-key-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    course = build_course(tmp_path_factory.mktemp("isolation") / "course")
    course_secret, cloud_secret, grader_key = _secrets(course)
    payload = f"grader-key-payload-{uuid.uuid4().hex}"
    plant(course, "a_holder", {"shape_answer": fill(HOLDER, grader_key)})
    plant(course, "b_seeker", {"shape_answer": fill(SEEKER, grader_key)})
    plant(course, "c_after", {"shape_answer": fill(AFTER, grader_key)})
    plant(course, "e_environ", {**REFERENCE, "shape_answer": ENVIRON})
    _plant_links(course, PRINT_SECRET)
    command = [sys.executable, "-c", WITH_GRADER_KEY, grader_key, payload,
               str(Path(sys.executable).parent / "autograder"), "grade", str(course),
               ASSIGNMENT, "--workers", "2", "--timeout", "300"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False,
                          env={**course_env(), "COURSE_EPOCHS": "8", CLOUD_KEY: cloud_secret})
    assert done.returncode == 0, done.stderr[-3000:]
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT, "--force", check=False)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    return Batch(course, done.stdout + done.stderr, cloud_secret, course_secret, grader_key,
                 payload)


def _report(batch: Batch, student: str) -> dict:
    return reported(batch.course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb")


def test_a_kernel_has_a_small_dev_shm_of_its_own(batch: Batch) -> None:
    made = _report(batch, "a_holder")
    # 1200 MiB were asked for; its own /dev/shm holds 64 MiB.
    assert made["shm_mib"] <= 64 and made["fill_error"] == "No space left on device"
    assert made["posix"] and made["sysv"] and made["mqueue"] and made["abstract"]
    # Keyrings are refused to kernels altogether: a key whose permissions a kernel opened could
    # otherwise be read by id (listed in /proc/keys) from another kernel of the same account.
    assert made["session_key"] == made["user_key"] == "Operation not permitted"


def test_a_kernel_running_beside_it_reaches_none_of_it(batch: Batch) -> None:
    made, seen = _report(batch, "a_holder"), _report(batch, "b_seeker")
    # They ran at the same time: the seeker looked while the holder held everything.
    assert seen["start"] < made["end"] and made["start"] < seen["end"]
    assert seen["ipc"] == [] and seen["keys"] == {}


def test_the_next_kernel_of_its_preloader_finds_nothing_left(batch: Batch) -> None:
    made, seen = _report(batch, "a_holder"), _report(batch, "c_after")
    assert seen["start"] > made["end"]
    assert seen["ipc"] == [] and seen["keys"] == {} and seen["shm"] == []


def test_no_kernel_reads_the_graders_keys(batch: Batch) -> None:
    assert _report(batch, "a_holder")["grader_key"] == {}
    assert files_holding(batch.course, batch.grader_key_payload) == []


def test_no_variable_of_the_graders_shell_reaches_a_kernel(batch: Batch) -> None:
    found = _report(batch, "e_environ")
    # It printed what it had: the settings grading needs, nothing of the grader's shell.
    assert found["environ"]["KERAS_BACKEND"] and found["environ"]["COURSE_EPOCHS"] == "8"
    assert CLOUD_KEY not in found["environ"]
    assert not any(CLOUD_KEY in text for key, text in found.items() if key != "environ")
    # Nowhere: not in an output, an autograded notebook, the feedback, a result or a log.
    assert files_holding(batch.course, batch.cloud_secret) == []
    assert results(batch.course)["e_environ"]["score"] == 4.0


@pytest.mark.parametrize(("student", "named"), [
    ("l_dir", "the folder a1 is a symbolic link"),
    ("l_fifo", "a1/data.csv is a FIFO"),
    ("l_notebook", "a1/a1.ipynb is a symbolic link"),
    ("l_answers", "a1/answers.json is a symbolic link"),
    ("l_secret", "a1/secret.txt is a symbolic link"),
])
def test_a_submission_of_anything_but_regular_files_is_refused_by_name(
        batch: Batch, student: str, named: str) -> None:
    result = results(batch.course)[student]
    assert result["reason"].startswith("refused: ") and named in result["reason"]
    assert result["score"] == 0.0
    assert all(task["score"] == 0.0 and named in task["message"] for task in result["tasks"])
    # The summary shows it, and nothing of it was graded or copied.
    assert any(line.startswith(student) and "refused" in line
               for line in batch.output.splitlines())
    assert not (batch.course / "autograded" / student).exists()
    assert gradebook_scores(batch.course)[student] == dict.fromkeys(
        ("shape_test", "loss_test", "model_test"), 0.0)


def test_no_linked_file_reaches_a_learner(batch: Batch) -> None:
    assert files_holding(batch.course / "autograded", batch.course_secret) == []
    assert files_holding(batch.course / "feedback", batch.course_secret) == []
    assert files_holding(batch.course / "grader" / "results", batch.course_secret) == []


# --------------------------------------------------------------------- plain nbgrader autograde


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """The same attacks graded by plain ``nbgrader autograde`` with build-course's config."""
    from autograder.course import config_text

    course = build_course(tmp_path_factory.mktemp("plain") / "course")
    # build-course's config for this course (its gradebook and confinement), under the
    # fixture's course id.
    (course / "nbgrader_config.py").write_text(
        config_text(course) + "c.CourseDirectory.course_id = 'grading-test'\n"
        "c.Execute.timeout = 120\n")
    course_secret, cloud_secret, grader_key = _secrets(course)
    # The first kernel starts with bubblewrap while the preloader imports; the later ones
    # fork from it, as the holder and the one after it must.
    plant(course, "a_first", REFERENCE)
    plant(course, "b_holder", {"shape_answer": fill(HOLDER, grader_key, hold=1)})
    plant(course, "c_after", {"shape_answer": fill(AFTER, grader_key)})
    plant(course, "e_environ", {**REFERENCE, "shape_answer": ENVIRON})
    _plant_links(course, PRINT_SECRET)
    payload = f"grader-key-payload-{uuid.uuid4().hex}"
    command = [sys.executable, "-c", WITH_GRADER_KEY, grader_key, payload, sys.executable,
               "-m", "nbgrader", "autograde", ASSIGNMENT]
    done = subprocess.run(command, cwd=course, capture_output=True, text=True, timeout=1800,
                          check=False, env={**course_env(), "COURSE_EPOCHS": "8",
                                            CLOUD_KEY: cloud_secret})
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force", check=False)
    return Batch(course, done.stdout + done.stderr, cloud_secret, course_secret, grader_key,
                 payload)


def test_plain_nbgrader_refuses_links_and_fifos_by_name(plain: Batch) -> None:
    for student, named in (("l_dir", "the folder a1 is a symbolic link"),
                           ("l_fifo", "a1/data.csv is a FIFO"),
                           ("l_notebook", "a1/a1.ipynb is a symbolic link"),
                           ("l_answers", "a1/answers.json is a symbolic link"),
                           ("l_secret", "a1/secret.txt is a symbolic link")):
        assert f"refused: {named}" in plain.output, (student, plain.output[-3000:])
        assert not (plain.course / "autograded" / student).exists()
    assert files_holding(plain.course / "autograded", plain.course_secret) == []
    assert files_holding(plain.course / "feedback", plain.course_secret) == []
    # Each refused submission has zero on every grade cell; the others are graded as usual.
    scores = gradebook_scores(plain.course)
    assert all(scores[student] == dict.fromkeys(("shape_test", "loss_test", "model_test"), 0.0)
               for student in LINKS)
    assert scores["a_first"] == {"shape_test": 1.0, "loss_test": 1.0, "model_test": 2.0}
    assert sum(scores["e_environ"].values()) == 4.0


def test_plain_nbgrader_kernels_share_nothing_and_inherit_no_environment(plain: Batch) -> None:
    made = reported(plain.course / "autograded" / "b_holder" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    seen = reported(plain.course / "autograded" / "c_after" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    assert made["shm_mib"] <= 64 and made["grader_key"] == {}
    assert made["session_key"] == "Operation not permitted"
    assert seen["ipc"] == [] and seen["keys"] == {} and seen["shm"] == []
    found = reported(plain.course / "autograded" / "e_environ" / ASSIGNMENT
                     / f"{NOTEBOOK}.ipynb")
    assert CLOUD_KEY not in found["environ"] and found["environ"]["COURSE_EPOCHS"] == "8"
    assert files_holding(plain.course, plain.cloud_secret) == []
    assert files_holding(plain.course, plain.grader_key_payload) == []
