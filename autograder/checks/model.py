"""``check_model``: is a Keras model shaped, activated and compiled right for a classification task?

The check judges behaviour, not layer names: it calls the model on a small fixed batch, reads
the output shape and values (in [0, 1]? rows summing to 1?) and reads ``model.loss``. So a
functional or subclassed model, a separate ``Activation("softmax")`` layer, a CNN, or a linear
output compiled with ``from_logits=True`` all pass, and a model loaded from a ``.keras`` file is
judged exactly like the live one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import (
    BINARY,
    CATEGORICAL,
    REGRESSION,
    SPARSE,
    LossInfo,
    call_model,
    declared_input_shape,
    example_shape_text,
    import_keras,
    is_probability,
    not_a_model,
    probe_batch,
    read_loss,
    rows_sum_to_one,
    shape_accepts,
    shape_text,
    short_error,
)
from autograder.quiet import no_stderr
from autograder.result import CheckResult

CHECK = "check_model"
LABEL_KINDS = ("integer", "one_hot")

# Loss a right answer uses, by canonical name -> the class that builds it with from_logits=True.
_LOSS_CLASSES = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
}


@dataclass(frozen=True)
class _Output:
    """What the probe batch revealed about the output layer."""

    shape: tuple[int, ...]
    units: int
    # "sigmoid", "softmax", "softmax_one_unit", "independent" (sigmoid on several units),
    # "relu" or "logits".
    kind: str
    values: np.ndarray

    @property
    def probabilities(self) -> bool:
        return self.kind in ("sigmoid", "softmax", "softmax_one_unit", "independent")


def check_model(
    model: Any,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    labels: str = "integer",
) -> CheckResult:
    """Check that a Keras model fits a single-label classification task.

    The model is called (never trained) on 16 fixed examples of ``input_shape``. It passes when
    it returns one row per example with one value per class (or a single sigmoid unit for two
    classes), its output activation suits that shape, and it is compiled with a loss that
    fits the labels and the activation.

    Args:
        model: The learner's model; ``...`` (the placeholder) counts as not attempted.
        input_shape: Shape of one example of the data, e.g. ``(28, 28, 1)``.
        num_classes: Number of classes, at least 2.
        labels: ``"integer"`` for class indices (needs sparse categorical cross-entropy when
            there are more than two classes) or ``"one_hot"`` for one column per class (needs
            categorical cross-entropy).

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
    batch_shape = shape_text((None, *shape))
    declared = declared_input_shape(model)
    if declared is not None and not shape_accepts(declared, shape):
        return result.failed(CHECK, _input_mismatch(declared, shape))

    unbuilt_sequential = isinstance(model, keras.Sequential) and not model.built
    batch = probe_batch(shape)
    try:
        raw = call_model(model, batch)
    except Exception as exc:
        return result.failed(
            CHECK,
            f"Calling your model on {len(batch)} examples of shape "
            f"{example_shape_text(shape)}, the shape of the data, failed with "
            f"{short_error(exc)}. Make the model's input match one example, e.g. start with "
            f"keras.Input(shape={example_shape_text(shape)}).",
        )
    if isinstance(raw, list):
        return result.failed(
            CHECK,
            f"Your model returns {len(raw)} outputs, but this task needs a single output with "
            "one value per class. Keep one output layer.",
        )
    values = np.asarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return result.failed(
            CHECK,
            "Your model outputs NaN or infinite values even on small inputs, so no loss can "
            "train it. Rebuild it (re-run the cell that creates it) and check custom layers "
            "for divisions or logarithms of zero.",
        )
    shape_problem = _output_shape_problem(values.shape, shape, num_classes, labels)
    if shape_problem:
        return result.failed(CHECK, shape_problem)

    output = _classify_output(model, values)
    loss = read_loss(model)
    expected = _expected_loss(output.units, labels)
    problems = _activation_problems(output, loss, expected)
    problems += _loss_problems(loss, output, expected, num_classes)
    notes = []
    if loss is not None and loss.name is None:
        notes.append(
            f"Your loss {loss.shown} is not one this check recognises, so it was not judged; "
            f"the usual choice here is {expected}."
        )
    if unbuilt_sequential:
        notes.append(
            "Your Sequential model had no input shape until this check called it. Start it with "
            f"keras.Input(shape={example_shape_text(shape)}) so that summary() shows the shapes "
            "before training."
        )
    if problems:
        return result.failed(CHECK, problems[0], details=tuple(problems[1:] + notes))
    fits = f", which fits {_describe_labels(labels, output.units)}" if loss.name else ""
    return result.passed(
        CHECK,
        f"Your model maps a batch of shape {batch_shape} to {shape_text(output.shape)}: "
        f"{_describe_output(output, num_classes)}, compiled with {loss.shown}{fits}.",
        details=tuple(notes),
    )


