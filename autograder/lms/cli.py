"""The ``export`` verb: ``autograder export COURSE --to canvas|moodle|csv [--roster FILE]``."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from autograder.errors import UsageError
from autograder.lms import export as lms_export
from autograder.lms.roster import CANVAS_KEYS, MOODLE_KEYS

_DEFAULTS = {name: parameter.default
             for name, parameter in inspect.signature(lms_export.build).parameters.items()}
# Lists of learners longer than this are cut in the summary (stderr lists them all).
SHOWN = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``export`` verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("course_dir", metavar="COURSE", type=Path,
                        help="nbgrader course directory (its gradebook is read, not changed)")
    parser.add_argument("--to", required=True, choices=lms_export.TARGETS,
                        help="the LMS to import into, or csv for a plain table")
    parser.add_argument("--roster", type=Path, default=None, metavar="FILE",
                        help="the gradebook exported from the LMS (required for canvas and "
                             "moodle): Canvas Grades > Export > Export Entire Gradebook; "
                             "Moodle Grades > Export > Plain text file")
    parser.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                        help="the file to write (default COURSE/grader/exports/TARGET.csv)")
    parser.add_argument("--assignment", action="extend", nargs="+", default=None,
                        metavar="NAME",
                        help="export only these assignments, in this order (repeatable; "
                             "default: every assignment of the gradebook)")
    parser.add_argument("--missing", choices=lms_export.MISSING, default=_DEFAULTS["missing"],
                        help="the cell of a learner with no submission: empty (the LMS keeps "
                             "its own value) or zero (default %(default)s)")
    parser.add_argument("--canvas-key", choices=CANVAS_KEYS, default=_DEFAULTS["canvas_key"],
                        help="Canvas column that equals the nbgrader student id "
                             "(default %(default)s)")
    parser.add_argument("--moodle-id", choices=MOODLE_KEYS, default=_DEFAULTS["moodle_id"],
                        help="Moodle column that equals the nbgrader student id and identifies "
                             "learners in the import (default %(default)s)")
    parser.add_argument("--lms-name", action="append", default=None,
                        metavar="ASSIGNMENT=NAME",
                        help="the assignment's name (or exact column) in the LMS when it is "
                             "not the nbgrader name (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Write the import file, list the learners the join could not place, print a summary.

    Args:
        args: Parsed arguments from :func:`add_arguments`.

    Returns:
        0 when the file was written.

    Raises:
        UsageError: An option or COURSE cannot be used.
        RosterError: The roster is malformed.
    """
    if not args.course_dir.is_dir():
        raise UsageError(f"{args.course_dir} is not a folder: COURSE must be an nbgrader "
                         "course directory.")
    export, path = lms_export.export_grades(
        args.course_dir, args.to, roster=args.roster, output=args.output,
        assignments=args.assignment, missing=args.missing, canvas_key=args.canvas_key,
        moodle_id=args.moodle_id, lms_names=_lms_names(args.lms_name or []))
    report(export, path, out=print, err=lambda text: print(text, file=sys.stderr))
    return 0


def report(export: lms_export.Export, path: Path, *, out: Callable[[str], None],
           err: Callable[[str], None]) -> None:
    """Say what was written: unmatched learners and warnings in full, then a summary.

    Args:
        export: The export written.
        path: Where it was written.
        out: Prints a summary line.
        err: Prints a warning line.
    """
    lms = lms_export.LMS_LABEL[export.target]
    option = "--canvas-key" if export.target == "canvas" else "--moodle-id"
    groups = [
        (export.gradebook_only, f"in the gradebook but not in the roster (no {lms} row: not "
                                f"exported; is the roster complete, and does {option} name "
                                f"the column their nbgrader id is in?)"),
        (export.roster_only, "in the roster but not in the gradebook (no submission)"),
        (export.unkeyed, "in the roster with an empty key cell (not exported)"),
    ]
    for learners, what in groups:
        if learners:
            err(f"warning: {_learners(len(learners))} {what}:")
            for learner in learners:
                err(f"  {learner}")
    for warning in export.warnings:
        err(f"warning: {warning}")
    out(f"wrote {path}: {export.learners} learners, {len(export.columns)} assignments, "
        f"for {lms}.")
    for column in export.columns:
        counts = column.counts
        parts = [f"{counts[key]} {label}" for key, label in (
            ("new", "new"), ("changed", "changed"), ("unchanged", f"as {lms} has them"),
            ("excused", "excused (EX kept)"), ("kept", f"no submission ({lms}'s score kept)"),
            ("empty", "no submission (empty)"), ("zero", "no submission (0)")) if counts[key]]
        target = "" if column.header == column.assignment else f" -> {column.header!r}"
        out(f"  {column.assignment}{target}: {', '.join(parts) or 'no learners'}"
            f"{' (new column)' if column.new else ''}")
    for learners, what in groups:
        if learners:
            shown = ", ".join(learners[:SHOWN])
            more = f" and {len(learners) - SHOWN} more" if len(learners) > SHOWN else ""
            out(f"  {_learners(len(learners))} {what.split(' (')[0]}: {shown}{more}")


def _learners(count: int) -> str:
    return f"{count} learner{'' if count == 1 else 's'}"


def _lms_names(pairs: list[str]) -> dict[str, str]:
    names = {}
    for pair in pairs:
        assignment, sep, name = pair.partition("=")
        if not sep or not assignment or not name:
            raise UsageError(f"--lms-name {pair!r} is not ASSIGNMENT=NAME.")
        names[assignment] = name
    return names
