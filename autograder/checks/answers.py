"""Judge one learner answer to one quiz question.

Pure functions from (question, answer) to :class:`~autograder.result.CheckResult`. A learner's
answer arrives as whatever they typed or clicked: a choice letter, index or text; a number as text;
a shape as ``"(None, 3)"``, ``"None,3"`` or a tuple; a model or the code that builds one. An empty
answer or the ``...`` placeholder is "not attempted". A wrong answer earns the feedback written
for that choice or mistake, or a message for the kind of question, and never the expected answer.

Only ``fix_model`` questions touch Keras, through the registered checks in :data:`MODEL_CHECKS`
(imported lazily so that choice questions answer instantly).
"""

from __future__ import annotations

import math
import re
import string
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autograder.result import CheckResult, error, failed, not_attempted, passed
from autograder.schema import (
    Choice,
    FixModel,
    Mistake,
    MultipleSelect,
    Numeric,
    OutputShape,
    PredictOutput,
    Question,
    Shape,
    SingleChoice,
)

_TRY_AGAIN = "Try again, or ask for a hint."
_NONE_WORDS = {"none", "null", "?", "batch"}


def is_blank(value: Any) -> bool:
    """True when an answer is still empty or the ``...`` placeholder.

    Args:
        value: The learner's answer.

    Returns:
        Whether the question counts as not attempted.
    """
    if value is None or value is Ellipsis:
        return True
    if isinstance(value, str):
        return value.strip() in ("", "...", "…")
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) == 0
    return False


# ---------------------------------------------------------------- parsing what learners type

_NUMPY_SCALARS = ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                  "uint64", "float16", "float32", "float64")
_MAX_DEPTH = 8


def plain_numbers(value: Any, depth: int = 0) -> Any:
    """An answer in the form the grader receives it: numpy numbers and arrays as plain data.

    A learner's ``np.int64(3600)``, ``np.float32(0.4)`` or ``np.array([0.3, 0.5])`` is a
    natural answer; the export hands the grader ``3600``, ``0.4`` and ``[0.3, 0.5]``. Judging
    the same form in the kernel makes both accept and refuse the same answers with the same
    words. Tuples become lists, as in JSON; anything else is returned unchanged (and judged,
    and refused, as it is).

    Args:
        value: The learner's answer.
        depth: Nesting depth so far.

    Returns:
        The value with exact numpy scalars as Python numbers, exact numpy arrays of numbers as
        nested lists (a 0-d array as its number), and tuples as lists.
    """
    kind = type(value)
    if kind.__module__ == "numpy":
        import numpy as np

        # Exact types only, as the export does: a subclass could redefine comparisons.
        if kind is np.ndarray and value.dtype.kind in "biuf":
            return value.tolist()
        if kind.__name__ in _NUMPY_SCALARS and kind is getattr(np, kind.__name__):
            return value.item()
        return value
    if kind in (list, tuple) and depth < _MAX_DEPTH:
        return [plain_numbers(item, depth + 1) for item in value]
    return value



def parse_shape(value: Any) -> Shape:
    """Read a shape the way a learner writes it.

    ``"(None, 3)"``, ``"None,3"``, ``"[None, 3]"``, ``"(none, 3)"``, ``"(3,)"`` and the tuple
    ``(None, 3)`` all give ``(None, 3)``.

    Args:
        value: Text, a tuple or a list.

    Returns:
        The shape as a tuple of ints and ``None``.

    Raises:
        ValueError: When a dimension is neither a whole number nor None.
    """
    value = plain_numbers(value)
    if isinstance(value, str):
        text = value.strip()
        text = re.sub(r"^(TensorShape|shape)\s*=?\s*", "", text, flags=re.IGNORECASE)
        items: list[Any] = [t for t in re.split(r"[\s,]+", text.strip("()[] \t\n")) if t]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(f"write a shape such as (None, 3), not a {type(value).__name__}")
    shape: list[int | None] = []
    for item in items:
        if item is None or (isinstance(item, str) and item.strip().lower() in _NONE_WORDS):
            shape.append(None)
            continue
        if isinstance(item, str) and re.fullmatch(r"\d+", item.strip()):
            shape.append(int(item))
            continue
        if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            shape.append(item)
            continue
        raise ValueError(
            f"{item!r} is not a dimension: use whole numbers, and None for the batch size"
        )
    return tuple(shape)