def _input_mismatch(declared: tuple[int | None, ...], shape: tuple[int, ...]) -> str:
    message = (
        f"Your model expects inputs of shape {shape_text((None, *declared))}, but each example "
        f"of the data has shape {example_shape_text(shape)}, so the data does not fit."
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
            f"classes per example, so it should output {wanted}{binary_hint}. {why}"
        )
    if len(out_shape) < 2:
        return (
            f"Your model outputs shape {shape_text(out_shape)}: one number per example with no "
            f"class axis. End with keras.layers.Dense({num_classes}) so it outputs "
            f"{wanted}{binary_hint}."
        )
    units = out_shape[1]
    if units == num_classes:
        return None
    if num_classes == 2 and units == 1:
        if labels == "integer":
            return None
        return (
            f"Your model outputs shape {shape_text(out_shape)}, one unit, but one-hot labels for "
            "2 classes have 2 columns. Use keras.layers.Dense(2, activation=\"softmax\") with "
            "categorical_crossentropy, or keep one sigmoid unit and train on integer 0/1 labels."
        )
    per_example = "1 value" if units == 1 else f"{units} values"
    return (
        f"Your model outputs shape {shape_text(out_shape)}, {per_example} per example, but "
        f"there are {num_classes} classes: the last Dense layer needs {num_classes} units, one "
        f"per class{binary_hint}, so it outputs {wanted}."
    )


def _classify_output(model: Any, values: np.ndarray) -> _Output:
    units = values.shape[1]
    if is_probability(values):
        if units == 1:
            # Softmax over a single unit normalises each value by itself: always exactly 1.
            kind = "softmax_one_unit" if np.allclose(values, 1.0, atol=1e-6) else "sigmoid"
        else:
            kind = "softmax" if rows_sum_to_one(values) else "independent"
    elif values.min() >= 0 and _last_activation(model) == "relu":
        # Values alone cannot tell relu from an untrained linear layer whose inputs happen to
        # give no negative sums, so the last layer's public config confirms it.
        kind = "relu"
    else:
        kind = "logits"
    return _Output(values.shape, units, kind, values)


def _last_activation(model: Any) -> str | None:
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    activation = layers[-1].get_config().get("activation")
    return activation if isinstance(activation, str) else None


def _expected_loss(units: int, labels: str) -> str:
    if units == 1:
        return "binary_crossentropy"
    return "sparse_categorical_crossentropy" if labels == "integer" else "categorical_crossentropy"


def _loss_code(expected: str, logits: bool) -> str:
    if logits:
        return f"keras.losses.{_LOSS_CLASSES[expected]}(from_logits=True)"
    return f'"{expected}"'


