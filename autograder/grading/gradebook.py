"""The only writer of verified scores into nbgrader's gradebook."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

# Engines by process and gradebook URL: opening nbgrader's Gradebook costs some twenty
# statements (its schema check) before the first grade, so each process checks a gradebook once.
# NullPool holds no connection between calls, so a forked worker never shares one with its parent.
_ENGINES: dict[tuple[int, str, str], Any] = {}


def _engine(db_url: str, course: str) -> Any:
    """The engine of a gradebook whose schema and course row this process has made sure of."""
    key = (os.getpid(), db_url, course)
    engine = _ENGINES.get(key)
    if engine is None:
        from nbgrader.api import Gradebook
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        # nbgrader's constructor creates missing tables and the course row, as it did per call.
        with Gradebook(db_url, course):
            pass
        engine = create_engine(db_url, poolclass=NullPool)
        add_indexes(engine)
        _ENGINES[key] = engine
    return engine


# Foreign keys that nbgrader's schema leaves without an index, though its formgrader's
# submission list (``Gradebook.submission_dicts``) joins every grade of the class through them:
# without them that page's query grows faster than the class (measured on SQLite: 0.83 s of CPU
# at 1,000 learners, 5.2 s at 3,000; with them 0.34 s and 1.1 s, benchmarks/class_size.py).
INDEXES = (("ix_grade_notebook_id", "grade", "notebook_id"),
           ("ix_submitted_notebook_assignment_id", "submitted_notebook", "assignment_id"),
           ("ix_submitted_assignment_assignment_id", "submitted_assignment", "assignment_id"))


def add_indexes(engine: Any) -> None:
    """Add the indexes of :data:`INDEXES` that a gradebook lacks (nothing else changes).

    Args:
        engine: A SQLAlchemy engine on an nbgrader gradebook.
    """
    from sqlalchemy import Column, Index, MetaData, String, Table

    metadata = MetaData()
    for name, table, column in INDEXES:
        # A table stand-in naming only the column: the index is all that is created.
        Index(name, Table(table, metadata, Column(column, String)).c[column]).create(
            engine, checkfirst=True)


def record_grades(db_url: str, assignment: str, student: str, verdicts: Sequence[Any], *,
                  course: str = "default_course", read_kernel: bool = True,
                  timestamp: Any = None, attempts: int = 8) -> dict[str, float | None]:
    """Write verified scores into the gradebook and return the kernel's scores they replace.

    Creates the student and submission when nbgrader never got that far (a worker killed while
    starting), so every submission ends up with a grade for every verified cell. Only
    ``auto_score`` changes: a score an instructor entered by hand (``manual_score``) stays, and
    nbgrader shows it in place of the automatic one as usual. Writing the same verdicts twice
    leaves the same gradebook, so a retried submission is never counted twice.

    The grades are found by one query and written by one statement, whatever the size of the
    class or the number of verdicts: nbgrader's ``find_grade`` would run a query per grade cell
    and its ``Gradebook`` a schema check per call.

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

    for attempt in range(attempts):
        try:
            return _record(_engine(db_url, course), db_url, assignment, student, verdicts,
                           course, read_kernel, timestamp)
        except sqlalchemy.exc.OperationalError:
            # Check the schema again next time: the gradebook may have been replaced meanwhile.
            _ENGINES.pop((os.getpid(), db_url, course), None)
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _record(engine: Any, db_url: str, assignment: str, student: str, verdicts: Sequence[Any],
            course: str, read_kernel: bool, timestamp: Any) -> dict[str, float | None]:
    """One attempt of :func:`record_grades`: a lookup, then one transaction of writes."""
    from nbgrader.api import Assignment, Student, SubmittedAssignment
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    # As nbgrader's find_submission: by assignment name, of a student the gradebook has.
    lookup = (select(SubmittedAssignment.id)
              .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
              .join(Student, Student.id == SubmittedAssignment.student_id)
              .filter(Assignment.name == assignment, Student.id == student))
    with Session(engine) as session, session.begin():
        found = session.execute(lookup).scalar_one_or_none()
        if found is not None:
            return _write(session, found, verdicts, read_kernel, timestamp)
    _add_submission(db_url, course, assignment, student)
    with Session(engine) as session, session.begin():
        return _write(session, session.execute(lookup).scalar_one(), verdicts, read_kernel,
                      timestamp)


