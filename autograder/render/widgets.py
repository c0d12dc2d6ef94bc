"""A quiz in JupyterLab: answer controls, Check, Hint, Solution and a score line.

:class:`QuizWidget` holds one :class:`QuestionWidget` per question and shows them all through
one :class:`autograder.render.accessible.QuizView` (its ``root``), whose front end draws native
radio groups, check boxes, labelled text fields, disclosure buttons and live regions. The
widgets only lay out and forward: Check hands the answer to
:meth:`autograder.quiz.QuizSession.check` and shows the result. Choices appear in the learner's
own order (:mod:`autograder.render.shuffle`); a choice's value is its text, so a saved answer
comes back to the same choice whatever letter it is shown under. Choice, number, shape and
predict-the-output checks are pure Python and answer in milliseconds; only fix-the-model
questions build and inspect a Keras model on click.

Everything a learner reads is also reachable from Python (``feedback``, ``hints``,
``solution``, ``summary``), which is what the headless tests and the benchmark read.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autograder.render.accessible import (
    QuizView,
    inline_html,
    markdown_html,
    outcome_class,
    result_html,
)
from autograder.render.text import choice_label, code_block, question_body
from autograder.result import CheckResult
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

_PLACEHOLDERS = {
    Numeric: "a number, e.g. 0.25",
    OutputShape: "a shape, e.g. (None, 4)",
    PredictOutput: "what the code prints",
}

_INPUT_LABELS = {
    Numeric: "Your answer (a number)",
    OutputShape: "Your answer (a shape)",
    PredictOutput: "Your answer (what the code prints)",
    FixModel: "Your model code (it must define model)",
}


class QuestionWidget:
    """One question's part of the quiz: what it shows and what its buttons do.

    Attributes:
        question: The question as this learner sees it (choices in the learner's order).
        number: Its 1-based position in the quiz.
        choice_values: For a choice question, the value of each choice shown (its text as
            defined), in the order shown.
        labels: For a choice question, the label of each choice shown (``"B. text"``).
        feedback: HTML of the verdict ("" until checked).
        solution: HTML of the worked solution ("" until revealed).
        solution_open: Whether the solution is shown.

    Args:
        session: The quiz session that checks answers and keeps progress.
        question: The question to show, as in :attr:`autograder.quiz.QuizSession.shown`.
        number: Its 1-based position in the quiz.
        on_change: Called after every action, with the question's id, to refresh the view.
    """

    def __init__(
        self,
        session: QuizSession,
        question: Question,
        number: int,
        on_change: Callable[[str], None],
    ):
        self.session = session
        self.question = question
        self.number = number
        self._on_change = on_change
        order = session.choice_order(question.id)
        # The defined text of the choice at each shown position: what a choice control holds.
        self.choice_values: list[str] = (
            order.identity(list(order.order)) if order is not None else []
        )
        choices = question.choices if isinstance(question, SingleChoice | MultipleSelect) else ()
        self.labels = [choice_label(i, c.text) for i, c in enumerate(choices)]
        self._value: Any = question.starter if isinstance(question, FixModel) else None
        self.feedback = ""
        self.outcome = ""
        self.checks = 0
        self.busy = False
        self.solution = ""
        self.solution_open = False
        self._restore()

    # ------------------------------------------------------------ what is shown

    def spec(self) -> dict[str, Any]:
        """The question for the front end, rendered once.

        Returns:
            A JSON-ready mapping (see :attr:`QuizView.spec`).
        """
        question = self.question
        total = len(self.session.quiz.questions)
        spec: dict[str, Any] = {
            "id": question.id,
            "number": self.number,
            "heading": f"Question {self.number} of {total}",
            "prompt_html": markdown_html(question_body(question, with_choices=False)),
        }
        if isinstance(question, SingleChoice | MultipleSelect):
            spec["kind"] = "single" if isinstance(question, SingleChoice) else "multiple"
            spec["choices"] = [
                {"value": value, "label_html": inline_html(label)}
                for value, label in zip(self.choice_values, self.labels, strict=True)
            ]
            return spec
        spec["input_label"] = _INPUT_LABELS[type(question)]
        if isinstance(question, FixModel):
            lines = question.starter.count("\n") + 2
            spec.update(kind="code", rows=min(max(lines, 4), 24), starter=question.starter)
        else:
            multiline = isinstance(question, PredictOutput) and "\n" in question.answer
            spec.update(
                kind="textarea" if multiline else "text",
                rows=question.answer.count("\n") + 2 if multiline else None,
                placeholder=_PLACEHOLDERS[type(question)],
            )
        return spec

    def state(self) -> dict[str, Any]:
        """What the front end shows now.

        Returns:
            A JSON-ready mapping (see :attr:`QuizView.state`).
        """
        shown, total = self.hints_shown, len(self.question.hints)
        if shown >= total:
            hint_label = "No more hints"
        elif shown:
            hint_label = f"Next hint ({shown + 1} of {total})"
        else:
            hint_label = "Hint"
        value = self._value
        return {
            "value": value if isinstance(value, str | list) else None,
            "feedback_html": self.feedback,
            "outcome": self.outcome,
            "checks": self.checks,
            "busy": self.busy,
            "hints_html": self.hint_rungs(),
            "hint_label": hint_label,
            "hints_done": shown >= total,
            "solution_html": self.solution,
            "solution_open": self.solution_open,
        }

    @property
    def hints_shown(self) -> int:
        """How far up the hint ladder the learner has climbed."""
        return self.session.progress(self.question.id).hints_shown

    def hint_rungs(self) -> list[str]:
        """The hints shown so far, each as HTML.

        Returns:
            One HTML block per rung, first to last.
        """
        qid = self.question.id
        return [
            markdown_html(self.session.hint_text(qid, n)) for n in range(1, self.hints_shown + 1)
        ]

    @property
    def hints(self) -> str:
        """All hints shown so far, as one HTML block."""
        return "".join(self.hint_rungs())

    @property
    def hint_label(self) -> str:
        """The Hint button's label."""
        return str(self.state()["hint_label"])

    @property
    def solution_label(self) -> str:
        """The solution button's label."""
        return "Hide solution" if self.solution_open else "Show solution"

    # ------------------------------------------------------------ the answer

    def value(self) -> Any:
        """The answer currently entered in the controls.

        Returns:
            The chosen choice's text, the ticked choices' texts, or the typed text.
        """
        if isinstance(self.question, MultipleSelect):
            return list(self._value) if isinstance(self._value, list) else []
        return self._value

    def set_value(self, value: Any) -> None:
        """Put an answer into the controls (a choice that does not fit leaves them blank).

        Args:
            value: A choice's text, a list of them for a multiple select, or typed text.
        """
        question = self.question
        if isinstance(question, SingleChoice):
            # A choice no longer in the question (the quiz was edited) starts blank.
            self._value = value if value in self.choice_values else None
        elif isinstance(question, MultipleSelect):
            chosen = set(value) if isinstance(value, list | tuple | set) else set()
            self._value = [v for v in self.choice_values if v in chosen]
        elif isinstance(value, str):
            self._value = value
        elif value is None:
            self._value = None

    # ------------------------------------------------------------ actions

    def check(self, value: Any = ...) -> CheckResult:
        """Check the answer in the controls (or ``value``, as the front end sends it).

        Args:
            value: The answer to put in the controls first; the current one when omitted.

        Returns:
            The session's verdict.
        """
        if value is not ...:
            self.set_value(value)
        if isinstance(self.question, FixModel):
            # Building a model takes a moment; say so before the kernel is busy.
            self.busy, self.feedback, self.outcome = True, "<p>Checking your model…</p>", ""
            self._on_change(self.question.id)
        try:
            result = self.session.check(self.question.id, self.value())
        finally:
            # Whatever happens, the page stops saying "Checking…".
            if self.busy:
                self.busy, self.feedback = False, ""
                self._on_change(self.question.id)
        self.feedback, self.outcome = result_html(result), outcome_class(result)
        self.checks += 1
        self._on_change(self.question.id)
        return result

    def hint(self) -> None:
        """Show the next rung of the hint ladder (nothing more once all are shown)."""
        if self.hints_shown < len(self.question.hints):
            self.session.hint(self.question.id)
        self._on_change(self.question.id)

    def toggle_solution(self) -> None:
        """Reveal the worked solution, or hide it again."""
        if self.solution_open:
            self.solution_open = False
        else:
            text = str(self.session.solution(self.question.id))
            if isinstance(self.question, FixModel):
                text = f"{text}\n\n{code_block(self.question.reference)}"
            self.solution = "<h5>Solution</h5>" + markdown_html(text)
            self.solution_open = True
        self._on_change(self.question.id)

    def _restore(self) -> None:
        progress = self.session.progress(self.question.id)
        if progress.value is not None:
            self.set_value(progress.value)
        if progress.result is not None:
            self.feedback = result_html(progress.result)
            self.outcome = outcome_class(progress.result)


class QuizWidget:
    """A whole quiz (or a few of its questions) with a score line.

    Attributes:
        questions: The :class:`QuestionWidget` of each question shown, by id.
        root: The displayable :class:`~autograder.render.accessible.QuizView`.

    Args:
        session: The quiz session.
        ids: The question ids to show, in quiz order.
    """

    def __init__(self, session: QuizSession, ids: tuple[str, ...]):
        self.session = session
        numbers = {q.id: n for n, q in enumerate(session.shown.questions, start=1)}
        self.questions = {
            qid: QuestionWidget(session, session.shown.question(qid), numbers[qid], self._changed)
            for qid in ids
        }
        spec = {
            "title": session.quiz.title,
            "notice_html": markdown_html(session.notice) if session.notice else "",
            "questions": [view.spec() for view in self.questions.values()],
        }
        self.root = QuizView(
            self._on_event,
            spec=spec,
            state={qid: view.state() for qid, view in self.questions.items()},
            summary_html=self._summary_html(),
        )

    @property
    def summary(self) -> str:
        """The score line as HTML."""
        return str(self.root.summary_html)

    @property
    def notice(self) -> str:
        """The progress file's notice as HTML ("" when there is none)."""
        return str(self.root.spec.get("notice_html", ""))

    @property
    def title(self) -> str:
        """The quiz's title (escaped for HTML)."""
        return html.escape(self.session.quiz.title)

    def update_summary(self) -> None:
        """Refresh the score line from the session."""
        self.root.summary_html = self._summary_html()

    def _summary_html(self) -> str:
        return markdown_html(self.session.score().message)

    def _changed(self, qid: str) -> None:
        # A new dict, so that traitlets sees the change and syncs it to the page.
        self.root.state = {**self.root.state, qid: self.questions[qid].state()}
        self.update_summary()

    def _on_event(self, event: str, qid: str, value: Any) -> None:
        view = self.questions.get(qid)
        if view is None:
            return
        if event == "check":
            view.check(value)
        elif event == "hint":
            view.hint()
        else:
            view.toggle_solution()
