"""Checks of a binary screen: its goal at a threshold, how the threshold was chosen, its figures.

- :func:`check_screen`: at the learner's threshold, the model meets a recall target *and* a
  precision target for the positive class (so a threshold that flags everything, or nothing,
  fails);
- :func:`check_threshold_choice`: the threshold is the one a stated rule picks on the learner's
  validation rows (the highest that keeps a recall, or the best F-beta), which must be training
  rows and no test row (so a threshold tuned on the test split fails);
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
# How far one float32 probability may move between the learner's kernel and the grader.
_ROUNDING = 1e-6
# Lesson 5's threshold grid. The F-beta rule takes the best threshold over every validation
# probability, or the best point of this grid (lesson 5's search): both are exact answers, so a
# threshold tuned on other rows is very unlikely to pass for either.
THRESHOLD_GRID = tuple(float(t) for t in np.round(np.linspace(0.01, 0.9, 90), 2))
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


def as_text(value: float, decimals: int = 3) -> str:
    """A probability written with enough decimals that it does not read as 0 or 1.

    Args:
        value: A number, usually between 0 and 1.
        decimals: The fewest decimals to write.

    Returns:
        ``value`` with ``decimals`` decimals, or more when those would round a number strictly
        between 0 and 1 to 0 or 1 (1e-9 reads ``0.000000001``, not ``0.000``).
    """
    number = float(value)
    if not 0.0 < number < 1.0:
        return f"{number:.{decimals}f}"
    for places in range(decimals, 17):
        text = f"{number:.{places}f}"
        if 0.0 < float(text) < 1.0:
            return text
    return f"{number:.3g}"


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


def _ranks_the_other_class(scores: np.ndarray, is_positive: np.ndarray) -> bool:
    # A model that scores the positives far below the negatives outputs the probability of the
    # other class: no threshold turns it into a screen for this one.
    if is_positive.all() or not is_positive.any():
        return False
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_positive, scores)) < 0.25


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
    at = f"At threshold {as_text(threshold)}"
    found = (f"it finds {recall:.1%} of the positives (label {positive}) and {precision:.1%} of "
             "what it flags is positive")
    if recall >= min_recall and precision >= min_precision:
        return result.passed(check, f"{at} {found}: both targets are met.", metrics=figures)
    if _ranks_the_other_class(scores, is_positive):
        return result.failed(check, (
            f"{at} {found}. Your model scores the positives (label {positive}) lower than the "
            "other rows: its output is the probability of the other class, so no threshold "
            f"makes it a screen for label {positive}. Train it to output the probability of "
            f"label {positive} (fit on (y == {positive}).astype(int)), then choose the "
            "threshold again."), metrics=figures)
    targets = f"the screen needs {min_recall:.0%} and {min_precision:.0%}"
    if recall < min_recall and precision < min_precision:
        advice = ("moving the threshold trades one for the other, so train a model that "
                  "separates the classes better, then choose the threshold again on validation "
                  "rows")
    elif recall < min_recall:
        advice = "lower the threshold so that it flags more rows"
    else:
        share = float(np.mean(scores >= float(threshold)))
        advice = (f"it flags {share:.1%} of all rows: raise the threshold, or train a model "
                  "that separates the classes better")
    return result.failed(check, f"{at} {found}, but {targets}: {advice}.", metrics=figures)


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


def f_beta(flagged: np.ndarray, is_positive: np.ndarray, beta: float) -> float:
    """The F-beta score of flags (beta > 1 weighs recall more than precision).

    Args:
        flagged: Which rows are flagged.
        is_positive: Which rows are positive.
        beta: How many times recall counts as much as precision.

    Returns:
        (1 + beta^2) TP / (beta^2 (TP + FN) + TP + FP), 0 when nothing is flagged or positive.
    """
    hits = float(np.sum(flagged & is_positive))
    denominator = beta**2 * float(np.sum(is_positive)) + float(np.sum(flagged))
    return (1 + beta**2) * hits / denominator if denominator else 0.0


def best_f_beta_threshold(scores: np.ndarray, is_positive: np.ndarray,
                          beta: float) -> tuple[float, float]:
    """The threshold, among the scores themselves, with the best F-beta score.

    Every distinct score is tried as a threshold (flagging the rows at or above it), so no
    better threshold lies between two of them.

    Args:
        scores: Probabilities of the positive class.
        is_positive: Which rows are positive.
        beta: The F-beta weight.

    Returns:
        ``(threshold, F-beta)``; the highest such threshold when several tie.
    """
    order = np.argsort(-scores, kind="stable")
    ranked, positives = scores[order], is_positive[order]
    hits = np.cumsum(positives)
    flagged = np.arange(1, len(ranked) + 1)
    # Flagging from a score up flags every row with that score: keep the last of each run.
    last = np.r_[ranked[1:] != ranked[:-1], True]
    total = float(np.sum(positives))
    scores_f = (1 + beta**2) * hits[last] / (beta**2 * total + flagged[last])
    best = int(np.argmax(scores_f))
    return float(ranked[last][best]), float(scores_f[best])


def _validation_rows(check: str, x_val: Any, x_train: Any, y_train: Any,
                     x_test: Any) -> tuple[np.ndarray, np.ndarray] | CheckResult:
    """The learner's validation rows with labels from the training data, or why not."""
    rows, labels, message = None, None, "Some of your validation rows are test rows."
    try:
        if not np.any(shared_rows(x_test, x_val)):
            rows, labels, message = labels_of(x_val, np.asarray(x_train), np.asarray(y_train),
                                              "x_val")
    except Exception as exc:  # a malformed x_val: say what it is
        message = f"`x_val` could not be read as rows: {short_error(exc)}."
    if rows is None:
        return result.failed(check, message + " A threshold tuned on the test split makes "
                             "the test score an optimistic guess: cut the validation rows "
                             "out of x_train, and tune on those alone.")
    return rows, labels


