"""``autograder report``: CSV per student and question, and the plots, from a graded course."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _grading_course import (
    ASSIGNMENT,
    BROKEN,
    SUBMISSIONS,
    GradedCourse,
    gradebook_scores,
    shared_graded_course,
)

from autograder.report import collect

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("grading")]


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> GradedCourse:
    """The fixture course, every planted submission graded once by `autograder grade`."""
    return shared_graded_course(tmp_path_factory)


@pytest.fixture(scope="module")
def report_dir(graded_course: GradedCourse) -> Path:
    done = _autograder("report", str(graded_course.path), ASSIGNMENT)
    assert done.returncode == 0, done.stderr
    assert "most chosen wrong answer 'mse'" in done.stdout
    return graded_course.path / "grader" / "reports" / ASSIGNMENT


def _autograder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "autograder"), *args],
                          capture_output=True, text=True, env={**os.environ}, check=False)


def test_csv_has_a_row_per_student_and_a_column_per_question(
        graded_course: GradedCourse, report_dir: Path) -> None:
    with open(report_dir / "scores.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    # Every submission has a row, the one that was not a notebook included.
    assert sorted(rows) == sorted([*SUBMISSIONS, BROKEN])
    assert {row["confinement"] for row in rows.values()} == {"sandbox"}
    gradebook = gradebook_scores(graded_course.path)
    for student, row in rows.items():
        for question in ("shape_test", "loss_test", "model_test"):
            assert float(row[question]) == gradebook[student][question]
        assert float(row["total"]) == sum(gradebook[student].values())
        assert row["max_total"] == "4"
    assert rows["ref"]["total"] == "4"
    assert rows["memory_bomb"]["reason"] == "memory"
    # The kernel's score disagreed with the verified one: the instructor sees where.
    assert rows["always_equal"]["kernel_disagrees"] == "shape_test loss_test model_test"
    assert rows["ref"]["kernel_disagrees"] == ""


def test_most_chosen_wrong_answer_per_multiple_choice_question(
        graded_course: GradedCourse) -> None:
    report = collect(graded_course.path, ASSIGNMENT)
    assert len(report.wrong_answers) == 1
    wrong = report.wrong_answers[0]
    # "half" and "patch_keras" chose mse, "edit_grade_cells" binary_crossentropy; the answer
    # of "import_hook" never reached the grader and is not counted; "snoop" answered right.
    assert (wrong.question, wrong.answer, wrong.count) == ("loss_test", "mse", 2)
    assert wrong.answered == 7


def test_pass_rate_per_question(graded_course: GradedCourse) -> None:
    report = collect(graded_course.path, ASSIGNMENT)
    gradebook = gradebook_scores(graded_course.path)
    full = sum(1 for scores in gradebook.values() if scores["model_test"] == 2.0)
    assert report.pass_rate("model_test") == pytest.approx(full / len(gradebook))
    assert 0 < report.pass_rate("shape_test") < 1


@pytest.mark.parametrize("name", ["score_histogram.png", "pass_rate.png", "wrong_answers.png"])
def test_plots_are_written_as_png(report_dir: Path, name: str) -> None:
    data = (report_dir / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_unknown_assignment_is_a_clear_error(graded_course: GradedCourse) -> None:
    done = _autograder("report", str(graded_course.path), "a9")
    assert done.returncode == 2
    assert "no assignment 'a9'" in done.stderr and "Traceback" not in done.stderr


def test_a_cell_far_better_on_grader_rows_than_on_the_own_split_is_reported(
        graded_course: GradedCourse, tmp_path: Path) -> None:
    import json
    import shutil

    from autograder.grading.layout import CourseLayout

    # The honest reference is not flagged ...
    with open(graded_course.path / "grader" / "reports" / ASSIGNMENT / "scores.csv",
              newline="") as handle:
        assert {row["unseen_gap"] for row in csv.DictReader(handle)} == {""}
    # ... and a flag the verifier wrote reaches the CSV and the printout, with its figures.
    copy = tmp_path / "course"
    shutil.copytree(graded_course.path, copy, ignore=shutil.ignore_patterns("reports"))
    path = CourseLayout(copy).results(ASSIGNMENT) / "ref.json"
    result = json.loads(path.read_text())
    flag = "accuracy 0.900 on the grader-only rows but 0.010 on the learner's own test split"
    for task in result["tasks"]:
        if task["grade_id"] == "model_test":
            task["flag"] = flag
    path.write_text(json.dumps(result))
    done = _autograder("report", str(copy), ASSIGNMENT)
    assert done.returncode == 0, done.stderr
    assert f"ref model_test: {flag}" in done.stdout
    with open(copy / "grader" / "reports" / ASSIGNMENT / "scores.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["ref"]["unseen_gap"] == f"model_test: {flag}"
    assert rows["memory_bomb"]["unseen_gap"] == ""
