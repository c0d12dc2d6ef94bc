"""Checks of a multi-label classifier: per-label thresholds, how they were chosen, precision@k.

- :func:`check_label_thresholds`: at the learner's thresholds (one per label), the macro F1
  reaches a bar (flagging every label everywhere does not);
- :func:`check_label_threshold_choice`: on the learner's validation rows (training rows, no test
  row), each threshold's F1 is at least the best F1 of the grid :data:`GRID` (0.05, 0.10, ...,
  0.95): lesson 8's grid search meets that rule, and so does trying every validation score;
- :func:`check_multilabel_figures`: the precision@k a learner reported matches the grader's.

Thresholds and figures are judged in the form the grader receives them (:func:`plain_numbers`):
a numpy array of thresholds, or a numpy number, is what a learner naturally writes, and passes
or fails in the kernel exactly as its exported list or number does in the grader. Every check
earns all of its points or none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import not_a_model, short_error
from autograder.checks.answers import plain_numbers
from autograder.checks.leakage import shared_rows
from autograder.checks.rows import class_scores, is_figure, labels_of
from autograder.quiet import no_stderr
from autograder.result import CheckResult

# The thresholds lesson 8 searches; a threshold must do at least as well as the best of them.
GRID = tuple(float(cut) for cut in np.round(np.arange(0.05, 0.96, 0.05), 2))
_GRID_TEXT = "0.05, 0.10, ..., 0.95"
_EXACT = 1e-9


def _scores(check: str, model: Any, x: Any, labels: int) -> tuple[Any, CheckResult | None]:
    problem = not_a_model(check, model)
    if problem is not None:
        return None, problem
    try:
        with no_stderr():
            scores = class_scores(model, np.asarray(x, dtype=np.float32))
    except Exception as exc:  # never a traceback in a learner's notebook
        return None, result.failed(check, f"Your model could not be scored: {short_error(exc)}.")
    if scores.ndim != 2 or scores.shape[1] != labels:
        return None, result.failed(check, f"Your model needs one sigmoid unit per label "
                                          f"({labels}) to be scored here.")
    return scores, None


def _thresholds(check: str, thresholds: Any, labels: int) -> tuple[Any, CheckResult | None]:
    if thresholds is Ellipsis:
        return None, result.not_attempted(check, "Replace the `...` placeholder with your "
                                                 "thresholds.")
    plain = plain_numbers(thresholds)
    values = list(plain) if type(plain) in (list, tuple) else None
    if values is None or len(values) != labels or not all(map(is_figure, values)):
        return None, result.failed(check, f"`thresholds` must be a list (or 1-D array) of "
                                          f"{labels} numbers, one per label; it is "
                                          f"{str(plain)[:80]}.")
    outside = [index for index, value in enumerate(values) if not 0.0 < float(value) < 1.0]
    if outside:
        return None, result.failed(check, f"The thresholds of labels {outside} are outside "
                                          "(0, 1): such a threshold flags every example or "
                                          "none. Choose each one on the validation rows.")
    return np.asarray(values, dtype=np.float64), None


def _f1(truth: np.ndarray, flagged: np.ndarray) -> float:
    hits = float(np.sum(truth & flagged))
    total = float(np.sum(truth) + np.sum(flagged))
    return 2.0 * hits / total if total else 0.0


def check_label_thresholds(model: Any, x: Any, y: Any, *, thresholds: Any,
                           min_macro_f1: float) -> CheckResult:
    """Check the macro F1 of a multi-label model at one threshold per label.

    Args:
        model: A Keras model with one sigmoid unit per label.
        x: Features.
        y: 0/1 label matrix.
        thresholds: One threshold per label.
        min_macro_f1: Required mean of the labels' F1 scores.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_label_thresholds``, with
        ``macro_f1`` and each ``f1_<label>`` in its metrics.
    """
    check = "check_label_thresholds"
    truth = np.asarray(y).astype(bool)
    cut, problem = _thresholds(check, thresholds, truth.shape[1])
    if problem is not None:
        return problem
    scores, problem = _scores(check, model, x, truth.shape[1])
    if problem is not None:
        return problem
    f1 = [_f1(truth[:, j], scores[:, j] >= cut[j]) for j in range(truth.shape[1])]
    figures = {"macro_f1": float(np.mean(f1)), **{f"f1_{j}": v for j, v in enumerate(f1)}}
    if figures["macro_f1"] >= min_macro_f1:
        return result.passed(check, f"At your thresholds the macro F1 is "
                                    f"{figures['macro_f1']:.3f}.", metrics=figures)
    weakest = int(np.argmin(f1))
    return result.failed(check, f"At your thresholds the macro F1 is {figures['macro_f1']:.3f}, "
                                f"below {min_macro_f1}; label {weakest} is weakest "
                                f"(F1 {f1[weakest]:.3f}). Choose each label's threshold for its "
                                "best F1 on the validation rows.", metrics=figures)


def best_f1(scores: np.ndarray, truth: np.ndarray, cuts: Any = None) -> float:
    """The best F1 any threshold reaches for one label.

    Args:
        scores: The label's probabilities.
        truth: Which rows carry the label.
        cuts: The thresholds to try; by default the scores themselves (every distinct F1).

    Returns:
        The highest F1 over those thresholds.
    """
    tried = np.unique(scores) if cuts is None else cuts
    return max(_f1(truth, scores >= cut) for cut in tried)


def check_label_threshold_choice(thresholds: Any, model: Any, x_val: Any, x_train: Any,
                                 y_train: Any, x_test: Any) -> CheckResult:
    """Check each threshold against the grid's best F1 on validation rows from training.

    The rule: on the learner's validation rows, each label's F1 at its threshold is at least
    the best F1 of the thresholds in :data:`GRID`. A grid search over those thresholds meets
    it, and so does trying every validation score (whose best is never below the grid's).

    Args:
        thresholds: The learner's thresholds, one per label.
        model: Their model.
        x_val: Their validation rows (raw features).
        x_train: The training rows they were given (the grader's copy).
        y_train: Their label matrix.
        x_test: The test rows they were given (the grader's copy).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_label_threshold_choice``.
    """
    check = "check_label_threshold_choice"
    train_labels = np.asarray(y_train)
    cut, problem = _thresholds(check, thresholds, train_labels.shape[1])
    if problem is not None:
        return problem
    rows, labels, message = None, None, "Some of your validation rows are test rows."
    try:
        if not np.any(shared_rows(x_test, x_val)):
            rows, labels, message = labels_of(x_val, np.asarray(x_train), train_labels, "x_val")
    except Exception as exc:  # a malformed x_val: say what it is
        message = f"`x_val` could not be read as rows: {short_error(exc)}."
    if rows is None:
        return result.failed(check, message + " Thresholds tuned on the test split make the "
                                    "test score an optimistic guess: cut the validation rows "
                                    "out of x_train.")
    scores, problem = _scores(check, model, rows, train_labels.shape[1])
    if problem is not None:
        return problem
    truth = labels.astype(bool)
    off = []
    for j in range(truth.shape[1]):
        reached = _f1(truth[:, j], scores[:, j] >= cut[j])
        bar = best_f1(scores[:, j], truth[:, j], GRID)
        if reached < bar - _EXACT:
            off.append(f"label {j} (F1 {reached:.3f} at {cut[j]:.3g}, while a threshold of "
                       f"the grid reaches {bar:.3f})")
    if off:
        return result.failed(check, f"On your {len(rows)} validation rows these thresholds do "
                                    f"worse than the best of the thresholds {_GRID_TEXT}: "
                                    f"{', '.join(off)}. For each label, try the thresholds of "
                                    f"that grid (or every validation score) on the validation "
                                    f"rows and keep the one with the highest F1.")
    return result.passed(check, f"On your {len(rows)} validation rows every threshold does at "
                                f"least as well as the best of the thresholds {_GRID_TEXT}.")


def precision_at(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of true labels among each row's ``k`` highest-scored labels.

    Args:
        scores: ``(n, labels)`` probabilities.
        truth: ``(n, labels)`` 0/1 labels.
        k: How many labels each row suggests.

    Returns:
        precision@k.
    """
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.take_along_axis(truth, top, axis=1).sum(axis=1) / k))


def check_multilabel_figures(model: Any, x: Any, y: Any, *, precision_at_k: Any, k: int,
                             tolerance: float = 0.01) -> CheckResult:
    """Check the precision@k a learner reported.

    Args:
        model: A Keras model with one sigmoid unit per label.
        x: The rows the figure describes.
        y: Their 0/1 label matrix.
        precision_at_k: The learner's figure.
        k: How many top labels per row.
        tolerance: Largest accepted difference.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_multilabel_figures``.
    """
    check = "check_multilabel_figures"
    truth = np.asarray(y).astype(np.float64)
    if precision_at_k is Ellipsis:
        return result.not_attempted(check, "Replace the `...` placeholder with your figure.")
    precision_at_k = plain_numbers(precision_at_k)
    if not is_figure(precision_at_k):
        return result.failed(check, f"Your precision@{k} must be one number, not "
                                    f"{str(precision_at_k)[:60]}.")
    scores, problem = _scores(check, model, x, truth.shape[1])
    if problem is not None:
        return problem
    actual = precision_at(scores, truth, k)
    if abs(float(precision_at_k) - actual) <= tolerance:
        return result.passed(check, f"Your precision@{k} matches the grader's {actual:.4f}.",
                             metrics={f"precision_at_{k}": actual})
    return result.failed(check, f"Your precision@{k} is {float(precision_at_k):.4f}, but the "
                                f"mean share of true labels among each row's {k} most probable "
                                f"labels is {actual:.4f}.")
