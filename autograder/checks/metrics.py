"""``check_metrics``: does a classifier reach the required scores on data the grader chose?

The model predicts (it is never trained here); scikit-learn computes the figures, so they equal
``sklearn.metrics`` exactly. Outputs are read by behaviour: one unit is a binary probability
(or a logit), several units are class probabilities (or logits). When accuracy looks good only
because one class dominates the data, the message names the accuracy paradox and the score of
always predicting the majority class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import (
    call_model,
    describe,
    example_shape_text,
    is_probability,
    not_a_model,
    percent,
    read_loss,
    rows_sum_to_one,
    shape_text,
    short_error,
    sigmoid,
    softmax,
)
from autograder.quiet import no_stderr
from autograder.result import CheckResult

CHECK = "check_metrics"
# Figures in the order they are reported; keys of ``CheckResult.metrics``.
METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "auc")
_LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1",
           "auc": "ROC AUC"}
# A model "collapsed" onto the majority class when it predicts another class for fewer than
# this share of the examples that really belong to one.
_COLLAPSE_SHARE = 0.1
# Below this majority share, always predicting the majority is not a tempting shortcut.
_IMBALANCE = 0.6
_TIPS = {
    "recall": "to find more of the positive class, lower the decision threshold or weight the "
              "rare class in training (class_weight=...)",
    "precision": "to raise fewer false alarms, raise the decision threshold",
    "f1": "F1 balances precision and recall: tune the threshold and weight the rare class",
    "accuracy": "train longer, or give the model more capacity, and check for overfitting",
    "auc": "AUC ignores the threshold, so the model's ranking itself must improve: train "
           "longer or give the model better features",
}


@dataclass(frozen=True)
class _Predictions:
    """Labels, predicted labels and class scores of one evaluation."""

    y: np.ndarray  # true class indices
    predicted: np.ndarray  # predicted class indices
    scores: np.ndarray  # (n,) positive-class probability, or (n, k) class probabilities
    binary: bool


def check_metrics(
    model: Any,
    x: Any,
    y: Any,
    *,
    min_accuracy: float | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    min_f1: float | None = None,
    min_auc: float | None = None,
    threshold: float = 0.5,
) -> CheckResult:
    """Score a classifier on ``(x, y)`` and compare the figures with required minimums.

    Binary tasks (one sigmoid unit, or two softmax units) count label 1 as the positive class
    and predict it when its probability is at least ``threshold``. Multi-class tasks predict
    the most probable class and report macro averages (every class weighs the same) and a
    one-vs-rest ROC AUC. Logits (values outside [0, 1], or a loss with ``from_logits=True``)
    are turned into probabilities first.

    Args:
        model: A Keras classifier; ``...`` counts as not attempted.
        x: Features, an array (or DataFrame) with one row per example.
        y: Labels: integer class indices, or one-hot rows.
        min_accuracy: Required accuracy, or None for no requirement.
        min_precision: Required precision (binary: of label 1; multi-class: macro average).
        min_recall: Required recall (binary: of label 1; multi-class: macro average).
        min_f1: Required F1 score (binary: of label 1; multi-class: macro average).
        min_auc: Required ROC AUC (multi-class: one-vs-rest macro average).
        threshold: Probability of label 1 from which a binary model predicts label 1.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_metrics`` whose ``metrics``
        holds ``accuracy``, ``precision``, ``recall``, ``f1`` and (when both classes occur in
        ``y``) ``auc``. It passes when every given minimum is met.

    Raises:
        ValueError: When a minimum is not a number in [0, 1] or ``threshold`` is not strictly
            between 0 and 1 (these come from the task's author).
    """
    bars = {
        "accuracy": min_accuracy, "precision": min_precision, "recall": min_recall,
        "f1": min_f1, "auc": min_auc,
    }
    for name, bar in bars.items():
        if bar is not None and not (_is_number(bar) and 0.0 <= bar <= 1.0):
            raise ValueError(f"`min_{name}` must be None or a number in [0, 1], got {bar!r}.")
    if not (_is_number(threshold) and 0.0 < threshold < 1.0):
        raise ValueError(
            f"`threshold` must be a number strictly between 0 and 1, got {threshold!r}."
        )
    required = {name: float(bar) for name, bar in bars.items() if bar is not None}
    with no_stderr():
        rejected = not_a_model(CHECK, model)
        if rejected is not None:
            return rejected
        try:
            return _evaluate(model, x, y, required, float(threshold))
        except Exception as exc:  # never a traceback in a learner's notebook
            return result.error(CHECK, f"Your model could not be scored: {short_error(exc)}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool
    ) and math.isfinite(float(value))


def _evaluate(
    model: Any, x: Any, y: Any, required: Mapping[str, float], threshold: float
) -> CheckResult:
    features, labels, problem = _inputs(x, y)
    if problem:
        return result.error(CHECK, problem)
    try:
        raw = call_model(model, features)
    except Exception as exc:
        return result.failed(
            CHECK,
            f"Calling your model on x of shape {features.shape} failed with "
            f"{short_error(exc)}. Each example has shape "
            f"{example_shape_text(features.shape[1:])}: make the model's input match it.",
        )
    if isinstance(raw, list):
        return result.failed(
            CHECK, f"Your model returns {len(raw)} outputs; it needs one output with a value "
            "per class.",
        )
    outputs = np.asarray(raw, dtype=np.float64)
    bad_rows = int(np.sum(~np.all(np.isfinite(outputs.reshape(len(outputs), -1)), axis=1)))
    if bad_rows:
        return result.failed(
            CHECK,
            f"Your model predicts NaN or infinity for {bad_rows} of {len(outputs)} examples, so "
            "it cannot be scored. Training probably diverged: lower the learning rate, check "
            "the inputs for NaN and scale the features, then train again.",
        )
    loss = read_loss(model)
    preds, problem = _predictions(outputs, labels, loss, threshold)
    if problem:
        return result.failed(CHECK, problem)
    notes = ()
    if loss is not None and loss.from_logits and is_probability(outputs):
        notes = (
            f"Your model outputs values in [0, 1], yet its loss {loss.shown} treats them as "
            "logits; they were scored as logits too, as training saw them. check_model "
            "explains this mismatch.",
        )
    return _verdict(preds, _figures(preds), required, notes)


def _inputs(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Turn x and y into arrays; return a message instead when they cannot be scored."""
    empty = np.empty(0)
    for name, value in (("x", x), ("y", y)):
        if value is None or value is Ellipsis or isinstance(value, str | bytes | Mapping):
            return empty, empty, (
                f"`{name}` must be an array with one row per example, but received "
                f"{describe(value)}."
            )
    features = np.asarray(x)
    labels = np.asarray(y)
    if features.ndim == 0 or labels.ndim == 0:
        return empty, empty, "`x` and `y` must hold one row per example, not a single value."
    if len(features) != len(labels):
        return empty, empty, (
            f"`x` has {len(features)} rows but `y` has {len(labels)} labels: they must describe "
            "the same examples. Pass the features and labels of one split, e.g. x_test with "
            "y_test."
        )
    if len(features) == 0:
        return empty, empty, "`x` and `y` are empty: there is nothing to score."
    if not np.issubdtype(features.dtype, np.number) and features.dtype != bool:
        return empty, empty, (
            f"`x` must be numeric, but its values have type {features.dtype}. Encode text or "
            "categories as numbers first."
        )
    features = features.astype(np.float32, copy=False)
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 2:
        one_hot = np.all(np.isin(labels, (0, 1))) and np.all(labels.sum(axis=1) == 1)
        if not one_hot:
            return empty, empty, (
                f"`y` has shape {labels.shape} but its rows are not one-hot (exactly one 1 per "
                "row): several labels per example is a multi-label task, which this check does "
                "not score. Pass integer class labels or one-hot rows."
            )
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.number) or not np.all(
        labels == np.round(labels)
    ) or labels.min() < 0:
        return empty, empty, (
            f"`y` must hold class indices (0, 1, 2, ...) or one-hot rows, but it has shape "
            f"{labels.shape} and values of type {labels.dtype}."
        )
    return features, labels.astype(np.int64), None


