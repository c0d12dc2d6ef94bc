"""Build nbgrader *source* notebooks from an assignment described as data.

An assignment (defined in ``solutions/aN_*.py``) is a title and a sequence of parts:

- :class:`Instructions` -- a read-only Markdown cell;
- :class:`GivenCode` -- a read-only code cell every learner runs unchanged (loading data, say);
- :class:`SolutionCode` -- a cell the learner writes; the reference answer sits between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``, which ``nbgrader generate_assignment`` replaces
  with a stub;
- :class:`GradeCell` -- an autograded cell worth ``points``: visible lines every learner sees (the
  one check they already know, such as ``autograder.check_split(x_train, x_test)``), and
  optional lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` that only the
  grader runs (expected answers); :func:`model_check_cell` builds the one that checks a
  learner's model. The plumbing of a grade cell (handing its inputs to ``autograder grade`` and
  saying "not attempted" when they are not defined yet) sits in a hidden region *before* the
  visible lines, so that neither the release nor the feedback shows it;
- :class:`QuizAnswer` -- a question answered by assigning a plain variable: the prompt becomes
  Markdown, the variable a solution cell, and the question itself (with its expected answer)
  goes only into the hidden part of a test cell, where
  :func:`autograder.checks.answers.check_answer` judges the variable. A choice question's options
  are listed by a read-only cell in the order the learner's ``YOUR_NAME`` gives, and judged by
  :func:`autograder.choices.judge_choice` against that same order (a notebook with choice
  questions gets the ``YOUR_NAME`` cell under its header).

Every notebook starts with a read-only header cell that calls :func:`autograder.silence` before
importing Keras, so that TensorFlow never writes to stderr in a grade cell (nbgrader scores such
a cell 0 even when it passes).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nbformat

from autograder import schema
from autograder.choices import NAME_CELL_SOURCE, NAME_DEFAULT, NAME_VARIABLE
from autograder.schema import MultipleSelect, OutputShape, Question, SingleChoice

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
NBGRADER_SCHEMA_VERSION = 3

# The header every assignment starts with. `silence()` must run before `import keras`: the
# backend and TensorFlow's C++ log level are read at import time.
HEADER_SOURCE = """\
# Run this cell first. It picks the Keras backend and keeps TensorFlow's log messages quiet.
import os

import autograder

autograder.silence()

import keras
import numpy as np

