"""The quiz's front end: an anywidget whose JavaScript renders native, labelled form controls.

ipywidgets gives radio buttons no group, a question no role as a group's label, and feedback no
live region, so the quiz draws its own HTML (``static/quiz.js``, ``static/quiz.css``):

- a single choice is a ``fieldset`` with ``role="radiogroup"`` of native radio buttons named by
  the question's heading and prompt (``aria-labelledby``), so Tab reaches the group and the
  arrow keys move between choices; a multiple select is a ``fieldset`` of check boxes;
- free answers are text fields (a text area for code) with a visible ``label``;
- Check, Hint and Show solution are buttons; Hint and Show solution are disclosures
  (``aria-expanded``, ``aria-controls``);
- the verdict and the score are ``role="status"`` live regions, written out in words with an
  icon ("✓ Correct:", "✗ Not yet:"), never by colour alone;
- colours are JupyterLab's theme variables, chosen for WCAG AA contrast in light and dark.

The widget only presents. Its front end sends ``{"event": "check" | "hint" | "solution", "id",
"value"}`` messages; :class:`autograder.render.widgets.QuizWidget` hands them to the quiz
session, which judges, and sends back the new ``state``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import mistune
import traitlets

from autograder.result import CheckResult, Outcome

_STATIC = Path(__file__).resolve().parent / "static"

Handler = Callable[[str, str, Any], None]

_markdown = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])

# Plain symbols rather than emoji: they render in every font, including headless browsers'.
# aria-hidden, because the word after them says the same to a screen reader.
_ICONS = {
    Outcome.PASSED: "✓",
    Outcome.FAILED: "✗",
    Outcome.NOT_ATTEMPTED: "○",
    Outcome.ERROR: "⚠",
}

# What a learner reads first, so the verdict never rests on colour; "failed" is the grader's
# word, not a tutor's.
_LABELS = {
    Outcome.PASSED: "Correct:",
    Outcome.FAILED: "Not yet:",
    Outcome.NOT_ATTEMPTED: "Not attempted:",
    Outcome.ERROR: "Could not check this answer:",
}

def markdown_html(text: str) -> str:
    """Markdown to HTML, with raw HTML in the text escaped.

    Args:
        text: Markdown.

    Returns:
        HTML.
    """
    return str(_markdown(text))


def inline_html(text: str) -> str:
    """One line of Markdown as inline HTML (no surrounding paragraph), for a choice's label.

    Args:
        text: Markdown, such as ``"B. `softmax` per class"``.

    Returns:
        HTML.
    """
    rendered = markdown_html(text).strip()
    match = re.fullmatch(r"<p>(.*)</p>", rendered, flags=re.DOTALL)
    return match.group(1) if match else rendered


def result_html(result: CheckResult | None) -> str:
    """A result as an HTML block for a feedback area (empty when there is none).

    Args:
        result: A check result, or None.

    Returns:
        HTML that starts with an icon and the verdict in words.
    """
    if result is None:
        return ""
    outcome = result.outcome
    message = result.message.removeprefix("Correct. ")
    icon = f'<span class="kc-icon" aria-hidden="true">{_ICONS[outcome]}</span>'
    body = markdown_html(f"**{_LABELS[outcome]}** {message}")
    body = body.replace("<p>", f"<p>{icon} ", 1)
    if result.details:
        body += "<ul>" + "".join(f"<li>{markdown_html(d)}</li>" for d in result.details) + "</ul>"
    return body


def outcome_class(result: CheckResult | None) -> str:
    """The CSS name of a result's outcome (``passed``, ``failed``, ``not-attempted``, ``error``).

    Args:
        result: A check result, or None.

    Returns:
        The name, or "" when there is no result.
    """
    return "" if result is None else result.outcome.value.replace(" ", "-")


class QuizView(anywidget.AnyWidget):
    """The quiz as the browser shows it.

    Attributes:
        spec: What does not change while the quiz is shown: title, notice and, per question,
            its id, number, kind (``single``, ``multiple``, ``text``, ``textarea``, ``code``),
            heading, prompt and choice labels as HTML, the choices' values, placeholder and the
            starter code.
        state: Per question id: the answer to restore (``value``), the verdict as HTML
            (``feedback_html``) with its ``outcome``, how many checks were made (``checks``,
            so that the same verdict twice is announced twice), ``busy``, the hints shown
            (``hints_html``), the Hint button's label and ``hints_done``, and the solution
            (``solution_html``, ``solution_open``).
        summary_html: The score line.

    Args:
        handler: Called with (event, question id, value) for each message from the front end.
        **kwargs: Initial trait values.
    """

    _esm = _STATIC / "quiz.js"
    _css = _STATIC / "quiz.css"
    spec = traitlets.Dict().tag(sync=True)
    state = traitlets.Dict().tag(sync=True)
    summary_html = traitlets.Unicode("").tag(sync=True)

    def __init__(self, handler: Handler, **kwargs: Any):
        super().__init__(**kwargs)
        self._handler = handler
        self.on_msg(self._on_message)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # Messages come from the page; anything malformed is dropped rather than raised into
        # the kernel's log.
        if not isinstance(content, dict):
            return
        event, qid = content.get("event"), content.get("id")
        if event in ("check", "hint", "solution") and isinstance(qid, str):
            self._handler(event, qid, content.get("value"))

    def send_event(self, event: str, qid: str, value: Any = None) -> None:
        """Act as the front end would: a click on Check, Hint or Show solution.

        Args:
            event: ``"check"``, ``"hint"`` or ``"solution"``.
            qid: The question id.
            value: The answer in the controls, for ``"check"`` (a choice's text, a list of
                them, or the typed text).
        """
        self._on_message(self, {"event": event, "id": qid, "value": value}, [])
