"""ipywidgets 8 rendering of a quiz: answer controls, Check, Hint, Solution and a score line.

The widgets only lay out and forward: a click on Check hands the control's value to
:meth:`autograder.quiz.QuizSession.check` and shows the result. Choices appear in the learner's
own order (:mod:`autograder.render.shuffle`); a choice control's value is the choice's text, so
a saved answer comes back to the same choice whatever letter it is shown under. Choice, number,
shape and predict-the-output checks are pure Python and answer in milliseconds; only
fix-the-model questions build and inspect a Keras model on click.

Every control has a visible ``description`` and a ``tooltip`` (the ``title`` a screen reader
announces), native radio buttons, check boxes, text fields and buttons keep the quiz usable with
the keyboard alone, and feedback areas are ARIA live regions so the verdict is read out.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import mistune

from autograder.render.text import choice_label, code_block, question_body
from autograder.result import CheckResult, Outcome
from autograder.schema import (
    FixModel,
    MultipleSelect,
    Numeric,
    OutputShape,
    PredictOutput,
    Question,
    SingleChoice,
)

if TYPE_CHECKING:  # pragma: no cover
    from autograder.quiz import QuizSession

_markdown = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])

# Plain symbols rather than emoji: they render in every font, including headless browsers'.
_ICONS = {
    Outcome.PASSED: "✓",
    Outcome.FAILED: "✗",
    Outcome.NOT_ATTEMPTED: "○",
    Outcome.ERROR: "⚠",
}

# Scoped to the quiz's own classes; colours pass WCAG AA contrast on a white background.
# What a learner reads above the message; "failed" is the grader's word, not a tutor's.
_LABELS = {
    Outcome.PASSED: "Correct.",
    Outcome.FAILED: "Not yet.",
    Outcome.NOT_ATTEMPTED: "Not attempted.",
    Outcome.ERROR: "Could not check this answer.",
}

_STYLE = """<style>
.quiz-question { border-left: 4px solid #4a6fa5; padding: 4px 12px; margin: 12px 0; }
.quiz-question pre { background: #f6f8fa; padding: 6px; }
.quiz-feedback .quiz-passed { color: #1b5e20; }
.quiz-feedback .quiz-failed { color: #8b1a1a; }
.quiz-feedback .quiz-error { color: #7a4a00; }
.quiz-code textarea { font-family: monospace; font-size: 13px; }
.quiz-summary { font-weight: bold; }
</style>"""

_PLACEHOLDERS = {
    Numeric: "a number, e.g. 0.25",
    OutputShape: "a shape, e.g. (None, 4)",
    PredictOutput: "what the code prints",
}


def markdown_html(text: str) -> str:
    """Markdown to HTML, with raw HTML in the text escaped.

    Args:
        text: Markdown.

    Returns:
        HTML.
    """
    return str(_markdown(text))


def result_html(result: CheckResult | None) -> str:
    """A result as an HTML block for a feedback area (empty when there is none).

    Args:
        result: A check result, or None.

    Returns:
        HTML.
    """
    if result is None:
        return ""
    outcome = result.outcome.value.replace(" ", "-")
    message = result.message.removeprefix("Correct. ")
    body = markdown_html(f"{_ICONS[result.outcome]} **{_LABELS[result.outcome]}** {message}")
    if result.details:
        body += "<ul>" + "".join(f"<li>{markdown_html(d)}</li>" for d in result.details) + "</ul>"
    return f'<div class="quiz-{outcome}">{body}</div>'


def _live_region(inner: str) -> str:
    return f'<div role="status" aria-live="polite">{inner}</div>'


class QuestionWidget:
    """The controls for one question.

    Attributes:
        question: The question as this learner sees it (choices in the learner's order).
        answer: The answer control (RadioButtons, a box of Checkbox, Text or Textarea).
        boxes: For a multiple select, one Checkbox per choice, in the order shown.
        check_button, hint_button, solution_button: The three actions.
        feedback: HTML area for the verdict.
        hints: HTML area for the hints shown so far.
        solution: HTML area for the worked solution (empty until revealed).
        root: The whole question as one displayable box.

    Args:
        session: The quiz session that checks answers and keeps progress.
        question: The question to show, as in :attr:`autograder.quiz.QuizSession.shown`.
        number: Its 1-based position in the quiz.
        on_result: Called after every check, to refresh the score line.
    """

    def __init__(
        self, session: QuizSession, question: Question, number: int, on_result: Callable[[], None]
    ):
        self.session = session
        self.question = question
        self._on_result = on_result
        order = session.choice_order(question.id)
        # The defined text of the choice at each shown position: what a choice control holds.
        self._choice_ids = order.identity(list(order.order)) if order is not None else []
        total = len(session.quiz.questions)
        label = f"question {number}"
        heading = f"<h4>Question {number} of {total}</h4>"
        body = question_body(question, with_choices=False)
        self.prompt = widgets.HTML(heading + markdown_html(body))
        self.answer = self._answer_control(label)
        self.check_button = widgets.Button(
            description="Check",
            tooltip=f"Check your answer to {label}",
            button_style="primary",
            icon="check",
        )
        self.hint_button = widgets.Button(description="Hint", tooltip=f"Show a hint for {label}")
        self.solution_button = widgets.Button(
            description="Show solution", tooltip=f"Show the worked solution of {label}"
        )
        self.feedback = widgets.HTML(_live_region(""))
        self.feedback.add_class("quiz-feedback")
        self.hints = widgets.HTML("")
        self.solution = widgets.HTML("")
        self.check_button.on_click(self._check)
        self.hint_button.on_click(self._hint)
        self.solution_button.on_click(self._toggle_solution)
        buttons = widgets.HBox([self.check_button, self.hint_button, self.solution_button])
        self.root = widgets.VBox(
            [self.prompt, self.answer, buttons, self.feedback, self.hints, self.solution]
        )
        self.root.add_class("quiz-question")
        self.root.add_class(f"quiz-q-{question.id}")  # a stable handle for styling and tests
        self._restore()

    # ------------------------------------------------------------ controls

    def _answer_control(self, label: str) -> widgets.Widget:
        question = self.question
        layout = widgets.Layout(width="auto")
        if isinstance(question, SingleChoice):
            return widgets.RadioButtons(
                options=[
                    (_plain(choice_label(i, c.text)), self._choice_ids[i])
                    for i, c in enumerate(question.choices)
                ],
                value=None,
                description="Answer",
                tooltip=f"Choose one answer to {label}",
                layout=layout,
            )
        if isinstance(question, MultipleSelect):
            self.boxes = [
                widgets.Checkbox(
                    value=False,
                    description=_plain(choice_label(i, c.text)),
                    tooltip=f"Tick if this option is right ({label})",
                    indent=False,
                    layout=layout,
                )
                for i, c in enumerate(question.choices)
            ]
            box = widgets.VBox(self.boxes)
            return box
        if isinstance(question, FixModel):
            lines = question.starter.count("\n") + 2
            area = widgets.Textarea(
                value=question.starter,
                description="Code",
                tooltip=f"Edit the model code for {label}",
                rows=min(max(lines, 4), 24),
                layout=widgets.Layout(width="95%"),
            )
            area.add_class("quiz-code")
            return area
        multiline = isinstance(question, PredictOutput) and "\n" in question.answer
        control = widgets.Textarea if multiline else widgets.Text
        return control(
            value="",
            placeholder=_PLACEHOLDERS[type(question)],
            description="Answer",
            tooltip=f"Type your answer to {label}",
            layout=widgets.Layout(width="60%"),
        )

    def value(self) -> Any:
        """The answer currently entered in the control.

        Returns:
            The chosen choice's text, the ticked choices' texts, or the typed text.
        """
        if isinstance(self.question, MultipleSelect):
            return [self._choice_ids[i] for i, box in enumerate(self.boxes) if box.value]
        return self.answer.value

    def set_value(self, value: Any) -> None:
        """Put a saved answer back into the control (ignored when it does not fit).

        Args:
            value: A value as saved by the quiz session (choices by their text).
        """
        question = self.question
        if isinstance(question, SingleChoice):
            # A choice no longer in the question (the quiz was edited) starts blank.
            self.answer.value = value if value in self._choice_ids else None
        elif isinstance(question, MultipleSelect):
            chosen = set(value) if isinstance(value, list) else set()
            for choice_id, box in zip(self._choice_ids, self.boxes, strict=True):
                box.value = choice_id in chosen
        elif isinstance(value, str):
            self.answer.value = value

    # ------------------------------------------------------------ actions

    def _check(self, _button: widgets.Button | None = None) -> None:
        if isinstance(self.question, FixModel):
            # Building a model takes a moment; say so before the kernel is busy.
            self.feedback.value = _live_region("Checking your model…")
        result = self.session.check(self.question.id, self.value())
        self.feedback.value = _live_region(result_html(result))
        self._on_result()

    def _hint(self, _button: widgets.Button | None = None) -> None:
        self.session.hint(self.question.id)
        self._show_hints()

    def _show_hints(self) -> None:
        shown = self.session.progress(self.question.id).hints_shown
        total = len(self.question.hints)
        rungs = [self.session.hint_text(self.question.id, n) for n in range(1, shown + 1)]
        self.hints.value = _live_region("".join(markdown_html(r) for r in rungs))
        if shown >= total:
            self.hint_button.description = "No more hints"
            self.hint_button.disabled = True
        elif shown:
            self.hint_button.description = f"Next hint ({shown + 1} of {total})"

    def _toggle_solution(self, _button: widgets.Button | None = None) -> None:
        if self.solution.value:
            self.solution.value = ""
            self.solution_button.description = "Show solution"
            return
        text = self.session.solution(self.question.id)
        if isinstance(self.question, FixModel):
            text = f"{text}\n\n{code_block(self.question.reference)}"
        self.solution.value = "<h5>Solution</h5>" + markdown_html(text)
        self.solution_button.description = "Hide solution"

    def _restore(self) -> None:
        progress = self.session.progress(self.question.id)
        if progress.value is not None:
            self.set_value(progress.value)
        if progress.result is not None:
            self.feedback.value = _live_region(result_html(progress.result))
        if progress.hints_shown:
            self._show_hints()


class QuizWidget:
    """A whole quiz (or a few of its questions) with a score line.

    Attributes:
        questions: The :class:`QuestionWidget` of each question shown, by id.
        summary: HTML area with the score so far.
        root: Everything, as one displayable box.

    Args:
        session: The quiz session.
        ids: The question ids to show, in quiz order.
    """

    def __init__(self, session: QuizSession, ids: tuple[str, ...]):
        self.session = session
        numbers = {q.id: n for n, q in enumerate(session.shown.questions, start=1)}
        self.questions = {
            qid: QuestionWidget(
                session, session.shown.question(qid), numbers[qid], self.update_summary
            )
            for qid in ids
        }
        self.summary = widgets.HTML("")
        self.summary.add_class("quiz-summary")
        header = widgets.HTML(_STYLE + f"<h3>{html.escape(session.quiz.title)}</h3>")
        notice = [widgets.HTML(markdown_html(session.notice))] if session.notice else []
        self.root = widgets.VBox(
            [header, *notice, *(w.root for w in self.questions.values()), self.summary]
        )
        self.root.add_class("quiz")
        self.update_summary()

    def update_summary(self) -> None:
        """Refresh the score line from the session."""
        self.summary.value = _live_region(markdown_html(self.session.score().message))


def _plain(text: str) -> str:
    # Radio and checkbox labels are plain text; backticks would show literally.
    return text.replace("`", "")
