"""Recording a result and reading the report cost the same number of queries in any class.

The gradebooks here are nbgrader ones with classes of 10 and 200 learners. nbgrader's ORM
reads learner by learner; the grader's writer and the report read with bulk queries, and these
tests count the SQL statements each issues and compare what they find with what nbgrader's own
ORM reads from the same gradebook.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from autograder.grading.gradebook import record_grades
from autograder.grading.layout import CourseLayout
from autograder.grading.report import _label, collect

ASSIGNMENT = "a1"
# Two notebooks (labels are "notebook/grade_id"), and one task cell, whose grade nbgrader's
# find_grade never returns but whose score the report counts.
CELLS = {"part1": {"q1": 2.0, "q2": 1.0}, "part2": {"q3": 3.0, "q4": 1.0}}
TASK = ("part2", "t1", 2.0)


def make_class(folder: Path, learners: int, seed: int = 0) -> Path:
    """A course folder whose gradebook has ``learners`` learners.

    The assignment, notebooks and cells go through nbgrader's API; learners, submissions and
    grades are inserted into its tables in bulk (nbgrader's ``add_submission`` commits once per
    learner, minutes for a few hundred on a busy machine). Scores are random: some missing, some
    entered by hand, some with extra credit. One learner has a submission without notebooks
    (nbgrader keeps such a row when a notebook was deleted).

    Args:
        folder: Where to create it.
        learners: Number of learners.
        seed: Seed of the scores.

    Returns:
        The course folder.
    """
    import sqlalchemy.exc
    from nbgrader.api import Grade, Gradebook, Student, SubmittedAssignment, SubmittedNotebook
    from sqlalchemy import insert

    rng = random.Random(seed)
    folder.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    layout = CourseLayout(folder)
    # nbgrader runs `alembic` from PATH when it creates a gradebook.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with mock.patch.dict(os.environ, {"PATH": path}), \
            Gradebook(layout.db_url, layout.course_id) as gradebook, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        assignment = gradebook.add_assignment(ASSIGNMENT, duedate=datetime(2026, 11, 1))
        cells: dict[str, list[str]] = {}
        notebooks: dict[str, str] = {}
        for notebook, points in CELLS.items():
            notebooks[notebook] = gradebook.add_notebook(notebook, ASSIGNMENT).id
            cells[notebook] = [gradebook.add_grade_cell(cell, notebook, ASSIGNMENT,
                                                        max_score=top, cell_type="code").id
                               for cell, top in points.items()]
        cells[TASK[0]].append(gradebook.add_task_cell(TASK[1], TASK[0], ASSIGNMENT,
                                                      max_score=TASK[2],
                                                      cell_type="markdown").id)
        students = [f"s{index:03d}" for index in range(learners)]
        rows: dict[str, list[dict]] = {"submissions": [], "notebooks": [], "grades": []}
        for student in students:
            submission = uuid.uuid4().hex
            rows["submissions"].append({"id": submission, "assignment_id": assignment.id,
                                        "student_id": student})
            if student == "s001":
                continue
            for notebook, cell_ids in cells.items():
                submitted = uuid.uuid4().hex
                rows["notebooks"].append({"id": submitted, "assignment_id": submission,
                                          "notebook_id": notebooks[notebook]})
                for cell_id in cell_ids:
                    auto = rng.choice([None, 0.0, 0.5, 1.0])
                    rows["grades"].append({
                        "id": uuid.uuid4().hex, "cell_id": cell_id, "notebook_id": submitted,
                        "auto_score": auto,
                        "manual_score": 1.5 if rng.random() < 0.1 else None,
                        "extra_credit": 0.25 if rng.random() < 0.1 else None,
                        "needs_manual_grade": auto is None})
        session = gradebook.db
        session.execute(insert(Student.__table__),
                        [{"id": student} for student in [*students, "unsubmitted"]])
        session.execute(insert(SubmittedAssignment.__table__), rows["submissions"])
        session.execute(insert(SubmittedNotebook.__table__), rows["notebooks"])
        session.execute(insert(Grade.__table__), rows["grades"])
        session.commit()
    return folder


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Courses of 10 and 200 learners, made once."""
    root = tmp_path_factory.mktemp("scale")
    return {learners: make_class(root / f"class{learners}", learners)
            for learners in (10, 200)}


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """Collect the SQL statements every engine of this process runs meanwhile."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    found: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        found.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield found
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def verdicts(scores: dict[tuple[str, str], float]) -> list[SimpleNamespace]:
    """Verdicts as the grader passes them (only the fields the writer reads)."""
    return [SimpleNamespace(notebook=notebook, grade_id=cell, score=score)
            for (notebook, cell), score in scores.items()]


def orm_grades(course: Path, student: str) -> dict[str, tuple]:
    """``notebook/cell`` -> (auto, manual, needs manual grade), read through nbgrader's ORM."""
    from nbgrader.api import Gradebook

    layout = CourseLayout(course)
    with Gradebook(layout.db_url, layout.course_id) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return {f"{notebook.name}/{grade.name}": (grade.auto_score, grade.manual_score,
                                                  grade.needs_manual_grade)
                for notebook in submission.notebooks for grade in notebook.grades}


