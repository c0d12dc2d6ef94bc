"""The ``autograder`` command: one module per verb.

Each verb module defines ``add_arguments(parser)`` and ``run(args) -> int``; this file only
dispatches, and imports a verb's module when that verb is used so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "build-lessons": ("autograder.lessons", "Build lesson notebooks from lessons/*.md."),
    "build-course": ("autograder.course", "Write an nbgrader course directory."),
    "grade": ("autograder.grading", "Grade submissions in parallel, verified outside the kernel."),
    "report": ("autograder.report", "Write a CSV of scores and plots of an assignment."),
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        # Arguments are added lazily below, for the chosen verb only.
    args, _ = parser.parse_known_args(argv)
    module = importlib.import_module(args._module)
    sub = argparse.ArgumentParser(prog=f"autograder {args.verb}", description=VERBS[args.verb][1])
    module.add_arguments(sub)
    raw = list(sys.argv[1:] if argv is None else argv)
    verb_args = sub.parse_args(raw[raw.index(args.verb) + 1 :])
    return int(module.run(verb_args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
