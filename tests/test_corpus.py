"""The grading corpus, graded end to end: right answers in any style earn every point, wrong
ones lose exactly their task, and the feedback says why.

For each assignment with a corpus module (``tests/corpus/<assignment>.py``), one course is built
with the real ``autograder build-course``, the assignment released with ``nbgrader
generate_assignment``, every case of the corpus planted as a learner of its own, the batch graded
with the real ``autograder grade`` and the feedback generated with ``nbgrader
generate_feedback``. A case is judged by the verified score of every grade cell in the gradebook
and by the feedback HTML the learner reads.
"""

from __future__ import annotations

import copy
import importlib
import re
import sys
from pathlib import Path

import nbformat
import pytest
from corpus import Case, feedback_text, reference_answers, run_cli

from autograder.choices import NAME_CELL_SOURCE, NAME_VARIABLE
from autograder.course import CourseLayout

BIN = Path(sys.executable).parent
CORPUS = Path(__file__).resolve().parent / "corpus"
ASSIGNMENTS = sorted(path.stem for path in CORPUS.glob("a*.py"))

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("corpus")]


def cases(assignment: str) -> list[Case]:
    """The corpus of one assignment.

    Args:
        assignment: Its name (a module of ``tests/corpus``).

    Returns:
        Its cases.
    """
    return list(importlib.import_module(f"corpus.{assignment}").CASES)


def plant(layout: CourseLayout, assignment: str, case: Case,
          reference: dict[str, str]) -> None:
    """Write a case's submission: the release notebook with the case's cells filled in.

    Args:
        layout: The course.
        assignment: Assignment name.
        case: The case.
        reference: :func:`reference_answers` of the assignment.
    """
    answers = {**reference, **case.edit(dict(reference))}
    unknown = set(answers) - set(reference)
    assert not unknown, f"{case.student}: no solution cell has the grade id(s) {sorted(unknown)}"
    submission = copy.deepcopy(nbformat.read(layout.release(assignment), as_version=4))
    for cell in submission.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        elif cell.source == NAME_CELL_SOURCE:
            cell.source = f"{NAME_VARIABLE} = {answers[NAME_VARIABLE]!r}"
    target = layout.submitted(case.student, assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(submission, target)
    (target.parent / "timestamp.txt").write_text("2026-01-01 12:00:00.000000 UTC")


def _points(layout: CourseLayout, assignment: str) -> dict[str, float]:
    source = nbformat.read(layout.notebooks[assignment], as_version=4)
    return {cell.metadata.nbgrader.grade_id: float(cell.metadata.nbgrader.points)
            for cell in source.cells if cell.metadata.get("nbgrader", {}).get("grade")}


def _scores(layout: CourseLayout, assignment: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{layout.gradebook}", "keras-classroom") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {grade.name: grade.score
                for notebook in submission.notebooks for grade in notebook.grades}


_GRADED: dict[str, tuple[CourseLayout, str]] = {}
# The course secret of the corpus's course (see course_root).
CORPUS_SECRET = "e9abbacf4190e6a0f104218601609b1309af8c6f1bf597d4453912028b2961b6"


@pytest.fixture(scope="module")
def course_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One built course for every assignment of the corpus."""
    root = tmp_path_factory.mktemp("corpus") / "course"
    run_cli(root.parent, str(BIN / "autograder"), "build-course", str(root), "--skip-timing")
    # The grader-only rows are drawn from the course secret, new with every built course. A fixed
    # one makes the corpus's figures the same run to run: a right case's model that clears its
    # bar by a hair on one draw of rows and misses it on another would make the test a lottery.
    from autograder.grading.layout import CourseLayout as Layout

    secret = Layout(root).secret
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(CORPUS_SECRET + "\n", encoding="utf-8")
    secret.chmod(0o600)
    return root


def graded(course_root: Path, assignment: str) -> tuple[CourseLayout, str]:
    """Plant and grade an assignment's corpus once; later calls return the same course.

    Args:
        course_root: The built course.
        assignment: Assignment name.

    Returns:
        The course layout and what ``autograder grade`` printed.
    """
    if assignment not in _GRADED:
        layout = CourseLayout(course_root, course_root / "nbgrader_config.py",
                              course_root / "gradebook.db",
                              {assignment: course_root / "source" / assignment /
                               f"{assignment}.ipynb"})
        run_cli(course_root, str(BIN / "nbgrader"), "generate_assignment", assignment, "--force")
        reference = reference_answers(nbformat.read(layout.notebooks[assignment], as_version=4))
        for case in cases(assignment):
            plant(layout, assignment, case, reference)
        output = run_cli(course_root, str(BIN / "autograder"), "grade", str(course_root),
                      assignment, "--workers", "2")
        run_cli(course_root, str(BIN / "nbgrader"), "generate_feedback", assignment, "--force")
        _GRADED[assignment] = (layout, output)
    return _GRADED[assignment]


def _corpus() -> list[tuple[str, Case]]:
    return [(assignment, case) for assignment in ASSIGNMENTS for case in cases(assignment)]


def test_the_corpus_has_three_right_and_three_wrong_solutions_per_assignment() -> None:
    students = [case.student for _, case in _corpus()]
    assert len(students) == len(set(students)), "student ids repeat across the corpus"
    for assignment in ASSIGNMENTS:
        right = [case for case in cases(assignment) if not case.lost]
        wrong = [case for case in cases(assignment) if case.lost]
        assert len(right) >= 3 and len(wrong) >= 3, (assignment, len(right), len(wrong))
        assert all(fragments for case in wrong for fragments in case.lost.values()), (
            f"{assignment}: every lost task names the fragments its message must show")


@pytest.mark.parametrize(("assignment", "case"), _corpus(),
                         ids=[case.student for _, case in _corpus()])
def test_a_corpus_case_earns_exactly_its_points_and_its_feedback_says_why(
        course_root: Path, assignment: str, case: Case) -> None:
    layout, output = graded(course_root, assignment)
    points = _points(layout, assignment)
    unknown = set(case.lost) - set(points)
    assert not unknown, f"{case.student}: no grade cell is called {sorted(unknown)}"
    expected = {cell: 0.0 if cell in case.lost else value for cell, value in points.items()}
    scores = _scores(layout, assignment, case.student)
    assert scores == pytest.approx(expected), (
        f"{case.student} ({case.why}): scores {scores}, expected {expected}\n{output[-2000:]}")
    text = feedback_text(layout.root, assignment, case.student)
    for cell, fragments in case.lost.items():
        for fragment in fragments:
            assert re.sub(r"\s+", " ", fragment) in text, (
                f"{case.student}: the feedback on {cell} does not say {fragment!r}")