def test_recording_a_result_issues_as_many_statements_in_any_class(
        classes: dict[int, Path]) -> None:
    every = {(notebook, cell): 1.0 for notebook, cells in CELLS.items() for cell in cells}
    counts = {}
    for learners, course in classes.items():
        layout = CourseLayout(course)
        # The first call in a process checks the gradebook's schema once.
        record_grades(layout.db_url, ASSIGNMENT, "s002", verdicts(every),
                      course=layout.course_id)
        for label, chosen in (("one", dict(list(every.items())[:1])), ("every", every)):
            with statements() as found:
                record_grades(layout.db_url, ASSIGNMENT, f"s00{len(counts) % 3 + 3}",
                              verdicts(chosen), course=layout.course_id)
            counts[(learners, label)] = len(found)
    # Neither the class nor the number of cells changes it: the submission, its cells, their
    # grades, one write.
    assert set(counts.values()) == {4}, counts


def test_recorded_scores_are_the_verified_ones_and_hand_scores_stay(
        classes: dict[int, Path], tmp_path: Path) -> None:
    import shutil

    course = tmp_path / "course"
    shutil.copytree(classes[10], course)
    layout = CourseLayout(course)
    before = orm_grades(course, "s004")
    chosen = {("part1", "q1"): 2.0, ("part2", "q3"): 1.5, ("part2", "missing"): 1.0,
              ("part2", TASK[1]): 2.0}
    kernel = record_grades(layout.db_url, ASSIGNMENT, "s004", verdicts(chosen),
                           course=layout.course_id)
    # The kernel's scores are what the gradebook held (a task cell's too, as nbgrader's
    # find_grade finds it); a cell the gradebook has no grade for is not recorded.
    task = f"part2/{TASK[1]}"
    assert kernel == {"part1/q1": before["part1/q1"][0], "part2/q3": before["part2/q3"][0],
                      "part2/missing": None, task: before[task][0]}
    after = orm_grades(course, "s004")
    written = {"part1/q1": 2.0, "part2/q3": 1.5, task: 2.0}
    for key, (auto, manual, waiting) in after.items():
        if key in written:
            assert (auto, manual, waiting) == (written[key], before[key][1], False)
        else:
            assert (auto, manual, waiting) == before[key]
    # Recording again changes nothing; without read_kernel the kernel's scores are not read.
    assert set(record_grades(layout.db_url, ASSIGNMENT, "s004", verdicts(chosen),
                             course=layout.course_id, read_kernel=False).values()) == {None}
    assert orm_grades(course, "s004") == after


