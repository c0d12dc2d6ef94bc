"""Run an assignment's grade-cell exports in this process, then verify them like the grader.

The direct tests of the reference solutions call this with the objects the reference built: the
generated export lines (and any hidden lines a grade cell runs first) execute with
``AUTOGRADER_EXPORT_DIR`` pointing at a test folder, and
:func:`autograder.verify.verify_submission` judges the folder from scratch, as ``autograder
grade`` does after a kernel ran.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autograder.grading.export import ENV_VAR
from autograder.grading.manifest import manifest_for, quiz_export_code
from autograder.render.nbgrader_source import Assignment, GradeCell, QuizAnswer


def export_and_verify(folder: Path, assignment: Assignment,
                      namespace: Mapping[str, Any]) -> dict[str, float]:
    """Export what every grade cell hands over, from ``namespace``, and verify it.

    Args:
        folder: An empty folder for the exports.
        assignment: The assignment.
        namespace: The notebook's names (models, arrays, answers, classes).

    Returns:
        The verified score of each grade cell, by grade id.
    """
    from autograder.grading.verify import verify_submission

    scope = dict(namespace)
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(folder)
    try:
        for part in assignment.parts:
            if isinstance(part, GradeCell) and part.verified is not None:
                exec(part.verified.export_code(), scope)  # noqa: S102 - generated course code
                if part.run_first:
                    exec(part.run_first, scope)  # noqa: S102
            elif isinstance(part, QuizAnswer):
                exec(quiz_export_code(part.variable, part.question), scope)  # noqa: S102
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous
    verdicts = verify_submission(manifest_for(assignment), folder)
    return {verdict.grade_id: verdict.score for verdict in verdicts}


def full_marks(assignment: Assignment) -> dict[str, float]:
    """Every verified grade cell's points, by grade id.

    Args:
        assignment: The assignment.

    Returns:
        Grade id -> points.
    """
    return {task.grade_id: task.points for task in manifest_for(assignment).tasks}
