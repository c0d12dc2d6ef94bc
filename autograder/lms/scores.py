"""Each learner's total per assignment, read from nbgrader's gradebook in three queries.

The totals are the ones ``nbgrader export`` reports: per grade, the manual score when an
instructor entered one and the automatic score otherwise, plus extra credit (nbgrader's
``Grade.score``); summed over the assignment's notebooks; minus the late submission penalty
nbgrader recorded at autograde time, never below 0. nbgrader's ORM would issue queries per
learner and notebook (``find_submission`` and the score properties); a class of thousands needs
one aggregate query instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from autograder.errors import UsageError
from autograder.grading.layout import CourseLayout


class Submission(NamedTuple):
    """One learner's submission of one assignment (a tuple: a class has tens of thousands).

    Attributes:
        raw: The sum of its grades' scores.
        penalty: The late submission penalty nbgrader recorded.
        ungraded: Grades still waiting for an instructor (they count 0, as in nbgrader).
    """

    raw: float
    penalty: float
    ungraded: int

    @property
    def score(self) -> float:
        """The score nbgrader reports: the raw score less the penalty, at least 0."""
        return max(0.0, self.raw - self.penalty)


@dataclass
class Scores:
    """The gradebook's totals.

    Attributes:
        assignments: Assignment name -> max score, in export order.
        students: Every student id of the gradebook, sorted.
        submissions: (student, assignment) -> the submission, only where there is one.
    """

    assignments: dict[str, float]
    students: list[str]
    submissions: dict[tuple[str, str], Submission] = field(default_factory=dict)


def gradebook_path(course_dir: str | Path) -> Path | None:
    """The SQLite file of a course's gradebook.

    Args:
        course_dir: The nbgrader course directory.

    Returns:
        The file, or None when the gradebook is not SQLite (a database server).
    """
    from sqlalchemy.engine import make_url

    url = make_url(CourseLayout(course_dir).db_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    return Path(url.database)


def read_scores(course_dir: str | Path, assignments: Sequence[str] | None = None) -> Scores:
    """Read the total of every submission of some assignments.

    Args:
        course_dir: The nbgrader course directory.
        assignments: Assignment names, in the order to export them; None for every assignment
            of the gradebook, by name.

    Returns:
        The scores.

    Raises:
        UsageError: The course has no gradebook, or no such assignment.
    """
    layout = CourseLayout(course_dir)
    database = gradebook_path(course_dir)
    if database is not None and not database.is_file():
        # nbgrader's Gradebook would create an empty one: say what is missing instead.
        raise UsageError(f"{database} does not exist: COURSE must be an nbgrader course folder "
                         f"that `autograder grade` has graded.")
    from nbgrader.api import (
        Assignment,
        Grade,
        Gradebook,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )
    from sqlalchemy import case, func

    with Gradebook(layout.db_url, layout.course_id) as gradebook:
        session = gradebook.db
        maxima = dict(session.query(Assignment.name, Assignment.max_score).all())
        names = sorted(maxima) if assignments is None else list(dict.fromkeys(assignments))
        unknown = [name for name in names if name not in maxima]
        if unknown:
            known = ", ".join(sorted(maxima)) or "none"
            raise UsageError(f"the gradebook has no assignment "
                             f"{', '.join(repr(name) for name in unknown)} (it has: {known}).")
        students = sorted(student for (student,) in session.query(Student.id).all())
        # Grades summed per notebook first, then notebooks per submission: each notebook (and
        # its late penalty) then joins once, and SQLite scans the grades once.
        notebooks = (session.query(
            Grade.notebook_id.label("notebook"),
            func.sum(Grade.score).label("score"),
            func.sum(case((Grade.needs_manual_grade, 1), else_=0)).label("waiting"))
            .group_by(Grade.notebook_id).subquery())
        rows = (session.query(
            SubmittedAssignment.student_id, Assignment.name,
            func.coalesce(func.sum(notebooks.c.score), 0.0),
            func.coalesce(func.sum(SubmittedNotebook.late_submission_penalty), 0.0),
            func.coalesce(func.sum(notebooks.c.waiting), 0))
            .select_from(SubmittedAssignment)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .outerjoin(SubmittedNotebook,
                       SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .outerjoin(notebooks, notebooks.c.notebook == SubmittedNotebook.id)
            .filter(Assignment.name.in_(names))
            .group_by(SubmittedAssignment.id, SubmittedAssignment.student_id, Assignment.name)
            .all())
    scores = Scores({name: float(maxima[name] or 0.0) for name in names}, students)
    for student, assignment, raw, penalty, ungraded in rows:
        scores.submissions[(student, assignment)] = Submission(float(raw), float(penalty),
                                                               int(ungraded))
    return scores
