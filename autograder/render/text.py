"""Plain-text and Markdown rendering of quizzes, for terminals and notebooks without widgets.

A renderer never checks answers: it only lays out what the quiz and its saved progress hold. It
is handed the questions as the learner sees them (:attr:`autograder.quiz.QuizSession.shown`), so
letters are the learner's own.
"""

from __future__ import annotations

import string

from autograder.schema import (
    FixModel,
    MultipleSelect,
    Numeric,
    OutputShape,
    PredictOutput,
    Question,
    Quiz,
    SingleChoice,
)


class Markdown(str):
    """Text that a notebook shows as Markdown and a terminal prints as is."""

    def _repr_markdown_(self) -> str:
        return str(self)


_HOW_TO_ANSWER = {
    SingleChoice: 'Answer with one letter as shown here, e.g. `quiz.check({id!r}, "B")`, or with '
    "the choice's text.",
    MultipleSelect: "Answer with every right letter as shown here, e.g. "
    '`quiz.check({id!r}, ["A", "C"])`, or with the choices\' texts.',
    Numeric: "Answer with a number, e.g. `quiz.check({id!r}, 0.25)`.",
    OutputShape: 'Answer with a shape, e.g. `quiz.check({id!r}, "(None, 4)")`.',
    PredictOutput: 'Answer with the printed text, e.g. `quiz.check({id!r}, "...")`.',
    FixModel: "Fix the code, run it, then call `quiz.check({id!r}, model)`.",
}


def choice_label(index: int, text: str) -> str:
    """Label of a choice as learners see it: ``"B. text"``.

    Args:
        index: 0-based position of the choice.
        text: The choice text.

    Returns:
        The label.
    """
    return f"{string.ascii_uppercase[index]}. {text}"


def code_block(code: str) -> str:
    """A fenced Python code block.

    Args:
        code: The source.

    Returns:
        Markdown text.
    """
    return f"```python\n{code.rstrip()}\n```"


def question_body(question: Question, *, with_choices: bool = True) -> str:
    """The prompt with the code and choices a learner needs to answer, in Markdown.

    Args:
        question: Any question.
        with_choices: List the choices (a widget shows them as its own controls instead).

    Returns:
        Markdown text (no answer, hint or solution).
    """
    parts = [question.prompt.strip()]
    if isinstance(question, PredictOutput | OutputShape) and question.code:
        parts.append(code_block(question.code))
    if isinstance(question, FixModel):
        parts.append(code_block(question.starter))
    if with_choices and isinstance(question, SingleChoice | MultipleSelect):
        parts.append(
            "\n".join(f"- {choice_label(i, c.text)}" for i, c in enumerate(question.choices))
        )
    return "\n\n".join(parts)


def render_question(question: Question, number: int | None = None, total: int | None = None) -> str:
    """A whole question for a notebook or terminal, with how to answer it.

    Args:
        question: The question.
        number: Its 1-based position, when shown in a quiz.
        total: How many questions the quiz has.

    Returns:
        Markdown text.
    """
    heading = f"Question {number} of {total}" if number and total else "Question"
    how = _HOW_TO_ANSWER[type(question)].format(id=question.id)
    return f"### {heading} (`{question.id}`)\n\n{question_body(question)}\n\n*{how}*"


def render_quiz(quiz: Quiz, ids: tuple[str, ...] | None = None) -> Markdown:
    """All (or some) questions of a quiz in Markdown.

    Args:
        quiz: The quiz.
        ids: Question ids to include; all when None.

    Returns:
        :class:`Markdown` text.
    """
    wanted = ids or quiz.ids
    total = len(quiz.questions)
    sections = [f"## {quiz.title}"] if ids is None else []
    for number, question in enumerate(quiz.questions, start=1):
        if question.id in wanted:
            sections.append(render_question(question, number, total))
    sections.append(
        "*Ask for help with `quiz.hint(id)`; see a worked answer with `quiz.solution(id)`.*"
    )
    return Markdown("\n\n".join(sections))