def format_shape(shape: Shape) -> str:
    """Write a shape the way Keras prints it.

    Args:
        shape: A tuple of ints and ``None``.

    Returns:
        Text such as ``"(None, 3)"`` or ``"(3,)"``.
    """
    return str(tuple(shape))


def parse_number(value: Any) -> float:
    """Read a number as a learner types it: ``0.9``, ``"0.9"``, ``"90%"``, ``"1,234"``.

    Args:
        value: A number or text.

    Returns:
        The value (a percentage is divided by 100).

    Raises:
        ValueError: When it is not a number.
    """
    value = plain_numbers(value)
    if isinstance(value, bool):
        raise ValueError("true/false is not a number")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a number")
    text = value.strip().replace("_", "")
    percent = text.endswith("%")
    text = text.rstrip("%").strip()
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?", text):
        text = text.replace(",", "")  # thousands separators, as Keras prints parameter counts
    number = float(text)  # raises ValueError with its own message
    if not math.isfinite(number):
        raise ValueError("the number must be finite")
    return number / 100 if percent else number


def _normalise_output(text: str) -> str:
    lines = [" ".join(line.split()) for line in str(text).strip().splitlines()]
    joined = "\n".join(line for line in lines if line)
    if len(joined) >= 2 and joined[0] == joined[-1] and joined[0] in "'\"":
        joined = joined[1:-1]
    return joined.casefold()


def _same_output(expected: str, given: Any) -> bool:
    """Printed outputs match as text, or as the same number or shape written differently."""
    if _normalise_output(expected) == _normalise_output(given):
        return True
    try:
        return math.isclose(parse_number(expected), parse_number(given), rel_tol=1e-9)
    except ValueError:
        pass
    if str(expected).strip().startswith(("(", "[")):
        try:
            return parse_shape(expected) == parse_shape(given)
        except ValueError:
            return False
    return False


# ---------------------------------------------------------------- choices


def choice_index(question: SingleChoice | MultipleSelect, value: Any) -> int:
    """Find which choice an answer means: a letter (``"B"``), an index from 0, or the text.

    Args:
        question: A choice question.
        value: One answer.

    Returns:
        The 0-based index of the choice.

    Raises:
        ValueError: With a learner-facing explanation of what to write instead.
    """
    value = plain_numbers(value)
    count = len(question.choices)
    letters = string.ascii_uppercase[:count]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count:
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 1 and text.upper() in letters:
            return letters.index(text.upper())
        wanted = _plain_text(text)
        for index, choice in enumerate(question.choices):
            if _plain_text(choice.text) == wanted:
                return index
    raise ValueError(
        f"{value!r} is not one of the choices. Answer with a letter from A to {letters[-1]} "
        "(or the choice's text)."
    )


def _plain_text(text: str) -> str:
    return " ".join(text.replace("`", "").split()).casefold()


def selected_indices(question: SingleChoice | MultipleSelect, value: Any) -> set[int]:
    """Find which choices a multiple-select answer ticks.

    Args:
        question: A choice question.
        value: Letters, 0-based indices or choice texts: a list of them, one of them, or text
            such as ``"A, C"`` or ``"AC"``.

    Returns:
        The 0-based indices of the ticked choices.

    Raises:
        ValueError: With a learner-facing explanation of what to write instead.
    """
    if isinstance(value, str):
        tokens = [t for t in re.split(r"[\s,;]+", value.strip()) if t]
        letters = string.ascii_uppercase[: len(question.choices)]
        if len(tokens) == 1 and len(tokens[0]) > 1 and all(c in letters for c in tokens[0].upper()):
            tokens = list(tokens[0])  # "AC" means A and C
        try:
            return {choice_index(question, token) for token in tokens}
        except ValueError:
            return {choice_index(question, value)}
    if isinstance(value, Iterable):
        return {choice_index(question, item) for item in value}
    return {choice_index(question, value)}


