"""What each explorer shows for one position of its controls, as pure functions over arrays.

Nothing here draws or touches a widget: every function takes NumPy arrays and a control value
and returns a small frozen dataclass, so the tests can hold each figure an explorer shows
against scikit-learn or Keras, and the widgets in this package only present what these return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThresholdState:
    """The decisions of a binary classifier at one threshold.

    The counts follow scikit-learn's ``confusion_matrix`` layout ``[[tn, fp], [fn, tp]]``.
    """

    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int
    precision: float
    recall: float
    f1: float
    false_positive_rate: float

    @property
    def matrix(self) -> np.ndarray:
        """The counts as scikit-learn lays them out: true class in rows, true negatives first."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])

    @property
    def flagged(self) -> int:
        """How many rows are flagged positive at this threshold."""
        return self.tp + self.fp


def _as_binary(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel().astype(bool)
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.shape[0]} labels but {s.shape[0]} scores: give one score per row")
    return y, s


def threshold_state(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> ThresholdState:
    """Confusion counts, precision, recall, F1 and false positive rate at a threshold.

    A row is flagged positive when its score is at or above the threshold (``>=``), the side
    scikit-learn's ``roc_curve`` and ``precision_recall_curve`` use. Where nothing is flagged,
    precision is 1.0 (no flagged row is wrong), as ``precision_score(zero_division=1.0)``
    returns; F1 is 0.0 where precision and recall are both 0, or where there is no positive.

    Args:
        y_true: Labels, 1 for the positive class and 0 for the negative one.
        scores: One score per row, higher meaning more likely positive.
        threshold: The cut.

    Returns:
        The state at that threshold.
    """
    y, s = _as_binary(y_true, scores)
    flagged = s >= threshold
    tp = int(np.count_nonzero(flagged & y))
    fp = int(np.count_nonzero(flagged & ~y))
    fn = int(np.count_nonzero(~flagged & y))
    tn = int(np.count_nonzero(~flagged & ~y))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    # F1 from the counts, 2TP / (2TP + FP + FN), so "nothing flagged" gives 0 rather than the
    # harmonic mean of a conventional precision of 1 and a recall of 0.
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return ThresholdState(float(threshold), tn, fp, fn, tp, precision, recall, f1, fpr)


def misclassified_rows(
    y_true: np.ndarray, y_pred: np.ndarray, true_class: int, predicted_class: int,
    probabilities: np.ndarray | None = None,
) -> np.ndarray:
    """The rows of one confusion-matrix cell: true ``true_class``, predicted ``predicted_class``.

    Args:
        y_true: True class of each row.
        y_pred: Predicted class of each row.
        true_class: Row of the confusion matrix.
        predicted_class: Column of the confusion matrix.
        probabilities: Optional ``(rows, classes)`` predicted probabilities; when given, the rows
            come most confident first (highest probability of ``predicted_class``), so the
            mistakes the model was surest of lead.

    Returns:
        The row indices of that cell (the correct answers when the two classes are equal).
    """
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    rows = np.flatnonzero((y_true == true_class) & (y_pred == predicted_class))
    if probabilities is not None and len(rows):
        confidence = np.asarray(probabilities)[rows, predicted_class]
        rows = rows[np.argsort(-confidence, kind="stable")]
    return rows


@dataclass(frozen=True)
class CostState:
    """A threshold's decisions priced: misses and false alarms, and the alert queue."""

    decisions: ThresholdState
    cost: float
    alerts: int
    within_budget: bool


def cost_state(
    y_true: np.ndarray, scores: np.ndarray, threshold: float, missed_cost: float,
    alarm_cost: float, alert_budget: int | None = None,
) -> CostState:
    """The total cost and the number of alerts at a threshold.

    Args:
        y_true: Labels, 1 for the positive class.
        scores: One score per row.
        threshold: The cut (flag at or above it).
        missed_cost: Cost of one false negative.
        alarm_cost: Cost of one false positive.
        alert_budget: Most alerts (flagged rows) the team can review; None for no limit.

    Returns:
        The priced state.
    """
    decisions = threshold_state(y_true, scores, threshold)
    cost = decisions.fn * missed_cost + decisions.fp * alarm_cost
    alerts = decisions.flagged
    return CostState(decisions, float(cost), alerts,
                     alert_budget is None or alerts <= alert_budget)


def cost_curve(
    y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, missed_cost: float,
    alarm_cost: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Total cost and alerts at every threshold of a grid, in one vectorised pass.

    Args:
        y_true: Labels, 1 for the positive class.
        scores: One score per row.
        thresholds: The thresholds to price.
        missed_cost: Cost of one false negative.
        alarm_cost: Cost of one false positive.

    Returns:
        ``(cost, alerts)``, one value per threshold.
    """
    y, s = _as_binary(y_true, scores)
    cuts = np.asarray(thresholds, dtype=float)
    # Sorting once turns "how many scores are >= t" into a binary search per threshold.
    positives, negatives = np.sort(s[y]), np.sort(s[~y])
    flagged_pos = len(positives) - np.searchsorted(positives, cuts, side="left")
    flagged_neg = len(negatives) - np.searchsorted(negatives, cuts, side="left")
    cost = (len(positives) - flagged_pos) * missed_cost + flagged_neg * alarm_cost
    return cost.astype(float), flagged_pos + flagged_neg


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's points and the Brier score of the same scores."""

    mean_score: np.ndarray
    positive_share: np.ndarray
    brier: float


def reliability(y_true: np.ndarray, scores: np.ndarray, bins: int = 8) -> Reliability:
    """Bins of equal size by score: mean score against share of positives, as in lesson 5.

    Args:
        y_true: Labels, 1 for the positive class.
        scores: One score per row, in [0, 1].
        bins: Number of quantile bins.

    Returns:
        The diagram's points (the same as scikit-learn's ``calibration_curve`` with
        ``strategy="quantile"``) and the Brier score.
    """
    from sklearn.calibration import calibration_curve

    y, s = _as_binary(y_true, scores)
    share, mean = calibration_curve(y, s, n_bins=bins, strategy="quantile")
    return Reliability(mean, share, float(np.mean((s - y) ** 2)))


@dataclass(frozen=True)
class StopState:
    """Where ``EarlyStopping`` would end a recorded run, and which epoch it would keep."""

    patience: int
    best_epoch: int
    stopped_epoch: int | None
    epochs_run: int


def early_stop(
    values: Sequence[float], patience: int, mode: str = "min", min_delta: float = 0.0
) -> StopState:
    """Replay ``keras.callbacks.EarlyStopping``'s rule on a curve that was already recorded.

    After each epoch the callback counts one more epoch of waiting; an improvement on the best
    value so far (by more than ``min_delta``) resets the count, and when the count reaches
    ``patience`` (from the second epoch on) training stops. Epochs are numbered from 1 here,
    as in the lessons' plots (Keras numbers them from 0).

    Args:
        values: The monitored figure after each epoch (``history["val_loss"]``, say).
        patience: Epochs without improvement before stopping.
        mode: ``"min"`` for a loss, ``"max"`` for an accuracy or an AUC.
        min_delta: Smallest change that counts as an improvement.

    Returns:
        The best epoch, the epoch training stops after (None if the run ends first) and how
        many epochs would have run.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode is 'min' or 'max', not {mode!r}")
    sign = 1.0 if mode == "min" else -1.0
    best, best_epoch, wait = None, 0, 0
    for epoch, value in enumerate(values):
        current = sign * float(value)
        wait += 1
        if best is None or current + abs(min_delta) < best:
            best, best_epoch, wait = current, epoch, 0
            continue
        if wait >= patience and epoch > 0:
            return StopState(patience, best_epoch + 1, epoch + 1, epoch + 1)
    return StopState(patience, best_epoch + 1, None, len(values))


def curve_group_state(
    runs: Mapping[str, Mapping[str, Sequence[float]]], chosen: str, patience: int
) -> dict[str, StopState]:
    """Early stopping replayed on every run of a group, each on its own monitored curve.

    A run is monitored on ``val_loss`` when it recorded one, else on its training ``loss``.

    Args:
        runs: Run name -> History dictionary.
        chosen: The run the learner picked; it must be one of ``runs``.
        patience: Patience of the replayed callback.

    Returns:
        Run name -> where it would stop, the chosen run first.
    """
    if chosen not in runs:
        raise KeyError(f"{chosen!r} is not one of the runs: {', '.join(runs)}")
    order = [chosen] + [name for name in runs if name != chosen]
    return {name: early_stop(monitored_curve(runs[name])[1], patience) for name in order}


def monitored_curve(history: Mapping[str, Sequence[float]]) -> tuple[str, Sequence[float]]:
    """The key early stopping watches in a History dictionary, and its values.

    Args:
        history: A History dictionary.

    Returns:
        ``("val_loss", values)`` when the run was validated, else ``("loss", values)``.
    """
    key = "val_loss" if "val_loss" in history else "loss"
    return key, history[key]


def cheapest_threshold(
    y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, missed_cost: float,
    alarm_cost: float, alert_budget: int | None = None,
) -> tuple[float, float] | None:
    """The threshold of a grid with the lowest total cost among those within the alert budget.

    Args:
        y_true: Labels, 1 for the positive class.
        scores: One score per row.
        thresholds: The candidate thresholds.
        missed_cost: Cost of one false negative.
        alarm_cost: Cost of one false positive.
        alert_budget: Most alerts allowed; None for no limit.

    Returns:
        ``(threshold, cost)``, the lowest threshold among equally cheap ones, or None when no
        threshold of the grid keeps the alerts within the budget.
    """
    cuts = np.asarray(thresholds, dtype=float)
    cost, alerts = cost_curve(y_true, scores, cuts, missed_cost, alarm_cost)
    allowed = np.ones(len(cuts), bool) if alert_budget is None else alerts <= alert_budget
    if not allowed.any():
        return None
    best = int(np.argmin(np.where(allowed, cost, np.inf)))
    return float(cuts[best]), float(cost[best])
