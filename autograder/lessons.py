"""``autograder build-lessons``: turn ``lessons/*.md`` into notebooks ready for JupyterLab."""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.notebooks import build


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("source", type=Path, help="folder of lesson sources (lessons/)")
    parser.add_argument("out", type=Path, help="folder for the .ipynb notebooks")


def run(args: argparse.Namespace) -> int:
    """Build every ``NN-*.md`` lesson in ``args.source`` into ``args.out``.

    Args:
        args: Parsed arguments with ``source`` and ``out``.

    Returns:
        0 on success, 2 when the source folder holds no lesson.
    """
    sources = sorted(args.source.glob("[0-9][0-9]-*.md"))
    if not sources:
        print(f"autograder build-lessons: no NN-title.md lesson in {args.source}")
        return 2
    for path in build(sources, args.out):
        print(f"built {path}")
    return 0