def check_single_choice(question: SingleChoice, value: Any) -> CheckResult:
    """Judge a single-choice answer.

    Args:
        question: The question.
        value: A letter, a 0-based index or the choice text.

    Returns:
        Passed with the choice's feedback, or failed with the feedback of the chosen option.
    """
    if is_blank(value):
        return not_attempted(question.id, "Pick one of the choices, then check your answer.")
    try:
        choice = question.choices[choice_index(question, value)]
    except ValueError as exc:
        return error(question.id, str(exc))
    if choice.correct:
        return passed(question.id, f"Correct. {choice.feedback}")
    return failed(question.id, f"{choice.feedback} {_TRY_AGAIN}")


def check_multiple_select(question: MultipleSelect, value: Any) -> CheckResult:
    """Judge a multiple-select answer: every right option ticked and no wrong one.

    Args:
        question: The question.
        value: The ticked options: letters, 0-based indices or texts (a list, or text like
            ``"A, C"``).

    Returns:
        Passed, or failed with the feedback of each wrongly ticked option and a note when a
        right option is still unticked (without saying which).
    """
    if is_blank(value):
        return not_attempted(question.id, "Tick every option you think is right, then check.")
    try:
        selected = selected_indices(question, value)
    except ValueError as exc:
        return error(question.id, str(exc))
    right = {i for i, choice in enumerate(question.choices) if choice.correct}
    if selected == right:
        feedback = " ".join(question.choices[i].feedback for i in sorted(selected))
        return passed(question.id, f"Correct. {feedback}")
    wrong = sorted(selected - right)
    details = tuple(_quoted_feedback(question.choices[i]) for i in wrong)
    if wrong and right - selected:
        message = (
            f"{len(wrong)} of the options you ticked {'is' if len(wrong) == 1 else 'are'} wrong, "
            "and at least one right option is still unticked."
        )
    elif wrong:
        message = (
            f"You found every right option, but {len(wrong)} of the options you ticked "
            f"{'is' if len(wrong) == 1 else 'are'} wrong."
        )
    else:
        message = (
            "Everything you ticked is right, but at least one more option is right too: "
            "look again at the ones you left out."
        )
    return failed(question.id, f"{message} {_TRY_AGAIN}", details=details)


def _quoted_feedback(choice: Choice) -> str:
    return f"“{choice.text}”: {choice.feedback}"


# ---------------------------------------------------------------- free-text answers


def _mistake_feedback(mistakes: Iterable[Mistake], matches: Callable[[Any], bool]) -> str | None:
    for mistake in mistakes:
        if matches(mistake.answer):
            return mistake.feedback
    return None


def check_numeric(question: Numeric, value: Any) -> CheckResult:
    """Judge a number against the answer and its tolerance.

    Args:
        question: The question.
        value: A number or text such as ``"0.9"``, ``"90%"`` or ``"1,234"``.

    Returns:
        Passed, or failed with the feedback of a known mistake or a general message.
    """
    if is_blank(value):
        return not_attempted(question.id, "Type a number, then check your answer.")
    try:
        number = parse_number(value)
    except ValueError:
        return error(
            question.id,
            f"{value!r} is not a number. Type digits only, such as 0.25 or 1200 "
            "(a percentage such as 25% also works).",
        )

    def close(target: Any) -> bool:
        try:
            return abs(parse_number(target) - number) <= question.tolerance + 1e-12
        except ValueError:
            return False

    if close(question.answer):
        return passed(question.id, f"Correct: {number:g}.")
    known = _mistake_feedback(question.mistakes, close)
    if known:
        return failed(question.id, f"{known} {_TRY_AGAIN}")
    if abs(question.answer) <= 1 and abs(number) > 1:
        return failed(
            question.id,
            f"You typed {number:g}, but this answer is a fraction between 0 and 1 "
            f"(write 0.5, or 50%, for a half). {_TRY_AGAIN}",
        )
    return failed(
        question.id,
        f"{number:g} is not right. Work through the calculation again step by step. {_TRY_AGAIN}",
    )


