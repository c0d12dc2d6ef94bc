"""The question bank as data: frozen dataclasses built by :mod:`autograder.loader`.

A quiz file (``quizzes/<lesson stem>.yaml``) becomes one :class:`Quiz` holding questions of six
kinds. Every question carries a prompt, a hint ladder and a step-by-step solution; choices carry
their own feedback. Nothing here runs code or renders: checks live in
:mod:`autograder.checks.answers`, renderers in :mod:`autograder.render`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class Kind(enum.StrEnum):
    """The kinds of question a quiz file may hold (the ``kind:`` value in YAML)."""

    SINGLE_CHOICE = "single_choice"
    MULTIPLE_SELECT = "multiple_select"
    NUMERIC = "numeric"
    OUTPUT_SHAPE = "output_shape"
    PREDICT_OUTPUT = "predict_output"
    FIX_MODEL = "fix_model"


Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Choice:
    """One option of a choice question.

    Attributes:
        text: What the learner reads (one line, may use Markdown backticks).
        feedback: Why this option is right, or the misconception it reveals when wrong.
        correct: True for a right option.
    """

    text: str
    feedback: str
    correct: bool = False


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer to a free-text question, with the feedback it deserves.

    Attributes:
        answer: The wrong answer as written in YAML (a number, a shape, a printed text).
        feedback: The misconception it reveals and what to reconsider.
    """

    answer: Any
    feedback: str


@dataclass(frozen=True)
class Mutant:
    """A known-wrong answer kept beside its question so the tests can prove it fails.

    Attributes:
        answer: The wrong answer (for ``fix_model``: Python code that defines ``model``).
        message: Text the feedback for this answer must contain.
    """

    answer: Any
    message: str


@dataclass(frozen=True, kw_only=True)
class Question:
    """What every question has, whatever its kind.

    Attributes:
        id: Unique within its quiz; a short kebab-case name.
        prompt: The question in Markdown.
        hints: The hint ladder, from gentle to nearly-the-answer.
        solution: A step-by-step worked answer in Markdown.
        topic: The lesson section it tests (optional, for authors and reports).
        mutants: Known-wrong answers and the feedback text each must produce.
        line: Line of the question in its YAML file, for messages to authors.
    """

    id: str
    prompt: str
    hints: tuple[str, ...]
    solution: str
    topic: str = ""
    mutants: tuple[Mutant, ...] = ()
    line: int = 0

    kind = Kind.SINGLE_CHOICE  # overridden by each subclass; not a field


@dataclass(frozen=True, kw_only=True)
class SingleChoice(Question):
    """Pick exactly one option.

    Attributes:
        choices: The options; exactly one is correct.
    """

    choices: tuple[Choice, ...]

    kind = Kind.SINGLE_CHOICE


@dataclass(frozen=True, kw_only=True)
class MultipleSelect(Question):
    """Tick every right option and no wrong one.

    Attributes:
        choices: The options; at least one is correct.
    """

    choices: tuple[Choice, ...]

    kind = Kind.MULTIPLE_SELECT


@dataclass(frozen=True, kw_only=True)
class Numeric(Question):
    """Type a number; it passes within an absolute tolerance.

    Attributes:
        answer: The right value.
        tolerance: Largest accepted absolute difference.
        mistakes: Typical wrong values with their own feedback.
    """

    answer: float
    tolerance: float = 0.0
    mistakes: tuple[Mistake, ...] = ()

    kind = Kind.NUMERIC


@dataclass(frozen=True, kw_only=True)
class OutputShape(Question):
    """Type a shape such as ``(None, 3)``.

    Attributes:
        answer: The right shape, ``None`` for the batch dimension.
        code: Optional code the prompt refers to.
        mistakes: Typical wrong shapes with their own feedback.
    """

    answer: Shape
    code: str = ""
    mistakes: tuple[Mistake, ...] = ()

    kind = Kind.OUTPUT_SHAPE


@dataclass(frozen=True, kw_only=True)
class PredictOutput(Question):
    """Read a snippet and type what it prints.

    Attributes:
        code: The snippet; the bank's tests execute it with the installed Keras.
        answer: What the snippet prints, stripped.
        mistakes: Typical wrong predictions with their own feedback.
    """

    code: str
    answer: str
    mistakes: tuple[Mistake, ...] = ()

    kind = Kind.PREDICT_OUTPUT


@dataclass(frozen=True, kw_only=True)
class FixModel(Question):
    """Edit a broken model until a registered check accepts it.

    Attributes:
        starter: Code with the mistake; it must define ``model``.
        reference: A right version of the code; it must define ``model``.
        check: Name of a registered check (see ``autograder.checks.answers.MODEL_CHECKS``).
        params: Keyword arguments for that check, such as ``input_shape`` and ``num_classes``.
    """

    starter: str
    reference: str
    check: str
    params: Mapping[str, Any] = field(default_factory=dict)

    kind = Kind.FIX_MODEL


QUESTION_TYPES: dict[Kind, type[Question]] = {
    Kind.SINGLE_CHOICE: SingleChoice,
    Kind.MULTIPLE_SELECT: MultipleSelect,
    Kind.NUMERIC: Numeric,
    Kind.OUTPUT_SHAPE: OutputShape,
    Kind.PREDICT_OUTPUT: PredictOutput,
    Kind.FIX_MODEL: FixModel,
}


@dataclass(frozen=True)
class Quiz:
    """One lesson's question bank.

    Attributes:
        stem: The lesson stem, such as ``"01-keras-sequential-api"``.
        title: A human title for the quiz.
        questions: The questions in the order the learner meets them.
        path: The YAML file it was read from (empty when built in code).
    """

    stem: str
    title: str
    questions: tuple[Question, ...]
    path: str = ""

    def question(self, question_id: str) -> Question:
        """Return the question with this id.

        Args:
            question_id: The ``id`` from the quiz file.

        Returns:
            The question.

        Raises:
            KeyError: Naming the unknown id and listing the valid ones.
        """
        for question in self.questions:
            if question.id == question_id:
                return question
        known = ", ".join(q.id for q in self.questions)
        raise KeyError(
            f"Quiz {self.stem!r} has no question {question_id!r}. Its questions: {known}"
        )

    @property
    def ids(self) -> tuple[str, ...]:
        """The question ids in order."""
        return tuple(q.id for q in self.questions)
