"""The screen checks of assignment 5 on its real reference model, its shortcuts and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _verified import export_and_verify, full_marks

from autograder import data
from autograder.checks.thresholds import (
    check_figures,
    check_screen,
    check_threshold_choice,
    rule_threshold,
)


@pytest.fixture(scope="module")
def reference() -> dict:
    """The reference screen of assignment 5, trained as the notebook trains it."""
    import keras

    from solutions import a5_thresholds as a5

    keras.utils.set_random_seed(0)
    cancer = data.load_breast_cancer()
    x_fit, x_val, y_fit, y_val = a5.split_for_validation(cancer.x_train, cancer.y_train)
    model, scaler = a5.train_screen(x_fit, y_fit, epochs=a5.EPOCHS)
    threshold = a5.choose_threshold(model, scaler, x_val, y_val)
    precision, pr_auc = a5.screen_figures(model, scaler, cancer.x_test, cancer.y_test, threshold)
    return {"model": model, "scaler": scaler, "threshold": threshold, "x_val": x_val,
            "x_train": cancer.x_train, "y_train": cancer.y_train, "x_test": cancer.x_test,
            "y_test": cancer.y_test, "test_precision": precision, "test_pr_auc": pr_auc}


@pytest.mark.slow
def test_reference_passes_in_the_kernel_and_in_the_grader(reference: dict, tmp_path: Path) -> None:
    from solutions import a5_thresholds as a5

    holdout = data.load_holdout("breast_cancer")
    screen = check_screen(reference["model"], reference["scaler"].transform(holdout.x), holdout.y,
                          threshold=reference["threshold"], min_recall=a5.GOAL_RECALL,
                          min_precision=a5.GOAL_PRECISION, positive=a5.MALIGNANT)
    assert screen.passed, str(screen)
    assert export_and_verify(tmp_path, a5.ASSIGNMENT, reference) == full_marks(a5.ASSIGNMENT)


@pytest.mark.slow
def test_flagging_everything_or_tuning_on_the_test_split_earns_nothing(
        reference: dict, tmp_path: Path) -> None:
    from solutions import a5_thresholds as a5

    flag_all = {**reference, "threshold": 1e-6}
    scores = export_and_verify(tmp_path / "all", a5.ASSIGNMENT, flag_all)
    assert scores["screen-goal"] == 0 and scores["threshold-from-validation"] == 0
    tuned_on_test = {**reference, "x_val": reference["x_test"]}
    choice = check_threshold_choice(
        reference["threshold"], reference["model"], reference["x_test"], reference["x_train"],
        reference["y_train"], reference["x_test"], min_recall=a5.RULE_RECALL,
        positive=a5.MALIGNANT, scaler=reference["scaler"])
    assert not choice.passed and "test rows" in choice.message
    scores = export_and_verify(tmp_path / "test", a5.ASSIGNMENT, tuned_on_test)
    assert scores["threshold-from-validation"] == 0
    # Label 1 is benign: a model of the wrong class misses the screen's goal.
    holdout = data.load_holdout("breast_cancer")
    wrong_class = check_screen(reference["model"], reference["scaler"].transform(holdout.x),
                               holdout.y, threshold=reference["threshold"], min_recall=0.9,
                               min_precision=0.7, positive=1)
    assert not wrong_class.passed


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [1.5, -0.1, 0.0, "0.3", None, [0.3], float("nan")])
def test_a_threshold_outside_0_1_or_not_a_number_fails_with_a_message(
        reference: dict, threshold: object) -> None:
    x = reference["scaler"].transform(reference["x_test"])
    for verdict in (
        check_screen(reference["model"], x, reference["y_test"], threshold=threshold,
                     min_recall=0.9, min_precision=0.7, positive=0),
        check_figures(reference["model"], x, reference["y_test"], threshold=threshold,
                      positive=0, precision=0.9),
    ):
        assert not verdict.passed and "threshold" in verdict.message.lower()


@pytest.mark.slow
def test_reported_figures_earn_credit_each(reference: dict) -> None:
    x = reference["scaler"].transform(reference["x_test"])
    args = (reference["model"], x, reference["y_test"])
    right = check_figures(*args, threshold=reference["threshold"], positive=0,
                          precision=reference["test_precision"], pr_auc=reference["test_pr_auc"])
    assert right.passed, str(right)
    half = check_figures(*args, threshold=reference["threshold"], positive=0,
                         precision=reference["test_precision"], pr_auc="high")
    assert not half.passed and half.fraction == 0.5 and "plain number" in half.message


def test_rule_threshold_keeps_the_recall_it_promises() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    positive = np.array([True, True, False, True, True, False])
    assert rule_threshold(scores, positive, 0.75) == 0.6
    assert rule_threshold(scores, positive, 1.0) == 0.2


def test_a_screen_that_is_not_a_model_is_an_error_not_a_traceback() -> None:
    verdict = check_screen("model", np.zeros((3, 30)), np.zeros(3), threshold=0.5,
                           min_recall=0.9, min_precision=0.7)
    assert verdict.outcome.value == "error" and "Keras model" in verdict.message


def _scored(probabilities: np.ndarray):
    """A one-sigmoid model whose output for row ``[i]`` is ``probabilities[i]``."""
    import keras

    logits = np.log(probabilities / (1 - probabilities)).reshape(-1, 1)
    table = keras.layers.Embedding(len(logits), 1,
                                   embeddings_initializer=keras.initializers.Constant(logits))
    return keras.Sequential([keras.Input(shape=(1,)), table, keras.layers.Flatten(),
                             keras.layers.Activation("sigmoid")])


def test_small_thresholds_are_written_so_that_they_read_true() -> None:
    from autograder.checks.thresholds import as_text

    assert as_text(1e-9) == "0.000000001"
    assert as_text(0.5) == "0.500" and as_text(0.25, 4) == "0.2500"
    assert as_text(0.99995) == "0.99995"
    scores = np.linspace(0.01, 0.99, 40)
    model, x = _scored(scores), np.arange(40).reshape(-1, 1)
    y = (scores > 0.7).astype(int)
    verdict = check_screen(model, x, y, threshold=1e-9, min_recall=0.9, min_precision=0.7)
    assert not verdict.passed
    assert verdict.message.startswith("At threshold 0.000000001 ")
    assert "it flags 100.0% of all rows: raise the threshold" in verdict.message


def test_a_model_of_the_other_class_is_told_to_change_its_positive_class() -> None:
    # Label 0 is the positive class here, but the model scores label-1 rows high.
    scores = np.linspace(0.01, 0.99, 40)
    model, x = _scored(scores), np.arange(40).reshape(-1, 1)
    y = (scores > 0.4).astype(int)
    verdict = check_screen(model, x, y, threshold=0.02, min_recall=0.9, min_precision=0.7,
                           positive=0)
    assert not verdict.passed
    assert "its output is the probability of the other class" in verdict.message
    assert "fit on (y == 0).astype(int)" in verdict.message
    assert "raise" not in verdict.message


def test_the_best_f_beta_threshold_is_the_best_of_every_score() -> None:
    from sklearn.metrics import fbeta_score

    from autograder.checks.thresholds import best_f_beta_threshold, f_beta

    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.1
    scores = np.round(np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0.001, 0.999), 3)
    threshold, best = best_f_beta_threshold(scores, labels, 2.0)
    brute = max(fbeta_score(labels, scores >= cut, beta=2.0) for cut in np.unique(scores))
    assert best == pytest.approx(brute)
    assert f_beta(scores >= threshold, labels, 2.0) == pytest.approx(brute)


def test_a_threshold_not_chosen_by_the_f_beta_rule_on_validation_rows_fails() -> None:
    from autograder.checks.thresholds import best_f_beta_threshold

    rng = np.random.default_rng(5)
    labels = (rng.random(200) < 0.2).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.15), 0.01, 0.99)
    model, x = _scored(scores), np.arange(200, dtype=np.float32).reshape(-1, 1)
    x_train, y_train, x_val, x_test = x[:150], labels[:150], x[:150][::2], x[150:]
    best, _ = best_f_beta_threshold(scores[:150][::2], labels[:150][::2] == 1, 2.0)
    right = check_threshold_choice(best, model, x_val, x_train, y_train, x_test, beta=2.0)
    assert right.passed, str(right)
    wrong = check_threshold_choice(0.9, model, x_val, x_train, y_train, x_test, beta=2.0)
    assert not wrong.passed
    assert "your threshold 0.9000 has an F2 of" in wrong.message
    assert "never choose it on x_test" in wrong.message
    # Lesson 5's grid search is the rule's other exact answer.
    from autograder.checks.thresholds import THRESHOLD_GRID, f_beta

    val_scores, val_positive = scores[:150][::2], labels[:150][::2] == 1
    grid_best = max(THRESHOLD_GRID, key=lambda cut: f_beta(val_scores >= cut, val_positive, 2.0))
    grid = check_threshold_choice(grid_best, model, x_val, x_train, y_train, x_test, beta=2.0)
    assert grid.passed, str(grid)
    on_test = check_threshold_choice(best, model, x_test, x_train, y_train, x_test, beta=2.0)
    assert not on_test.passed and "Some of your validation rows are test rows" in on_test.message
    with pytest.raises(ValueError, match="min_recall or beta"):
        check_threshold_choice(best, model, x_val, x_train, y_train, x_test)


def test_figures_at_a_threshold_equal_to_a_rows_score_count_that_row() -> None:
    # The learner's kernel flags the row whose score is the threshold; this process may score
    # it a float32 rounding lower.
    scores = np.array([0.2, 0.4, 0.6, 0.8])
    model, x = _scored(scores), np.arange(4).reshape(-1, 1)
    y = np.array([0, 1, 0, 1])
    threshold = float(np.float32(0.6)) + 5e-7
    verdict = check_figures(model, x, y, threshold=threshold, precision=0.5, recall=0.5)
    assert verdict.passed, str(verdict)
