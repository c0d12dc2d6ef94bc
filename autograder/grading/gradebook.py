"""The only writer of verified scores into nbgrader's gradebook."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any


def record_grades(db_url: str, assignment: str, student: str, verdicts: Sequence[Any], *,
                  course: str = "default_course", read_kernel: bool = True,
                  timestamp: Any = None, attempts: int = 8) -> dict[str, float | None]:
    """Write verified scores into the gradebook and return the kernel's scores they replace.

    Creates the student and submission when nbgrader never got that far (a worker killed while
    starting), so every submission ends up with a grade for every verified cell. Only
    ``auto_score`` changes: a score an instructor entered by hand (``manual_score``) stays, and
    nbgrader shows it in place of the automatic one as usual. Writing the same verdicts twice
    leaves the same gradebook, so a retried submission is never counted twice.

    Args:
        db_url: Gradebook URL.
        assignment: Assignment name.
        student: Student id.
        verdicts: The verified verdicts (anything with ``notebook``, ``grade_id``, ``score``).
        course: nbgrader course id.
        read_kernel: Read the current ``auto_score`` as the kernel's score (only meaningful
            right after a successful autograde).
        timestamp: When the learner submitted (a ``datetime``), for a grader that records a
            submission nbgrader did not autograde here (cluster grading); None keeps what the
            gradebook has.
        attempts: Retries when the database is locked beyond its own timeout.

    Returns:
        ``"notebook/grade_id"`` -> kernel score (None when not read or not recorded).
    """
    import sqlalchemy.exc
    from nbgrader.api import Gradebook, MissingEntry

    for attempt in range(attempts):
        try:
            with Gradebook(db_url, course) as gradebook, warnings.catch_warnings():
                # nbgrader's add_submission trips SQLAlchemy's cascade warnings; they are noise.
                warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
                try:
                    gradebook.find_submission(assignment, student)
                except MissingEntry:
                    gradebook.update_or_create_student(student)
                    gradebook.add_submission(assignment, student)
                if timestamp is not None:
                    gradebook.update_or_create_submission(assignment, student,
                                                          timestamp=timestamp)
                kernel: dict[str, float | None] = {}
                for verdict in verdicts:
                    key = f"{verdict.notebook}/{verdict.grade_id}"
                    try:
                        grade = gradebook.find_grade(verdict.grade_id, verdict.notebook,
                                                     assignment, student)
                    except MissingEntry:
                        kernel[key] = None
                        continue
                    kernel[key] = grade.auto_score if read_kernel else None
                    grade.auto_score = verdict.score
                    grade.needs_manual_grade = False
                gradebook.db.commit()
                return kernel
        except sqlalchemy.exc.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def manual_scores(db_url: str, assignment: str, course: str = "default_course"
                  ) -> dict[tuple[str, str, str], float | None]:
    """Read every hand-entered score of an assignment.

    Args:
        db_url: Gradebook URL.
        assignment: Assignment name.
        course: nbgrader course id.

    Returns:
        (student, notebook, grade_id) -> ``manual_score``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    found: dict[tuple[str, str, str], float | None] = {}
    with Gradebook(db_url, course) as gradebook:
        try:
            submissions = gradebook.find_assignment(assignment).submissions
        except MissingEntry:
            return found
        for submission in submissions:
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    found[(submission.student.id, notebook.name, grade.name)] = (
                        grade.manual_score)
    return found