def check_threshold_choice(threshold: Any, model: Any, x_val: Any, x_train: Any, y_train: Any,
                           x_test: Any, *, min_recall: float | None = None,
                           beta: float | None = None, positive: int = 1,
                           scaler: Any = None) -> CheckResult:
    """Check that the threshold was chosen on validation rows cut from the training rows.

    The rule is one of two: with ``min_recall``, the highest threshold at which the model
    still flags that share of the positive validation rows; with ``beta``, the threshold with
    the best F-beta score on the validation rows, over every validation probability or over
    the points of :data:`THRESHOLD_GRID`. The validation rows must all be training rows and
    none a test row; their labels come from the training data, not from the learner.

    Args:
        threshold: The learner's threshold.
        model: Their model (one sigmoid unit).
        x_val: Their raw validation rows.
        x_train: The training rows they were given (the grader's copy).
        y_train: Their labels.
        x_test: The test rows they were given (the grader's copy).
        min_recall: The recall the rule keeps on the validation rows.
        beta: The F-beta score the rule maximises (instead of ``min_recall``).
        positive: The label of the positive class.
        scaler: The learner's fitted scaler, applied to the rows before the model (or None).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_threshold_choice``.

    Raises:
        ValueError: Unless exactly one of ``min_recall`` and ``beta`` is given.
    """
    check = "check_threshold_choice"
    if (min_recall is None) == (beta is None):
        raise ValueError("check_threshold_choice: give min_recall or beta, not both or neither.")
    with no_stderr():
        problem = _first_problem(not_a_model(check, model), threshold_problem(check, threshold))
        if problem is not None:
            return problem
        found = _validation_rows(check, x_val, x_train, y_train, x_test)
        if isinstance(found, CheckResult):
            return found
        rows, labels = found
        try:
            scaled = rows if scaler is None else scaler.transform(rows)
            scores = positive_scores(model, scaled)
        except Exception as exc:  # never a traceback in a learner's notebook
            return result.failed(check, f"Your model could not be scored: {short_error(exc)}.")
    is_positive = labels == positive
    if not np.any(is_positive):
        return result.failed(check, f"Your validation rows hold no positive (label {positive}) "
                                    "example, so no threshold can be chosen on them.")
    chosen, flagged = float(threshold), scores >= float(threshold)
    if beta is not None:
        expected, best = best_f_beta_threshold(scores, is_positive, beta)
        bar = max(f_beta(scores >= cut, is_positive, beta) for cut in THRESHOLD_GRID)
        # The learner's threshold is usually one of their own scores, which this process may
        # compute a rounding error lower (float32): the row it came from still counts as flagged.
        mine = max(f_beta(flagged, is_positive, beta),
                   f_beta(scores >= chosen - _ROUNDING, is_positive, beta))
        name = f"F{beta:g}"
        on_grid = any(abs(chosen - cut) <= 1e-9 for cut in THRESHOLD_GRID)
        if mine >= best - 1e-9 or abs(chosen - expected) <= 1e-4:
            return result.passed(check, f"Your threshold {as_text(chosen, 4)} has the best "
                                        f"{name} ({mine:.3f}) over every probability of your "
                                        f"{len(rows)} validation rows.")
        if on_grid and mine >= bar - 1e-9:
            return result.passed(check, f"Your threshold {as_text(chosen, 4)} has the best "
                                        f"{name} ({mine:.3f}) of lesson 5's thresholds on your "
                                        f"{len(rows)} validation rows.")
        return result.failed(check, (
            f"On your validation rows your threshold {as_text(chosen, 4)} has an {name} of "
            f"{mine:.3f}, but the best there is {best:.3f}, at threshold {as_text(expected, 4)} "
            f"(and the best of lesson 5's thresholds 0.01, 0.02, ..., 0.90 reaches {bar:.3f}). "
            f"Search every validation probability, or that grid, for the best {name} on x_val, "
            "and never choose it on x_test."))
    assert min_recall is not None
    expected = rule_threshold(scores, is_positive, min_recall)
    if np.array_equal(flagged, scores >= expected) or abs(chosen - expected) <= 1e-4:
        return result.passed(check, f"Your threshold {as_text(chosen, 4)} is the one the rule "
                                    f"picks on your {len(rows)} validation rows.")
    _, recall = _rates(flagged, is_positive)
    return result.failed(check, f"On your validation rows your threshold {as_text(chosen, 4)} "
                                f"flags {recall:.1%} of the positives, but the rule picks "
                                f"{as_text(expected, 4)}: the highest threshold that still "
                                f"flags {min_recall:.0%} of them. Compute it on x_val, not "
                                "x_test.")


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
    # A threshold equal to one of these rows' own scores flags that row in the learner's kernel,
    # while this process may score it a float32 rounding lower: both readings are right.
    also = dict(zip(("precision", "recall"), _rates(scores >= float(threshold) - _ROUNDING,
                                                    is_positive), strict=True))
    right: dict[str, float] = {}
    problems = []
    for name, given in reported.items():
        if given is Ellipsis:
            problems.append(f"`{name}` is still the `...` placeholder.")
        elif not is_figure(given):
            problems.append(f"Your {name} must be a plain number, not {type(given).__name__}.")
        elif name in also and abs(float(given) - also[name]) <= tolerance:
            right[name] = also[name]
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
