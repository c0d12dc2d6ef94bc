"""A built course holding a class of any size, for :mod:`class_size`: no kernel runs.

The course is a real one (``autograder build-course``, without timing the references): its
config, manifests and secret. Into it go, for ``learners`` learners:

- the gradebook's assignments, notebooks and grade cells, through ``nbgrader.api.Gradebook``,
  as ``nbgrader generate_assignment`` records them (from each assignment's manifest);
- students, submissions and grades, inserted in bulk into the gradebook's own tables (adding
  tens of thousands of submissions one by one through nbgrader's ORM would take far longer than
  anything measured), 9 in 10 learners submitting each assignment, a few late or graded by hand;
- for the measured assignment, each submitting learner's ``submitted/`` and ``autograded/``
  folders with nbgrader's ``timestamp.txt`` (what the formgrader reads to call a submission
  graded) and the grader's result JSON, written by the grader's own
  :func:`~autograder.grading.results.write_result`, with answers drawn from each task's choices;
- a Canvas and a Moodle roster of every learner.
"""

from __future__ import annotations

import csv
import os
import random
import sys
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from unittest import mock

SUBMITTED_AT = datetime(2026, 10, 30, 12, 0, 0)
# nbgrader's own timestamp.txt format (nbgrader collect writes it so).
TIMESTAMP_TEXT = "2026-10-30 12:00:00.000000 UTC"


@dataclass
class ClassCourse:
    """A course built by :func:`build`.

    Attributes:
        root: The course folder.
        assignment: The assignment whose results, folders and report are measured.
        assignments: Every assignment of the gradebook.
        students: Every learner id, sorted.
        submitted: Learners with a submission of ``assignment``, sorted.
        canvas: The Canvas roster.
        moodle: The Moodle roster (learners keyed by ``Username``).
    """

    root: Path
    assignment: str
    assignments: list[str]
    students: list[str]
    submitted: list[str]
    canvas: Path
    moodle: Path


def build(folder: Path, learners: int, assignment: str, seed: int = 0) -> ClassCourse:
    """Build the course with ``learners`` learners in ``folder/course``.

    Args:
        folder: An empty temporary folder.
        learners: Number of learners.
        assignment: The assignment to measure (one of the course's).
        seed: Seed of the synthetic scores and answers.

    Returns:
        The course.
    """
    from autograder.course import build_course
    from autograder.grading.manifest import load as load_manifest

    root = folder / "course"
    built = build_course(root)
    manifests = {name: load_manifest(root, name) for name in built.assignments}
    if assignment not in manifests:
        raise SystemExit(f"no assignment {assignment!r}; the course has {', '.join(manifests)}")
    students = [f"learner{index:05d}" for index in range(learners)]
    rng = random.Random(seed)
    submitted = _fill_gradebook(root, manifests, students, assignment, rng)
    _write_folders_and_results(root, manifests[assignment], submitted, rng)
    course = ClassCourse(root, assignment, list(manifests), students, submitted,
                         folder / "canvas.csv", folder / "moodle.csv")
    _write_rosters(course)
    return course


