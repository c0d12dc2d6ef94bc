"""Lessons 5-7 run end to end, and the claims their prose makes hold for the figures they print.

Each test executes one lesson in a fresh kernel (epochs lowered through ``COURSE_EPOCHS``) and
reads its figures back with ``probe``. The assertions mirror sentences of the lesson: when a
lesson says "recall jumps", the test checks that recall went up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lessons import execute_lesson

pytestmark = pytest.mark.slow


def run_lesson(stem: str, cwd: Path, epochs: int, probe: dict[str, str]) -> dict[str, Any]:
    """Execute ``lessons/<stem>.md`` with ``COURSE_EPOCHS=epochs``.

    Args:
        stem: Lesson file stem.
        cwd: Working directory of the kernel (files the lesson writes land here).
        epochs: Value of ``COURSE_EPOCHS``.
        probe: Short name -> Python expression evaluated in the kernel after the last cell.

    Returns:
        The probed values by short name.
    """
    executed = execute_lesson(stem, cwd, epochs, list(probe.values()))
    return {name: executed.values[expr] for name, expr in probe.items()}


def as_floats(name: str) -> str:
    """Expression turning a dict of NumPy scalars in the kernel into plain floats."""
    return f"{{k: float(v) for k, v in {name}.items()}}"


def test_lesson_05_metric_pitfalls(tmp_path: Path) -> None:
    v = run_lesson("05-metric-pitfalls", tmp_path, epochs=10, probe={
        "paradox": as_floats("paradox"),
        "weighted": as_floats("weighted"),
        "tuned": as_floats("tuned"),
        "threshold": "float(chosen_threshold)",
        "baseline_accuracy": "float(baseline_accuracy)",
        "baseline_recall": "float(baseline_recall)",
        "legit_share": "float((y_test == 0).mean())",
        "leaks": "{k: {s: {m: float(x) for m, x in f.items()} for s, f in p.items()} "
                 "for k, p in leaks.items()}",
        "shared": "int(shared)",
        "train_acc": "float(long_run['accuracy'][-1])",
        "val_acc": "float(long_run['val_accuracy'][-1])",
        "val_loss": "[float(x) for x in long_run['val_loss']]",
        "long_epochs": "LONG_EPOCHS",
        "epochs_run": "epochs_run",
        "stopped_val_losses": "[float(x) for x in short_run['val_loss']]",
        "restored_val_loss": "float(restored_val_loss)",
        "costs": "costs",
    })
    # The accuracy paradox: accuracy near the 98 % majority share, most fraud missed.
    paradox = v["paradox"]
    assert paradox["accuracy"] >= 0.97, paradox
    assert paradox["recall"] < 0.5, paradox
    # The majority baseline scores the legitimate share and finds no fraud.
    assert v["baseline_accuracy"] == pytest.approx(v["legit_share"], abs=1e-6)
    assert v["baseline_accuracy"] > 0.85  # clears the naive "above 85 %" rule
    assert v["baseline_recall"] == 0.0
    assert abs(paradox["accuracy"] - v["baseline_accuracy"]) < 0.02  # "beats doing nothing" barely
    # class_weight: recall jumps, accuracy drops.
    assert v["weighted"]["recall"] > paradox["recall"] + 0.3, v["weighted"]
    assert v["weighted"]["accuracy"] < paradox["accuracy"]
    if paradox["recall"] > 0:  # with no positive prediction, precision is 0 and cannot drop
        assert v["weighted"]["precision"] < paradox["precision"]
    # A lower threshold, chosen on validation data, finds more fraud on the test set.
    assert v["threshold"] < 0.5
    assert v["tuned"]["recall"] > paradox["recall"]
    # Leakage: the mild scaler leak, and three leaks that inflate both figures.
    leaks = v["leaks"]
    assert len(leaks) == 4
    mild = leaks["scaler fitted on all rows"]
    assert abs(mild["leaky"]["auc"] - mild["honest"]["auc"]) < 0.02, mild
    assert abs(mild["leaky"]["f1"] - mild["honest"]["f1"]) < 0.05, mild
    for kind in ("features chosen on all rows", "duplicates across the split",
                 "feature that leaks the target"):
        pair = leaks[kind]
        for metric in ("auc", "f1"):
            assert pair["leaky"][metric] > pair["honest"][metric], (kind, pair)
    assert leaks["features chosen on all rows"]["honest"]["auc"] < 0.6  # noise stays noise
    assert v["shared"] > 0
    # Overfitting: training accuracy far above validation, validation loss rising at the end.
    assert v["train_acc"] >= 0.99
    assert v["train_acc"] - v["val_acc"] >= 0.05
    assert v["val_loss"][-1] > min(v["val_loss"])
    # EarlyStopping stopped early and restored the best epoch's weights.
    assert v["epochs_run"] < v["long_epochs"]
    assert v["restored_val_loss"] == pytest.approx(min(v["stopped_val_losses"]), abs=1e-4)
    # With the lesson's costs the do-nothing baseline is not the cheapest choice.
    assert min(v["costs"], key=v["costs"].get) != "majority baseline"


def test_lesson_06_custom_metrics_callbacks(tmp_path: Path) -> None:
    epochs = 6
    v = run_lesson("06-custom-metrics-callbacks", tmp_path, epochs=epochs, probe={
        "has_reset_states": "hasattr(keras.metrics.Metric, 'reset_states')",
        "figures": as_floats("test_figures"),
        "custom_history": "[float(x) for x in history['val_recall_from_counts']]",
        "builtin_history": "[float(x) for x in history['val_keras_recall']]",
        "alarm_rate": "float((model.predict(x_test, verbose=0) >= 0.5).mean())",
        "files": "[str(p) for p in plots.files]",
        "aucs": "len(plots.aucs)",
        "checkpoint": "str(checkpoint_path)",
        "best_val_auc": "float(max(watched['val_auc']))",
        "reloaded_auc": "float(reloaded['auc'])",
        "logged_epochs": "len(logged.history['loss'])",
    })
    assert v["has_reset_states"] is False  # Keras 3 renamed it reset_state
    # The stateful metric equals keras.metrics.Recall, on the test set and at every epoch.
    figures = v["figures"]
    assert figures["recall_from_counts"] == pytest.approx(figures["keras_recall"], abs=1e-6)
    assert v["custom_history"] == pytest.approx(v["builtin_history"], abs=1e-6)
    assert len(v["custom_history"]) == epochs
    # ... while the stateless batch average of recall does not.
    assert abs(figures["batch_recall"] - figures["keras_recall"]) > 1e-4, figures
    # The stateless per-example metric is an average that Keras computes correctly.
    assert figures["alarm_rate"] == pytest.approx(v["alarm_rate"], abs=1e-6)
    # The callback computed at every epoch and wrote PNG files every 5 epochs and at the end.
    assert v["aucs"] == epochs
    expected = [f"epoch_plots/epoch_{n:03d}.png" for n in (5, epochs)]
    assert v["files"] == expected
    for name in expected:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    # The checkpoint is a .keras file holding the best epoch.
    assert v["checkpoint"].endswith(".keras") and (tmp_path / v["checkpoint"]).is_file()
    assert v["reloaded_auc"] == pytest.approx(v["best_val_auc"], abs=1e-6)
    assert v["logged_epochs"] == epochs


def test_lesson_07_multilabel_classification(tmp_path: Path) -> None:
    v = run_lesson("07-multilabel-classification", tmp_path, epochs=5, probe={
        "resolved": "resolved",
        "figures": "figures",
        "exact_match": "exact_match",
        "binary_accuracy": "binary_accuracy",
        "y_test": "y_test.astype(int).tolist()",
        "scores": "scores.tolist()",
        "precision": "[float(x) for x in precision]",
        "recall": "[float(x) for x in recall]",
        "f1_default": "f1_default",
        "f1_at_half": "f1_at_half",
        "single_unit_f1": "single_unit_f1",
        "base_rate": "base_rate",
        "precision_at_k": "test_precision_at_k",
        "toy": "precision_at_k(toy_true, toy_scores, 2)",
        "honest": as_floats("honest"),
        "label_share": "[float(x) for x in y_train.mean(axis=0)]",
        "multi_share": "float((y_train.sum(axis=1) > 1).mean())",
    })
    y, scores = v["y_test"], v["scores"]
    n, labels = len(y), len(y[0])
    # "The labels are far from balanced, and most documents have more than one."
    assert max(v["label_share"]) > 3 * min(v["label_share"])
    assert v["multi_share"] > 0.5
    # "accuracy" resolved to categorical accuracy, and its value is argmax(y) == argmax(score).
    assert v["resolved"]["accuracy"] == "CategoricalAccuracy"
    figures = v["figures"]
    keras_accuracy = figures["Keras 'accuracy' (categorical)"]

    def argmax(row: list) -> int:
        return max(range(len(row)), key=lambda i: (row[i], -i))

    by_hand = sum(argmax(t) == argmax(s) for t, s in zip(y, scores, strict=True)) / n
    assert keras_accuracy == pytest.approx(by_hand, abs=1e-6)
    # It differs from both honest accuracies; binary accuracy flatters, exact match is strict.
    predicted = [[int(s >= 0.5) for s in row] for row in scores]
    exact = sum(p == t for p, t in zip(predicted, y, strict=True)) / n
    decisions = [
        a == b for p, t in zip(predicted, y, strict=True) for a, b in zip(p, t, strict=True)
    ]
    per_label = sum(decisions) / len(decisions)
    assert v["exact_match"] == pytest.approx(exact, abs=1e-6)
    assert v["binary_accuracy"] == pytest.approx(per_label, abs=1e-6)
    assert v["exact_match"] < keras_accuracy < v["binary_accuracy"]
    # Per-label precision and recall, counted by hand.
    for j in range(labels):
        tp = sum(p[j] and t[j] for p, t in zip(predicted, y, strict=True))
        flagged = sum(p[j] for p in predicted)
        positives = sum(t[j] for t in y)
        assert v["precision"][j] == pytest.approx(tp / flagged if flagged else 0.0, abs=1e-6)
        assert v["recall"][j] == pytest.approx(tp / positives, abs=1e-6)
    # The rarest label is where the model struggles most.
    rarest = min(range(labels), key=lambda j: v["label_share"][j])
    assert v["recall"][rarest] == min(v["recall"])
    # F1Score: the argmax default caps multi-label F1; with one unit it ignores the scores.
    assert v["f1_default"] < v["f1_at_half"]
    everything_positive = 2 * v["base_rate"] / (1 + v["base_rate"])
    for value in v["single_unit_f1"].values():
        assert value == pytest.approx(everything_positive, abs=1e-5)
    # precision@k equals a hand count of true labels among each row's k best scores.
    assert v["toy"] == pytest.approx((1 / 2 + 1 / 2 + 2 / 2) / 3)
    for k in range(1, labels + 1):
        hits = 0
        for truth, row in zip(y, scores, strict=True):
            ranked = sorted(range(labels), key=lambda i, row=row: -row[i])
            hits += sum(truth[i] for i in ranked[:k])
        assert v["precision_at_k"][str(k)] == pytest.approx(hits / (n * k), abs=1e-6)
    assert v["precision_at_k"]["1"] == pytest.approx(
        figures["top-scored label is a true label"], abs=1e-6
    )
    at_k = [v["precision_at_k"][str(k)] for k in range(1, labels + 1)]
    assert at_k == sorted(at_k, reverse=True)  # deeper in the ranking, less sure
    share_of_ones = sum(map(sum, y)) / (n * labels)
    assert v["precision_at_k"][str(labels)] == pytest.approx(share_of_ones, abs=1e-6)
    assert {"binary_accuracy", "precision", "recall", "macro_f1", "auc"} <= v["honest"].keys()
