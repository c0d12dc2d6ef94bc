"""Lessons 5, 7 and 8 run end to end, and the claims their prose makes hold for their figures.

Each test executes one lesson in a fresh kernel (epochs lowered through ``COURSE_EPOCHS``) and
reads its figures back with ``probe``. The assertions mirror sentences of the lesson: when a
lesson says "recall jumps", the test checks that recall went up. Lesson 6 has its own file,
``test_lessons_leakage.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _lessons import as_floats, run_lesson

pytestmark = pytest.mark.slow


def test_lesson_05_metric_pitfalls(tmp_path: Path) -> None:
    # Full settings (20 epochs): Exercise 1 is feasible only for the model learners train.
    v = run_lesson("05-metric-pitfalls", tmp_path, epochs=20, probe={
        "paradox": as_floats("paradox"),
        "weighted": as_floats("weighted"),
        "tuned": as_floats("tuned"),
        "threshold": "float(chosen_threshold)",
        "baseline_accuracy": "float(baseline_accuracy)",
        "baseline_recall": "float(baseline_recall)",
        "legit_share": "float((y_test == 0).mean())",
        "class_weight": as_floats("class_weight"),
        "mean_weight": "mean_weight",
        "counts": "[int(c) for c in class_counts]",
        "initial_loss": as_floats("initial_loss"),
        "initial_mean_score": as_floats("initial_mean_score"),
        "label_entropy": "label_entropy",
        "base_rate": "float(base_rate)",
        "restored_pr_auc": "float(restored_val['pr_auc'])",
        "val_pr_auc": "[float(x) for x in toolkit_run['val_pr_auc']]",
        "toolkit_test": as_floats("toolkit_test"),
        "test_share": "float(y_test.mean())",
        "brier": as_floats("brier"),
        "mean_score": as_floats("mean_score"),
        "ranking_aucs": "[float(__import__('sklearn.metrics').metrics.roc_auc_score(y_test, s))"
                        " for s in (weighted_scores, corrected_scores)]",
        "costs": "costs",
        "over_share": "float(y_over.mean())",
        "oversampled": as_floats("oversampled"),
        "initial_weighted_loss": as_floats("initial_weighted_loss"),
        "exercise_feasible": "bool(((val_recall >= 0.6) & (val_precision >= 0.2)).any())",
        "cost_threshold": "cost_threshold",
        "cost_at": "{name: total_cost(y_test, paradox_scores, t) for name, t in cost_at.items()}",
        "val_cost_min": "int(val_costs.min())",
        "val_cost_default": "total_cost(y_val, val_scores, 0.5)",
        "tuned_recall": "float(tuned['recall'])",
        "recall_interval": "[float(x) for x in recall_interval]",
        "seed_recalls": "{str(k): float(r) for k, r in seed_recalls.items()}",
        "per_group": "{g: {k: float(x) for k, x in r.items()} for g, r in per_group.items()}",
        "weighted_recall_again": "float(recall_score(y_test, weighted_pred))",
        "cheapest_by_weight": "cheapest_by_weight",
        "mean_val_score_by_weight": "mean_val_score_by_weight",
        "val_fraud_share": "float(y_val.mean())",
        "alert_budget": "ALERT_BUDGET",
        "lowest_cut": "{n: [cost_explorer.state(n, float(cost_explorer.GRID[0])).alerts,"
                      " cost_explorer.state(n, float(cost_explorer.GRID[0])).decisions.fn,"
                      " cost_explorer.state(n, t).decisions.fn]"
                      " for n, (t, _) in cost_explorer.cheapest.items()}",
    }, explorers=1)
    # The cost explorer: heavier fraud weights move the cheapest threshold within the budget
    # right, several times over, while its cost changes far less; their scores overstate the
    # risk more; below the budget's band the alerts exceed the budget while fewer frauds slip.
    cheapest = list(v["cheapest_by_weight"].values())
    cuts, cheapest_costs = [c[0] for c in cheapest], [c[1] for c in cheapest]
    assert len(cuts) == 3 and cuts == sorted(cuts) and len(set(cuts)) == 3, cuts
    assert max(cuts) / min(cuts) >= 3 and max(cheapest_costs) / min(cheapest_costs) < 2, cheapest
    means = list(v["mean_val_score_by_weight"].values())
    assert means == sorted(means) and means[-1] > 3 * v["val_fraud_share"], means
    for alerts, missed_low, missed_cheapest in v["lowest_cut"].values():
        assert alerts > v["alert_budget"] and missed_low <= missed_cheapest
    # The accuracy paradox: accuracy near the 98 % majority share, most fraud missed.
    paradox = v["paradox"]
    assert paradox["accuracy"] >= 0.97, paradox
    assert paradox["recall"] < 0.5, paradox
    # The majority baseline scores the legitimate share and finds no fraud.
    assert v["baseline_accuracy"] == pytest.approx(v["legit_share"], abs=1e-6)
    assert v["baseline_accuracy"] > 0.85  # clears the naive "above 85 %" rule
    assert v["baseline_recall"] == 0.0
    assert abs(paradox["accuracy"] - v["baseline_accuracy"]) < 0.02  # "beats doing nothing" barely
    # Scaled class weights: inversely proportional to the counts, averaging 1 per training row.
    weights, counts = v["class_weight"], v["counts"]
    assert weights["0"] * counts[0] == pytest.approx(weights["1"] * counts[1], rel=1e-9)
    assert v["mean_weight"] == pytest.approx(1.0, abs=1e-9)
    # class_weight: recall jumps, accuracy drops.
    assert v["weighted"]["recall"] > paradox["recall"] + 0.3, v["weighted"]
    assert v["weighted"]["accuracy"] < paradox["accuracy"]
    if paradox["recall"] > 0:  # with no positive prediction, precision is 0 and cannot drop
        assert v["weighted"]["precision"] < paradox["precision"]
    # A lower threshold, chosen on validation data, finds more fraud on the test set.
    assert v["threshold"] < 0.5
    assert v["tuned"]["recall"] > paradox["recall"]
    # Output bias: default scores far above the base rate; the preset bias starts the loss
    # lower and close to the label entropy.
    names = list(v["initial_loss"])
    default, preset = v["initial_loss"][names[0]], v["initial_loss"][names[1]]
    assert names[0] == "bias 0 (default)"
    assert v["initial_mean_score"][names[0]] > 5 * v["base_rate"]
    assert preset < default
    assert abs(preset - v["label_entropy"]) < abs(default - v["label_entropy"])
    assert abs(preset - v["label_entropy"]) < 0.05
    # EarlyStopping on val PR AUC restored the best epoch; ROC AUC flatters, PR AUC beats its
    # baseline (the fraud share).
    assert v["restored_pr_auc"] == pytest.approx(max(v["val_pr_auc"]), abs=1e-6)
    toolkit = v["toolkit_test"]
    assert toolkit["roc_auc"] > toolkit["pr_auc"] > v["test_share"]
    # Calibration: the weighted model overstates the risk and has the worse Brier score; the odds
    # correction keeps the ranking and wins most of the Brier score back.
    brier, mean_score = v["brier"], v["mean_score"]
    assert mean_score["class_weight"] > 3 * v["test_share"]
    assert abs(mean_score["unweighted"] - v["test_share"]) < abs(
        mean_score["class_weight"] - v["test_share"]
    )
    assert brier["class_weight"] > brier["unweighted"]
    corrected = brier["class_weight, odds corrected"]
    assert brier["class_weight"] - corrected > (brier["class_weight"] - brier["unweighted"]) / 2
    weighted_auc, corrected_auc = v["ranking_aucs"]
    assert corrected_auc == pytest.approx(weighted_auc, abs=1e-3)
    # With the lesson's costs the do-nothing baseline is not the cheapest choice.
    assert min(v["costs"], key=v["costs"].get) != "majority baseline"
    # Recalibration fitted on validation scores (Platt, isotonic) improves the weighted
    # model's Brier score on the test set.
    assert brier["Platt (validation)"] < brier["class_weight"]
    assert brier["isotonic (validation)"] < brier["class_weight"]
    # Oversampling the training fraud to half the rows repairs recall like class weights do.
    assert v["over_share"] == pytest.approx(0.5)
    assert v["oversampled"]["recall"] > paradox["recall"] + 0.3
    # Under balanced weights the preset base-rate bias starts the model worse than bias 0.
    weighted_start = v["initial_weighted_loss"]
    assert weighted_start["bias 0 (default)"] < weighted_start[names[1]]
    # Exercise 1 can be met on the validation curves (recall >= 0.6 with precision >= 0.2).
    assert v["exercise_feasible"]
    # The cost threshold t* = 5 / 205; both t* and the validation sweep's cheapest threshold
    # cost far less on the test set than the default 0.5.
    assert v["cost_threshold"] == pytest.approx(5 / 205)
    cost_at = list(v["cost_at"].values())
    assert cost_at[0] < cost_at[2] and cost_at[1] < cost_at[2], v["cost_at"]
    assert v["val_cost_min"] < v["val_cost_default"]
    # Uncertainty on 32 test frauds: the bootstrap interval holds the figure and is wide
    # (more than 15 points); five seeds of the weighted model give five recalls.
    low, high = v["recall_interval"]
    assert low <= v["tuned_recall"] <= high
    assert high - low > 0.15
    assert len(v["seed_recalls"]) == 5
    assert min(v["seed_recalls"].values()) > paradox["recall"]
    # Per group: the two groups split the test rows and the 32 frauds, and the overall recall
    # is the fraud-weighted mean of the group recalls.
    groups = list(v["per_group"].values())
    assert sum(g["rows"] for g in groups) == 1600 and sum(g["fraud"] for g in groups) == 32
    assert all(g["fraud"] > 0 for g in groups)
    pooled = sum(g["recall"] * g["fraud"] for g in groups) / 32
    assert pooled == pytest.approx(v["weighted_recall_again"], abs=1e-9)


def test_lesson_07_custom_metrics_callbacks(tmp_path: Path) -> None:
    epochs = 6
    v = run_lesson("07-custom-metrics-callbacks", tmp_path, epochs=epochs, probe={
        "has_reset_states": "hasattr(keras.metrics.Metric, 'reset_states')",
        "figures": as_floats("test_figures"),
        "custom_history": "[float(x) for x in history['val_recall_from_counts']]",
        "builtin_history": "[float(x) for x in history['val_keras_recall']]",
        "alarm_rate": "float((model.predict(x_test, verbose=0) > 0.5).mean())",
        "mean_of_batch_recalls": "mean_of_batch_recalls",
        "batches": "len(batch_recalls)",
        "share_flagged": "share_flagged",
        "own_reset": "'reset_state' in vars(RecallFromCounts)",
        "lowest_after_reset": "lowest_after_reset",
        "rows_per_evaluate": "[float(r) for r in rows_per_evaluate]",
        "val_rows": "len(y_val)",
        "strict_cut": "[float(keras.metrics.Recall()([1.0], [0.5])),"
                      " float(keras.metrics.Recall(thresholds=0.3)([1.0], [0.3])),"
                      " float(keras.metrics.BinaryAccuracy()([0.0], [0.5]))]",
        "without_class": "without_class",
        "restored_gap": "restored_gap",
        "weights_gap": "weights_gap",
        "safe_mode_on": "safe_mode_on",
        "unsafe_output": "keras.ops.convert_to_numpy(unsafe(np.ones((1, 3), 'float32'))).tolist()",
        "log_lines": "log_lines",
        "board_val_loss": "board_val_loss",
        "history_val_loss": "[float(x) for x in csv_history.history['val_loss']]",
        "board_tags": "sorted(events.Tags()['tensors'])",
        "auto_mode": "auto_mode",
        "files": "[str(p) for p in plots.files]",
        "aucs": "len(plots.aucs)",
        "checkpoint": "str(checkpoint_path)",
        "best_val_auc": "float(max(watched['val_auc']))",
        "reloaded_auc": "float(reloaded['auc'])",
        "logged_epochs": "len(logged.history['loss'])",
        "claims": "claims",
        "pr_auc": "float(pr_auc.result())",
        "f1": "float(f1.result()[0])",
        "ops_mean": "float(keras.ops.mean(keras.ops.convert_to_tensor([1.0, 2.0, 6.0])))",
    })
    # Keras 3 dropped the deprecated reset_states; reset_state is the only name it calls.
    assert v["has_reset_states"] is False
    # "What changed": no K.mean in keras.backend, keras.ops has it; AUC and F1Score exist.
    assert v["claims"] == {
        "keras.backend has mean": False, "keras.ops has mean": True,
        "keras.metrics has AUC": True, "keras.metrics has F1Score": True,
        "Metric has reset_states": False,
    }
    assert v["ops_mean"] == pytest.approx(3.0)
    # Toy scores 0.1, 0.6 (negatives), 0.4, 0.9 (positives): at 0.5, TP 1, FP 1, FN 1 -> F1 0.5.
    assert v["f1"] == pytest.approx(0.5, abs=1e-5)
    assert 0.5 < v["pr_auc"] < 1.0
    # The stateful metric equals keras.metrics.Recall, on the test set and at every epoch.
    figures = v["figures"]
    assert figures["recall_from_counts"] == pytest.approx(figures["keras_recall"], abs=1e-6)
    assert v["custom_history"] == pytest.approx(v["builtin_history"], abs=1e-6)
    assert len(v["custom_history"]) == epochs
    # ... while the stateless batch average of recall does not.
    assert abs(figures["batch_recall"] - figures["keras_recall"]) > 1e-4, figures
    # The stateless per-example metric is an average that Keras computes correctly.
    assert figures["alarm_rate"] == pytest.approx(v["alarm_rate"], abs=1e-6)
    assert figures["alarm_rate"] == pytest.approx(v["share_flagged"], abs=1e-6)
    # A scalar per batch is averaged over batches, each weighing 1 (91 test rows: 6 batches of
    # 16, the last one partial).
    assert v["batches"] == 6
    assert figures["batch_recall"] == pytest.approx(v["mean_of_batch_recalls"], abs=1e-5)
    # Keras's thresholded metrics cut strictly above the threshold: a score equal to it is
    # negative (recall 0 for a positive at exactly 0.5 or 0.3; accuracy 1 for a negative at 0.5).
    assert v["strict_cut"] == [0.0, 0.0, 1.0]
    # The inherited reset_state zeroes every variable: enough for counts (RecallFromCounts has
    # none of its own, and an old-style metric with only reset_states counts the same rows in
    # each evaluate), wrong for a state that starts at 1.
    assert v["own_reset"] is False
    assert v["rows_per_evaluate"] == [v["val_rows"], v["val_rows"]] == [80.0, 80.0]
    assert v["lowest_after_reset"]["inherited reset_state"] == 0.0
    assert v["lowest_after_reset"]["own reset_state"] == pytest.approx(0.7)
    # Saving: load_model refuses unknown custom objects, rebuilds the model with them, a
    # weights file restores the same predictions, safe_mode refuses a Lambda until turned off.
    assert v["without_class"].startswith("refused")
    assert v["restored_gap"] < 1e-6 and v["weights_gap"] < 1e-6
    assert v["safe_mode_on"] == "refused"
    assert v["unsafe_output"] == [[2.0, 2.0, 2.0]]
    # mode="auto" judges the loss and Keras's own metrics, and refuses a metric function.
    assert v["auto_mode"] == {"val_loss": "judged", "val_recall": "judged",
                              "val_alarm_rate": "refused: pass mode="}
    # CSVLogger: a header naming the History keys and one row per epoch.
    assert v["log_lines"][0].split(",") == ["epoch", "loss", "recall", "val_loss", "val_recall"]
    assert len(v["log_lines"]) == 1 + 5
    # TensorBoard's event files, read back offline, hold History's figures epoch by epoch.
    assert v["board_val_loss"] == pytest.approx(v["history_val_loss"], abs=1e-5)
    assert {"epoch_loss", "epoch_recall"} <= set(v["board_tags"])
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


def test_lesson_08_multilabel_classification(tmp_path: Path) -> None:
    v = run_lesson("08-multilabel-classification", tmp_path, epochs=5, probe={
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
        "accuracy_by_loss": "accuracy_by_loss",
        "split_at": "split_at", "n_train": "len(x_train)", "n_val": "len(x_val)",
        "macro_f1": "{f'{a}|{b}': float(x) for (a, b), x in macro_f1.items()}",
        "label_thresholds": "label_thresholds.tolist()",
        "candidate_check": "[bool(np.isclose(t, np.append(val_scores[:, j], 0.5)).any())"
                           " for j, t in enumerate(label_thresholds)]",
        "best_f1_check": "[max(f1_score(y_val[:, j], val_scores[:, j] >= c, zero_division=0)"
                         " for c in np.append(val_scores[:, j], 0.5))"
                         " - f1_score(y_val[:, j], val_scores[:, j] >= t, zero_division=0)"
                         " for j, t in enumerate(label_thresholds)]",
    })
    # Keras 3 resolves "accuracy" from the shapes only: the loss does not change it.
    assert v["accuracy_by_loss"] == {
        "binary_crossentropy": ["CategoricalAccuracy"],
        "categorical_crossentropy": ["CategoricalAccuracy"],
    }
    # The validation rows are the ones validation_split=0.2 held back (the last 20 %).
    assert v["split_at"] == int(v["n_train"] * 0.8) and v["n_val"] == v["n_train"] - v["split_at"]
    # Per-label thresholds: each is one of its label's validation scores or 0.5, its F1 is the
    # best of all those cuts (as scikit-learn computes it), so it cannot lose on validation.
    assert all(v["candidate_check"])
    assert all(gap < 1e-9 for gap in v["best_f1_check"]), v["best_f1_check"]
    assert v["macro_f1"]["validation|per label"] >= v["macro_f1"]["validation|0.5 for all"]
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
