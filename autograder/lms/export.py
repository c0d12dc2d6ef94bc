"""Grades from the gradebook into the file an LMS imports: Canvas, Moodle or a plain CSV.

The gradebook's totals (:mod:`autograder.lms.scores`) are joined to the roster the instructor
downloaded from the LMS (:mod:`autograder.lms.roster`): a learner is the roster row whose key
column equals the nbgrader student id. The export holds the identity columns and one column per
exported assignment only, because both LMSs leave alone what a file does not mention. Every
learner the join cannot place is reported; nothing is written until the whole file is ready.

How a cell is filled, for a learner of the roster and an exported assignment:

- a submission in the gradebook: its score (2 decimals, as both LMSs store points), whether or
  not the LMS already holds the same value (unchanged values are counted, and the LMS ignores
  them); a Canvas cell marked ``EX`` (excused) stays ``EX``;
- no submission: the LMS's own value when it has one (both LMSs would otherwise clear a grade
  someone entered there: Moodle imports an empty cell as "no grade"), else an empty cell, not 0;
  with ``missing="zero"``, 0.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import RosterError, UsageError
from autograder.grading.layout import CourseLayout
from autograder.lms.roster import CANVAS_IDENTITY, Roster, read_canvas, read_moodle
from autograder.lms.scores import Scores, Submission, read_scores

TARGETS = ("canvas", "moodle", "csv")
MISSING = ("empty", "zero")
DEFAULT_MISSING = "empty"
DEFAULT_CANVAS_KEY = "SIS Login ID"
DEFAULT_MOODLE_ID = "Email address"
LMS_LABEL = {"canvas": "Canvas", "moodle": "Moodle", "csv": "CSV"}
# Canvas writes this (indented) in the first cell of the row under its header.
CANVAS_POINTS_ROW = "    Points Possible"
CANVAS_CORE = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


@dataclass
class Column:
    """One exported assignment.

    Attributes:
        assignment: The nbgrader assignment.
        header: Its column in the export (the LMS's own column name when the roster has one).
        max_score: Points available in the gradebook.
        new: The roster has no column for it (the LMS will offer to create one).
        counts: How its cells were filled: ``new`` (the LMS had none), ``changed``,
            ``unchanged``, ``kept`` (no submission, the LMS's value kept), ``excused``,
            ``empty``, ``zero``.
    """

    assignment: str
    header: str
    max_score: float
    new: bool = False
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class Export:
    """An export ready to write.

    Attributes:
        target: ``"canvas"``, ``"moodle"`` or ``"csv"``.
        header: The first row.
        rows: The rows under it (for Canvas, the Points Possible row first).
        columns: The exported assignments.
        learners: Learner rows in ``rows``.
        roster_only: Keys of roster learners the gradebook does not know.
        gradebook_only: Gradebook students the roster does not list (not in the export).
        unkeyed: "line N (name)" of roster rows with an empty key (not in the export).
        warnings: Everything else the instructor should know before importing.
    """

    target: str
    header: list[str]
    rows: list[list[str]]
    columns: list[Column]
    learners: int = 0
    roster_only: list[str] = field(default_factory=list)
    gradebook_only: list[str] = field(default_factory=list)
    unkeyed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def default_output(course_dir: str | Path, target: str) -> Path:
    """Where an export goes without ``--output``: ``COURSE/grader/exports/<target>.csv``.

    Args:
        course_dir: The nbgrader course directory.
        target: ``"canvas"``, ``"moodle"`` or ``"csv"``.

    Returns:
        The path (grades stay in the grader-only folder).
    """
    return CourseLayout(course_dir).grader("exports", f"{target}.csv")


def build(course_dir: str | Path, target: str, *, roster: str | Path | None = None,
          assignments: Sequence[str] | None = None, missing: str = DEFAULT_MISSING,
          canvas_key: str = DEFAULT_CANVAS_KEY, moodle_id: str = DEFAULT_MOODLE_ID,
          lms_names: Mapping[str, str] | None = None) -> Export:
    """Join the gradebook to a roster and lay the result out for the LMS.

    Args:
        course_dir: The nbgrader course directory.
        target: ``"canvas"``, ``"moodle"`` or ``"csv"``.
        roster: The roster exported from the LMS (required for Canvas and Moodle).
        assignments: Assignments to export, in order; None for all of the gradebook's.
        missing: ``"empty"`` or ``"zero"``: the cell of a learner with no submission.
        canvas_key: Canvas column the nbgrader student id equals.
        moodle_id: Moodle column the nbgrader student id equals (and the import maps from).
        lms_names: Assignment -> its name (or exact column name) in the LMS, where they differ.

    Returns:
        The export.

    Raises:
        UsageError: An option cannot be used.
        RosterError: The roster is malformed or a column is ambiguous.
    """
    if target not in TARGETS:
        raise UsageError(f"--to must be one of {', '.join(TARGETS)}, not {target!r}.")
    if missing not in MISSING:
        raise UsageError(f"--missing must be one of {', '.join(MISSING)}, not {missing!r}.")
    if target == "csv" and roster is not None:
        raise UsageError("--to csv writes every gradebook student and takes no --roster.")
    if target != "csv" and roster is None:
        raise UsageError(f"--to {target} needs --roster: the gradebook file exported from "
                         f"{LMS_LABEL[target]} (see the README, 'Grades into the LMS').")
    lms_names = dict(lms_names or {})
    scores = read_scores(course_dir, assignments)
    stray = sorted(set(lms_names) - set(scores.assignments))
    if stray:
        raise UsageError(f"--lms-name names {', '.join(map(repr, stray))}, which is not "
                         f"exported (exported: {', '.join(scores.assignments)}).")
    if target == "csv":
        return _plain(scores, missing)
    if target == "canvas":
        table = read_canvas(roster, canvas_key)  # type: ignore[arg-type]
    else:
        table = read_moodle(roster, moodle_id)  # type: ignore[arg-type]
    return _join(scores, table, missing, lms_names)


def write(export: Export, path: str | Path) -> Path:
    """Write an export whole or not at all.

    Args:
        export: The export.
        path: The CSV file (its folder is created).

    Returns:
        The path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file renamed into place: an interrupted run never leaves half an import.
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False, newline="",
                                         encoding="utf-8")
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(export.header)
            writer.writerows(export.rows)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def export_grades(course_dir: str | Path, target: str, *, roster: str | Path | None = None,
                  output: str | Path | None = None, **options: object) -> tuple[Export, Path]:
    """Build an export and write it.

    Args:
        course_dir: The nbgrader course directory.
        target: ``"canvas"``, ``"moodle"`` or ``"csv"``.
        roster: The roster exported from the LMS.
        output: The file to write; :func:`default_output` when None.
        **options: Passed to :func:`build`.

    Returns:
        The export and the path written.

    Raises:
        UsageError: The output would overwrite the roster, or :func:`build` refuses.
        RosterError: As for :func:`build`.
    """
    path = Path(output) if output is not None else default_output(course_dir, target)
    if roster is not None and path.resolve() == Path(roster).resolve():
        raise UsageError(f"--output {path} is the roster itself: write the import elsewhere "
                         "and keep the LMS's file as it was.")
    export = build(course_dir, target, roster=roster, **options)  # type: ignore[arg-type]
    return export, write(export, path)


def number(value: float) -> str:
    """A score as both LMSs store points: at most 2 decimals, no trailing zeros.

    Args:
        value: Points.

    Returns:
        The text, such as ``"7.5"`` or ``"8"``.
    """
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _plain(scores: Scores, missing: str) -> Export:
    columns = [Column(name, name, top) for name, top in scores.assignments.items()]
    header = ["student_id"]
    for column in columns:
        header += [column.assignment, f"{column.assignment} max_score"]
    rows = []
    for student in scores.students:
        row = [student]
        for column in columns:
            submission = scores.submissions.get((student, column.assignment))
            row += [_cell(submission, "", missing, column, ","), number(column.max_score)]
        rows.append(row)
    export = Export("csv", header, rows, columns, learners=len(rows))
    export.warnings += _ungraded(scores)
    return export


def _join(scores: Scores, roster: Roster, missing: str, lms_names: Mapping[str, str]
          ) -> Export:
    lms = LMS_LABEL[roster.lms]
    columns = [_column(roster, name, top, lms_names.get(name, name))
               for name, top in scores.assignments.items()]
    seen: dict[str, str] = {}
    for column in columns:
        if column.header in seen:
            raise UsageError(f"{seen[column.header]} and {column.assignment} would both go to "
                             f"the {lms} column {column.header!r}: give one of them --lms-name.")
        seen[column.header] = column.assignment
    if roster.lms == "canvas":
        identity = [name for name in CANVAS_IDENTITY
                    if name in CANVAS_CORE or name in roster.header]
    else:
        identity = [roster.key_column]
    header = identity + [column.header for column in columns]
    rows: list[list[str]] = []
    if roster.lms == "canvas":
        rows.append([CANVAS_POINTS_ROW, *[""] * (len(identity) - 1),
                     *[number(column.max_score) for column in columns]])
    known = set(scores.students)
    for learner in roster.learners:
        row = [learner.cells.get(name, "") for name in identity]
        for column in columns:
            submission = scores.submissions.get((learner.key, column.assignment))
            existing = "" if column.new else learner.cells[column.header]
            row.append(_cell(submission, existing, missing, column, roster.delimiter,
                             excused=roster.lms == "canvas"))
        rows.append(row)
    export = Export(roster.lms, header, rows, columns, learners=len(roster.learners))
    export.roster_only = [learner.key for learner in roster.learners if learner.key not in known]
    export.gradebook_only = [student for student in scores.students
                             if student not in roster.by_key]
    export.unkeyed = [f"line {learner.line} ({_name(learner.cells)})"
                      for learner in roster.unkeyed]
    export.warnings += _column_warnings(roster, columns, lms)
    export.warnings += _ungraded(scores)
    return export


def _column(roster: Roster, assignment: str, top: float, lms_name: str) -> Column:
    found = roster.find_column(lms_name)
    if len(found) > 1:
        numbers = ", ".join(f"{roster.column_number(name)} ({name!r})" for name in found)
        raise RosterError(f"{roster.path}, line 1, columns {numbers}: all stand for "
                          f"{lms_name!r}; give the exact column with --lms-name "
                          f"{assignment}='{found[0]}'.")
    if found:
        return Column(assignment, found[0], top)
    return Column(assignment, lms_name, top, new=True)


def _cell(submission: Submission | None, existing: str, missing: str, column: Column,
          delimiter: str, *, excused: bool = False) -> str:
    counts = column.counts
    if excused and existing.upper() == "EX":
        counts["excused"] += 1
        return existing
    if submission is not None:
        ours = number(submission.score)
        theirs = _points(existing, delimiter)
        if theirs is None:
            counts["new"] += 1
        elif number(theirs) == ours:
            # Kept all the same: the file stays a complete column, and the LMS skips values it
            # already holds.
            counts["unchanged"] += 1
        else:
            counts["changed"] += 1
        return ours
    if missing == "zero":
        counts["zero"] += 1
        return "0"
    if existing and existing != "-":
        counts["kept"] += 1
        return existing
    counts["empty"] += 1
    return ""


def _points(text: str, delimiter: str) -> float | None:
    """The points an LMS cell holds; None when it holds none ("" or Moodle's "-")."""
    if not text or text == "-":
        return None
    if delimiter != ",":
        # Moodle writes the site's decimal separator; with a comma it cannot be the field one.
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return float("nan")  # a letter or a status: never equal to a score


def _column_warnings(roster: Roster, columns: Sequence[Column], lms: str) -> list[str]:
    warnings = []
    for column in columns:
        if column.new:
            how = ("Canvas will offer to create it as a new assignment on import"
                   if roster.lms == "canvas" else
                   "map it to 'New grade item' (or an existing item) in Moodle's import")
            warnings.append(f"{roster.path} has no {lms} column for {column.assignment!r}, "
                            f"so the export names it {column.header!r}: {how}. To fill an "
                            f"existing one, give --lms-name {column.assignment}=NAME.")
        points = _points(roster.points.get(column.header, ""), roster.delimiter)
        if points is not None and points == points and number(points) != number(
                column.max_score):
            warnings.append(f"{lms}'s {column.header!r} is worth {number(points)} points, the "
                            f"gradebook's {column.assignment} {number(column.max_score)}: "
                            f"scores are written in the gradebook's points; set the "
                            f"assignment's points in {lms} to match.")
        if column.counts["excused"]:
            warnings.append(f"{column.counts['excused']} learners are excused (EX) from "
                            f"{column.header!r} in {lms}: their EX is kept.")
    return warnings


def _ungraded(scores: Scores) -> list[str]:
    waiting: Counter[str] = Counter()
    for (_, assignment), submission in scores.submissions.items():
        if submission.ungraded:
            waiting[assignment] += 1
    return [f"{count} submissions of {assignment} have grades waiting for manual grading: "
            f"they count 0 until graded in the formgrader." for assignment, count in
            waiting.items()]


def _name(cells: Mapping[str, str]) -> str:
    if "Student" in cells:
        return cells["Student"] or "no name"
    return " ".join(part for part in (cells.get("First name"), cells.get("Last name"))
                    if part) or "no name"
