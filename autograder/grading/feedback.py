"""What a learner reads about each grade cell: the grader's verified verdict, never a hidden test.

nbgrader's feedback shows an autograded notebook as its kernel left it. Under verified grading
that is the wrong story twice over: a grade cell that passed in the learner's kernel may have
earned nothing from the grader (a model the grader could not load, a weak class on the grader's
images), and whatever learner code printed while a hidden test ran (an IPython hook that echoes
each cell, the input history) stands in the outputs. So, once the grader has verified a
submission, :func:`present_verdicts` rewrites the autograded notebook:

- each verified grade cell keeps what it printed and then shows the grader's verdict: its score
  and its message, as an error (0 points), a score value (partial credit) or plain text (full
  marks), which is also how nbgrader itself reads a cell's score;
- any line of any output that quotes a line of a hidden test is removed.

Under verified grading the hidden judgement of a grade cell (the expected answer) is not run in
the learner's kernel at all (:func:`strip_judgement`): the grader judges the exported answer, so
no expected value ever reaches learner code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import nbformat

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
# A hidden region that hands the graded value to the grader stays (the grader needs the export),
# and so does one that says "not attempted" when the cell's inputs are missing; what is left of
# the hidden regions judges.
_KEPT_MARKS = ("autograder.export", "autograder.checks.attempted")
_HIDDEN_REGION = re.compile(rf"^[ \t]*{re.escape(BEGIN_HIDDEN)}[ \t]*\n(.*?)"
                            rf"^[ \t]*{re.escape(END_HIDDEN)}[ \t]*(\n|\Z)", re.S | re.M)
# Hidden lines shorter than this (``try:``, ``pass``) say nothing about a test.
_MIN_QUOTED = 12
REMOVED_LINE = "[a line of a hidden test was removed from this output]"
ERROR_NAME = "CheckFailed"
NOT_ATTEMPTED = "not attempted"


def strip_judgement(source: str) -> str:
    """Remove the hidden regions of a grade cell that judge rather than hand over.

    Args:
        source: A grade cell's source as the gradebook holds it.

    Returns:
        The source without the hidden regions that neither hand over (:mod:`autograder.export`)
        nor say "not attempted" (:mod:`autograder.checks.attempted`).
    """
    return _HIDDEN_REGION.sub(
        lambda found: found.group(0) if any(mark in found.group(1) for mark in _KEPT_MARKS)
        else "", source)


def hidden_lines(notebook: Any) -> set[str]:
    """The lines of every hidden region of a notebook's grade cells, worth looking for.

    Args:
        notebook: An nbformat notebook.

    Returns:
        Stripped lines of at least a dozen characters, and the region markers.
    """
    found: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        for region in _HIDDEN_REGION.finditer(cell.source):
            # The markers too: an output that echoes them was printing the hidden region.
            found.update((BEGIN_HIDDEN, END_HIDDEN))
            found.update(line.strip() for line in region.group(1).splitlines()
                         if len(line.strip()) >= _MIN_QUOTED)
    return found


def _scrub_text(text: str, quoted: set[str]) -> str:
    if not quoted or not any(line in text for line in quoted):
        return text
    return "\n".join(REMOVED_LINE if any(line in kept for line in quoted) else kept
                     for kept in text.split("\n"))


def _scrub_value(value: Any, quoted: set[str]) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, quoted)
    if isinstance(value, list):
        return [_scrub_value(item, quoted) for item in value]
    return value


def scrub_outputs(notebook: Any, quoted: set[str]) -> None:
    """Remove every output line that quotes a hidden line, in every cell.

    Args:
        notebook: An nbformat notebook, changed in place.
        quoted: The hidden lines (:func:`hidden_lines`).
    """
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _scrub_value(output["text"], quoted)
            for key in ("evalue", "traceback"):
                if key in output:
                    output[key] = _scrub_value(output[key], quoted)
            data = output.get("data") or {}
            for mime, value in list(data.items()):
                if mime.startswith("text/") or mime in ("application/json",):
                    data[mime] = _scrub_value(value, quoted)
                elif not mime.startswith("image/"):
                    # Widget states, JavaScript and the like: nothing a learner needs in feedback.
                    del data[mime]


def _points(value: float) -> str:
    return f"{value:g}"


def verdict_outputs(score: float, max_score: float, message: str) -> list[Any]:
    """The outputs that show one verdict and make nbgrader read its score.

    Args:
        score: Points the grader gave.
        max_score: Points available.
        message: The grader's message.

    Returns:
        nbformat outputs: an error for 0 points, text and the score value for partial credit,
        text alone for full marks.
    """
    heading = (f"Checked by the grader: {_points(score)} of {_points(max_score)} "
               f"point{'' if max_score == 1 else 's'}.")
    text = f"{heading} {message.strip()}".strip()
    if score >= max_score - 1e-9:
        return [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]
    if score <= 1e-9:
        return [nbformat.v4.new_output("error", ename=ERROR_NAME, evalue=text,
                                       traceback=[f"{ERROR_NAME}: {text}"])]
    return [nbformat.v4.new_output("stream", name="stdout", text=text + "\n"),
            nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(score))},
                                   execution_count=None)]


UNVERIFIED = ("The grader has no check for this grade cell, so it earns nothing: the course's "
              "manifest and its gradebook disagree. (For the instructor: run `autograder "
              "build-course` and `nbgrader generate_assignment --force` again.)")


def present_verdicts(notebook: Any, notebook_name: str, verdicts: Iterable[Any], *,
                     unverified_fail: bool = False) -> int:
    """Make a notebook's grade cells show the grader's verdicts, and hide every hidden line.

    Args:
        notebook: An autograded nbformat notebook, changed in place.
        notebook_name: Its name (a verdict's ``notebook``).
        verdicts: Verdicts with ``notebook``, ``grade_id``, ``score``, ``max_score`` and
            ``message``.
        unverified_fail: Give a grade cell that has no verdict 0 points, saying why (where
            nbgrader reads the score from the outputs), instead of leaving its outputs.

    Returns:
        How many grade cells now show a verdict.
    """
    by_cell: dict[str, list[Any]] = {}
    for verdict in verdicts:
        if verdict.notebook == notebook_name:
            by_cell.setdefault(verdict.grade_id, []).append(verdict)
    scrub_outputs(notebook, hidden_lines(notebook))
    shown = 0
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        found = by_cell.get(meta.get("grade_id", ""))
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        if not found:
            if unverified_fail:
                cell.outputs = verdict_outputs(0.0, float(meta.get("points") or 0), UNVERIFIED)
            continue
        said = _not_attempted(cell, found)
        if said is not None:
            # Nothing reached the grader, and the kernel's own check said what to write first,
            # in the course voice: that is the message to keep (it earns 0 either way).
            cell.outputs = [said]
            shown += 1
            continue
        # What the cell printed for the learner stays (such as which option a letter stands
        # for); errors, values and stderr go, since nbgrader reads a score from them.
        printed = [output for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout"]
        cell.outputs = printed + verdict_outputs(sum(v.score for v in found),
                                                 sum(v.max_score for v in found),
                                                 " ".join(_distinct(v.message for v in found)))
        shown += 1
    return shown


def _not_attempted(cell: Any, found: Sequence[Any]) -> Any | None:
    """The kernel's own "not attempted" error of a cell whose verdicts are all not attempted."""
    if any(str(verdict.outcome) != NOT_ATTEMPTED for verdict in found):
        return None
    for output in cell.get("outputs", []):
        if (output.get("output_type") == "error" and output.get("ename") == ERROR_NAME
                and f": {NOT_ATTEMPTED}." in str(output.get("evalue", ""))):
            return output
    return None


def _distinct(messages: Iterable[str]) -> Sequence[str]:
    kept: list[str] = []
    for message in messages:
        if message and message not in kept:
            kept.append(message)
    return kept


def rewrite_autograded(path: Any, notebook_name: str, verdicts: Iterable[Any]) -> bool:
    """Rewrite one autograded notebook file with :func:`present_verdicts`.

    Args:
        path: The ``autograded/<student>/<assignment>/<notebook>.ipynb`` file.
        notebook_name: Its notebook name.
        verdicts: The submission's verdicts.

    Returns:
        False when the file is missing or unreadable (nbgrader never wrote it).
    """
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    present_verdicts(notebook, notebook_name, verdicts)
    nbformat.write(notebook, str(path))
    return True
