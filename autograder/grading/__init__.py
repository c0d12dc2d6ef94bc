"""Confined, parallel, verified grading of nbgrader submissions.

One module per concern; :func:`grade` (in :mod:`autograder.grading.pool`) is the entry point:

- :mod:`~autograder.grading.layout`: where a course keeps its parts (on nbgrader's
  ``CourseDirectory``);
- :mod:`~autograder.grading.sandbox` and :mod:`~autograder.grading.confine`: the confinement;
- :mod:`~autograder.grading.preload` and :mod:`~autograder.grading.forkserver`: processes
  forked from a preloader that imported Keras;
- :mod:`~autograder.grading.provisioner` and :mod:`~autograder.grading.staging`: how a kernel
  is started, what it sees, and how its exports leave;
- :mod:`~autograder.grading.worker`, :mod:`~autograder.grading.watch` and
  :mod:`~autograder.grading.pool`: the batch;
- :mod:`~autograder.grading.gradebook`, :mod:`~autograder.grading.results`: what is recorded;
- :mod:`~autograder.grading.report`: ``autograder report``.

Names are imported lazily: a grading kernel imports the package's export helpers, not this.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "grade": "autograder.grading.pool",
    "thread_env": "autograder.grading.watch",
    "THREAD_ENV_VARS": "autograder.grading.watch",
    "default_timeout": "autograder.grading.session",
    "record_grades": "autograder.grading.gradebook",
    "SubmissionResult": "autograder.grading.results",
    "TaskResult": "autograder.grading.results",
    "load_results": "autograder.grading.results",
    "CourseLayout": "autograder.grading.layout",
    "Limits": "autograder.grading.sandbox",
}

__all__ = sorted(_EXPORTS) + ["gradebook_url"]


def gradebook_url(course_dir: Any) -> str:
    """Return the course's gradebook URL, with a 60 s lock wait for SQLite.

    Args:
        course_dir: The nbgrader course directory.

    Returns:
        The database URL from the course config (nbgrader's default when unset).
    """
    from autograder.grading.layout import CourseLayout

    return CourseLayout(course_dir).db_url


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'autograder.grading' has no attribute {name!r}")
