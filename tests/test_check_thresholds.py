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
