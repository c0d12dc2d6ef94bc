"""Re-check a submission outside the learner's kernel, on plain data only.

The grader calls :func:`verify_submission` in its own process, one that never ran learner code.
It reads the export folder written by :mod:`autograder.export` and judges every task of the
manifest from scratch:

- answers are read with :mod:`json` and their types checked again (the kernel side may have been
  skipped or patched), then compared with the manifest's expected answer by value *and* type
  (``True`` is not ``1``);
- models are loaded with ``keras.saving.load_model(path, safe_mode=True)``, which refuses
  Lambda layers' code, and checked with the registered checks on the grader-only rows
  (:func:`autograder.data.load_holdout`); a model that needs its own classes (subclassed, a
  custom or Lambda layer) is never loaded here: it runs in a confined evaluator of its own
  (:mod:`autograder.grading.evaluate`), and the checks judge a stand-in that predicts through
  it (:mod:`autograder.grading.standin`);
- arrays come from ``.npz`` files read with ``allow_pickle=False``; scalers are rebuilt from
  their fitted statistics;
- a check on grader-only rows of a public dataset runs again on the learner's own test split,
  rebuilt here; a figure far better on the grader's rows is flagged for the instructor
  (:attr:`Verdict.flag`, :mod:`autograder.grading.unseen`), since those rows derive from public
  data.

A missing, rejected or unreadable export scores 0 with a message saying why, so a submission
that tampers with the kernel-side checks can never score more than an empty one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.evaluate import Evaluator, Settings
from autograder.grading.export import SCALERS
from autograder.grading.fingerprints import model_digest
from autograder.grading.manifest import Manifest, Task
from autograder.grading.unseen import unseen_gap
from autograder.result import Outcome

# A .keras file is a zip archive; refuse anything larger before unzipping it.
MAX_MODEL_BYTES = 200 * 1024 * 1024
MAX_JSON_BYTES = 5 * 1024 * 1024
MAX_ARRAYS_BYTES = 500 * 1024 * 1024
MAX_CLASSES_BYTES = 20 * 1024 * 1024
# Models that need their own classes run in an evaluator in a sandbox of its own, with the
# kernels' default limits, unless the caller says otherwise.
DEFAULT_EVALUATION = Settings()


class ExportProblem(Exception):
    """An export is missing, rejected in the kernel, or unreadable; the message says which."""

    def __init__(self, message: str, outcome: Outcome = Outcome.ERROR):
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class Verdict:
    """The grader's own verdict on one task.

    Attributes:
        notebook: Notebook name.
        grade_id: The grade cell's id.
        name: The exported name.
        max_score: Points available.
        score: Points earned, verified.
        outcome: ``passed``, ``failed``, ``not attempted`` or ``error`` (see :class:`Outcome`).
        message: Why, in words an instructor can pass on.
        answer: For answer tasks, the exported answer as plain data (None otherwise or if absent).
        flag: For the instructor, not the score: what the grader found out of line, such as a
            model far better on grader-only rows of a public dataset than on the learner's own
            test split (:data:`autograder.grading.unseen.UNSEEN_GAP`); ``""`` when nothing was.
        exports: Fingerprints of the models the task's checks read, such as
            ``{"model `model`": "<sha256>"}`` (:mod:`autograder.grading.fingerprints`), for the
            report's identical-model groups.
    """

    notebook: str
    grade_id: str
    name: str
    max_score: float
    score: float
    outcome: str
    message: str
    answer: Any = None
    flag: str = ""
    exports: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            A dict of the fields.
        """
        return {**self.__dict__, "exports": dict(self.exports)}