def test_a_learner_without_a_submission_gets_one_with_its_time(
        classes: dict[int, Path], tmp_path: Path) -> None:
    import shutil

    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(classes[10], course)
    layout = CourseLayout(course)
    submitted = datetime(2026, 10, 30, 9, 15)
    kernel = record_grades(layout.db_url, ASSIGNMENT, "newcomer",
                           verdicts({("part1", "q2"): 1.0}), course=layout.course_id,
                           timestamp=submitted)
    assert kernel == {"part1/q2": None}
    grades = orm_grades(course, "newcomer")
    assert grades["part1/q2"] == (1.0, None, False)
    assert grades["part1/q1"] == (None, None, True)
    with Gradebook(layout.db_url, layout.course_id) as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, "newcomer").timestamp == submitted


def reference_rows(course: Path) -> list[tuple[str, dict[str, float]]]:
    """Each learner's scores per question, read through nbgrader's ORM learner by learner."""
    from nbgrader.api import Gradebook

    layout = CourseLayout(course)
    with Gradebook(layout.db_url, layout.course_id) as gradebook:
        record = gradebook.find_assignment(ASSIGNMENT)
        return [(submission.student.id,
                 {_label(notebook.name, grade.name, True): float(grade.score or 0.0)
                  for notebook in submission.notebooks for grade in notebook.grades})
                for submission in sorted(record.submissions, key=lambda item: item.student.id)]


def test_report_reads_what_nbgrader_reads_in_as_many_statements_in_any_class(
        classes: dict[int, Path]) -> None:
    counts = {}
    for learners, course in classes.items():
        with statements() as found:
            report = collect(course, ASSIGNMENT)
        counts[learners] = len(found)
        assert [(row.student, row.scores) for row in report.rows] == reference_rows(course)
        assert report.questions == {f"{notebook}/{cell}": points
                                    for notebook, cells in CELLS.items()
                                    for cell, points in cells.items()}
        emptied = next(row for row in report.rows if row.student == "s001")
        assert emptied.scores == {} and len(report.rows) == learners
    assert counts[10] == counts[200], counts


def test_hand_scores_are_read_for_the_class_in_as_many_statements(
        classes: dict[int, Path]) -> None:
    from nbgrader.api import Gradebook

    from autograder.grading.gradebook import manual_scores

    counts = {}
    for learners, course in classes.items():
        layout = CourseLayout(course)
        with statements() as found:
            scores = manual_scores(layout.db_url, ASSIGNMENT, layout.course_id)
        counts[learners] = len(found)
        with Gradebook(layout.db_url, layout.course_id) as gradebook:
            expected = {(submission.student.id, notebook.name, grade.name): grade.manual_score
                        for submission in gradebook.find_assignment(ASSIGNMENT).submissions
                        for notebook in submission.notebooks for grade in notebook.grades}
        assert scores == expected
        assert any(score is not None for score in scores.values())
        assert manual_scores(layout.db_url, "no_such_assignment", layout.course_id) == {}
    assert counts[10] == counts[200], counts


def test_the_grader_indexes_what_the_formgrader_submission_list_joins(tmp_path: Path) -> None:
    # Which plan SQLite picks depends on the class (with one assignment a scan is as good);
    # benchmarks/class_size.py measures the gain on a course of several assignments. Here: the
    # indexes appear with the grader's first write, and the formgrader reads the same rows.
    from nbgrader.api import Gradebook
    from sqlalchemy import create_engine, inspect

    from autograder.grading.gradebook import INDEXES

    course = make_class(tmp_path / "class", 10)
    layout = CourseLayout(course)
    engine = create_engine(layout.db_url)

    def indexes() -> set[str]:
        return {index["name"] for _, table, _ in INDEXES
                for index in inspect(engine).get_indexes(table)}

    def submissions() -> list[dict]:
        with Gradebook(layout.db_url, layout.course_id) as gradebook:
            return [row for row in gradebook.submission_dicts(ASSIGNMENT)
                    if row["student"] != "s002"]  # the write below changes this one

    rows = submissions()
    assert not indexes() & {name for name, _, _ in INDEXES}
    record_grades(layout.db_url, ASSIGNMENT, "s002", verdicts({("part1", "q1"): 1.0}),
                  course=layout.course_id)
    assert {name for name, _, _ in INDEXES} <= indexes()
    assert sorted(submissions(), key=str) == sorted(rows, key=str)
