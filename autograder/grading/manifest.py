"""The grading manifest: what each grade cell of an assignment hands over, and how it is judged.

nbgrader scores a grade cell by running it in the learner's kernel, where learner code can patch
anything. ``autograder grade`` therefore re-checks every graded task outside the kernel, on plain
data the grade cell exported (see :mod:`autograder.export`). The manifest tells the grader, per
grade cell, which exported name to read and how to judge it:

- an *answer* task compares an exported plain value with the expected one (optionally a
  multiple-choice question with its list of choices, a float tolerance, or case-insensitive text);
- a *checks* task runs registered checks (``check_model``, ``check_metrics``, ``check_split``)
  whose arguments are literals or references: ``"@name"`` is an exported model, answer or
  scaler, ``"@name.key"`` one array of an exported ``arrays`` bundle, ``"@holdout:mnist.x"`` the
  grader-only features of a dataset (``.y`` the labels), ``"@dataset:mnist.x_test"`` a part of
  the learner's default split, rebuilt by the grader, and ``"@holdout:breast_cancer.x|scaler"``
  that data transformed by the exported scaler ``scaler``. A literal string that starts with
  ``@`` is written ``"@@..."``. :data:`CHECK_MODULES`
  is the one registry of checks: each name and the module that defines it (the assignment
  checks of :mod:`autograder.checks.thresholds`, ``multiclass``, ``multilabel``, ``custom`` and
  ``leak_scores`` among them).

The manifest is JSON at ``DIR/grader/<assignment>.json``: outside ``source/`` and ``release/`` so
it never ships to learners, and not in a folder named ``autograder`` because nbgrader runs with
the course directory on ``sys.path``, where such a folder would shadow the installed package.
It holds expected answers; like ``source/`` and the gradebook it is readable by any process of
the user who grades, so kernels that must not read it need a separate account or container.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
GRADER_DIR = "grader"
KINDS = ("answer", "checks")
# Every check the grader may run, and the module that defines it.
CHECK_MODULES = {
    "check_model": "autograder.checks.model",
    "check_metrics": "autograder.checks.metrics",
    "check_split": "autograder.checks.leakage",
    "check_leak_scores": "autograder.checks.leak_scores",
    "check_screen": "autograder.checks.thresholds",
    "check_threshold_choice": "autograder.checks.thresholds",
    "check_figures": "autograder.checks.thresholds",
    "check_cnn": "autograder.checks.multiclass",
    "check_class_recall": "autograder.checks.multiclass",
    "check_multiclass_figures": "autograder.checks.multiclass",
    "check_metric_results": "autograder.checks.custom",
    "check_callback_records": "autograder.checks.custom",
    "check_label_thresholds": "autograder.checks.multilabel",
    "check_label_threshold_choice": "autograder.checks.multilabel",
    "check_multilabel_figures": "autograder.checks.multilabel",
    # Lesson 6: a model made to generalise, and the epoch chosen on its validation curve.
    "check_generalisation": "autograder.checks.curves",
    "check_chosen_epoch": "autograder.checks.curves",
}
CHECKS = tuple(CHECK_MODULES)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ManifestError(ValueError):
    """A manifest file is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class CheckSpec:
    """One registered check run by the grader on exported data.

    Attributes:
        check: Name in :data:`CHECKS`.
        args: Positional arguments: literals or ``@`` references (see the module docstring).
        kwargs: Keyword arguments, same rules.
    """

    check: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            A dict with ``check``, ``args`` and ``kwargs``.
        """
        return {"check": self.check, "args": list(self.args), "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class Task:
    """One grade cell as the grader sees it.

    Attributes:
        notebook: Notebook name without ``.ipynb``.
        grade_id: nbgrader ``grade_id`` of the grade cell.
        name: Name the grade cell exports (an answer, model, arrays bundle or scaler).
        kind: ``"answer"`` or ``"checks"``.
        points: The cell's points in nbgrader.
        expected: The right answer of an answer task (plain JSON data).
        choices: For a multiple-choice answer, every offered choice (the report counts wrong ones).
        tolerance: Absolute tolerance when comparing numbers of an answer task.
        casefold: Compare text answers ignoring case and surrounding spaces.
        checks: The checks of a checks task; the cell earns ``points`` times their mean credit.
        question: A quiz question as data (:func:`question_to_data`); when given, the answer is
            judged by :func:`autograder.checks.answers.check_answer`, like the quiz itself
            (choice letters, shapes written as text, numeric tolerance), instead of
            ``expected``.
    """

    notebook: str
    grade_id: str
    name: str
    kind: str
    points: float
    expected: Any = None
    choices: tuple[Any, ...] | None = None
    tolerance: float | None = None
    casefold: bool = False
    checks: tuple[CheckSpec, ...] = ()
    question: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            A dict of the fields, checks as dicts.
        """
        data: dict[str, Any] = {
            "notebook": self.notebook, "grade_id": self.grade_id, "name": self.name,
            "kind": self.kind, "points": self.points,
        }
        if self.kind == "answer":
            data.update(expected=self.expected, choices=_listify(self.choices),
                        tolerance=self.tolerance, casefold=self.casefold,
                        question=self.question)
        else:
            data["checks"] = [spec.to_dict() for spec in self.checks]
        return data

    @property
    def is_multiple_choice(self) -> bool:
        """True for an answer task with a list of choices (or a single-choice question)."""
        if self.kind != "answer":
            return False
        return bool(self.choices) or bool(self.question and self.question.get("kind") in (
            "SingleChoice", "MultipleSelect"))


