"""``check_model``: is a Keras model shaped, activated and compiled right for a classification task?

The check judges behaviour and public configuration, not layer names. It calls the model on a
probe batch at the scale its own front implies (pixels for a ``Rescaling(1/255)`` front, token
ids for an ``Embedding``), reads the output shape and values, reads the activation that the
output layer declares and reads ``model.loss``. So a functional or subclassed model, a separate
``Activation("softmax")`` layer, a CNN, or a linear output compiled with ``from_logits=True``
all pass whatever the random seed, and a model loaded from a ``.keras`` file is judged exactly
like the live one. Whether the data fits is asked of the model itself: it is called on a batch
of the data's shape, and only a call that fails is reported as a mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import (
    LossInfo,
    call_model,
    declared_input_shape,
    example_shape_text,
    import_keras,
    not_a_model,
    read_loss,
    shape_accepts,
    shape_text,
    short_error,
)
from autograder.checks._model_advice import (
    MULTI_HOT,
    accuracy_note,
    activation_problems,
    ambiguity_note,
    expected_loss,
    loss_problems,
)
from autograder.checks._model_head import OutputHead, probe_inputs, read_head
from autograder.quiet import no_stderr
from autograder.result import CheckResult

CHECK = "check_model"
LABEL_KINDS = ("integer", "one_hot", MULTI_HOT)


def check_model(
    model: Any,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    labels: str = "integer",
) -> CheckResult:
    """Check that a Keras model fits a classification task.

    The model is called (never trained) on a small fixed batch of ``input_shape`` at the scale
    its first layers imply. It passes when it returns one row per example with one value per
    class (or a single sigmoid unit for two classes, or one value per label for multi-hot
    labels), its output activation suits that shape, and it is compiled with a loss that fits
    the labels and the activation.

    Args:
        model: The learner's model; ``...`` (the placeholder) counts as not attempted.
        input_shape: Shape of one example of the data, e.g. ``(28, 28, 1)``.
        num_classes: Number of classes, at least 2; for ``labels="multi_hot"``, the number of
            labels.
        labels: ``"integer"`` for class indices (needs sparse categorical cross-entropy when
            there are more than two classes), ``"one_hot"`` for one column per class (needs
            categorical cross-entropy), or ``"multi_hot"`` for multi-label targets, a 0/1 column
            per label of which any number can be 1 (needs one sigmoid unit per label and binary
            cross-entropy).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_model``; its message names
        the first problem found and its fix, and its details list any further problems.

    Raises:
        ValueError: When ``input_shape``, ``num_classes`` or ``labels`` is invalid (these come
            from the task's author, not the learner).
    """
    shape = _validated_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or (
        num_classes < 2
    ):
        raise ValueError(f"`num_classes` must be an integer of at least 2, got {num_classes!r}.")
    if labels not in LABEL_KINDS:
        raise ValueError(
            f"`labels` must be one of {', '.join(map(repr, LABEL_KINDS))}, got {labels!r}."
        )
    with no_stderr():
        rejected = not_a_model(CHECK, model)
        if rejected is not None:
            return rejected
        try:
            return _judge(model, shape, int(num_classes), labels)
        except Exception as exc:  # a model can fail in ways no rule foresees; never a traceback
            return result.error(
                CHECK,
                f"Your model could not be checked: {short_error(exc)}. Run model.summary() to "
                "see whether it builds, then call it on a few rows of your data.",
            )


def _validated_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` must be a tuple of positive integers such as (28, 28, 1), "
            f"got {input_shape!r}."
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(
            f"`input_shape` must be a non-empty tuple of positive integers, got {input_shape!r}."
        )
    return shape


def _judge(model: Any, shape: tuple[int, ...], num_classes: int, labels: str) -> CheckResult:
    keras = import_keras()
    declared = declared_input_shape(model)
    unbuilt_sequential = isinstance(model, keras.Sequential) and not model.built
    probe = probe_inputs(model, shape)
    try:
        raw = call_model(model, probe.x)
    except Exception as exc:
        return result.failed(CHECK, _call_failed(declared, shape, len(probe.x), exc))
    if isinstance(raw, list):
        return result.failed(
            CHECK,
            f"Your model returns {len(raw)} outputs, but this task needs a single output with "
            f"one value per {'label' if labels == MULTI_HOT else 'class'}. Keep one output "
            "layer.",
        )
    values = np.asarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(values[:probe.data_rows])):
        return result.failed(
            CHECK,
            "Your model outputs NaN or infinite values even on inputs like your data, so no "
            "loss can train it. Rebuild it (re-run the cell that creates it) and check custom "
            "layers for divisions or logarithms of zero.",
        )
    shape_problem = _output_shape_problem(values.shape, shape, num_classes, labels)
    if shape_problem:
        return result.failed(CHECK, shape_problem)

    # Rows far larger than data may overflow a correct model; they only sharpen the evidence.
    finite = values[np.isfinite(values).all(axis=1)]
    head = read_head(model, finite)
    loss = read_loss(model)
    problems = activation_problems(head, loss, labels)
    problems += loss_problems(loss, head, labels, num_classes)
    notes = _notes(head, loss, labels, declared, shape, unbuilt_sequential)
    accuracy = accuracy_note(model, labels)
    if accuracy:
        notes.append(accuracy)
    if problems:
        return result.failed(CHECK, problems[0], details=tuple(problems[1:] + notes))
    fits = f", which fits {_describe_labels(labels, head.units)}" if loss.name else ""
    return result.passed(
        CHECK,
        f"Your model maps a batch of shape {shape_text((None, *shape))} to "
        f"{shape_text((None, head.units))}: {_describe_output(head, num_classes, labels)}, "
        f"compiled with {loss.shown}{fits}.",
        details=tuple(notes),
    )


def _notes(
    head: OutputHead,
    loss: LossInfo | None,
    labels: str,
    declared: tuple[int | None, ...] | None,
    shape: tuple[int, ...],
    unbuilt_sequential: bool,
) -> list[str]:
    notes = []
    if loss is not None and loss.name is None:
        notes.append(
            f"Your loss {loss.shown} is not one this check recognises, so it was not judged; "
            f"the usual choice here is {expected_loss(head.units, labels)}."
        )
    ambiguous = ambiguity_note(head, loss)
    if ambiguous:
        notes.append(ambiguous)
    if declared is not None and not shape_accepts(declared, shape):
        notes.append(
            f"Your model declares inputs of shape {shape_text((None, *declared))}, while each "
            f"example of the data has shape {example_shape_text(shape)}. Keras accepted a "
            "batch of the data's shape, so this is not an error, but "
            f"keras.Input(shape={example_shape_text(shape)}) would say what the model receives."
        )
    if unbuilt_sequential:
        notes.append(
            "Your Sequential model had no input shape until this check called it. Start it with "
            f"keras.Input(shape={example_shape_text(shape)}) so that summary() shows the shapes "
            "before training."
        )
    return notes


def _call_failed(
    declared: tuple[int | None, ...] | None, shape: tuple[int, ...], rows: int, exc: Exception
) -> str:
    error = short_error(exc)
    if declared is None or shape_accepts(declared, shape):
        return (
            f"Calling your model on {rows} examples of shape {example_shape_text(shape)}, the "
            f"shape of the data, failed with {error}. Make the model's input match one example, "
            f"e.g. start with keras.Input(shape={example_shape_text(shape)})."
        )
    message = (
        f"Your model expects inputs of shape {shape_text((None, *declared))}, but each example "
        f"of the data has shape {example_shape_text(shape)}, and calling the model on a batch "
        f"of that shape fails ({error}), so the data does not fit."
    )
    flat = int(np.prod(shape))
    if len(declared) == 1 and declared[0] == flat and len(shape) > 1:
        return message + (
            f" Start with keras.Input(shape={example_shape_text(shape)}) followed by "
            "keras.layers.Flatten(), or reshape the data to "
            f"(n, {flat}) before fitting."
        )
    return message + (
        f" Declare keras.Input(shape={example_shape_text(shape)}) as the first layer."
    )


def _output_shape_problem(
    out_shape: tuple[int, ...], shape: tuple[int, ...], num_classes: int, labels: str
) -> str | None:
    wanted = shape_text((None, num_classes))
    what = "labels" if labels == MULTI_HOT else "classes"
    binary_hint = " (or a single sigmoid unit, since there are 2 classes)" if (
        num_classes == 2 and labels == "integer"
    ) else ""
    if len(out_shape) > 2:
        if len(shape) >= 2:
            why = (
                "Dense layers act on the last axis only, so on an image they give one prediction "
                "per pixel. Add keras.layers.Flatten() (or a global pooling layer) before the "
                "Dense layers."
            )
        else:
            why = "Add keras.layers.Flatten() before the last Dense layer."
        return (
            f"Your model outputs shape {shape_text(out_shape)}, but there are {num_classes} "
            f"{what} per example, so it should output {wanted}{binary_hint}. {why}"
        )
    if len(out_shape) < 2:
        return (
            f"Your model outputs shape {shape_text(out_shape)}: one number per example with no "
            f"{what[:-1]} axis. End with keras.layers.Dense({num_classes}) so it outputs "
            f"{wanted}{binary_hint}."
        )
    units = out_shape[1]
    if units == num_classes:
        return None
    per_example = "1 value" if units == 1 else f"{units} values"
    if labels == MULTI_HOT:
        return (
            f"Your model outputs shape {shape_text(out_shape)}, {per_example} per example, but "
            f"there are {num_classes} labels, each its own yes/no question: the last layer "
            f"needs {num_classes} units, one sigmoid per label, so it outputs {wanted}: "
            f'keras.layers.Dense({num_classes}, activation="sigmoid").'
        )
    if num_classes == 2 and units == 1:
        if labels == "integer":
            return None
        return (
            f"Your model outputs shape {shape_text(out_shape)}, one unit, but one-hot labels for "
            "2 classes have 2 columns. Use keras.layers.Dense(2, activation=\"softmax\") with "
            "categorical_crossentropy, or keep one sigmoid unit and train on integer 0/1 labels."
        )
    return (
        f"Your model outputs shape {shape_text(out_shape)}, {per_example} per example, but "
        f"there are {num_classes} classes: the last Dense layer needs {num_classes} units, one "
        f"per class{binary_hint}, so it outputs {wanted}."
    )


def _describe_output(head: OutputHead, num_classes: int, labels: str) -> str:
    if head.logits:
        return "logits (unnormalised scores) that the loss turns into probabilities"
    if head.kind == "bounded":
        return f"{head.units} value{'s' if head.units > 1 else ''} between 0 and 1 per example"
    if labels == MULTI_HOT:
        return f"one probability per label for the {num_classes} labels"
    if head.units == 1:
        return "one probability per example"
    return f"softmax probabilities over the {num_classes} classes"


def _describe_labels(labels: str, units: int) -> str:
    if labels == MULTI_HOT:
        return "multi-hot labels (a 0/1 column per label)"
    if units == 1:
        return "0/1 labels"
    return "integer class labels" if labels == "integer" else "one-hot labels"