class Exports:
    """Safe readers for one submission's export folder."""

    def __init__(self, folder: str | Path):
        """Open an export folder.

        Args:
            folder: The folder the kernel wrote to (it may be missing: nothing was exported).
        """
        self.folder = Path(folder)
        self._models: dict[str, Any] = {}
        # Fingerprint of every model read, in the order read ("model `name`" -> digest).
        self.read: list[tuple[str, str]] = []
        self._digests: dict[str, str] = {}
        # The course secret, when the grader judges on rows derived from it.
        self.secret: str | None = None
        # How models that need their own classes are evaluated (None: they are refused).
        self.evaluation: Settings | None = None
        self._evaluator: Evaluator | None = None

    def _file(self, filename: str, limit: int) -> Path | None:
        path = self.folder / filename
        # A symlink could point the grader at any file on the machine; only regular files count.
        if path.is_symlink() or not path.is_file():
            return None
        if path.stat().st_size > limit:
            raise ExportProblem(f"{filename} is larger than {limit // (1024 * 1024)} MB.")
        return path

    def _rejection(self, name: str, what: str) -> ExportProblem:
        path = self._file(f"rejected-{name}.json", MAX_JSON_BYTES)
        if path is not None:
            record = _read_json(path)
            reason = record.get("rejected") if isinstance(record, dict) else None
            if isinstance(reason, str):
                return ExportProblem(f"Your {what} `{name}` could not be handed to the grader: "
                                     f"{reason[:300]}.", Outcome.FAILED)
        return ExportProblem(f"No {what} `{name}` reached the grader: the grade cell that hands "
                             f"it over did not run to that point.", Outcome.NOT_ATTEMPTED)

    def answer(self, name: str) -> Any:
        """Read an exported answer.

        Args:
            name: The answer's name.

        Returns:
            The plain value.

        Raises:
            ExportProblem: Missing, rejected in the kernel, or not plain data.
        """
        return self.answer_and_learner(name)[0]

    def answer_and_learner(self, name: str) -> tuple[Any, str]:
        """Read an exported answer and the learner name handed over with it.

        Args:
            name: The answer's name.

        Returns:
            The plain value, and the ``YOUR_NAME`` that orders a choice question's options
            (``""`` when none was exported or it is not text).

        Raises:
            ExportProblem: Missing, rejected in the kernel, or not plain data.
        """
        record = self._checked_record(f"answer-{name}.json", name, "answer")
        learner = record.get("learner")
        return record["value"], learner if isinstance(learner, str) else ""

    def scaler(self, name: str) -> Any:
        """Rebuild an exported scikit-learn scaler (None when the learner used none).

        Args:
            name: The scaler's name.

        Returns:
            A fitted scaler, or None.

        Raises:
            ExportProblem: Missing, rejected, or not a known scaler.
        """
        data = self._record(f"scaler-{name}.json", name, "scaler", allow_objects=True)
        if data is None:
            return None
        return _rebuild_scaler(data, name)

    def model(self, name: str) -> Any:
        """Load an exported model with ``safe_mode=True`` (cached per folder).

        Args:
            name: The model's name.

        Returns:
            The Keras model.

        Raises:
            ExportProblem: Missing, rejected, or not loadable safely.
        """
        if name in self._models:
            self.read.append((f"model `{name}`", self._digests[name]))
            return self._models[name]
        path = self._file(f"model-{name}.keras", MAX_MODEL_BYTES)
        if path is None:
            raise self._rejection(name, "model")
        self._digests[name] = model_digest(path)
        self.read.append((f"model `{name}`", self._digests[name]))
        from autograder.quiet import no_stderr

        with no_stderr():
            import keras

            try:
                loaded = keras.saving.load_model(path, safe_mode=True)
            except Exception as exc:  # noqa: BLE001 - any file the learner made may fail to load
                loaded = self._evaluated(name, path, exc)
        self._models[name] = loaded
        return loaded

    def _evaluated(self, name: str, path: Path, unsafe: Exception) -> Any:
        """A model that cannot be loaded safely: a stand-in predicting through its evaluator."""
        from autograder.grading.evaluate import Evaluator, EvaluatorError
        from autograder.grading.standin import read_keras_config, stand_in

        if self.evaluation is None or not self.evaluation.enabled:
            raise ExportProblem(
                f"Your model `{name}` was saved, but the grader could not load it safely "
                f"({type(unsafe).__name__}: {str(unsafe)[:200]}). Lambda layers and custom "
                f"classes cannot be loaded with safe_mode; use built-in Keras layers.",
                Outcome.FAILED)
        classes = self._file(f"classes-{name}.pkl", MAX_CLASSES_BYTES)
        try:
            if self._evaluator is None:
                hide = self.folder.parent if self.folder.parent.is_dir() else None
                self._evaluator = Evaluator(self.evaluation, hide)
            layers = self._evaluator.load(name, path.read_bytes(),
                                          classes.read_bytes() if classes else None)
        except (EvaluatorError, OSError) as exc:
            hint = ("" if classes else " The classes it uses did not reach the grader: "
                    "define them in the notebook itself, or in a module of its folder.")
            raise ExportProblem(
                f"Your model `{name}` uses code of its own, so the grader ran it in a separate "
                f"process, where it could not be loaded and run: {str(exc)[:300]}.{hint} Check "
                f"that `keras.saving.load_model` loads your saved model in a fresh kernel, and "
                f"that every custom class has `get_config` when its constructor takes "
                f"arguments.", Outcome.FAILED) from None
        return stand_in(self._evaluator, name, read_keras_config(path), layers)

    def close(self) -> None:
        """Stop this submission's evaluator, if one was started."""
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    def arrays(self, name: str) -> dict[str, Any]:
        """Read an exported bundle of numeric arrays.

        Args:
            name: The bundle's name.

        Returns:
            Array name -> numpy array.

        Raises:
            ExportProblem: Missing, rejected, or not readable without pickles.
        """
        import numpy as np

        path = self._file(f"arrays-{name}.npz", MAX_ARRAYS_BYTES)
        if path is None:
            raise self._rejection(name, "arrays")
        try:
            with np.load(path, allow_pickle=False) as bundle:
                return {key: bundle[key] for key in bundle.files}
        except Exception as exc:  # noqa: BLE001
            raise ExportProblem(f"The arrays `{name}` could not be read: {exc}.") from None

    def _record(self, filename: str, name: str, what: str, allow_objects: bool = False) -> Any:
        return self._checked_record(filename, name, what, allow_objects)["value"]

    def _checked_record(self, filename: str, name: str, what: str,
                        allow_objects: bool = False) -> dict[str, Any]:
        path = self._file(filename, MAX_JSON_BYTES)
        if path is None:
            raise self._rejection(name, what)
        record = _read_json(path)
        if not isinstance(record, dict):
            raise ExportProblem(f"The exported {what} `{name}` is malformed.")
        if "rejected" in record:
            reason = str(record["rejected"])[:300]
            raise ExportProblem(f"Your {what} `{name}` is not plain data ({reason}), so it "
                                f"cannot be graded. Assign a str, number, bool, list or tuple.",
                                Outcome.FAILED)
        if "value" not in record:
            raise ExportProblem(f"The exported {what} `{name}` is malformed.")
        if not allow_objects and not _is_plain(record["value"]):
            raise ExportProblem(f"The exported {what} `{name}` is not plain data.", Outcome.FAILED)
        return record


