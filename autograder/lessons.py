"""``autograder build-lessons``: turn ``lessons/*.md`` into notebooks ready for JupyterLab.

``make lab`` runs it every time, and a learner's notebooks hold their work, so a notebook newer
than its lesson is kept as it is. When a lesson is newer than its notebook (the course was
updated), the notebook is rebuilt and the learner's copy is kept in ``previous/`` beside it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from autograder.notebooks import build

PREVIOUS = "previous"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("source", type=Path, help="folder of lesson sources (lessons/)")
    parser.add_argument("out", type=Path, help="folder for the .ipynb notebooks")
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild every notebook, even one newer than its lesson (it may hold your work)",
    )


def run(args: argparse.Namespace) -> int:
    """Build every ``NN-*.md`` lesson in ``args.source`` into ``args.out``.

    Args:
        args: Parsed arguments with ``source``, ``out`` and ``force``.

    Returns:
        0 on success, 2 when the source folder holds no lesson.
    """
    sources = sorted(args.source.glob("[0-9][0-9]-*.md"))
    if not sources:
        print(f"autograder build-lessons: no NN-title.md lesson in {args.source}")
        return 2
    kept = []
    for source in sources:
        target = args.out / f"{source.stem}.ipynb"
        if target.exists() and not getattr(args, "force", False):
            if target.stat().st_mtime >= source.stat().st_mtime:
                kept.append(target.name)
                continue
            previous = args.out / PREVIOUS / target.name
            previous.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, previous)
            print(f"{source} changed: your copy of {target.name} is kept as {previous}")
        for path in build([source], args.out):
            print(f"built {path}")
    if kept:
        print(
            f"kept {len(kept)} notebook{'s' if len(kept) != 1 else ''} in {args.out} as they are "
            "(newer than their lessons, so they may hold your work; --force rebuilds them)"
        )
    return 0
