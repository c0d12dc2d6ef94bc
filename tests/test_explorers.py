"""The lessons' explorers: what each shows for a control value is what scikit-learn and Keras
compute, moving a control redraws its figure, and a notebook run without a live front end keeps
a static image of the explorer."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import keras
import nbformat
import numpy as np
import PIL.Image
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_curve,
)

from autograder.explorers import (
    ConfusionExplorer,
    CostExplorer,
    ThresholdExplorer,
    TrainingExplorer,
)
from autograder.explorers.state import (
    cheapest_threshold,
    cost_curve,
    cost_state,
    curve_group_state,
    early_stop,
    misclassified_rows,
    reliability,
    threshold_state,
)
from autograder.notebooks import execute

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray]:
    """Labels and overlapping scores, rounded so that many scores tie with a threshold."""
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.3).astype(int)
    scores = np.round(np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1), 2)
    return y, scores


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.35, 0.5, 0.61, 0.9, 1.0])
def test_threshold_state_is_what_scikit_learn_computes(binary, threshold: float) -> None:
    y, scores = binary
    state = threshold_state(y, scores, threshold)
    decided = (scores >= threshold).astype(int)
    assert state.matrix.tolist() == confusion_matrix(y, decided, labels=[0, 1]).tolist()
    assert state.precision == pytest.approx(precision_score(y, decided, zero_division=1.0))
    assert state.recall == pytest.approx(recall_score(y, decided))
    assert state.f1 == pytest.approx(f1_score(y, decided, zero_division=0.0))
    assert state.flagged == int(decided.sum())


def test_a_score_equal_to_the_threshold_is_flagged() -> None:
    state = threshold_state(np.array([0, 1, 1]), np.array([0.2, 0.5, 0.7]), 0.5)
    assert (state.tp, state.fn) == (2, 0)


def test_the_threshold_state_lies_on_scikit_learns_roc_curve(binary) -> None:
    y, scores = binary
    fpr, tpr, cuts = roc_curve(y, scores, drop_intermediate=False)
    for index in (1, len(cuts) // 3, len(cuts) // 2, len(cuts) - 1):
        state = threshold_state(y, scores, cuts[index])
        assert (state.false_positive_rate, state.recall) == pytest.approx((fpr[index],
                                                                           tpr[index]))


def test_nothing_flagged_counts_precision_as_one_and_f1_as_zero(binary) -> None:
    y, scores = binary
    state = threshold_state(y, scores, 1.01)
    assert (state.flagged, state.precision, state.f1, state.recall) == (0, 1.0, 0.0, 0.0)


def test_scores_and_labels_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one score per row"):
        threshold_state(np.array([0, 1]), np.array([0.1, 0.2, 0.3]), 0.5)


def test_a_confusion_cell_holds_exactly_its_rows_most_confident_first() -> None:
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    probabilities = rng.random((200, 4))
    for true_class in range(4):
        for predicted in range(4):
            rows = misclassified_rows(y_true, y_pred, true_class, predicted, probabilities)
            expected = {i for i in range(200) if y_true[i] == true_class and y_pred[i] == predicted}
            assert set(rows.tolist()) == expected and len(rows) == len(expected)
            confidence = probabilities[rows, predicted]
            assert np.all(np.diff(confidence) <= 0)
    assert misclassified_rows(np.array([0, 0]), np.array([0, 0]), 0, 1).tolist() == []


def test_cost_curve_and_cost_state_price_the_same_decisions(binary) -> None:
    y, scores = binary
    grid = np.linspace(0, 1, 41)
    cost, alerts = cost_curve(y, scores, grid, missed_cost=7, alarm_cost=2)
    for index in (0, 9, 20, 33, 40):
        state = cost_state(y, scores, grid[index], 7, 2, alert_budget=60)
        decided = scores >= grid[index]
        assert state.cost == cost[index] == 7 * np.sum(~decided & (y == 1)) + 2 * np.sum(
            decided & (y == 0))
        assert state.alerts == alerts[index] == decided.sum()
        assert state.within_budget == (decided.sum() <= 60)


def test_the_cheapest_threshold_keeps_within_the_alert_budget(binary) -> None:
    y, scores = binary
    grid = np.linspace(0, 1, 101)
    free, _ = cheapest_threshold(y, scores, grid, 50, 1)
    limited, limited_cost = cheapest_threshold(y, scores, grid, 50, 1, alert_budget=40)
    assert cost_state(y, scores, limited, 50, 1).alerts <= 40
    cost, alerts = cost_curve(y, scores, grid, 50, 1)
    assert limited_cost == cost[alerts <= 40].min()
    # Misses are dear, so without a budget the cheapest cut flags more than 40 rows.
    assert free < limited
    assert cheapest_threshold(y, np.ones(len(y)), grid, 50, 1, alert_budget=10) is None


def test_the_reliability_diagram_is_scikit_learns_calibration_curve(binary) -> None:
    y, scores = binary
    diagram = reliability(y, scores, bins=5)
    share, mean = calibration_curve(y, scores, n_bins=5, strategy="quantile")
    np.testing.assert_allclose(diagram.positive_share, share)
    np.testing.assert_allclose(diagram.mean_score, mean)
    assert diagram.brier == pytest.approx(brier_score_loss(y, scores))


def _keras_early_stopping(values, patience: int, mode: str, min_delta: float):
    """Feed a recorded curve to the real callback, epoch by epoch, as fit would."""
    callback = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, mode=mode,
                                             min_delta=min_delta)
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"val_loss": float(value)})
        if model.stop_training:
            return epoch + 1, callback.best_epoch + 1
    return None, callback.best_epoch + 1


CURVES = {
    "falls then rises": [1.0, 0.8, 0.6, 0.55, 0.56, 0.58, 0.57, 0.6, 0.62, 0.65, 0.7, 0.75],
    "plateau with ties": [0.9, 0.7, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7, 0.7, 0.7],
    "still falling": list(np.linspace(1, 0.1, 15)),
    "noisy": list(np.abs(np.sin(np.arange(30) * 1.3)) + np.linspace(1, 0, 30)),
}


@pytest.mark.parametrize("curve", list(CURVES))
@pytest.mark.parametrize(("patience", "mode", "min_delta"),
                         [(1, "min", 0.0), (2, "min", 0.0), (3, "min", 0.015), (5, "min", 0.0),
                          (2, "max", 0.0), (4, "max", 0.01)])
def test_early_stop_replays_keras_early_stopping(curve: str, patience: int, mode: str,
                                                 min_delta: float) -> None:
    values = CURVES[curve]
    replay = early_stop(values, patience, mode=mode, min_delta=min_delta)
    assert (replay.stopped_epoch, replay.best_epoch) == _keras_early_stopping(
        values, patience, mode, min_delta)
    assert replay.epochs_run == (replay.stopped_epoch or len(values))


def test_a_group_is_monitored_on_validation_loss_when_it_has_one() -> None:
    runs = {"validated": {"loss": [1, 0.5, 0.2, 0.1, 0.05], "val_loss": [1, 0.8, 0.9, 1, 1.1]},
            "training only": {"loss": [1, 0.9, 0.95, 0.96, 0.97]}}
    stops = curve_group_state(runs, "training only", patience=2)
    assert list(stops) == ["training only", "validated"]
    assert (stops["validated"].best_epoch, stops["validated"].stopped_epoch) == (2, 4)
    assert (stops["training only"].best_epoch, stops["training only"].stopped_epoch) == (2, 4)
    with pytest.raises(KeyError, match="not one of the runs"):
        curve_group_state(runs, "missing", patience=2)


def _png_size(data: bytes) -> tuple[int, int]:
    return PIL.Image.open(io.BytesIO(data)).size


def test_moving_the_threshold_slider_redraws_readout_and_figure(binary) -> None:
    y, scores = binary
    explorer = ThresholdExplorer(y, scores, threshold=0.5)
    before_png, before_image = explorer.png, explorer.image.value
    explorer.slider.value = 0.2
    state = threshold_state(y, scores, 0.2)
    assert f"TN {state.tn}, FP {state.fp}, FN {state.fn}, TP {state.tp}" in explorer.readout.value
    assert f"recall {state.recall:.3f}" in explorer.readout.value
    assert explorer.png != before_png and explorer.image.value != before_image
    assert f"false positives {state.fp}" in explorer.image.value  # the alternative text
    assert explorer.slider.description_allow_html is False
    assert "Threshold" in explorer.slider.description


def test_the_explorer_bundle_carries_the_widget_and_a_static_image(binary) -> None:
    y, scores = binary
    explorer = ThresholdExplorer(y, scores)
    bundle = explorer._repr_mimebundle_()
    assert bundle[WIDGET]["model_id"] == explorer.widget.model_id
    png = base64.b64decode(bundle["image/png"])
    assert png == explorer.png and _png_size(png) == (880, 272)
    assert bundle["text/plain"].startswith("Threshold 0.50:")


def test_picking_a_cell_shows_that_cells_images() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 90)
    y_pred = np.where(rng.random(90) < 0.7, y_true, (y_true + 1) % 3)
    images = rng.random((90, 8, 8))
    explorer = ConfusionExplorer(y_true, y_pred, images, probabilities=rng.random((90, 3)))
    mistakes = confusion_matrix(y_true, y_pred) - np.diag(np.diag(confusion_matrix(y_true,
                                                                                   y_pred)))
    assert (explorer.true_class.value, explorer.predicted_class.value) == tuple(
        np.unravel_index(mistakes.argmax(), mistakes.shape))
    explorer.true_class.value, explorer.predicted_class.value = 2, 2
    correct = int(np.sum((y_true == 2) & (y_pred == 2)))
    assert f"True 2, predicted 2: {correct} correct answers" in explorer.readout.value
    filled = [p for p in range(16) if not np.isnan(explorer.tile(p)).all()]
    assert filled == list(range(min(correct, 16)))
    for position in (0, len(filled) - 1):
        np.testing.assert_array_equal(explorer.tile(position), images[explorer.rows()[position]])
    explorer.predicted_class.value = 1  # true 2 is never read as 1 here
    assert "predicted 1: 0 mistakes." in explorer.readout.value
    assert all(np.isnan(explorer.tile(p)).all() for p in range(16))


def test_the_cost_explorer_switches_models_without_retraining(binary) -> None:
    y, scores = binary
    inflated = np.clip(scores * 1.6, 0, 1)
    explorer = CostExplorer(y, {"plain": scores, "weighted": inflated}, 10, 1, alert_budget=80)
    explorer.slider.value = 0.3
    plain = explorer.readout.value
    explorer.model.value = "weighted"
    state = cost_state(y, inflated, explorer.slider.value, 10, 1, 80)
    assert explorer.readout.value != plain
    assert f"{state.alerts} alerts" in explorer.readout.value
    assert f"cost {state.cost:,.0f}" in explorer.readout.value


def test_the_training_explorer_follows_knob_setting_and_patience() -> None:
    runs = {"loss": {"a": {"loss": [1, 0.6, 0.5, 0.45], "val_loss": [1, 0.7, 0.8, 0.9]},
                     "b": {"loss": [1, 0.7, 0.6, 0.5], "val_loss": [1, 0.8, 0.7, 0.75]}},
            "train": {"slow": {"loss": [1, 0.99, 0.98]}, "fast": {"loss": [1, 0.5, 0.6]}}}
    explorer = TrainingExplorer(runs, patience=1)
    assert "stops after epoch 3 of 4" in explorer.readout.value  # run a: best 2, one bad epoch
    explorer.patience.value = 5
    assert "never stops within the 4 epochs" in explorer.readout.value
    explorer.knob.value = "train"
    assert list(explorer.setting.options) == ["slow", "fast"]
    assert explorer.summary.startswith("train, slow: EarlyStopping on loss")
    explorer.patience.value, explorer.setting.value = 1, "fast"
    assert explorer.summary.startswith("train, fast: EarlyStopping on loss with patience 1 "
                                       "stops after epoch 3")


def test_a_notebook_run_without_a_front_end_keeps_the_static_image(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\n"
        "from autograder.explorers import ThresholdExplorer\n"
        "explorer = ThresholdExplorer(np.array([0, 1, 0, 1]), np.array([0.1, 0.8, 0.6, 0.4]))\n"
        "explorer.show()\n"
    )])
    run = execute(notebook, cwd=tmp_path)
    outputs = [o for o in run.notebook.cells[0].outputs if o.output_type == "display_data"]
    assert len(outputs) == 1
    data = outputs[0]["data"]
    assert WIDGET in data and "FN 1, TP 1" in data["text/plain"]
    assert _png_size(base64.b64decode(data["image/png"])) == (880, 272)