def verify_submission(manifest: Manifest, export_folder: str | Path, *,
                      secret: str | None = None,
                      evaluation: Settings | None = DEFAULT_EVALUATION) -> list[Verdict]:
    """Judge every task of a manifest from one submission's exports.

    Args:
        manifest: The assignment's manifest.
        export_folder: The submission's export folder.
        secret: The course secret: ``@holdout:`` references then mean the grader-only rows
            derived from it (:func:`autograder.holdout.derive`), which no learner can rebuild.
            Without it they mean the package's fixed reserve rows.
        evaluation: How a model that needs its own classes is run (its evaluator's limits);
            None refuses such models.

    Returns:
        One verdict per task, in manifest order.
    """
    exports = Exports(export_folder)
    exports.secret = secret
    exports.evaluation = evaluation
    try:
        verdicts = [verify_task(task, exports) for task in manifest.tasks]
    finally:
        exports.close()
    if exports._models:
        # Free the graphs of this submission before the next one reuses the process.
        import keras

        keras.backend.clear_session()
    return verdicts


def verify_task(task: Task, exports: Exports) -> Verdict:
    """Judge one task.

    Args:
        task: The task.
        exports: The submission's exports.

    Returns:
        The verdict; never raises for anything a submission can cause.
    """
    if task.kind == "answer":
        return _verify_answer(task, exports)
    return _verify_checks(task, exports)


def same_answer(given: Any, expected: Any, *, tolerance: float | None = None,
                casefold: bool = False) -> bool:
    """Compare two plain values by type and value.

    Args:
        given: The learner's answer (plain data).
        expected: The right answer (plain data).
        tolerance: Absolute tolerance for numbers (None: numbers must be equal).
        casefold: Compare strings ignoring case and surrounding whitespace.

    Returns:
        True when they match. ``bool`` never matches a number, a string never matches a number.
    """
    if isinstance(expected, bool) or isinstance(given, bool):
        return type(given) is type(expected) and given == expected
    if isinstance(expected, int | float) and isinstance(given, int | float):
        if tolerance is None:
            return given == expected
        return math.isclose(given, expected, rel_tol=0.0, abs_tol=tolerance)
    if isinstance(expected, str) and isinstance(given, str):
        if casefold:
            return given.strip().casefold() == expected.strip().casefold()
        return given == expected
    if isinstance(expected, list) and isinstance(given, list):
        return len(given) == len(expected) and all(
            same_answer(a, b, tolerance=tolerance, casefold=casefold)
            for a, b in zip(given, expected, strict=True))
    return given is None and expected is None


def _verify_answer(task: Task, exports: Exports) -> Verdict:
    try:
        given, learner = exports.answer_and_learner(task.name)
    except ExportProblem as problem:
        return _verdict(task, 0.0, problem.outcome, str(problem))
    if task.question is not None:
        return _verify_question(task, given, learner)
    if same_answer(given, task.expected, tolerance=task.tolerance, casefold=task.casefold):
        return _verdict(task, task.points, Outcome.PASSED, f"`{task.name}` is right.", given)
    return _verdict(task, 0.0, Outcome.FAILED,
                    f"`{task.name}` = {_short(given)} is not the expected answer.", given)


def _verify_question(task: Task, given: Any, learner: str) -> Verdict:
    from autograder.checks.answers import check_answer
    from autograder.choices import learner_order
    from autograder.grading.manifest import question_from_data
    from autograder.schema import MultipleSelect, SingleChoice

    try:
        question = question_from_data(task.question or {})
        if isinstance(question, SingleChoice | MultipleSelect):
            # Letters mean what the learner's notebook listed for their name (what
            # `judge_choice` in the grade cell's hidden test does); the name can only move
            # letters. The verdict records the option, not the letter, so reports count options.
            result, given = learner_order(question, learner).judge(given)
        else:
            result = check_answer(question, given)
    except Exception as exc:  # noqa: BLE001 - a malformed manifest must not stop the batch
        return _verdict(task, 0.0, Outcome.ERROR, f"The question could not be judged: {exc}.",
                        given)
    score = task.points * max(0.0, min(1.0, float(result.fraction)))
    return _verdict(task, round(score, 6), result.outcome, str(result), given)


def _registered_check(name: str) -> Any:
    # One registry: the manifest names each check's module (validated when it was loaded).
    import importlib

    from autograder.grading.manifest import CHECK_MODULES

    return getattr(importlib.import_module(CHECK_MODULES[name]), name)


def _verify_checks(task: Task, exports: Exports) -> Verdict:
    fractions: list[float] = []
    messages: list[str] = []
    flags: list[str] = []
    worst = Outcome.PASSED
    first_read = len(exports.read)
    for spec in task.checks:
        try:
            args = [_resolve(value, exports) for value in spec.args]
            kwargs = {key: _resolve(value, exports) for key, value in spec.kwargs.items()}
        except ExportProblem as problem:
            return _verdict(task, 0.0, problem.outcome, str(problem))
        check = _registered_check(spec.check)
        try:
            result = check(*args, **kwargs)
            fraction = max(0.0, min(1.0, float(result.fraction)))
            outcome, message = result.outcome, str(result)
        except Exception as exc:  # noqa: BLE001 - a broken model must not stop the batch
            fraction, outcome = 0.0, Outcome.ERROR
            message = f"{spec.check} could not run: {type(exc).__name__}: {str(exc)[:200]}"
        else:
            flags.append(unseen_gap(spec, result, lambda value: _resolve(value, exports),
                                    _registered_check))
        fractions.append(fraction)
        messages.append(message)
        if outcome is not Outcome.PASSED and worst is Outcome.PASSED:
            worst = outcome
    score = task.points * sum(fractions) / len(fractions)
    verdict = _verdict(task, round(score, 6), worst, "\n".join(messages))
    flag = " ".join(found for found in flags if found)
    read = {export: digest for export, digest in exports.read[first_read:] if digest}
    return Verdict(**{**verdict.to_dict(), "flag": flag, "exports": read})