keras.utils.set_random_seed(0)
# Caps every training run's epochs when COURSE_EPOCHS is set (the course's own tests set it).
EPOCHS_CAP = int(os.environ.get("COURSE_EPOCHS", "1000"))"""

_SCHEMA_CLASSES = tuple(
    name
    for name, value in vars(schema).items()
    if dataclasses.is_dataclass(value) and isinstance(value, type)
)
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Instructions:
    """A read-only Markdown cell.

    Attributes:
        markdown: The text.
    """

    markdown: str


@dataclass(frozen=True)
class GivenCode:
    """A read-only code cell the learner runs unchanged.

    Attributes:
        id: nbgrader cell id (letters, digits, ``-`` and ``_``).
        source: The code.
    """

    id: str
    source: str


@dataclass(frozen=True)
class SolutionCode:
    """A cell the learner writes; the reference answer fills the solution region.

    Attributes:
        id: nbgrader cell id.
        solution: The reference code, placed between the solution delimiters.
        before: Lines kept above the region in the release (comments, a signature hint).
    """

    id: str
    solution: str
    before: str = ""


@dataclass(frozen=True)
class GradeCell:
    """An autograded test cell.

    A grade cell passes when it raises nothing. Its last statement must not leave a value (end
    ``.assert_passed()`` with ``;``): nbgrader reads a final value as partial credit and warns
    about anything that is not a number.

    Attributes:
        id: nbgrader cell id, unique in the notebook.
        points: Points for passing it.
        visible: Lines every learner sees and can run.
        hidden: Lines only the grader runs; removed from release and feedback.
        verified: How ``autograder grade`` re-checks the cell outside the kernel (an
            :class:`autograder.manifest.Verified`); its export lines open the cell (hidden),
            and ``build-course`` writes its checks into the grading manifest.
        needs: Each notebook name the visible lines use -> what the learner writes to define
            it (a function name such as ``"split_and_scale"``, or a phrase); a name still
            undefined makes the cell fail as "not attempted", naming that, instead of raising
            a bare ``NameError``.
        run_first: Hidden lines run before the visible ones (after the exports), such as a run
            of the learner's class on grader-only inputs that exports its results whether or
            not the visible check passes.
    """

    id: str
    points: float
    visible: str
    hidden: str = ""
    verified: Any = None
    needs: Mapping[str, str] = field(default_factory=dict)
    run_first: str = ""


def model_check_cell(
    grade_id: str,
    points: float,
    exports: Sequence[Any],
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    labels: str,
    also: str = "",
    needs: Mapping[str, str] | None = None,
) -> GradeCell:
    """A grade cell that checks a learner's model with ``check_model``, in the kernel and again
    in the grader, from one statement of what is expected.

    Args:
        grade_id: nbgrader cell id.
        points: Points for passing it.
        exports: The cell's :class:`autograder.manifest.Export` s; the first ``model`` export
            names the model: its expression is what the kernel checks, its name what the
            grader checks.
        input_shape: Expected input shape without the batch axis.
        num_classes: Expected number of classes.
        labels: ``"integer"`` or ``"one_hot"``.
        also: Further visible lines run after the model check (checks on other exports).
        needs: Names the visible lines use -> what defines them (see :class:`GradeCell`).

    Returns:
        The grade cell.

    Raises:
        ValueError: When no export is a model.
    """
    from autograder.grading.manifest import CheckSpec, Verified

    model = next((export for export in exports if export.function == "model"), None)
    if model is None:
        raise ValueError(f"Grade cell {grade_id!r}: model_check_cell needs a 'model' export.")
    expected = {"input_shape": list(input_shape), "num_classes": num_classes, "labels": labels}
    visible = (
        "autograder.check_model(\n"
        f"    {model.expression}, input_shape={tuple(input_shape)!r}, "
        f"num_classes={num_classes!r}, labels={json.dumps(labels)},\n"
        ").assert_passed();"
    )
    if also.strip():
        visible += "\n" + also.strip("\n")
    check = CheckSpec("check_model", (f"@{model.name}",), expected)
    return GradeCell(grade_id, points, visible, verified=Verified(tuple(exports), (check,)),
                     needs=dict(needs or {}))


@dataclass(frozen=True)
class QuizAnswer:
    """A question answered by assigning a plain variable.

    Attributes:
        variable: Name the learner assigns, such as ``"output_shape"``.
        question: The question, expected answer included (it goes only into hidden tests).
        answer: The reference value, written into the solution region.
        points: Points for a right answer.
        how_to_answer: One sentence on the form of the value, such as "a tuple".
    """

    variable: str
    question: Question
    answer: Any
    points: float = 1
    how_to_answer: str = ""


Part = Instructions | GivenCode | SolutionCode | GradeCell | QuizAnswer


def right_answer(question: SingleChoice | MultipleSelect) -> str | list[str]:
    """The reference answer of a choice question, written as the right options' texts.

    Letters depend on each learner's order (:mod:`autograder.choices`); texts do not, so a
    reference written this way is right for every learner.

    Args:
        question: A choice question.

    Returns:
        The right option's text, or for a multiple select the list of right texts.
    """
    texts = [choice.text for choice in question.choices if choice.correct]
    return texts[0] if isinstance(question, SingleChoice) else texts


@dataclass(frozen=True)
class Assignment:
    """One nbgrader assignment with a single notebook.

    Attributes:
        name: Assignment and notebook name, such as ``"a1_shapes_and_compile"``.
        title: Human title for the first Markdown cell.
        introduction: Markdown shown under the title.
        parts: The cells in order.
        lessons: Stems of the lessons whose goals it assesses, such as
            ``("03-binary-classification-thresholds",)`` (the README's course map lists them).
    """

    name: str
    title: str
    introduction: str
    parts: tuple[Part, ...]
    lessons: tuple[str, ...] = ()

    @property
    def total_points(self) -> float:
        """Sum of the points of every graded cell."""
        return sum(p.points for p in self.parts if isinstance(p, GradeCell | QuizAnswer))


def source_of(*objects: Callable[..., Any] | type) -> str:
    """Return the source code of functions or classes, for a solution region.

    Args:
        *objects: Functions or classes defined in a ``solutions`` module.

    Returns:
        Their dedented source, separated by blank lines.
    """
    return "\n\n".join(textwrap.dedent(inspect.getsource(obj)).rstrip() for obj in objects)


def _metadata(
    grade_id: str,
    *,
    grade: bool = False,
    solution: bool = False,
    locked: bool = False,
    points: float | None = None,
) -> dict[str, Any]:
    if not _GRADE_ID.match(grade_id):
        raise ValueError(
            f"Cell id {grade_id!r} may only hold letters, digits, '-' and '_' (nbgrader grade_id)."
        )
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": NBGRADER_SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _markdown(grade_id: str, text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip(), metadata=_metadata(grade_id, locked=True))


def _solution_cell(grade_id: str, solution: str, before: str = "") -> nbformat.NotebookNode:
    lines = [before.rstrip()] if before.strip() else []
    lines += [BEGIN_SOLUTION, solution.strip("\n"), END_SOLUTION]
    return nbformat.v4.new_code_cell("\n".join(lines), metadata=_metadata(grade_id, solution=True))


_CHECK_CALL = re.compile(r"\b(check_[a-z_]+)\(")


def _test_cell(test: GradeCell, export: str = "") -> nbformat.NotebookNode:
    plumbing = [export] if export else []
    if test.verified is not None and test.verified.exports:
        # The export must run before the kernel-side check, which raises when it fails.
        plumbing.append(test.verified.export_code())
    if test.needs:
        found = _CHECK_CALL.search(test.visible)
        check = found.group(1) if found else test.id.removesuffix("-test")
        plumbing += ["from autograder.checks.attempted import require",
                     f"require(globals(), {check!r}, {dict(test.needs)!r})"]
    if test.run_first.strip():
        plumbing.append(test.run_first.strip("\n"))
    lines = [BEGIN_HIDDEN, *plumbing, END_HIDDEN] if plumbing else []
    lines.append(test.visible.strip("\n"))
    if test.hidden.strip():
        lines += [BEGIN_HIDDEN, test.hidden.strip("\n"), END_HIDDEN]
    return nbformat.v4.new_code_cell(
        "\n".join(lines),
        metadata=_metadata(test.id, grade=True, locked=True, points=test.points),
    )


def _question_literal(question: Question) -> str:
    """A Python expression that rebuilds the question for a hidden test, without its prose."""
    # The prompt, hints and worked solution are for learners; the check needs only the answer
    # and the feedback, so the hidden test stays short.
    blank = {"prompt": "", "hints": (), "solution": "", "topic": "", "mutants": ()}
    if isinstance(question, OutputShape):
        blank["code"] = ""  # shown in the Markdown already; only the shape is compared
    return repr(dataclasses.replace(question, **blank))


def _is_choice(question: Question) -> bool:
    return isinstance(question, SingleChoice | MultipleSelect)


def _options_cell(part: QuizAnswer) -> nbformat.NotebookNode:
    """The read-only cell that lists a choice question's options in the learner's order."""
    question = part.question
    texts = ",\n".join(f"    {choice.text!r}" for choice in question.choices)
    multiple = ", multiple=True" if isinstance(question, MultipleSelect) else ""
    source = (f"# The options of `{part.variable}`, in an order of your own.\n"
              f"autograder.show_choices({part.variable!r}, {NAME_VARIABLE}, [\n{texts},\n]"
              f"{multiple})")
    return nbformat.v4.new_code_cell(
        source, metadata=_metadata(f"{part.variable}-options", locked=True))


def _name_cell() -> nbformat.NotebookNode:
    """The learner's ``YOUR_NAME`` line: a plain cell, kept as written when graded."""
    return nbformat.v4.new_code_cell(NAME_CELL_SOURCE)


def _quiz_cells(part: QuizAnswer) -> list[nbformat.NotebookNode]:
    from autograder.grading.manifest import quiz_export_code

    q = part.question
    choice = _is_choice(q)
    plural = "s" if part.points != 1 else ""
    text = f"**Question `{part.variable}`** ({part.points:g} point{plural})"
    text += f"\n\n{q.prompt.strip()}"
    code = getattr(q, "code", "")
    if code:
        text += f"\n\n```python\n{code.strip()}\n```"
    if choice:
        text += "\n\nRun the cell below to see the options."
    if part.how_to_answer:
        text += f"\n\nAssign your answer to `{part.variable}`: {part.how_to_answer}"
    literal = _question_literal(q)
    # Import every schema class the literal names (the question's kind, Choice, Mistake ...).
    imports = sorted(name for name in _SCHEMA_CLASSES if re.search(rf"\b{name}\(", literal))
    needs = {part.variable: "your answer in the cell above"}
    if choice:
        # One statement for the kernel and the grader: letters as listed for the learner's name.
        judge = ("from autograder.choices import judge_choice\n",
                 f"judge_choice({literal}, {NAME_VARIABLE}, {part.variable}).assert_passed();")
        visible = f"autograder.read_choice({part.variable!r}, {NAME_VARIABLE}, {part.variable});"
    else:
        judge = ("from autograder.checks.answers import check_answer\n",
                 f"check_answer({literal}, {part.variable}).assert_passed();")
        visible = (
            f"assert {part.variable!r} in globals(), "
            f'"Assign your answer to a variable named {part.variable} in the cell above, '
            'then run it."'
        )
    hidden = f"{judge[0]}from autograder.schema import {', '.join(imports)}\n\n{judge[1]}"
    cells = [_markdown(f"{part.variable}-question", text)]
    if choice:
        cells.append(_options_cell(part))
    return [
        *cells,
        _solution_cell(f"{part.variable}-answer", f"{part.variable} = {part.answer!r}"),
        _test_cell(GradeCell(f"{part.variable}-test", part.points, visible, hidden,
                             needs=needs),
                   quiz_export_code(part.variable, q)),
    ]


def render(assignment: Assignment) -> nbformat.NotebookNode:
    """Build the nbgrader source notebook of an assignment.

    Args:
        assignment: The assignment.

    Returns:
        A notebook whose cells carry nbgrader metadata (schema version 3), ready to be written
        to ``source/<name>/<name>.ipynb``.

    Raises:
        ValueError: When two cells share an id, naming it.
    """
    intro = f"# {assignment.title}\n\n{assignment.introduction.strip()}\n\n"
    intro += f"This assignment is worth **{assignment.total_points:g} points**."
    asks_choices = any(isinstance(part, QuizAnswer) and _is_choice(part.question)
                       for part in assignment.parts)
    header = f"{HEADER_SOURCE}\n{NAME_DEFAULT}" if asks_choices else HEADER_SOURCE
    cells = [
        _markdown("title", intro),
        nbformat.v4.new_code_cell(header, metadata=_metadata("header", locked=True)),
    ]
    if asks_choices:
        cells.append(_name_cell())
    for index, part in enumerate(assignment.parts):
        if isinstance(part, Instructions):
            cells.append(_markdown(f"instructions-{index}", part.markdown))
        elif isinstance(part, GivenCode):
            cells.append(
                nbformat.v4.new_code_cell(
                    part.source.strip("\n"), metadata=_metadata(part.id, locked=True)
                )
            )
        elif isinstance(part, SolutionCode):
            cells.append(_solution_cell(part.id, part.solution, part.before))
        elif isinstance(part, GradeCell):
            cells.append(_test_cell(part))
        elif isinstance(part, QuizAnswer):
            cells += _quiz_cells(part)
        else:
            raise TypeError(f"Unknown assignment part {part!r} in {assignment.name}.")
    seen: set[str] = set()
    for cell in cells:
        if "nbgrader" not in cell.metadata:
            continue  # the learner's own cell (YOUR_NAME): no grade id
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id in seen:
            raise ValueError(f"Assignment {assignment.name}: two cells have the id {grade_id!r}.")
        seen.add(grade_id)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb
