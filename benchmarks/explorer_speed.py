"""How quickly do the lessons' explorers answer a move? Prints milliseconds per move.

Run with ``.venv/bin/python benchmarks/explorer_speed.py``. Each explorer is built on data of
the size its lesson gives it (the course's own datasets, with scores from a quick scikit-learn
model standing in for the lesson's Keras model, and training curves of the lesson's length),
then each control is moved through its range, and every move is timed from the new value to the
finished PNG: the readout computed, the figure drawn into its Agg canvas and encoded, the image
widget's value set. That is the kernel's share of the delay a learner feels; the page adds the
transfer of one small image. The target is under 100 ms per move. Nothing is asserted, because
timings depend on the machine and its load.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from autograder import data
from autograder.explorers import (
    ConfusionExplorer,
    CostExplorer,
    ThresholdExplorer,
    TrainingExplorer,
)

TARGET_MS = 100.0
MOVES = int(os.environ.get("EXPLORER_MOVES", 60))


def time_moves(control: Any, values: Sequence[Any]) -> list[float]:
    """Set a control to each value in turn and time each change until the figure is redrawn.

    Args:
        control: An ipywidgets control observed by an explorer.
        values: The values to move it through.

    Returns:
        Milliseconds per move.
    """
    times = []
    for value in values:
        start = time.perf_counter()
        control.value = value
        times.append((time.perf_counter() - start) * 1000)
    return times


def _cycle(options: Sequence[Any], moves: int) -> list[Any]:
    """Walk back and forth over the options, so every move changes the value."""
    there_and_back = list(options) + list(options)[-2:0:-1]
    return [there_and_back[i % len(there_and_back)] for i in range(moves)]


def _scores(dataset: data.Dataset, positive: Callable[[np.ndarray], np.ndarray], weight: Any):
    """Validation-like scores: a logistic regression fitted on one half, scored on the other."""
    y = positive(dataset.y_train)
    half = len(y) // 2
    model = LogisticRegression(max_iter=2000, class_weight=weight).fit(
        dataset.x_train[:half], y[:half])
    return y[half:], model.predict_proba(dataset.x_train[half:])[:, 1]


def explorers() -> dict[str, list[tuple[Any, list[Any]]]]:
    """Each explorer with its controls and the values to move them through.

    Returns:
        Explorer name -> [(control, values), ...].
    """
    cancer = data.load_breast_cancer()
    y_val, p_val = _scores(cancer, lambda y: (y == 0).astype(int), None)
    threshold = ThresholdExplorer(y_val, p_val)

    fraud = data.load_fraud()
    fitted = {name: _scores(fraud, lambda y: y, weight)
              for name, weight in [("none", None), ("between", {0: 1, 1: 7}),
                                   ("balanced", "balanced")]}
    y_fraud = next(iter(fitted.values()))[0]
    cost = CostExplorer(y_fraud, {name: s for name, (_, s) in fitted.items()}, 200, 5,
                        alert_budget=3 * int(y_fraud.sum()))

    mnist = data.load_mnist()
    rng = np.random.default_rng(0)
    y_test = mnist.y_test
    wrong = rng.random(len(y_test)) < 0.05
    y_pred = np.where(wrong, rng.integers(0, 10, len(y_test)), y_test)
    probabilities = rng.dirichlet(np.ones(10), len(y_test))
    confusion = ConfusionExplorer(y_test, y_pred, mnist.x_test, probabilities=probabilities)

    epochs = 28  # lesson 6's LONG_EPOCHS at full settings
    def curve(rate: float, turn: float) -> dict[str, list[float]]:
        steps = np.arange(epochs)
        return {"loss": list(np.exp(-rate * steps) + 0.01),
                "val_loss": list(0.3 + np.exp(-rate * steps) + turn * steps ** 2 / epochs)}
    groups = {"regularisation": {f"setting {i}": curve(0.2 + 0.1 * i, 0.01 * i)
                                 for i in range(4)},
              "learning rate": {f"rate {i}": {"loss": curve(0.05 * (i + 1), 0)["loss"][:14]}
                                for i in range(3)}}
    training = TrainingExplorer(groups)

    thresholds = list(np.round(np.linspace(0.02, 0.98, 49), 2))
    return {
        "lesson 3 threshold (slider)": [(threshold.slider, _cycle(thresholds, MOVES))],
        "lesson 4 confusion cell (drop-downs)": [
            (confusion.true_class, _cycle(range(10), MOVES // 2)),
            (confusion.predicted_class, _cycle(range(10), MOVES // 2))],
        "lesson 5 cost: threshold": [
            (cost.slider, _cycle(list(np.geomspace(0.003, 0.9, 40)), MOVES))],
        "lesson 5 cost: class weight": [(cost.model, _cycle(list(fitted), MOVES))],
        "lesson 6 training: setting": [
            (training.setting, _cycle(list(groups["regularisation"]), MOVES))],
        "lesson 6 training: patience": [(training.patience, _cycle(range(1, 21), MOVES))],
        "lesson 6 training: knob (swaps drawn axes)": [
            (training.knob, _cycle(list(groups), MOVES // 4))],
    }


def main() -> None:
    """Print the median and 95th percentile per move of every explorer control."""
    print(f"milliseconds per move ({MOVES} moves per control; target under {TARGET_MS:.0f} ms)")
    print(f"{'explorer':46}{'median':>8}{'p95':>8}{'max':>8}")
    for name, controls in explorers().items():
        times = [ms for control, values in controls for ms in time_moves(control, values)]
        p95 = float(np.percentile(times, 95))
        flag = "" if p95 < TARGET_MS else "  over target"
        print(f"{name:46}{statistics.median(times):8.1f}{p95:8.1f}{max(times):8.1f}{flag}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