def check_output_shape(question: OutputShape, value: Any) -> CheckResult:
    """Judge a shape typed leniently, such as ``"(None, 3)"`` or ``"none,3"``.

    Args:
        question: The question.
        value: Text, a tuple or a list.

    Returns:
        Passed, or failed with the feedback of a known mistake or a message about the batch
        dimension or the number of dimensions (never the expected shape).
    """
    if is_blank(value):
        return not_attempted(question.id, "Type a shape such as (None, 4), then check.")
    try:
        shape = parse_shape(value)
    except ValueError as exc:
        return error(question.id, f"Your answer is not a shape: {exc}.")
    expected = question.answer
    if shape == expected:
        return passed(question.id, f"Correct: {format_shape(shape)}.")

    def same(target: Any) -> bool:
        try:
            return parse_shape(target) == shape
        except ValueError:
            return False

    known = _mistake_feedback(question.mistakes, same)
    if known:
        return failed(question.id, f"{known} {_TRY_AGAIN}")
    shown = format_shape(shape)
    if expected and expected[0] is None and shape == expected[1:]:
        return failed(
            question.id,
            f"{shown} leaves out the batch dimension. Keras puts the number of samples first and "
            f"shows it as None, because one model accepts batches of any size. {_TRY_AGAIN}",
        )
    if expected and expected[0] is None and shape and shape[0] is not None:
        return failed(
            question.id,
            f"{shown} starts with {shape[0]}, but the first dimension of a model's output is the "
            f"batch size, which Keras leaves open as None. {_TRY_AGAIN}",
        )
    if len(shape) != len(expected):
        return failed(
            question.id,
            f"{shown} has {len(shape)} dimension{'s' if len(shape) != 1 else ''}, which is not "
            "how many this output has. Follow the shape through each layer: which layers keep "
            f"the image's spatial dimensions and which remove them? {_TRY_AGAIN}",
        )
    return failed(
        question.id,
        f"{shown} has the right number of dimensions, but not the right sizes. Follow the shape "
        f"through each layer, one at a time. {_TRY_AGAIN}",
    )


def check_predict_output(question: PredictOutput, value: Any) -> CheckResult:
    """Judge a prediction of what a snippet prints.

    Whitespace, letter case and surrounding quotes do not matter; the same number or shape
    written differently counts as the same.

    Args:
        question: The question.
        value: The text the learner expects the snippet to print.

    Returns:
        Passed, or failed with the feedback of a known mistake or a general message.
    """
    if is_blank(value):
        return not_attempted(question.id, "Type what you expect the code to print, then check.")
    if _same_output(question.answer, value):
        return passed(question.id, "Correct: that is what the installed Keras prints.")
    known = _mistake_feedback(question.mistakes, lambda target: _same_output(str(target), value))
    if known:
        return failed(question.id, f"{known} {_TRY_AGAIN}")
    return failed(
        question.id,
        "That is not what this code prints. Trace it one line at a time and write down what "
        f"each line creates before you reach the print. {_TRY_AGAIN}",
    )


# ---------------------------------------------------------------- fix the model


@dataclass(frozen=True)
class ModelCheckSpec:
    """A check a ``fix_model`` question may name.

    Attributes:
        params: Parameter names a question may give.
        required: Parameter names it must give.
        run: Calls the check on a model with the question's parameters.
    """

    params: tuple[str, ...]
    required: tuple[str, ...]
    run: Callable[[Any, Mapping[str, Any]], CheckResult]


def _run_check_model(model: Any, params: Mapping[str, Any]) -> CheckResult:
    import autograder

    return autograder.check_model(
        model,
        input_shape=tuple(params["input_shape"]),
        num_classes=int(params["num_classes"]),
        labels=str(params.get("labels", "integer")),
    )


