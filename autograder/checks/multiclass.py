"""Checks of a multi-class image classifier: a convolutional model, per-class recall, figures.

- :func:`check_cnn`: the model has at least one convolution layer (the task asks for a CNN);
- :func:`check_class_recall`: accuracy, and the recall of every single class, reach their bars
  (a model that gives up on one digit fails even when its accuracy is high);
- :func:`check_multiclass_figures`: the most confused pair of classes and the top-3 accuracy a
  learner reported match what the grader computes from their model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import not_a_model, short_error
from autograder.checks.rows import class_scores, is_figure
from autograder.quiet import no_stderr
from autograder.result import CheckResult

_CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D")


def _layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found += _layers(layer)
    return found


def check_cnn(model: Any, *, input_shape: Any = None, num_classes: int | None = None,
              labels: str = "integer") -> CheckResult:
    """Check that a model has at least one convolution layer, and optionally its shapes.

    Args:
        model: A Keras model.
        input_shape: When given (with ``num_classes``), the model must first pass
            :func:`~autograder.checks.model.check_model` for these shapes and ``labels``: one
            check, so that the kernel and the grader give the task all or nothing alike.
        num_classes: The number of classes, with ``input_shape``.
        labels: ``"integer"`` or ``"one_hot"``, with ``input_shape``.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_cnn`` (or ``check_model``'s own
        result when the shapes or the loss are wrong).
    """
    check = "check_cnn"
    problem = not_a_model(check, model)
    if problem is not None:
        return problem
    shapes = ""
    if input_shape is not None:
        from autograder.checks.model import check_model

        verdict = check_model(model, input_shape=tuple(input_shape), num_classes=num_classes,
                              labels=labels)
        if not verdict.passed:
            return verdict
        shapes = verdict.message + " "
    names = [type(layer).__name__ for layer in _layers(model)]
    if any(name in _CONVOLUTIONS for name in names):
        return result.passed(check, shapes + "Your model has a convolution layer.")
    return result.failed(check, f"Your model's layers are {', '.join(names) or 'none'}: a CNN "
                                "needs at least one convolution layer (keras.layers.Conv2D) "
                                "before it flattens the image.")


def _probabilities(check: str, model: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
    problem = not_a_model(check, model)
    if problem is not None:
        return None, None, problem
    labels = np.asarray(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    try:
        with no_stderr():
            scores = class_scores(model, np.asarray(x, dtype=np.float32))
    except Exception as exc:  # never a traceback in a learner's notebook
        return None, None, result.failed(check, f"Your model could not be scored: "
                                                f"{short_error(exc)}.")
    if scores.ndim != 2 or scores.shape[1] <= int(labels.max()):
        return None, None, result.failed(check, "Your model needs one output unit per class "
                                                "(softmax) to be scored here.")
    return scores, labels.astype(np.int64), None


def check_class_recall(model: Any, x: Any, y: Any, *, min_accuracy: float,
                       min_class_recall: float) -> CheckResult:
    """Check accuracy and the recall of every class.

    Args:
        model: A Keras classifier with one output unit per class.
        x: Features.
        y: Integer labels (or one-hot rows).
        min_accuracy: Required accuracy.
        min_class_recall: Required recall of each class on its own.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_class_recall``; its metrics hold
        ``accuracy`` and ``recall_<class>`` for each class.
    """
    from sklearn.metrics import recall_score

    check = "check_class_recall"
    scores, labels, problem = _probabilities(check, model, x, y)
    if problem is not None:
        return problem
    predicted = scores.argmax(axis=1)
    classes = np.arange(scores.shape[1])
    recalls = recall_score(labels, predicted, labels=classes, average=None, zero_division=0)
    accuracy = float(np.mean(predicted == labels))
    figures = {"accuracy": accuracy, **{f"recall_{c}": float(r) for c, r in zip(
        classes, recalls, strict=True) if np.any(labels == c)}}
    weak = [f"class {c} (recall {r:.0%})" for c, r in zip(classes, recalls, strict=True)
            if np.any(labels == c) and r < min_class_recall]
    problems = []
    if accuracy < min_accuracy:
        problems.append(f"Your model's accuracy is {accuracy:.1%}, below the {min_accuracy:.0%} "
                        "it needs: train it longer or give it more capacity, and compare the "
                        "settings on validation rows.")
    if weak:
        recall_of = ", ".join(weak)
        problems.append(f"Your model finds too few examples of {recall_of} (the share of that "
                        f"class's images it labels right): every class needs a recall of "
                        f"{min_class_recall:.0%}, so a model that gives up on one digit fails "
                        "even when its accuracy is high. Look at the confusion matrix to see "
                        "what those classes are mistaken for, and check that every class is in "
                        "the training rows.")
    if problems:
        return result.failed(check, " ".join(problems), metrics=figures)
    return result.passed(check, f"Accuracy {accuracy:.1%}, and every class has a recall of at "
                                f"least {min_class_recall:.0%}.", metrics=figures)


def _pair(value: Any, classes: int) -> tuple[int, int] | None:
    if type(value) not in (list, tuple) or len(value) != 2:
        return None
    if not all(type(item) is int or isinstance(item, np.integer) for item in value):
        return None
    first, second = (int(item) for item in value)
    if first == second or not (0 <= first < classes and 0 <= second < classes):
        return None
    return first, second


def check_multiclass_figures(model: Any, x: Any, y: Any, *, confused_pair: Any = None,
                             top3_accuracy: Any = None, tolerance: float = 0.001) -> CheckResult:
    """Check the most confused pair of classes and the top-3 accuracy a learner reported.

    Args:
        model: A Keras classifier with one output unit per class.
        x: The rows the figures describe.
        y: Their integer labels.
        confused_pair: ``(true class, predicted class)`` of the largest off-diagonal entry of
            the confusion matrix (any of several tied entries is right); None to skip.
        top3_accuracy: The share of rows whose true class is among the 3 most probable; None
            to skip.
        tolerance: Largest accepted difference for the accuracy (one test image moves it by
            about 0.003, so the default accepts rounding, not a different count).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_multiclass_figures``; each right
        figure earns its share of the credit.
    """
    from sklearn.metrics import confusion_matrix, top_k_accuracy_score

    check = "check_multiclass_figures"
    scores, labels, problem = _probabilities(check, model, x, y)
    if problem is not None:
        return problem
    classes = scores.shape[1]
    asked = {name: value for name, value in (("confused_pair", confused_pair),
                                             ("top3_accuracy", top3_accuracy))
             if value is not None}
    right: dict[str, float] = {}
    problems = []
    said = ""
    if "confused_pair" in asked:
        matrix = confusion_matrix(labels, scores.argmax(axis=1), labels=np.arange(classes))
        np.fill_diagonal(matrix, -1)
        pair = _pair(confused_pair, classes)
        if pair is None:
            problems.append(f"`confused_pair` must be two different class numbers (true, "
                            f"predicted), such as (3, 5); you gave {confused_pair!r}.")
        elif matrix[pair] == matrix.max():
            # The pair is not a figure: say what it counts in words, not among the metrics.
            said = (f" (your model mistakes class {pair[0]} for {pair[1]} on "
                    f"{int(matrix[pair])} of these images, more than any other pair)")
            right["confused_pair"] = 1.0
        else:
            problems.append(f"Your model mistakes class {pair[0]} for {pair[1]} on "
                            f"{max(int(matrix[pair]), 0)} of these images, but another pair is "
                            f"confused on {int(matrix.max())}. Read the largest entry off the "
                            "diagonal of the confusion matrix: rows are true classes, columns "
                            "predicted ones.")
    if "top3_accuracy" in asked:
        truth = float(top_k_accuracy_score(labels, scores, k=3, labels=np.arange(classes)))
        if not is_figure(top3_accuracy):
            problems.append(f"`top3_accuracy` must be a plain number, not "
                            f"{type(top3_accuracy).__name__}.")
        elif abs(float(top3_accuracy) - truth) > tolerance:
            top1 = float(np.mean(scores.argmax(axis=1) == labels))
            hint = (" That is the top-1 accuracy (the most probable class is right): count an "
                    "image when its true class is any of the 3 most probable."
                    if abs(float(top3_accuracy) - top1) <= tolerance else "")
            problems.append(f"Your top3_accuracy is {float(top3_accuracy):.4f}, but the share of "
                            f"rows whose true class is among your model's 3 most probable is "
                            f"{truth:.4f}.{hint}")
        else:
            right["top3_accuracy"] = truth
    figures = {name: value for name, value in right.items() if name != "confused_pair"}
    if not problems:
        return result.passed(check, f"Your figures match the grader's{said}.", metrics=figures)
    return result.failed(check, " ".join(problems), metrics=figures,
                         score=len(right) / max(len(asked), 1))
