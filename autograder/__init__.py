"""Keras classroom: lessons, self-check quizzes and an nbgrader autograder for Keras 3.

The learner API is small and explicit::

    import autograder
    autograder.check_model(model, input_shape=(28, 28, 1), num_classes=10)
    quiz = autograder.load_quiz("01-keras-sequential-api")
    quiz.show()

Names are imported lazily so that ``import autograder`` does not import Keras or TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "check_model": "autograder.checks.model",
    "check_metrics": "autograder.checks.metrics",
    "check_split": "autograder.checks.leakage",
    "CheckResult": "autograder.result",
    "CheckFailed": "autograder.result",
    "Outcome": "autograder.result",
    "load_quiz": "autograder.quiz",
    "read_choice": "autograder.render.options",
    "show_choices": "autograder.render.options",
    "silence": "autograder.quiet",
}

# Written out (not derived from _EXPORTS) so that linters and IDEs can read it.
__all__ = [
    "CheckFailed",
    "CheckResult",
    "Outcome",
    "check_metrics",
    "check_model",
    "check_split",
    "data",
    "load_quiz",
    "read_choice",
    "show_choices",
    "silence",
]

if TYPE_CHECKING:  # pragma: no cover
    from autograder import data
    from autograder.checks.leakage import check_split
    from autograder.checks.metrics import check_metrics
    from autograder.checks.model import check_model
    from autograder.quiet import silence
    from autograder.quiz import load_quiz
    from autograder.render.options import read_choice, show_choices
    from autograder.result import CheckFailed, CheckResult, Outcome


def __getattr__(name: str) -> Any:
    if name == "data":
        return importlib.import_module("autograder.data")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
