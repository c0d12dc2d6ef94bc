"""Explorers for a binary classifier's scores: the decision threshold, and threshold with cost.

:class:`ThresholdExplorer` (lesson 3) moves one threshold over fixed scores;
:class:`CostExplorer` (lesson 5) also chooses among models trained with different class
weights, prices the decisions and shows each model's reliability diagram. Both only present:
the figures come from :mod:`autograder.explorers.state`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from autograder.explorers.base import Explorer
from autograder.explorers.controls import choice, number_slider
from autograder.explorers.state import (
    CostState,
    ThresholdState,
    cheapest_threshold,
    cost_curve,
    cost_state,
    reliability,
    threshold_state,
)


class ThresholdExplorer(Explorer):
    """A threshold slider over one model's scores: confusion matrix, scores, ROC and PR points.

    Attributes:
        slider: The threshold control.
    """

    def __init__(
        self, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5,
        class_names: tuple[str, str] = ("negative", "positive"), data_name: str = "validation",
    ) -> None:
        """Build the figure for ``threshold`` and lay out the slider above it.

        Args:
            y_true: Labels, 1 for the positive class.
            scores: The model's score for each row.
            threshold: Where the slider starts.
            class_names: Names of label 0 and label 1, for the matrix's axes.
            data_name: Which split the scores come from, for the titles.
        """
        self.y_true = np.asarray(y_true).ravel().astype(int)
        self.scores = np.asarray(scores, dtype=float).ravel()
        self.class_names = class_names
        self.slider = number_slider(np.round(np.linspace(0, 1, 101), 2), threshold,
                                    "Threshold (flag a score at or above it)")
        super().__init__([self.slider], figsize=(11, 3.4))
        ax_matrix, ax_roc, ax_pr = self.figure.subplots(1, 3)

        self._matrix = ax_matrix.imshow(np.zeros((2, 2)), cmap="Blues", vmin=0,
                                        vmax=len(self.y_true))
        self._counts = [ax_matrix.text(col, row, "", ha="center", va="center", fontsize=12)
                        for row in range(2) for col in range(2)]
        names = [f"{name} ({label})" for label, name in enumerate(class_names)]
        ax_matrix.set_xticks([0, 1], names)
        ax_matrix.set_yticks([0, 1], names, rotation=90, va="center")
        ax_matrix.set(xlabel="predicted", ylabel="true",
                      title=f"Confusion matrix ({data_name})")

        fpr, tpr, _ = roc_curve(self.y_true, self.scores)
        ax_roc.plot(fpr, tpr, color="tab:blue")
        ax_roc.plot([0, 1], [0, 1], linestyle="--", color="grey")
        self._roc_point, = ax_roc.plot([], [], "o", color="tab:red", markersize=9)
        ax_roc.set(xlabel="false positive rate", ylabel="recall (true positive rate)",
                   title="ROC", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))

        precision, recall, _ = precision_recall_curve(self.y_true, self.scores)
        ax_pr.plot(recall, precision, color="tab:blue")
        ax_pr.axhline(self.y_true.mean(), linestyle="--", color="grey")
        self._pr_point, = ax_pr.plot([], [], "o", color="tab:red", markersize=9)
        ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall",
                  xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        self.animate(self._matrix, *self._counts, self._roc_point, self._pr_point)
        self.refresh()

    def state(self, threshold: float | None = None) -> ThresholdState:
        """The decisions at a threshold (by default the slider's).

        Args:
            threshold: The cut; None for the slider's value.

        Returns:
            The state at that threshold.
        """
        return threshold_state(self.y_true, self.scores,
                               self.slider.value if threshold is None else threshold)

    def redraw(self) -> tuple[str, str]:
        """Move the matrix counts and the two curve markers to the slider's threshold.

        Returns:
            The readout text and the figure's alternative text.
        """
        state = self.state()
        self._matrix.set_data(state.matrix)
        half = len(self.y_true) / 2
        for text, count in zip(self._counts, state.matrix.ravel(), strict=True):
            text.set_text(str(count))
            text.set_color("white" if count > half else "black")
        self._roc_point.set_data([state.false_positive_rate], [state.recall])
        self._pr_point.set_data([state.recall], [state.precision])
        summary = (
            f"Threshold {state.threshold:.2f}: {state.flagged} of {len(self.y_true)} flagged. "
            f"TN {state.tn}, FP {state.fp}, FN {state.fn}, TP {state.tp}. "
            f"Precision {state.precision:.3f}, recall {state.recall:.3f}, F1 {state.f1:.3f}."
        )
        alt = (
            f"Confusion matrix at threshold {state.threshold:.2f} with true negatives "
            f"{state.tn}, false positives {state.fp}, false negatives {state.fn} and true "
            f"positives {state.tp}; the marker sits on the ROC curve at false positive rate "
            f"{state.false_positive_rate:.2f} and recall {state.recall:.2f}, and on the "
            f"precision-recall curve at recall {state.recall:.2f} and precision "
            f"{state.precision:.2f}."
        )
        return summary, alt


class CostExplorer(Explorer):
    """Class weight and threshold against the cost of mistakes and an alert budget.

    One model per class weight is trained beforehand; the class-weight slider only picks among
    their scores, so a move never retrains anything.

    Attributes:
        model: The class-weight control (the names of ``scores_by_model``).
        slider: The threshold control (logarithmic, since cheap thresholds can be small).
    """

    GRID = np.geomspace(0.002, 0.99, 240)

    def __init__(
        self, y_true: np.ndarray, scores_by_model: Mapping[str, np.ndarray], missed_cost: float,
        alarm_cost: float, alert_budget: int | None = None, threshold: float = 0.5,
    ) -> None:
        """Price every model's decisions on the grid once, then draw the first model's.

        Args:
            y_true: Labels, 1 for the positive class.
            scores_by_model: Class-weight name -> that model's score for each row.
            missed_cost: Cost of one false negative.
            alarm_cost: Cost of one false positive.
            alert_budget: Most alerts the reviewers can take; None for no limit.
            threshold: Where the threshold slider starts.
        """
        self.y_true = np.asarray(y_true).ravel().astype(int)
        self.scores = {name: np.asarray(s, float).ravel() for name, s in scores_by_model.items()}
        self.missed_cost, self.alarm_cost, self.alert_budget = missed_cost, alarm_cost, alert_budget
        self.curves = {name: cost_curve(self.y_true, s, self.GRID, missed_cost, alarm_cost)
                       for name, s in self.scores.items()}
        self.diagrams = {name: reliability(self.y_true, s) for name, s in self.scores.items()}
        self.cheapest = {
            name: cheapest_threshold(self.y_true, s, self.GRID, missed_cost, alarm_cost,
                                     alert_budget) for name, s in self.scores.items()}
        self.model = choice(list(self.scores), next(iter(self.scores)),
                            "Class weight of the model")
        # Even steps on a log scale (0.02 in log10), since the cheap thresholds can be small.
        self.slider = number_slider(np.geomspace(self.GRID[0], 1, 136), threshold,
                                    "Threshold (flag a score at or above it)", fmt=".3f")
        super().__init__([self.model, self.slider], figsize=(11, 3.6))
        ax_cost, ax_rel = self.figure.subplots(1, 2)
        self._cost_line, = ax_cost.plot([], [], color="tab:blue", label="total cost")
        self._cost_point, = ax_cost.plot([], [], "o", color="tab:red", markersize=9,
                                         label="your threshold")
        self._cheap_line = ax_cost.axvline(np.nan, color="tab:green", linestyle="--",
                                           label="cheapest within budget")
        self._budget_span = ax_cost.axvspan(self.GRID[0], self.GRID[0], color="grey",
                                            alpha=0.25, label="over the alert budget")
        # One cost scale for every model, so switching models moves the curve, not the axis.
        highest = max(float(cost.max()) for cost, _ in self.curves.values())
        ax_cost.set(xscale="log", xlabel="threshold (log scale)", ylabel="total cost",
                    title="Cost of the mistakes", xlim=(self.GRID[0], 1),
                    ylim=(0, highest * 1.05 + 1))
        ax_cost.legend(fontsize=8, loc="upper left")
        ax_rel.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
        self._rel_line, = ax_rel.plot([], [], "o-", color="tab:blue", label="this model")
        self._rel_cut = ax_rel.axvline(threshold, color="tab:red", linestyle="--",
                                       label="threshold")
        ax_rel.set(xlabel="mean score in the bin", ylabel="share of positives in the bin",
                   title="Reliability diagram", xlim=(0, 1), ylim=(0, 1))
        ax_rel.legend(fontsize=8, loc="upper left")
        self.animate(self._cost_line, self._budget_span, self._cheap_line, self._cost_point,
                     self._rel_line, self._rel_cut)
        self.refresh()

    def state(self, model: str | None = None, threshold: float | None = None) -> CostState:
        """The priced decisions of one model at one threshold (by default the sliders').

        Args:
            model: A class-weight name; None for the slider's.
            threshold: The cut; None for the slider's value.

        Returns:
            The state.
        """
        name = self.model.value if model is None else model
        cut = self.slider.value if threshold is None else threshold
        return cost_state(self.y_true, self.scores[name], cut, self.missed_cost,
                          self.alarm_cost, self.alert_budget)

    def redraw(self) -> tuple[str, str]:
        """Draw the chosen model's cost curve and reliability diagram, marked at the threshold.

        Returns:
            The readout text and the figure's alternative text.
        """
        name = self.model.value
        state = self.state()
        cost, alerts = self.curves[name]
        self._cost_line.set_data(self.GRID, cost)
        self._cost_point.set_data([state.decisions.threshold], [state.cost])
        over = self.GRID[alerts > self.alert_budget] if self.alert_budget is not None else []
        self._budget_span.set_x(self.GRID[0])
        self._budget_span.set_width((over[-1] - self.GRID[0]) if len(over) else 0.0)
        cheapest = self.cheapest[name]
        self._cheap_line.set_xdata([cheapest[0] if cheapest else np.nan] * 2)
        diagram = self.diagrams[name]
        self._rel_line.set_data(diagram.mean_score, diagram.positive_share)
        self._rel_cut.set_xdata([state.decisions.threshold] * 2)
        budget = ("no alert budget" if self.alert_budget is None else
                  f"{'within' if state.within_budget else 'over'} the budget of "
                  f"{self.alert_budget}")
        best = (f"cheapest threshold within the budget {cheapest[0]:.3f} (cost {cheapest[1]:,.0f})"
                if cheapest else "no threshold keeps the alerts within the budget")
        summary = (
            f"{name}, threshold {state.decisions.threshold:.3f}: {state.alerts} alerts "
            f"({budget}), {state.decisions.fn} missed, {state.decisions.fp} false alarms, "
            f"cost {state.cost:,.0f}; {best}. Brier score {diagram.brier:.4f}."
        )
        alt = (
            f"Left: total cost against threshold for the model '{name}', the marker at "
            f"threshold {state.decisions.threshold:.3f} and cost {state.cost:,.0f}. Right: its "
            f"reliability diagram, {self._calibration_words(name)}."
        )
        return summary, alt

    def _calibration_words(self, name: str) -> str:
        diagram = self.diagrams[name]
        gap = float(np.mean(diagram.mean_score - diagram.positive_share))
        if abs(gap) < 0.05:
            return "its points close to the diagonal"
        side = "below" if gap > 0 else "above"
        return f"its points {side} the diagonal by {abs(gap):.2f} on average"