def _activation_problems(output: _Output, loss: LossInfo | None, expected: str) -> list[str]:
    activation = "sigmoid" if output.units == 1 else "softmax"
    if output.kind == "softmax_one_unit":
        return [
            "Your model has one output unit with softmax. Softmax divides each value by the sum "
            "over the units, so with one unit it outputs 1.0 for every example and the model "
            'cannot learn. Use activation="sigmoid" on the single unit, or '
            'keras.layers.Dense(2, activation="softmax") for two classes.'
        ]
    if output.kind == "independent":
        sums = output.values.sum(axis=1)
        return [
            f"Your {output.units} outputs each lie between 0 and 1, but a row sums to between "
            f"{sums.min():.2f} and {sums.max():.2f} instead of 1: the output layer gives each "
            "class an independent (sigmoid) probability. Each example belongs to exactly one "
            'class, so use activation="softmax", which makes the class probabilities compete '
            "and sum to 1."
        ]
    if output.kind == "relu":
        return [
            "Your model's outputs are never negative and often exactly 0, as a relu output is: "
            "these are neither probabilities nor usable logits, and a unit stuck at 0 stops "
            f'learning. Use activation="{activation}" on the last layer, or no activation '
            f"with loss={_loss_code(expected, logits=True)}."
        ]
    if loss is None or loss.name not in SPARSE | CATEGORICAL | BINARY:
        # No loss, or a loss judged on its own below; the activation alone is fine.
        return []
    if output.kind == "logits" and not loss.from_logits:
        low, high = output.values.min(), output.values.max()
        return [
            f"Your model's last layer is linear: it outputs values such as {low:.2f} and "
            f"{high:.2f}, which are not probabilities, but the loss {loss.shown} expects "
            f'probabilities. Add activation="{activation}" to the last layer, or keep it linear '
            f"and compile with loss={_loss_code(expected, logits=True)}."
        ]
    if output.probabilities and loss.from_logits:
        observed = "each row sums to 1" if output.kind == "softmax" else "they lie in [0, 1]"
        return [
            f"Your model already outputs probabilities ({observed}), but its loss {loss.shown} "
            f"was built with from_logits=True, so it applies a second {activation} on top of "
            "yours and learning slows down. Either drop from_logits=True, or remove the "
            "activation from the last layer so that it outputs logits."
        ]
    return []


def _loss_problems(
    loss: LossInfo | None, output: _Output, expected: str, num_classes: int
) -> list[str]:
    logits = output.kind == "logits"
    code = _loss_code(expected, logits)
    if loss is None:
        return [
            "Your model has not been compiled, so it has no loss to learn from. Call "
            f'model.compile(optimizer="adam", loss={code}, metrics=["accuracy"]) before fit().'
        ]
    if loss.name is None:
        return []
    if loss.name in REGRESSION:
        return [
            f"Your model is compiled with {loss.shown}, a regression loss: it treats the class "
            "labels as numbers to predict instead of scoring the probability of the right "
            "class, so training is slow and the outputs are not class probabilities. Use "
            f"loss={code}."
        ]
    if expected in SPARSE and loss.name in CATEGORICAL:
        return [
            f"Your labels are integers (one class index per example), but {loss.shown} expects "
            "one-hot labels with a column per class, so fit() stops with a shape error. Use "
            f"loss={code}, or one-hot encode the labels with keras.utils.to_categorical."
        ]
    if expected in CATEGORICAL and loss.name in SPARSE:
        return [
            f"Your labels are one-hot (a column per class), but {loss.shown} expects one integer "
            f"class index per example. Use loss={code}, or turn the labels back into integers "
            "with argmax."
        ]
    if expected not in BINARY and loss.name in BINARY:
        return [
            f"The loss {loss.shown} treats each of your {output.units} outputs as a separate "
            "yes/no question, which suits multi-label tasks, not a choice of one class among "
            f"{num_classes}: the loss and accuracy are then misleading. Use loss={code}."
        ]
    if expected in BINARY and loss.name not in BINARY:
        reason = (
            ": over a single column it is always zero, so nothing is learned"
            if loss.name in CATEGORICAL else ""
        )
        return [
            f"Your model has a single output unit (one probability per example), but "
            f"{loss.shown} expects one output per class{reason}. Use loss={code} with the "
            'single sigmoid unit, or keras.layers.Dense(2, activation="softmax") with a '
            "categorical cross-entropy."
        ]
    return []


def _describe_output(output: _Output, num_classes: int) -> str:
    if output.kind == "sigmoid":
        return "one sigmoid probability per example"
    if output.kind == "softmax":
        return f"softmax probabilities over the {num_classes} classes"
    return "logits (unnormalised scores) that the loss turns into probabilities"


def _describe_labels(labels: str, units: int) -> str:
    if units == 1:
        return "0/1 labels"
    return "integer class labels" if labels == "integer" else "one-hot labels"
