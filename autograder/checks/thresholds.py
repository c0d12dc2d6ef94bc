"""Checks of a binary screen: its goal at a threshold, how the threshold was chosen, its figures.

- :func:`check_screen`: at the learner's threshold, the model meets a recall target *and* a
  precision target for the positive class (so a threshold that flags everything, or nothing,
  fails);
- :func:`check_threshold_choice`: the threshold is the one a stated rule picks on the learner's
  validation rows, which must be training rows and no test row (so a threshold tuned on the
  test split fails);
- :func:`check_figures`: precision, recall and PR-AUC the learner reported match the grader's.

The positive class is named (``positive``), because a screen's positive class is not always
label 1 (in the breast cancer data label 0 is malignant). The model's single sigmoid output is
read as the probability of the positive class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import not_a_model, short_error
from autograder.checks.leakage import shared_rows
from autograder.checks.rows import class_scores, is_figure, labels_of
from autograder.quiet import no_stderr
from autograder.result import CheckResult

FIGURES = ("precision", "recall", "pr_auc")
# What each figure is, said when a reported one is wrong.
_DEFINITIONS = {
    "precision": "Precision is the share of flagged rows that really are positive: true "
                 "positives / (true positives + false positives).",
    "recall": "Recall is the share of real positives that are flagged: true positives / "
              "(true positives + false negatives).",
    "pr_auc": "PR-AUC is the average precision over every threshold "
              "(`sklearn.metrics.average_precision_score` of the labels and the predicted "
              "probabilities); it does not depend on your threshold.",
}
_HOW = ("Predict probabilities, flag those at or above `threshold`, then compute each figure "
        "from the flags and the labels.")


def threshold_problem(check: str, threshold: Any) -> CheckResult | None:
    """Reject a threshold that is not a plain number strictly between 0 and 1.

    Args:
        check: Name of the calling check.
        threshold: The learner's threshold.

    Returns:
        A result saying what is wrong, or None for a usable threshold.
    """
    if threshold is Ellipsis:
        return result.not_attempted(check, "Replace the `...` placeholder with your threshold.")
    if not is_figure(threshold):
        return result.failed(check, f"Your threshold must be a plain number, not "
                                    f"{type(threshold).__name__}.")
    if not 0.0 < float(threshold) < 1.0:
        return result.failed(check, f"Your threshold {float(threshold):g} is outside (0, 1): "
                                    "probabilities lie between 0 and 1, so it flags every "
                                    "example or none. Choose it from the validation scores.")
    return None


def _first_problem(*found: CheckResult | None) -> CheckResult | None:
    # A failed CheckResult is falsy, so `a or b` would skip it: compare with None.
    return next((item for item in found if item is not None), None)


def positive_scores(model: Any, x: Any) -> np.ndarray:
    """The probability of the positive class for each row, from a one-unit sigmoid model.

    Args:
        model: A Keras model.
        x: Features.

    Returns:
        ``(n,)`` probabilities.

    Raises:
        ValueError: When the model has more than one output unit.
    """
    scores = class_scores(model, np.asarray(x, dtype=np.float32))
    if scores.ndim != 1:
        raise ValueError(f"the model outputs {scores.shape[1]} values per example; a screen "
                         "needs one sigmoid unit, the probability of the positive class")
    return scores


def _rates(flagged: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    hits = float(np.sum(flagged & positive))
    recall = hits / max(float(np.sum(positive)), 1.0)
    precision = hits / float(np.sum(flagged)) if np.any(flagged) else 0.0
    return precision, recall


def _screened(check: str, model: Any, x: Any, y: Any, threshold: Any, positive: int
              ) -> tuple[np.ndarray, np.ndarray, float, float] | CheckResult:
    """Score ``x`` and flag it at ``threshold``, or say why that cannot be done.

    Returns:
        (positive-class scores, which rows are positive, precision, recall), or the failed
        result that explains the model or threshold problem.
    """
    with no_stderr():
        problem = _first_problem(not_a_model(check, model), threshold_problem(check, threshold))
        if problem is not None:
            return problem
        try:
            scores = positive_scores(model, x)
        except Exception as exc:  # never a traceback in a learner's notebook
            return result.failed(check, f"Your model could not be scored: {short_error(exc)}.")
    is_positive = np.asarray(y).ravel() == positive
    precision, recall = _rates(scores >= float(threshold), is_positive)
    return scores, is_positive, precision, recall


def check_screen(model: Any, x: Any, y: Any, *, threshold: Any, min_recall: float,
                 min_precision: float, positive: int = 1) -> CheckResult:
    """Check that a screen finds enough positives without flagging too many negatives.

    Args:
        model: A Keras model with one sigmoid unit, the probability of the positive class.
        x: Features (already scaled as the model expects).
        y: Integer labels.
        threshold: The learner's threshold: a probability at or above it flags the example.
        min_recall: Share of the positives the screen must flag.
        min_precision: Share of the flagged examples that must be positives.
        positive: The label of the positive class.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_screen`` with ``recall`` and
        ``precision`` in its metrics; it passes only when both targets are met.
    """
    check = "check_screen"
    screened = _screened(check, model, x, y, threshold, positive)
    if isinstance(screened, CheckResult):
        return screened
    scores, is_positive, precision, recall = screened
    figures = {"recall": recall, "precision": precision}
    shortfalls = []
    if recall < min_recall:
        shortfalls.append(f"it finds {recall:.1%} of the positives (label {positive}), below the "
                          f"{min_recall:.0%} the screen must find: lower the threshold")
    if precision < min_precision:
        shortfalls.append(f"only {precision:.1%} of what it flags is positive, below "
                          f"{min_precision:.0%}: a threshold this low flags almost everything; "
                          "raise it, or train a model that separates the classes better")
    if shortfalls:
        return result.failed(check, f"At threshold {float(threshold):.3f} " + "; ".join(
            shortfalls) + ".", metrics=figures)
    return result.passed(check, f"At threshold {float(threshold):.3f} the screen finds "
                                f"{recall:.1%} of the positives and {precision:.1%} of what it "
                                "flags is positive.", metrics=figures)


def rule_threshold(scores: np.ndarray, is_positive: np.ndarray, min_recall: float) -> float:
    """The highest threshold that still flags at least ``min_recall`` of the positives.

    Args:
        scores: Probabilities of the positive class.
        is_positive: Which rows are positive.
        min_recall: The recall the rule keeps.

    Returns:
        A score of one positive row: flagging from it up keeps the recall.
    """
    positives = np.sort(scores[is_positive])[::-1]
    needed = int(np.ceil(min_recall * len(positives) - 1e-9))
    return float(positives[max(needed, 1) - 1])


def check_threshold_choice(threshold: Any, model: Any, x_val: Any, x_train: Any, y_train: Any,
                           x_test: Any, *, min_recall: float, positive: int = 1,
                           scaler: Any = None) -> CheckResult:
    """Check that the threshold was chosen on validation rows cut from the training rows.

    The rule: the highest threshold at which the model still flags ``min_recall`` of the
    positive validation rows. The validation rows must all be training rows and none a test
    row; their labels come from the training data, not from the learner.

    Args:
        threshold: The learner's threshold.
        model: Their model (one sigmoid unit).
        x_val: Their raw validation rows.
        x_train: The training rows they were given (the grader's copy).
        y_train: Their labels.
        x_test: The test rows they were given (the grader's copy).
        min_recall: The recall the rule keeps on the validation rows.
        positive: The label of the positive class.
        scaler: The learner's fitted scaler, applied to the rows before the model (or None).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_threshold_choice``.
    """
    check = "check_threshold_choice"
    with no_stderr():
        problem = _first_problem(not_a_model(check, model), threshold_problem(check, threshold))
        if problem is not None:
            return problem
        rows, labels, message = None, None, "Some of your validation rows are test rows."
        try:
            if not np.any(shared_rows(x_test, x_val)):
                rows, labels, message = labels_of(x_val, np.asarray(x_train),
                                                  np.asarray(y_train), "x_val")
        except Exception as exc:  # a malformed x_val: say what it is
            message = f"`x_val` could not be read as rows: {short_error(exc)}."
        if rows is None:
            return result.failed(check, message + " A threshold tuned on the test split makes "
                                 "the test score an optimistic guess: cut the validation rows "
                                 "out of x_train, and tune on those alone.")
        try:
            scaled = rows if scaler is None else scaler.transform(rows)
            scores = positive_scores(model, scaled)
        except Exception as exc:  # never a traceback in a learner's notebook
            return result.failed(check, f"Your model could not be scored: {short_error(exc)}.")
    is_positive = labels == positive
    if not np.any(is_positive):
        return result.failed(check, f"Your validation rows hold no positive (label {positive}) "
                                    "example, so no threshold can be chosen on them.")
    expected = rule_threshold(scores, is_positive, min_recall)
    flagged, wanted = scores >= float(threshold), scores >= expected
    if np.array_equal(flagged, wanted) or abs(float(threshold) - expected) <= 1e-4:
        return result.passed(check, f"Your threshold {float(threshold):.4f} is the one the rule "
                                    f"picks on your {len(rows)} validation rows.")
    _, recall = _rates(flagged, is_positive)
    return result.failed(check, f"On your validation rows your threshold {float(threshold):.4f} "
                                f"flags {recall:.1%} of the positives, but the rule picks "
                                f"{expected:.4f}: the highest threshold that still flags "
                                f"{min_recall:.0%} of them. Compute it on x_val, not x_test.")


def check_figures(model: Any, x: Any, y: Any, *, threshold: Any, positive: int = 1,
                  tolerance: float = 0.01, **reported: Any) -> CheckResult:
    """Check the precision, recall or PR-AUC a learner reported for a screen.

    Args:
        model: Their model (one sigmoid unit, the probability of the positive class).
        x: The rows the figures describe (scaled as the model expects).
        y: Their labels.
        threshold: The learner's threshold (for precision and recall).
        positive: The label of the positive class.
        tolerance: Largest accepted difference per figure.
        **reported: The figures, by name: ``precision``, ``recall``, ``pr_auc`` (average
            precision, the area under the precision-recall curve).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_figures``; each right figure
        earns its share of the credit.
    """
    from sklearn.metrics import average_precision_score

    check = "check_figures"
    unknown = sorted(set(reported) - set(FIGURES))
    if unknown or not reported:
        raise ValueError(f"check_figures: figures must be some of {FIGURES}, got {unknown}.")
    screened = _screened(check, model, x, y, threshold, positive)
    if isinstance(screened, CheckResult):
        return screened
    scores, is_positive, precision, recall = screened
    truth = {"precision": precision, "recall": recall,
             "pr_auc": float(average_precision_score(is_positive, scores))}
    right: dict[str, float] = {}
    problems = []
    for name, given in reported.items():
        if given is Ellipsis:
            problems.append(f"`{name}` is still the `...` placeholder.")
        elif not is_figure(given):
            problems.append(f"Your {name} must be a plain number, not {type(given).__name__}.")
        elif abs(float(given) - truth[name]) > tolerance:
            problems.append(f"Your {name} is {float(given):.4f}, but computed from your model on "
                            f"these rows (positive label {positive}) it is {truth[name]:.4f}. "
                            f"{_DEFINITIONS[name]}")
        else:
            right[name] = truth[name]
    if not problems:
        return result.passed(check, "Your figures match the grader's.", metrics=right)
    if any(name != "pr_auc" for name in set(reported) - set(right)):
        problems.append(_HOW)
    return result.failed(check, " ".join(problems), metrics=right,
                         score=len(right) / len(reported))