def _run_check_metrics(model: Any, params: Mapping[str, Any]) -> CheckResult:
    import autograder
    from autograder import data

    # Scored on the reserve, rows no learner split contains: a learner who retries against this
    # check is then not tuning on their own test split.
    reserve = data.load_holdout(str(params["dataset"]))
    thresholds = {key: value for key, value in params.items() if key != "dataset"}
    return autograder.check_metrics(model, reserve.x, reserve.y, **thresholds)


MODEL_CHECKS: dict[str, ModelCheckSpec] = {
    # Structure: output shape, activation, loss and compile state, judged on a small batch.
    "model": ModelCheckSpec(
        params=("input_shape", "num_classes", "labels"),
        required=("input_shape", "num_classes"),
        run=_run_check_model,
    ),
    # Behaviour on rows no learner split contains; the code must train the model.
    "metrics": ModelCheckSpec(
        params=(
            "dataset",
            "min_accuracy",
            "min_precision",
            "min_recall",
            "min_f1",
            "min_auc",
            "threshold",
        ),
        required=("dataset",),
        run=_run_check_metrics,
    ),
}


def model_from_code(code: str) -> Any:
    """Run code that builds a model and return its ``model`` variable.

    The code runs in a fresh namespace, silently (nothing reaches stderr).

    Args:
        code: Python source that assigns ``model``.

    Returns:
        The value of ``model``.

    Raises:
        CodeError: When the code does not compile, raises, or never assigns ``model``.
    """
    from autograder.quiet import no_stderr

    namespace: dict[str, Any] = {"__name__": "__quiz__"}
    try:
        compiled = compile(code, "<your code>", "exec")
    except SyntaxError as exc:
        raise CodeError(f"Line {exc.lineno} of your code is not valid Python: {exc.msg}.") from None
    try:
        with no_stderr():
            exec(compiled, namespace)  # noqa: S102 - the learner's own code, in their own kernel
    except Exception as exc:  # the learner's code may raise anything; report it, do not crash
        line = _code_line(exc)
        where = f" on line {line}" if line else ""
        raise CodeError(
            f"Your code raised {type(exc).__name__}{where}: {exc}. Fix that line and check again."
        ) from None
    if "model" not in namespace:
        raise CodeError("Your code ran, but it never assigned a variable called `model`.")
    return namespace["model"]


def _code_line(exc: BaseException) -> int | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<your code>"]
    return frames[-1].lineno if frames else None


class CodeError(ValueError):
    """The learner's code for a ``fix_model`` question could not produce a model."""


def check_fix_model(question: FixModel, value: Any) -> CheckResult:
    """Judge a fixed model with the check the question names.

    Args:
        question: The question.
        value: A Keras model, or Python code (text) that assigns ``model``.

    Returns:
        The registered check's result, under the question's id.
    """
    if is_blank(value):
        return not_attempted(question.id, "Edit the model code, then check it.")
    model = value
    if isinstance(value, str):
        try:
            model = model_from_code(value)
        except CodeError as exc:
            return error(question.id, str(exc))
    result = MODEL_CHECKS[question.check].run(model, question.params)
    return CheckResult(
        check=question.id,
        outcome=result.outcome,
        message=result.message,
        details=result.details,
        metrics=result.metrics,
        score=result.score,
    )


_CHECKERS: dict[type[Question], Callable[[Any, Any], CheckResult]] = {
    SingleChoice: check_single_choice,
    MultipleSelect: check_multiple_select,
    Numeric: check_numeric,
    OutputShape: check_output_shape,
    PredictOutput: check_predict_output,
    FixModel: check_fix_model,
}


def check_answer(question: Question, value: Any) -> CheckResult:
    """Judge an answer to any kind of question.

    Args:
        question: The question.
        value: The learner's answer (see the check for each kind).

    Returns:
        The :class:`CheckResult`, named after the question id.
    """
    return _CHECKERS[type(question)](question, value)
