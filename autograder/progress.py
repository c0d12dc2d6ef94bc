"""What a learner has done on a quiz, as saved beside the notebook.

The progress file ``.<stem>.quiz-progress.json`` holds, per question, the last answer checked,
its result, the hints taken and whether the solution was shown, plus the learner's seed (which
fixes the order the choices are shown in). Choice answers are kept by the choice's text, so they
come back to the same choice whatever letter it is shown under.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.checks.answers import choice_index, is_blank, selected_indices
from autograder.result import CheckResult
from autograder.schema import MultipleSelect, Question, SingleChoice

# Version 1 saved choice answers as letters or indices of the defined order; 2 saves choice
# texts and the learner's seed.
PROGRESS_VERSION = 2


@dataclass
class QuestionProgress:
    """What a learner has done on one question.

    Attributes:
        value: The last answer checked, when it can be saved as JSON.
        result: The result of that check.
        hints_shown: How far up the hint ladder the learner has climbed.
        solution_shown: Whether the worked solution was revealed.
    """

    value: Any = None
    result: CheckResult | None = None
    hints_shown: int = 0
    solution_shown: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the progress file."""
        return {
            "value": self.value,
            "result": self.result.to_dict() if self.result is not None else None,
            "hints_shown": self.hints_shown,
            "solution_shown": self.solution_shown,
        }

    @classmethod
    def from_dict(cls, data: Any) -> QuestionProgress:
        """Rebuild from the progress file.

        Args:
            data: One entry of the file's ``questions`` mapping.

        Returns:
            The progress.

        Raises:
            ValueError: When the entry is malformed.
        """
        if not isinstance(data, dict):
            raise ValueError("a question entry is not a mapping")
        try:
            result = CheckResult.from_dict(data["result"]) if data.get("result") else None
            hints = int(data.get("hints_shown", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a question entry is malformed ({exc})") from None
        return cls(data.get("value"), result, max(hints, 0), bool(data.get("solution_shown")))


def jsonable(value: Any) -> Any:
    """An answer in a form the progress file can hold.

    Args:
        value: What the learner answered.

    Returns:
        The answer if it survives a JSON round trip (tuples and sets as lists), else None (a
        model object, say).
    """
    if isinstance(value, tuple | set | frozenset):
        value = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def choice_texts(question: Question, value: Any) -> Any:
    """A version 1 answer (letters or indices of the defined order) as choice texts.

    Args:
        question: The question as defined.
        value: The saved answer.

    Returns:
        The choice text (a list of them for a multiple select), None when the answer no longer
        fits the question, or the value unchanged for other kinds.
    """
    if not isinstance(question, SingleChoice | MultipleSelect) or is_blank(value):
        return value
    try:
        if isinstance(question, SingleChoice):
            return question.choices[choice_index(question, value)].text
        return [question.choices[i].text for i in sorted(selected_indices(question, value))]
    except (ValueError, TypeError):
        return None  # an answer to an older version of the question: start blank


def progress_file(stem: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """Where a quiz's progress is saved: ``.<stem>.quiz-progress.json`` beside the notebook.

    Args:
        stem: The quiz stem.
        folder: The notebook's folder; the working directory when None.

    Returns:
        The path (it may not exist yet).
    """
    return Path(folder if folder is not None else Path.cwd()) / f".{stem}.quiz-progress.json"