def _write(session: Any, submission: str, verdicts: Sequence[Any], read_kernel: bool,
           timestamp: Any) -> dict[str, float | None]:
    """Write the verdicts into one submission's grades; return the scores they replace."""
    from nbgrader.api import BaseCell, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
    from nbgrader.utils import parse_utc
    from sqlalchemy import and_, bindparam, select, update

    if timestamp is not None:
        table = SubmittedAssignment.__table__
        session.execute(update(table).where(table.c.id == submission)
                        .values(timestamp=parse_utc(timestamp)))
    # The submission's notebooks and their grade and task cells, then their grades by the
    # (cell, notebook) index: a join from the grades would scan every grade of the class.
    cells = session.execute(
        select(SubmittedNotebook.id, Notebook.name, BaseCell.id, BaseCell.name, BaseCell.type)
        .select_from(Notebook)
        .join(SubmittedNotebook, and_(SubmittedNotebook.notebook_id == Notebook.id,
                                      SubmittedNotebook.assignment_id == submission))
        .join(BaseCell, BaseCell.notebook_id == Notebook.id)
        .filter(BaseCell.type.in_(("GradeCell", "TaskCell")))).all()
    found = {(cell, notebook): (grade, score) for grade, cell, notebook, score in session.execute(
        select(Grade.id, Grade.cell_id, Grade.notebook_id, Grade.auto_score)
        .filter(Grade.cell_id.in_(sorted({row[2] for row in cells})),
                Grade.notebook_id.in_(sorted({row[0] for row in cells}))))} if cells else {}
    # As nbgrader's find_grade, a grade cell's grade comes first and a task cell's of the same
    # name only when there is none.
    grades: dict[str, tuple[str, float | None]] = {}
    for notebook_id, notebook, cell_id, cell, _ in sorted(cells,
                                                          key=lambda row: row[4] != "GradeCell"):
        if (cell_id, notebook_id) in found:
            grades.setdefault(f"{notebook}/{cell}", found[(cell_id, notebook_id)])
    kernel: dict[str, float | None] = {}
    written: dict[str, float] = {}
    for verdict in verdicts:
        key = f"{verdict.notebook}/{verdict.grade_id}"
        if key not in grades:
            kernel[key] = None
            continue
        # A second verdict on one cell reads what the first wrote, as when each was an object.
        kernel[key] = written.get(key, grades[key][1]) if read_kernel else None
        written[key] = verdict.score
    if written:
        table = Grade.__table__
        session.execute(update(table).where(table.c.id == bindparam("grade"))
                        .values(auto_score=bindparam("score"), needs_manual_grade=False),
                        [{"grade": grades[key][0], "score": score}
                         for key, score in written.items()])
    return kernel


def _add_submission(db_url: str, course: str, assignment: str, student: str) -> None:
    """Create the student and an empty submission, through nbgrader (once per learner)."""
    import sqlalchemy.exc
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's cascade warnings; they are noise.
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        try:
            gradebook.find_submission(assignment, student)
        except MissingEntry:
            gradebook.update_or_create_student(student)
            gradebook.add_submission(assignment, student)


def class_grades(session: Any, assignment_id: str, column: str) -> list[tuple[str, str, str, Any]]:
    """One value of every grade of an assignment, for the whole class in one query.

    nbgrader's ORM would load each learner's notebooks and grades in turn, a few statements per
    learner; this is one statement whatever the class size.

    Args:
        session: The gradebook's SQLAlchemy session (``Gradebook.db``).
        assignment_id: The assignment's row id.
        column: The :class:`nbgrader.api.Grade` column to read (``score``, ``manual_score``).

    Returns:
        ``(student, notebook, grade_id, value)`` rows.
    """
    from nbgrader.api import BaseCell, Grade, Notebook, SubmittedAssignment, SubmittedNotebook

    return (session.query(SubmittedAssignment.student_id, Notebook.name, BaseCell.name,
                          getattr(Grade, column))
            .select_from(Grade)
            .join(BaseCell, BaseCell.id == Grade.cell_id)
            .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .filter(SubmittedAssignment.assignment_id == assignment_id).all())


def manual_scores(db_url: str, assignment: str, course: str = "default_course"
                  ) -> dict[tuple[str, str, str], float | None]:
    """Read every hand-entered score of an assignment.

    Args:
        db_url: Gradebook URL.
        assignment: Assignment name.
        course: nbgrader course id.

    Returns:
        (student, notebook, grade_id) -> ``manual_score`` (empty for an unknown assignment).
    """
    from nbgrader.api import Assignment, Gradebook

    with Gradebook(db_url, course) as gradebook:
        found = gradebook.db.query(Assignment.id).filter(Assignment.name == assignment).first()
        rows = class_grades(gradebook.db, found[0], "manual_score") if found else []
    return {(student, notebook, cell): score for student, notebook, cell, score in rows}
