"""The grading corpus: submissions as capable learners write them, right and wrong.

Each assignment has a module here (``tests/corpus/<assignment>.py``) that defines ``CASES``, a
list of :class:`Case`. A case starts from the reference answers (the release notebook with every
solution cell filled in as ``solutions/`` does) and replaces some cells with the learner's own.
``tests/test_corpus.py`` plants every case of an assignment into one built course, grades the
batch with the real ``autograder grade``, generates feedback with the real nbgrader CLI, and
asserts:

- a case with ``lost`` empty (a correct solution in another style) earns every point;
- a case with ``lost`` earns 0 on exactly those grade cells and every point on the others, and the
  feedback HTML of each lost cell shows every listed fragment: the message names the cause.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.choices import NAME_VARIABLE
from autograder.render.nbgrader_source import BEGIN_SOLUTION, END_SOLUTION

Answers = dict[str, str]


@dataclass(frozen=True)
class Case:
    """One learner's submission of one assignment.

    Attributes:
        student: The learner's id (a folder under ``submitted/``); unique in the corpus.
        edit: Takes the reference answers by grade id of their solution cell (and
            ``"YOUR_NAME"`` for the name cell, where the notebook has one) and returns the
            learner's cells by grade id: the cells returned replace the reference's.
        lost: For a wrong solution, the grade cells it must lose, each with the fragments its
            feedback must show; empty for a correct solution.
        why: What the case is, in a few words (shown when it fails).
    """

    student: str
    edit: Callable[[Answers], Answers]
    lost: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    why: str = ""


def changed(code: str, old: str, new: str) -> str:
    """``code`` with ``old`` replaced by ``new``.

    Args:
        code: A reference cell.
        old: Text that must be in it (a case must fail loudly when the reference moves on).
        new: Its replacement.

    Returns:
        The edited cell.

    Raises:
        AssertionError: ``old`` is not in ``code``.
    """
    assert old in code, f"the reference code no longer holds {old!r}"
    return code.replace(old, new)


def reference_answers(source: Any) -> dict[str, str]:
    """The reference code of every solution cell, delimiters removed, by grade id.

    Args:
        source: The assignment's source notebook.

    Returns:
        Grade id -> code; ``YOUR_NAME`` -> the name cell's placeholder name.
    """
    answers = {NAME_VARIABLE: ""}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers[meta["grade_id"]] = "\n".join(
                line for line in cell.source.splitlines()
                if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))
    return answers


def feedback_text(root: Path, assignment: str, student: str) -> str:
    """The text of a learner's feedback page, tags removed and entities decoded.

    Args:
        root: The course folder.
        assignment: Assignment name.
        student: Learner id.

    Returns:
        The page's text with runs of white space made single spaces.
    """
    page = root / "feedback" / student / assignment / f"{assignment}.html"
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page.read_text("utf-8"),
                  flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


BIN = Path(sys.executable).parent


def run_cli(cwd: Path, *argv: str) -> str:
    """Run a command line of the course's tools (``autograder``, ``nbgrader``) and require success.

    Args:
        cwd: Where it runs.
        *argv: The command and its arguments.

    Returns:
        What it printed, stdout then stderr.
    """
    # nbgrader runs `alembic` from PATH when it creates the gradebook: the venv's bin must be on it.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=1800, check=False)
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout + done.stderr