def _resolve(value: Any, exports: Exports) -> Any:
    # "@name" -> export, "@name.key" -> array, "@holdout:dataset.x" -> grader-only data.
    if isinstance(value, list):
        return [_resolve(item, exports) for item in value]
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    if value.startswith("@@"):
        return value[1:]
    if "|" in value:
        # "@holdout:breast_cancer.x|scaler": the learner's exported scaler, rebuilt from its
        # statistics, transforms the grader's data.
        data, _, scaler_name = value.partition("|")
        scaler = exports.scaler(scaler_name)
        array = _resolve(data, exports)
        return array if scaler is None else scaler.transform(array)
    reference = value[1:]
    if reference.startswith(("holdout:", "dataset:")):
        from autograder.data import load, load_holdout

        source, _, rest = reference.partition(":")
        dataset, _, part = rest.partition(".")
        # The grader rebuilds the learner's split itself rather than trusting exported arrays.
        if source == "holdout" and exports.secret:
            from autograder.holdout import derive

            found = derive(dataset, exports.secret)
        else:
            found = load_holdout(dataset) if source == "holdout" else load(dataset)
        return getattr(found, part or "x")
    name, _, key = reference.partition(".")
    if key:
        bundle = exports.arrays(name)
        if key not in bundle:
            raise ExportProblem(f"The arrays `{name}` have no `{key}`.", Outcome.FAILED)
        return bundle[key]
    first: ExportProblem | None = None
    for reader in (exports.model, exports.scaler, exports.answer):
        try:
            return reader(name)
        except ExportProblem as problem:
            if problem.outcome is not Outcome.NOT_ATTEMPTED:
                raise
            first = first or problem
    assert first is not None
    raise first


def _rebuild_scaler(data: Any, name: str) -> Any:
    if not isinstance(data, dict) or data.get("class") not in SCALERS:
        raise ExportProblem(f"The scaler `{name}` is not one of {', '.join(SCALERS)}.",
                            Outcome.FAILED)
    import numpy as np
    from sklearn import preprocessing

    scaler = getattr(preprocessing, data["class"])()
    fitted = data.get("fitted")
    if not isinstance(fitted, dict) or not fitted:
        raise ExportProblem(f"The scaler `{name}` was never fitted.", Outcome.FAILED)
    width = 0
    for attribute, values in fitted.items():
        if not _is_plain(values) or not attribute.endswith("_"):
            raise ExportProblem(f"The scaler `{name}` is malformed.")
        array = np.asarray(values, dtype=np.float64)
        setattr(scaler, attribute, array if array.ndim else array.item())
        width = max(width, array.size if array.ndim else 0)
    scaler.n_features_in_ = width
    return scaler


def _read_json(path: Path) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # Nested past Python's recursion limit: that export fails, not the whole submission.
        raise ExportProblem(f"{path.name} is not valid JSON (or is nested too deeply).") from None


def _is_plain(value: Any, depth: int = 0) -> bool:
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list and depth < 8:
        return all(_is_plain(item, depth + 1) for item in value)
    return False


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _verdict(task: Task, score: float, outcome: Outcome, message: str,
             answer: Any = None) -> Verdict:
    return Verdict(task.notebook, task.grade_id, task.name, task.points, float(score),
                   outcome.value, message, answer)


def verdicts_by_cell(verdicts: Sequence[Verdict]) -> Mapping[tuple[str, str], Verdict]:
    """Index verdicts by (notebook, grade_id).

    Args:
        verdicts: Verdicts of one submission.

    Returns:
        A mapping from (notebook, grade_id) to the verdict.
    """
    return {(verdict.notebook, verdict.grade_id): verdict for verdict in verdicts}