def _predictions(
    outputs: np.ndarray, labels: np.ndarray, loss: Any, threshold: float
) -> tuple[_Predictions | None, str | None]:
    from_logits = bool(loss is not None and loss.from_logits)
    if outputs.ndim == 1:
        outputs = outputs[:, np.newaxis]
    if outputs.ndim != 2:
        return None, (
            f"Your model outputs shape {shape_text(outputs.shape)}, but scoring needs one row of "
            "class scores per example, such as (None, 10): add keras.layers.Flatten() before "
            "the Dense layers."
        )
    units = outputs.shape[1]
    highest = int(labels.max())
    if units == 1:
        if highest > 1:
            return None, (
                f"Your model has a single output unit (a yes/no probability), but `y` contains "
                f"class {highest}: a task with {highest + 1} classes needs one output unit per "
                "class with softmax."
            )
        column = outputs[:, 0]
        probability = sigmoid(column) if from_logits or not is_probability(column) else column
        predicted = (probability >= threshold).astype(np.int64)
        return _Predictions(labels, predicted, probability, binary=True), None
    if highest >= units:
        return None, (
            f"`y` contains class {highest}, but your model outputs only {units} values per "
            f"example (classes 0 to {units - 1}): the last layer needs one unit per class."
        )
    if from_logits or not is_probability(outputs):
        probabilities = softmax(outputs)
    elif rows_sum_to_one(outputs):
        probabilities = outputs
    else:
        # Independent sigmoids: rescale so that each row is a distribution, as AUC requires.
        totals = outputs.sum(axis=1, keepdims=True)
        probabilities = np.divide(outputs, totals, out=np.full_like(outputs, 1 / units),
                                  where=totals > 0)
    if units == 2:
        positive = probabilities[:, 1]
        predicted = (positive >= threshold).astype(np.int64)
        return _Predictions(labels, predicted, positive, binary=True), None
    return _Predictions(labels, probabilities.argmax(axis=1), probabilities, binary=False), None


