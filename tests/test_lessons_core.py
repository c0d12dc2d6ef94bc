"""Lessons 01-04 run end to end, and what their prose claims is what their cells compute.

Each test executes one lesson in a fresh kernel with fewer epochs (``COURSE_EPOCHS``), then reads
values out of the kernel (``probe``) and asserts the statements the lesson makes about them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from _lessons import assert_static_explorers, execute_lesson

from autograder.notebooks import ExecutedNotebook

pytestmark = pytest.mark.slow


def _run(repo: Path, tmp_path: Path, stem: str, epochs: int, probe: list[str]) -> ExecutedNotebook:
    """Execute ``lessons/<stem>.md`` with ``COURSE_EPOCHS=epochs`` and the given probes."""
    return execute_lesson(stem, tmp_path, epochs, probe)


def test_lesson_01_sequential_api(repo: Path, tmp_path: Path) -> None:
    run = _run(repo, tmp_path, "01-keras-sequential-api", 1, [
        "keras_via_tensorflow.__version__ == keras.__version__",
        "keras_via_tensorflow.Sequential is keras.Sequential",
        "list(inputs.shape)",
        "[mlp_params_by_hand, mlp.count_params()]",
        "[cnn_params_by_hand, cnn.count_params()]",
        "[list(layer.output.shape) for layer in cnn.layers]",
        "[[type(layer).__name__, layer.count_params()] for layer in mlp.layers]",
        "[[type(layer).__name__, layer.count_params()] for layer in cnn.layers]",
        "list(probabilities.shape)",
        "built_before_fit", "built_after_fit", "lazy_params",
        "unbuilt_error", "input_shape_warnings", "old_style.built",
        "[tuple(t.shape) for t in two_inputs.inputs]", "tuple(two_input_probabilities.shape)",
    ])
    v: dict[str, Any] = run.values
    assert v["keras_via_tensorflow.__version__ == keras.__version__"] is True
    assert v["keras_via_tensorflow.Sequential is keras.Sequential"] is True
    assert v["list(inputs.shape)"] == [None, 28, 28, 1]

    by_hand, counted = v["[mlp_params_by_hand, mlp.count_params()]"]
    assert by_hand == counted
    by_hand, counted = v["[cnn_params_by_hand, cnn.count_params()]"]
    assert by_hand == counted
    # "Most of the parameters in both sit in the Dense layer that reads the flattened image."
    for model in ("mlp", "cnn"):
        layers = v[f"[[type(layer).__name__, layer.count_params()] for layer in {model}.layers]"]
        kinds = [kind for kind, _ in layers]
        after_flatten = kinds.index("Flatten") + 1 + kinds[kinds.index("Flatten") + 1:].index(
            "Dense"
        )
        counts = [count for _, count in layers]
        assert counts[after_flatten] == max(counts) > sum(counts) / 2, layers
    output_shapes = v["[list(layer.output.shape) for layer in cnn.layers]"]
    assert all(shape[0] is None for shape in output_shapes)
    assert v["list(probabilities.shape)"] == [5, 10]

    # Unbuilt model: summary with no shapes, output_shape raises, fit builds it.
    assert v["built_before_fit"] is False
    assert "no defined output shape" in v["unbuilt_error"]
    assert v["built_after_fit"] is True
    assert v["lazy_params"] == v["[mlp_params_by_hand, mlp.count_params()]"][1]
    text = run.text_output()
    assert "(unbuilt)" in text and "?" in text

    # input_shape= on a layer still builds the model, with a recorded UserWarning.
    assert v["old_style.built"] is True
    warnings = v["input_shape_warnings"]
    assert any("input_shape" in w and w.startswith("UserWarning") for w in warnings), warnings

    # The functional model reads two inputs, which a Sequential model cannot.
    assert v["[tuple(t.shape) for t in two_inputs.inputs]"] == [[None, 28, 28, 1], [None, 1]]
    assert v["tuple(two_input_probabilities.shape)"] == [3, 10]


def test_lesson_02_compile_fit_evaluate(repo: Path, tmp_path: Path) -> None:
    run = _run(repo, tmp_path, "02-compile-fit-evaluate", 5, [
        "[float(sparse), float(categorical), float(from_logits)]",
        "val_curves",
        "history.history",
        "test_scores", "test_accuracy", "manual_accuracy",
        "list(model.metrics_names)",
        "float(probabilities.sum(axis=-1).min())", "float(probabilities.sum(axis=-1).max())",
        "regression_scores", "float(sklearn_mse)", "float(sklearn_mae)",
        "rounded_accuracy",
        "steps_per_epoch", "len(x_train)",
        "same_with_numpy_seed", "same_with_keras_seed", "same_training_on_cpu",
        "[n for n in dir(__import__('tensorflow').config.experimental) if 'determinism' in n]",
        "order_without", "order_with", "clock_without", "clock_with",
        "same_training_deterministic",
        "tf.config.experimental.enable_op_determinism.__doc__",
        "logit_metrics",
    ])
    v: dict[str, Any] = run.values
    sparse, categorical, from_logits = v["[float(sparse), float(categorical), float(from_logits)]"]
    assert sparse == pytest.approx(categorical, rel=1e-5)
    assert sparse == pytest.approx(from_logits, rel=1e-4)

    curves = v["val_curves"]
    assert curves["SGD (lr 0.01)"][-1] < min(curves["Adam"][-1], curves["RMSprop"][-1])

    history = v["history.history"]
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 5
    assert history["accuracy"][-1] > history["val_accuracy"][-1]  # the gap the prose points at

    assert v["test_accuracy"] >= 0.90
    assert set(v["test_scores"]) == {"loss", "accuracy"}
    assert v["manual_accuracy"] == pytest.approx(v["test_accuracy"], abs=1e-6)
    assert "compile_metrics" in v["list(model.metrics_names)"]
    assert "accuracy" not in v["list(model.metrics_names)"]
    assert v["float(probabilities.sum(axis=-1).min())"] == pytest.approx(1.0, abs=1e-4)
    assert v["float(probabilities.sum(axis=-1).max())"] == pytest.approx(1.0, abs=1e-4)

    assert v["regression_scores"]["loss"] == pytest.approx(v["float(sklearn_mse)"], rel=1e-4)
    assert v["regression_scores"]["mae"] == pytest.approx(v["float(sklearn_mae)"], rel=1e-4)
    assert v["rounded_accuracy"] < v["test_accuracy"]

    # One epoch holds ceil(rows / batch_size) steps.
    rows = v["len(x_train)"]
    assert v["steps_per_epoch"] == {str(b): -(-rows // b) for b in (32, 64, 256)}
    # A NumPy seed does not repeat Keras's initial weights; keras.utils.set_random_seed does,
    # and on this CPU two seeded training runs match bit for bit.
    assert v["same_with_numpy_seed"] is False
    assert v["same_with_keras_seed"] is True
    assert v["same_training_on_cpu"] is True
    # TensorFlow offers a call to switch op determinism on, and none to switch it off.
    names = v[
        "[n for n in dir(__import__('tensorflow').config.experimental) if 'determinism' in n]"
    ]
    assert names == ["enable_op_determinism"]
    # Without op determinism a parallel map hands back the fast elements before the slow element
    # 0; with it the elements come back in order, tf.timestamp() raises instead of running, and
    # two seeded training runs still match bit for bit.
    assert sorted(v["order_without"]) == [0, 1, 2, 3]
    assert v["order_without"][0] != 0
    assert v["order_with"] == [0, 1, 2, 3]
    assert v["clock_without"].endswith(" s since 1970")
    assert v["clock_with"] == "FailedPreconditionError"
    assert v["same_training_deterministic"] is True
    # "TensorFlow's documentation of the call warns that models and tf.data pipelines can run
    # slower with it."
    # Op determinism stays on for the rest of the process, so the lesson switches it on once,
    # in its last section, after the exercise.
    source = (repo / "lessons" / "02-compile-fit-evaluate.md").read_text()
    assert source.count("tf.config.experimental.enable_op_determinism()") == 2  # prose + call
    assert source.index("enable_op_determinism()  #") > source.index("## Exercise")
    assert source.index("## Op determinism") > source.index("## Exercise")
    # Logits with from_logits=True: "accuracy" and Recall cut the raw scores at 0.5 (0.75 and
    # 2/3 for logits -0.3, 0.3, 0.7, 2.0 with labels 0, 1, 1, 1); at threshold 0 both are 1.
    logit_metrics = v["logit_metrics"]
    assert logit_metrics["accuracy"] == pytest.approx(0.75)
    assert logit_metrics["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert logit_metrics["accuracy_at_0"] == pytest.approx(1.0)
    assert logit_metrics["recall_at_0"] == pytest.approx(1.0)
    doc = " ".join(v["tf.config.experimental.enable_op_determinism.__doc__"].split())
    assert "your model may run slower" in doc
    assert "your model or your `tf.data` data processing slower" in doc


def test_lesson_03_binary_thresholds(repo: Path, tmp_path: Path) -> None:
    run = _run(repo, tmp_path, "03-binary-classification-thresholds", 20, [
        "list(cancer.class_names)", "cancer.positive_class",
        "int(y_train_malignant.sum()) == int((cancer.y_train == 0).sum())",
        "[int(tn), int(fp), int(fn), int(tp)]", "len(y_test)",
        "[float(precision_by_hand), float(recall_by_hand), float(f1_by_hand)]",
        "[float(precision_score(y_test, y_pred)), float(recall_score(y_test, y_pred)),"
        " float(f1_score(y_test, y_pred))]",
        "keras_scores",
        "sweep", "thresholds.tolist()",
        "never_falls_going_down", "[at_zero.flagged, at_zero.recall, at_zero.precision]",
        "[len(y_val), float(y_val.mean())]",
        "[s.precision for s in grid_states]",
        "float(roc_auc)", "float(average_precision)",
        "screen_threshold", "spam_threshold", "policy_scores",
        "top_left_is_tn", "scaled_ranges", "weak_sweep", "weak_best",
        "fold_scores", "[int(y_train_malignant[rows].sum()) for _, rows in"
        " folds.split(cancer.x_train, y_train_malignant)]", "len(cancer.x_train)",
        "float(roc_auc_score(y_val, weak_p_val))", "float(y_val.mean())",
        "[round(float(standard.transform(x_fit).mean()), 6),"
        " round(float(standard.transform(x_fit).std()), 6)]",
    ])
    v: dict[str, Any] = run.values
    # The trap the lesson is built on: label 1 is benign.
    assert v["list(cancer.class_names)"][1] == "benign"
    assert v["cancer.positive_class"] == 1
    assert v["int(y_train_malignant.sum()) == int((cancer.y_train == 0).sum())"] is True

    tn, fp, fn, tp = v["[int(tn), int(fp), int(fn), int(tp)]"]
    assert tn + fp + fn + tp == v["len(y_test)"]
    by_hand = v["[float(precision_by_hand), float(recall_by_hand), float(f1_by_hand)]"]
    sklearn_scores = v[
        "[float(precision_score(y_test, y_pred)), float(recall_score(y_test, y_pred)),"
        " float(f1_score(y_test, y_pred))]"
    ]
    assert by_hand == pytest.approx(sklearn_scores, abs=1e-9)
    assert v["keras_scores"]["precision"] == pytest.approx(by_hand[0], abs=1e-5)
    assert v["keras_scores"]["recall"] == pytest.approx(by_hand[1], abs=1e-5)

    # Lowering the threshold never lowers recall.
    recalls = v["sweep"]["recall"]
    assert all(a >= b for a, b in zip(recalls, recalls[1:], strict=False))
    assert v["thresholds.tolist()"][0] < 0.5 < v["thresholds.tolist()"][-1]

    assert v["float(roc_auc)"] > 0.9
    assert v["keras_scores"]["auc"] == pytest.approx(v["float(roc_auc)"], abs=0.03)
    assert v["float(average_precision)"] > 0.9

    # The screen accepts more false alarms than the spam filter to miss fewer positives.
    assert v["screen_threshold"] <= v["spam_threshold"]
    if v["screen_threshold"] == v["spam_threshold"]:
        assert "separates the two classes perfectly" in run.text_output()
    # scikit-learn's layout: the top-left cell counts the true negatives.
    assert v["top_left_is_tn"] is True
    # Min-max maps the fit rows onto [0, 1]; new rows can fall outside; standardised fit rows
    # have mean 0 and spread 1.
    ranges = v["scaled_ranges"]
    assert ranges["min-max, fit rows"] == pytest.approx([0.0, 1.0], abs=1e-6)  # float32
    low, high = ranges["min-max, test rows"]
    assert low < 0.0 or high > 1.0
    assert v[
        "[round(float(standard.transform(x_fit).mean()), 6),"
        " round(float(standard.transform(x_fit).std()), 6)]"
    ] == pytest.approx([0.0, 1.0], abs=1e-5)
    # The weak model shows the trade-off: recall never rises with the threshold and falls a lot,
    # starting near 1 with precision near the positive share; F1 peaks in between; the strong
    # model's recall moves less.
    weak = v["weak_sweep"]
    assert 0.5 < v["float(roc_auc_score(y_val, weak_p_val))"] < 0.95
    assert all(a >= b for a, b in zip(weak["recall"], weak["recall"][1:], strict=False))
    assert weak["recall"][0] >= 0.9
    assert weak["precision"][0] == pytest.approx(v["float(y_val.mean())"], abs=0.1)
    assert weak["recall"][0] - weak["recall"][-1] > 0.5
    assert max(weak["precision"][:-3]) > weak["precision"][0]
    strong_span = max(v["sweep"]["recall"]) - min(v["sweep"]["recall"])
    assert strong_span < weak["recall"][0] - weak["recall"][-1]
    best = v["thresholds.tolist()"].index(v["weak_best"])
    assert 0 < best < len(weak["F1"]) - 1
    # 5-fold cross-validation: every training row is held out once, each fold keeps the
    # malignant share (stratified: fold counts differ by at most one), the folds disagree.
    folds = v["fold_scores"]
    assert len(folds) == 5
    assert sum(f["rows"] for f in folds) == v["len(cancer.x_train)"]
    malignant_per_fold = v["[int(y_train_malignant[rows].sum()) for _, rows in"
                           " folds.split(cancer.x_train, y_train_malignant)]"]
    assert max(malignant_per_fold) - min(malignant_per_fold) <= 1
    recalls = [f["recall"] for f in folds]
    assert all(0.7 < r <= 1.0 for r in recalls), recalls
    assert max(recalls) > min(recalls), recalls
    assert weak["F1"][best] == max(weak["F1"])

    policies = v["policy_scores"]
    assert policies["medical screen"]["recall"] >= policies["spam filter"]["recall"]
    assert policies["spam filter"]["precision"] >= policies["medical screen"]["precision"]

    # The threshold explorer: down the slider recall and the false positive rate never fall,
    # precision does not move steadily; at 0 everything is flagged, precision = malignant share.
    assert_static_explorers(run.notebook, 1)
    monotone = v["never_falls_going_down"]
    assert monotone == {"recall": True, "false_positive_rate": True, "precision": False}
    flagged, recall, precision = v["[at_zero.flagged, at_zero.recall, at_zero.precision]"]
    rows, malignant_share = v["[len(y_val), float(y_val.mean())]"]
    assert (flagged, recall) == (rows, 1.0)
    assert precision == pytest.approx(malignant_share)
    assert max(v["[s.precision for s in grid_states]"]) > malignant_share


def test_lesson_04_multiclass(repo: Path, tmp_path: Path) -> None:
    run = _run(repo, tmp_path, "04-multiclass-classification", 5, [
        "[float(x) for x in by_hand[0]]", "[float(x) for x in by_keras[0]]",
        "float(sparse(y_train[:4], uniform))", "float(categorical(y_train_onehot[:4], uniform))",
        "sorted(mismatch_errors)",
        "[mlp.count_params(), cnn.count_params()]", "test_accuracy",
        "int(matrix.sum())", "len(y_test)", "int(off_diagonal[true_digit, guessed_digit])",
        "int(np.trace(matrix))",
        "top_k_accuracy",
        "[float(x) for x in recall_per_class['cnn']]",
        "baseline_accuracy", "float(np.bincount(y_test).max() / len(y_test))",
        "row_share.tolist()", "[int(confused_true), int(confused_guess)]",
        "[int(r) for r in pair_rows]", "cnn_pred.tolist()", "y_test.tolist()",
        "[float(x) for x in auc_per_class]", "float(ovr_auc)", "float(keras_ovr.result())",
        "by_pred.tolist()", "column_share.tolist()", "[int(called_true), int(called_guess)]",
        "list(opening_cell)", "[int(true_digit), int(guessed_digit)]",
        "confusion_explorer.rows(3, 3).tolist()", "confusion_explorer.shown",
        "[float(cnn_probs[r, confusion_explorer.predicted_class.value])"
        " for r in confusion_explorer.rows()]",
    ])
    # The confusion-matrix explorer opens on the most frequent mistake, shows up to 16 images,
    # most confident first, and a diagonal cell holds correct answers.
    assert_static_explorers(run.notebook, 1)
    ev: dict[str, Any] = run.values
    assert ev["list(opening_cell)"] == ev["[int(true_digit), int(guessed_digit)]"]
    assert ev["confusion_explorer.shown"] == 16
    threes = ev["confusion_explorer.rows(3, 3).tolist()"]
    assert threes and all(ev["y_test.tolist()"][r] == ev["cnn_pred.tolist()"][r] == 3
                          for r in threes)
    confidence = ev["[float(cnn_probs[r, confusion_explorer.predicted_class.value])"
                    " for r in confusion_explorer.rows()]"]
    assert confidence and confidence == sorted(confidence, reverse=True)
    v: dict[str, Any] = run.values
    # The column view: every column of a digit the model says sums to 1, its diagonal is that
    # digit's precision (share of the images called j that are j), and the printed pair holds
    # the largest off-diagonal share.
    by_pred, column_share = v["by_pred.tolist()"], v["column_share.tolist()"]
    truth, predicted = v["y_test.tolist()"], v["cnn_pred.tolist()"]
    for j in range(10):
        called = [t for t, p in zip(truth, predicted, strict=True) if p == j]
        if called:
            assert sum(row[j] for row in by_pred) == pytest.approx(1.0)
            assert by_pred[j][j] == pytest.approx(called.count(j) / len(called))
    called_true, called_guess = v["[int(called_true), int(called_guess)]"]
    assert called_true != called_guess
    assert column_share[called_true][called_guess] == max(max(row) for row in column_share)
    # One-vs-rest ROC AUC: the macro average of the ten per-digit AUCs, matched to about two
    # decimals by Keras's AUC(multi_label=True) on one-hot labels, and above the accuracy.
    per_digit = v["[float(x) for x in auc_per_class]"]
    assert len(per_digit) == 10
    assert v["float(ovr_auc)"] == pytest.approx(sum(per_digit) / 10, abs=1e-9)
    assert v["float(keras_ovr.result())"] == pytest.approx(v["float(ovr_auc)"], abs=0.01)
    assert v["float(ovr_auc)"] > v["test_accuracy"]["cnn"]
    assert v["[float(x) for x in by_hand[0]]"] == pytest.approx(
        v["[float(x) for x in by_keras[0]]"], abs=1e-6
    )
    assert sum(v["[float(x) for x in by_keras[0]]"]) == pytest.approx(1.0, abs=1e-6)
    assert v["float(sparse(y_train[:4], uniform))"] == pytest.approx(math.log(10), rel=1e-5)
    assert v["float(categorical(y_train_onehot[:4], uniform))"] == pytest.approx(
        math.log(10), rel=1e-5
    )
    assert v["sorted(mismatch_errors)"] == [
        "categorical loss, integer labels", "sparse loss, one-hot labels",
    ]

    mlp_params, cnn_params = v["[mlp.count_params(), cnn.count_params()]"]
    accuracy = v["test_accuracy"]
    assert cnn_params < mlp_params
    assert accuracy["cnn"] > accuracy["mlp"]
    assert accuracy["mlp"] >= 0.85

    assert v["int(matrix.sum())"] == v["len(y_test)"]
    assert v["int(np.trace(matrix))"] / v["len(y_test)"] == pytest.approx(accuracy["cnn"], abs=1e-6)
    assert v["int(off_diagonal[true_digit, guessed_digit])"] > 0

    top_k = [v["top_k_accuracy"][str(k)] for k in (1, 2, 3, 5)]
    assert top_k[0] == pytest.approx(accuracy["cnn"], abs=1e-6)
    assert all(a <= b for a, b in zip(top_k, top_k[1:], strict=False))
    assert top_k[2] > top_k[0]

    # Baselines: the majority class scores the largest class share; random guessing near 0.1.
    baselines = v["baseline_accuracy"]
    assert baselines["most_frequent"] == pytest.approx(
        v["float(np.bincount(y_test).max() / len(y_test))"], abs=1e-9
    )
    assert abs(baselines["stratified"] - 0.1) < 0.05
    assert accuracy["mlp"] > baselines["most_frequent"] + 0.5
    # Error analysis: row-normalised, diagonal removed; the pair shown is the largest share and
    # its images really are true `confused_true` predicted as `confused_guess`.
    share = v["row_share.tolist()"]
    assert all(share[i][i] == 0.0 for i in range(10))
    confused_true, confused_guess = v["[int(confused_true), int(confused_guess)]"]
    assert share[confused_true][confused_guess] == max(max(row) for row in share) > 0
    predicted, truth = v["cnn_pred.tolist()"], v["y_test.tolist()"]
    rows = v["[int(r) for r in pair_rows]"]
    assert rows and all(
        truth[r] == confused_true and predicted[r] == confused_guess for r in rows
    )

    recall = v["[float(x) for x in recall_per_class['cnn']]"]
    assert len(recall) == 10
    assert sum(recall) / 10 == pytest.approx(accuracy["cnn"], abs=1e-6)  # 80 images per digit