def _fill_gradebook(root: Path, manifests: dict, students: list[str], measured: str,
                    rng: random.Random) -> list[str]:
    """Write the gradebook; return the learners who submitted ``measured``."""
    import sqlalchemy.exc
    from nbgrader.api import Grade, Gradebook, Student, SubmittedAssignment, SubmittedNotebook
    from sqlalchemy import insert

    from autograder.grading.layout import CourseLayout

    layout = CourseLayout(root)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    submitted: list[str] = []
    # nbgrader runs `alembic` from PATH when it creates a gradebook.
    with mock.patch.dict(os.environ, {"PATH": path}), \
            Gradebook(layout.db_url, layout.course_id) as gradebook, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        cells: dict[str, tuple[str, dict[str, str], dict[str, list[tuple[str, float]]]]] = {}
        for name, manifest in manifests.items():
            record = gradebook.add_assignment(name, duedate=datetime(2026, 11, 1))
            notebooks: dict[str, str] = {}
            grade_cells: dict[str, list[tuple[str, float]]] = {}
            for task in manifest.tasks:
                if task.notebook not in notebooks:
                    notebooks[task.notebook] = gradebook.add_notebook(task.notebook, name).id
                cell = gradebook.add_grade_cell(task.grade_id, task.notebook, name,
                                                max_score=task.points, cell_type="code")
                grade_cells.setdefault(task.notebook, []).append((cell.id, task.points))
            cells[name] = (record.id, notebooks, grade_cells)
        rows: dict[str, list[dict]] = {"submissions": [], "notebooks": [], "grades": []}
        for student in students:
            for name, (assignment_id, notebooks, grade_cells) in cells.items():
                if rng.random() < 0.1:
                    continue  # no submission
                if name == measured:
                    submitted.append(student)
                submission_id = uuid.uuid4().hex
                rows["submissions"].append({"id": submission_id, "assignment_id": assignment_id,
                                            "student_id": student, "timestamp": SUBMITTED_AT})
                for notebook, notebook_id in notebooks.items():
                    submitted_notebook = uuid.uuid4().hex
                    late = 1.0 if rng.random() < 0.05 else None
                    rows["notebooks"].append({
                        "id": submitted_notebook, "assignment_id": submission_id,
                        "notebook_id": notebook_id, "flagged": False,
                        "late_submission_penalty": late})
                    for cell_id, points in grade_cells[notebook]:
                        rows["grades"].append({
                            "id": uuid.uuid4().hex, "cell_id": cell_id,
                            "notebook_id": submitted_notebook,
                            "auto_score": float(rng.choice((0.0, points / 2, points))),
                            "manual_score": points if rng.random() < 0.02 else None,
                            "needs_manual_grade": False})
        session = gradebook.db
        session.execute(insert(Student.__table__), [{"id": student} for student in students])
        if rows["submissions"]:
            session.execute(insert(SubmittedAssignment.__table__), rows["submissions"])
            session.execute(insert(SubmittedNotebook.__table__), rows["notebooks"])
            session.execute(insert(Grade.__table__), rows["grades"])
        session.commit()
    return submitted


def synthetic_verdicts(manifest, rng: random.Random) -> list:
    """One verdict per task of ``manifest``, with an answer drawn from the task's choices.

    Args:
        manifest: An assignment's manifest.
        rng: The random source.

    Returns:
        The verdicts, as ``autograder grade`` produces them.
    """
    from autograder.grading.verify import Verdict

    verdicts = []
    for task in manifest.tasks:
        answer = rng.choice(task.choices) if task.choices else None
        score = float(rng.choice((0.0, task.points)))
        verdicts.append(Verdict(task.notebook, task.grade_id, task.name, task.points, score,
                                "passed" if score else "failed", "synthetic", answer))
    return verdicts


def _write_folders_and_results(root: Path, manifest, submitted: list[str],
                               rng: random.Random) -> None:
    from autograder.grading.layout import CourseLayout
    from autograder.grading.results import SubmissionResult, TaskResult, write_result

    layout = CourseLayout(root)
    results = layout.results(manifest.assignment)
    for student in submitted:
        for step in ("submitted", "autograded"):
            folder = layout.step(step, student, manifest.assignment)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "timestamp.txt").write_text(TIMESTAMP_TEXT, encoding="utf-8")
        result = SubmissionResult(student, seconds=30.0, peak_kernel_mb=400.0)
        for verdict in synthetic_verdicts(manifest, rng):
            kernel = verdict.score if rng.random() < 0.98 else verdict.max_score - verdict.score
            result.tasks.append(TaskResult(**verdict.to_dict(), kernel_score=kernel))
        write_result(results, result)


def _write_rosters(course: ClassCourse) -> None:
    columns = [f"{name} ({1000 + index})" for index, name in enumerate(course.assignments)]
    with open(course.canvas, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *columns])
        writer.writerow(["    Points Possible", "", "", "", "", *[""] * len(columns)])
        for index, student in enumerate(course.students):
            writer.writerow([f"Learner, {index}", 10000 + index, f"S{index:05d}", student,
                             "Section A", *[""] * len(columns)])
    items = [f"Assignment: {name} (Real)" for name in course.assignments]
    with open(course.moodle, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First name", "Last name", "Username", "Email address", *items,
                         "Last downloaded from this course"])
        for index, student in enumerate(course.students):
            writer.writerow(["Learner", str(index), student, f"{student}@example.edu",
                             *["-"] * len(items), "1764590400"])
