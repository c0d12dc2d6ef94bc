"""The ``grade`` verb: ``autograder grade DIR ASSIGNMENT``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.errors import UsageError
from autograder.grading.layout import CourseLayout
from autograder.grading.pool import DEFAULT_MEMORY_MB, grade, print_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``grade`` verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("course_dir", metavar="DIR", type=Path, help="nbgrader course directory")
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="assignment name")
    parser.add_argument("--workers", "-j", type=int, default=None,
                        help="parallel submissions (default: number of cores)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="time limit per submission in seconds, counted as its kernels' "
                             "CPU time per core (default: 5 times the reference solution's "
                             "time measured by build-course, at least 120 s; 600 s when it was "
                             "not measured)")
    parser.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"kernel memory limit per submission in MB "
                             f"(default {DEFAULT_MEMORY_MB}; 0 for none)")
    parser.add_argument("--student", action="append", default=None, metavar="ID",
                        help="grade only this student: the exact name of a folder under "
                             "submitted/, never a pattern (repeatable; write --student=ID "
                             "for an id that starts with a dash)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="grade on a running Dask cluster, such as tcp://10.0.0.5:8786 "
                             "(default: grade on this machine)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run kernels unconfined, as the grading user (only where the "
                             "machine forbids namespaces; learners' code can then tamper)")


def run(args: argparse.Namespace) -> int:
    """Grade an assignment and print a summary.

    Args:
        args: Parsed arguments from :func:`add_arguments`.

    Returns:
        0 when every submission was graded (whatever their scores).

    Raises:
        UsageError: DIR or an option cannot be used.
    """
    layout = CourseLayout(args.course_dir)
    if not layout.source(args.assignment).is_dir():
        raise UsageError(f"{layout.source(args.assignment)} does not exist: DIR must be an "
                         f"nbgrader course directory with that assignment.")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1.")
    if args.workers is not None and args.scheduler:
        raise UsageError("--workers sets local parallelism; with --scheduler, the cluster's "
                         "workers and their threads set it.")
    if args.scheduler is not None and "://" not in args.scheduler:
        raise UsageError(f"--scheduler {args.scheduler!r} is not a scheduler address; give "
                         "one like tcp://HOST:8786.")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    if not layout.students(args.assignment) and not args.student:
        print(f"No submissions of {args.assignment} in "
              f"{layout.step('submitted', '*', args.assignment).parent}.", file=sys.stderr)
        return 0
    if args.student:
        known = set(layout.students(args.assignment))
        unknown = sorted(set(args.student) - known)
        if unknown:
            folder = layout.step("submitted", "*", args.assignment)
            raise UsageError(f"no submission of {args.assignment} for --student "
                             f"{', '.join(repr(student) for student in unknown)} in {folder}: "
                             "--student takes the exact name of a learner's folder, not a "
                             "pattern.")
    from autograder.grading.manifest import ManifestError

    common = {"timeout": args.timeout, "memory_mb": args.memory_limit or None,
              "students": args.student, "sandboxed": not args.no_sandbox}
    try:
        if args.scheduler:
            from autograder.grading.cluster import grade_on_cluster

            results = grade_on_cluster(layout.root, args.assignment, args.scheduler, **common)
        else:
            results = grade(layout.root, args.assignment, workers=args.workers, **common)
    except ManifestError as exc:
        raise UsageError(str(exc)) from None
    print_summary(results, print)
    return 0