def _figures(preds: _Predictions) -> dict[str, float]:
    from sklearn import metrics

    y, predicted = preds.y, preds.predicted
    average = "binary" if preds.binary else "macro"
    figures = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "precision": metrics.precision_score(y, predicted, average=average, zero_division=0),
        "recall": metrics.recall_score(y, predicted, average=average, zero_division=0),
        "f1": metrics.f1_score(y, predicted, average=average, zero_division=0),
    }
    if preds.binary:
        if len(np.unique(y)) == 2:
            figures["auc"] = metrics.roc_auc_score(y, preds.scores)
    elif len(np.unique(y)) == preds.scores.shape[1]:
        # One-vs-rest needs every class present in y; otherwise AUC is undefined.
        figures["auc"] = metrics.roc_auc_score(
            y, preds.scores, multi_class="ovr", average="macro",
            labels=np.arange(preds.scores.shape[1]),
        )
    return {name: float(value) for name, value in figures.items()}


def _verdict(
    preds: _Predictions, figures: dict[str, float], required: Mapping[str, float],
    notes: tuple[str, ...],
) -> CheckResult:
    n = len(preds.y)
    if "auc" in required and "auc" not in figures:
        return result.error(
            CHECK,
            "ROC AUC cannot be computed because `y` does not contain every class: score the "
            "model on a split with examples of each class.",
            metrics=figures,
        )
    shortfalls = [name for name, bar in required.items() if figures[name] < bar - 1e-12]
    details = tuple(
        f"{_LABELS[name]}: {figures[name]:.3f} (required at least {bar:.3f}) – "
        + ("not met" if name in shortfalls else "met")
        for name, bar in required.items()
    ) + notes
    paradox = _paradox(preds, figures, required, shortfalls)
    if not shortfalls:
        if not required:
            message = f"Scored on {n} examples; no minimum was required."
        else:
            reached = ", ".join(f"{_LABELS[name]} {figures[name]:.3f}" for name in required)
            message = f"On {n} examples your model reaches {reached}, meeting every minimum."
        if paradox:
            details += (f"Note: {paradox}",)
        return result.passed(CHECK, message, details=details, metrics=figures)
    missed = "; ".join(
        f"{_LABELS[name]} {figures[name]:.3f} is below the required {required[name]:.3f}"
        for name in shortfalls
    )
    message = f"On {n} examples your model falls short: {missed}."
    if paradox:
        message += f" {paradox}"
    else:
        message += f" To improve {_LABELS[shortfalls[0]]}: {_TIPS[shortfalls[0]]}."
    return result.failed(CHECK, message, details=details, metrics=figures)


def _paradox(
    preds: _Predictions, figures: Mapping[str, float], required: Mapping[str, float],
    shortfalls: list[str],
) -> str | None:
    """Explain the accuracy paradox when accuracy only reflects the majority class."""
    counts = np.bincount(preds.y)
    majority = int(counts.argmax())
    baseline = counts[majority] / len(preds.y)
    others_true = len(preds.y) - counts[majority]
    others_predicted = int(np.sum(preds.predicted != majority))
    collapsed = others_true > 0 and others_predicted <= _COLLAPSE_SHARE * others_true
    accuracy_misleads = (
        "accuracy" in required and "accuracy" not in shortfalls
        and any(name in shortfalls for name in ("recall", "precision", "f1"))
    )
    if not (accuracy_misleads or (collapsed and baseline >= _IMBALANCE)):
        return None
    found = (
        f"recall {figures['recall']:.3f}" if preds.binary
        else f"macro recall {figures['recall']:.3f}"
    )
    return (
        f"This is the accuracy paradox: {percent(baseline)} of these examples belong to class "
        f"{majority}, so always predicting the majority class {majority} would already score "
        f"{percent(baseline)} accuracy (the majority baseline), and your accuracy of "
        f"{percent(figures['accuracy'])} says little on its own. "
        f"Your model predicts another class for {others_predicted} of {len(preds.y)} examples, "
        f"while {others_true} really belong to one ({found}). Judge it by recall, precision "
        "or F1, and weight the rare class in training (class_weight=...) or lower the "
        "decision threshold."
    )
