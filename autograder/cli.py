"""The ``autograder`` command: one module per verb.

Each verb module defines ``add_arguments(parser)`` and ``run(args) -> int``; this file only
dispatches, and imports a verb's module when that verb is used so that ``--help`` stays fast.
Errors a verb raises derive from :class:`autograder.errors.AutograderError`; here, and only
here, each becomes its message on stderr and its exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from autograder.errors import AutograderError, GradingInterrupted

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "build-lessons": ("autograder.lessons", "Build lesson notebooks from lessons/*.md."),
    "build-course": ("autograder.course", "Write an nbgrader course directory."),
    "grade": ("autograder.grading.cli", "Grade submissions confined and in parallel, verified."),
    "report": ("autograder.grading.report", "Write a CSV of scores and plots of an assignment."),
    "export": ("autograder.lms.cli", "Write the gradebook's scores as a Canvas or Moodle import."),
}


def _verb_list_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        verbs.add_parser(verb, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit status.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in VERBS:
        # No verb, an unknown one, or top-level --help: argparse prints usage and exits.
        _verb_list_parser().parse_args(args)
        return 2
    verb, rest = args[0], args[1:]
    module_name, help_text = VERBS[verb]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"autograder {verb}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except AutograderError as exc:
        print(f"autograder {verb}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"autograder {verb}: interrupted.", file=sys.stderr)
        return GradingInterrupted.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