@dataclass(frozen=True)
class Manifest:
    """Every verified task of one assignment.

    Attributes:
        assignment: nbgrader assignment name.
        tasks: The tasks, in notebook order.
    """

    assignment: str
    tasks: tuple[Task, ...]

    def __post_init__(self) -> None:
        seen: set[tuple[str, str]] = set()
        for task in self.tasks:
            _validate_task(task, f"assignment {self.assignment!r}")
            key = (task.notebook, task.grade_id)
            if key in seen:
                raise ManifestError(f"Grade cell {task.grade_id!r} of notebook "
                                    f"{task.notebook!r} appears twice in the manifest.")
            seen.add(key)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            A dict with ``schema_version``, ``assignment`` and ``tasks``.
        """
        return {"schema_version": SCHEMA_VERSION, "assignment": self.assignment,
                "tasks": [task.to_dict() for task in self.tasks]}

    def write(self, course_dir: str | Path) -> Path:
        """Write the manifest into a course directory.

        Args:
            course_dir: The nbgrader course directory.

        Returns:
            The path written, ``DIR/grader/<assignment>.json``.
        """
        path = manifest_path(course_dir, self.assignment)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def notebook_tasks(self, notebook: str) -> tuple[Task, ...]:
        """Return the tasks of one notebook.

        Args:
            notebook: Notebook name without ``.ipynb``.

        Returns:
            Its tasks, in order.
        """
        return tuple(task for task in self.tasks if task.notebook == notebook)


def manifest_path(course_dir: str | Path, assignment: str) -> Path:
    """Return where the manifest of an assignment lives.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        ``DIR/grader/<assignment>.json``.
    """
    return Path(course_dir) / GRADER_DIR / f"{assignment}.json"


def load(course_dir: str | Path, assignment: str) -> Manifest:
    """Read the manifest of an assignment.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        The manifest.

    Raises:
        ManifestError: The file is missing or malformed (the message names it).
    """
    path = manifest_path(course_dir, assignment)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"No grading manifest at {path}: run `autograder build-course` for this course, or "
            f"write one with autograder.manifest.Manifest(...).write(DIR)."
        ) from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from None
    return from_dict(data, source=str(path))


def from_dict(data: Mapping[str, Any], *, source: str = "manifest") -> Manifest:
    """Build a manifest from its JSON data.

    Args:
        data: As written by :meth:`Manifest.to_dict`.
        source: Where the data came from, for error messages.

    Returns:
        The manifest.

    Raises:
        ManifestError: A field is missing or has the wrong type.
    """
    if not isinstance(data, Mapping) or data.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(f"{source}: expected an object with schema_version {SCHEMA_VERSION}.")
    try:
        tasks = tuple(_task_from_dict(item) for item in data["tasks"])
        return Manifest(assignment=str(data["assignment"]), tasks=tasks)
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"{source}: missing or malformed field {exc}.") from None
    except ManifestError as exc:
        raise ManifestError(f"{source}: {exc}") from None


def answer_task(notebook: str, grade_id: str, name: str, points: float, expected: Any, *,
                choices: Sequence[Any] | None = None, tolerance: float | None = None,
                casefold: bool = False, question: Any = None) -> Task:
    """Build an answer task.

    Args:
        notebook: Notebook name without ``.ipynb``.
        grade_id: The grade cell's id.
        name: The exported answer's name.
        points: The cell's points.
        expected: The right answer (plain data; tuples become lists).
        choices: Every offered choice, for a multiple-choice question.
        tolerance: Absolute tolerance for numbers.
        casefold: Compare text ignoring case and surrounding spaces.
        question: A quiz question (an :mod:`autograder.schema` object or its data) that judges
            the answer instead of ``expected``.

    Returns:
        The task.
    """
    if question is not None and not isinstance(question, Mapping):
        question = question_to_data(question)
    return Task(notebook, grade_id, name, "answer", float(points), _listify(expected),
                tuple(_listify(choices)) if choices is not None else None, tolerance, casefold,
                question=question)


def checks_task(notebook: str, grade_id: str, name: str, points: float,
                checks: Sequence[CheckSpec]) -> Task:
    """Build a checks task.

    Args:
        notebook: Notebook name without ``.ipynb``.
        grade_id: The grade cell's id.
        name: The main exported name (a model, say), shown in reports.
        points: The cell's points.
        checks: The checks to run.

    Returns:
        The task.
    """
    return Task(notebook, grade_id, name, "checks", float(points), checks=tuple(checks))


def _task_from_dict(item: Mapping[str, Any]) -> Task:
    if item["kind"] == "answer":
        return answer_task(item["notebook"], item["grade_id"], item["name"], item["points"],
                           item.get("expected"), choices=item.get("choices"),
                           tolerance=item.get("tolerance"), casefold=bool(item.get("casefold")),
                           question=item.get("question"))
    specs = [CheckSpec(spec["check"], tuple(spec.get("args", ())), dict(spec.get("kwargs", {})))
             for spec in item.get("checks", ())]
    return Task(item["notebook"], item["grade_id"], item["name"], str(item["kind"]),
                float(item["points"]), checks=tuple(specs))


def _validate_task(task: Task, where: str) -> None:
    label = f"task {task.grade_id!r} of {where}"
    if task.kind not in KINDS:
        raise ManifestError(f"{label}: kind {task.kind!r} is not one of {', '.join(KINDS)}.")
    if not _NAME.match(task.name):
        raise ManifestError(f"{label}: exported name {task.name!r} is not a Python identifier.")
    if task.points < 0:
        raise ManifestError(f"{label}: points must not be negative.")
    if task.kind == "checks" and not task.checks:
        raise ManifestError(f"{label}: a checks task needs at least one check.")
    for spec in task.checks:
        if spec.check not in CHECKS:
            raise ManifestError(f"{label}: unknown check {spec.check!r}; use one of "
                                f"{', '.join(CHECKS)}.")
    if task.question is not None and task.question.get("kind") not in QUESTION_KINDS:
        raise ManifestError(f"{label}: question kind {task.question.get('kind')!r} cannot be "
                            f"judged outside the kernel; use one of {', '.join(QUESTION_KINDS)}.")
    if task.choices and task.expected not in task.choices:
        raise ManifestError(f"{label}: the expected answer is not among the choices.")


# Quiz question kinds whose answers are plain values (FixModel answers are code: not here).
QUESTION_KINDS = ("SingleChoice", "MultipleSelect", "Numeric", "OutputShape", "PredictOutput")
# Fields that hold tuples of nested records, and the schema class of each record.
_NESTED = {"choices": "Choice", "mistakes": "Mistake"}


def question_to_data(question: Any) -> dict[str, Any]:
    """Turn a quiz question into JSON data (prompt, hints and mutants left out).

    Args:
        question: An :mod:`autograder.schema` question of a kind in :data:`QUESTION_KINDS`.

    Returns:
        ``{"kind": <class name>, "fields": {...}}``.

    Raises:
        ManifestError: For a kind whose answers are not plain values.
    """
    import dataclasses

    kind = type(question).__name__
    if kind not in QUESTION_KINDS:
        raise ManifestError(f"Question {getattr(question, 'id', '?')!r} is a {kind}; only "
                            f"{', '.join(QUESTION_KINDS)} can be judged outside the kernel.")
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(question):
        if item.name in ("prompt", "hints", "solution", "mutants", "line", "topic"):
            continue
        value = getattr(question, item.name)
        if item.name in _NESTED:
            value = [dataclasses.asdict(record) for record in value]
        fields[item.name] = _listify(value)
    return {"kind": kind, "fields": fields}


def question_from_data(data: Mapping[str, Any]) -> Any:
    """Rebuild a quiz question from :func:`question_to_data` output, without evaluating code.

    Args:
        data: The question's data.

    Returns:
        The :mod:`autograder.schema` question.

    Raises:
        ManifestError: Unknown kind or fields.
    """
    from autograder import schema

    kind = data.get("kind")
    if kind not in QUESTION_KINDS:
        raise ManifestError(f"Unknown question kind {kind!r}.")
    fields = dict(data.get("fields") or {})
    for name, record_class in _NESTED.items():
        if name in fields:
            record = getattr(schema, record_class)
            fields[name] = tuple(record(**_tuplify(item)) for item in fields[name])
    if kind == "OutputShape" and fields.get("answer") is not None:
        fields["answer"] = tuple(fields["answer"])
    try:
        return getattr(schema, kind)(prompt="", hints=(), solution="", **fields)
    except TypeError as exc:
        raise ManifestError(f"Question data for a {kind} is malformed: {exc}.") from None


def _tuplify(record: Mapping[str, Any]) -> dict[str, Any]:
    # Mistake answers such as shapes were tuples before JSON turned them into lists.
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in record.items()}


def _listify(value: Any) -> Any:
    # JSON has no tuples: store what json.loads will give back, so comparisons are like for like.
    if isinstance(value, list | tuple):
        return [_listify(item) for item in value]
    return value


# --------------------------------------------------------------------------- course integration

EXPORT_FUNCTIONS = ("answer", "model", "arrays", "scaler")


@dataclass(frozen=True)
class Export:
    """One value a grade cell hands to the grader.

    Attributes:
        function: :mod:`autograder.export` function: ``answer``, ``model``, ``arrays`` or
            ``scaler``.
        name: The exported name the checks refer to (``@name``).
        expression: Python source evaluated in the grade cell, such as ``"model"`` or
            ``"build_compiled_model()"``; for ``arrays``, keyword arguments such as
            ``"x_train=x_train, x_test=x_test"``.
    """

    function: str
    name: str
    expression: str

    def __post_init__(self) -> None:
        if self.function not in EXPORT_FUNCTIONS:
            raise ManifestError(f"Export function {self.function!r} is not one of "
                                f"{', '.join(EXPORT_FUNCTIONS)}.")
        if not _NAME.match(self.name):
            raise ManifestError(f"Export name {self.name!r} is not a Python identifier.")


@dataclass(frozen=True)
class Verified:
    """How the grader re-checks one grade cell outside the kernel.

    Attributes:
        exports: What the grade cell hands over; the first one names the task in reports.
        checks: The checks the grader runs on the exports.
    """

    exports: tuple[Export, ...]
    checks: tuple[CheckSpec, ...]

    def export_code(self) -> str:
        """Return the grade-cell lines that hand the exports over.

        The lines go before the kernel-side check, which raises when it fails: the export must
        happen either way. Exports do nothing outside ``autograder grade``.

        Returns:
            Python source.
        """
        return export_code(self.exports)


def export_code(exports: Sequence[Export]) -> str:
    """Return grade-cell source that runs the given exports.

    Args:
        exports: What to hand over.

    Returns:
        Python source: an import and one call per export.
    """
    lines = ["import autograder.export"]
    for item in exports:
        # An expression that fails (an undefined name, a broken build function) exports
        # nothing; the cell's own check then reports the problem in its own words.
        lines += ["try:",
                  f"    autograder.export.{item.function}({item.name!r}, {item.expression})",
                  "except Exception:",
                  "    pass"]
    return "\n".join(lines)


def quiz_export_code(variable: str, question: Any = None) -> str:
    """Return the grade-cell lines that hand a quiz answer variable over.

    Args:
        variable: The learner's answer variable.
        question: The question it answers. For a choice question the learner's ``YOUR_NAME``
            is handed over too: it orders the options (:mod:`autograder.choices`).

    Returns:
        Python source. ``globals().get`` keeps a missing variable from raising here, so the
        cell's own check still explains what is missing.
    """
    from autograder.choices import NAME_VARIABLE

    ordered = type(question).__name__ in ("SingleChoice", "MultipleSelect")
    learner = f", globals().get({NAME_VARIABLE!r})" if ordered else ""
    return (f"import autograder.export\n"
            f"autograder.export.answer({variable!r}, globals().get({variable!r}, ...){learner})")


def manifest_for(assignment: Any) -> Manifest:
    """Derive the manifest of an assignment built by :mod:`autograder.render.nbgrader_source`.

    Quiz answers become answer tasks judged by the quiz's own check; test cells that carry a
    :class:`Verified` (attribute ``verified``) become checks tasks. Cells without either keep
    nbgrader's kernel score.

    Args:
        assignment: An ``Assignment`` (``name`` and ``parts``).

    Returns:
        The manifest; the notebook name is the assignment name.
    """
    tasks: list[Task] = []
    for part in assignment.parts:
        question = getattr(part, "question", None)
        if question is not None and type(question).__name__ in QUESTION_KINDS:
            tasks.append(answer_task(assignment.name, f"{part.variable}-test", part.variable,
                                     part.points, _listify(part.answer), question=question))
        verified = getattr(part, "verified", None)
        if isinstance(verified, Verified):
            tasks.append(checks_task(assignment.name, part.id, _task_name(verified),
                                     part.points, verified.checks))
    return Manifest(assignment.name, tuple(tasks))


def _task_name(verified: Verified) -> str:
    # The first export names the task; a cell whose check exports by itself (a learner's class
    # run on grader inputs) is named by the first exported name its checks read.
    if verified.exports:
        return verified.exports[0].name
    for spec in verified.checks:
        for value in (*spec.args, *spec.kwargs.values()):
            if isinstance(value, str) and value.startswith("@") and not value.startswith("@@"):
                return value[1:].split(".")[0].split(":")[0]
    raise ManifestError("A verified grade cell needs an export or an exported name to check.")
