"""The multi-label checks of assignment 8 on its real reference model and its shortcuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _verified import export_and_verify, full_marks

from autograder import data
from autograder.checks.multilabel import (
    check_label_threshold_choice,
    check_label_thresholds,
    check_multilabel_figures,
    precision_at,
)


@pytest.fixture(scope="module")
def reference() -> dict:
    """The reference tagger of assignment 8, trained as the notebook trains it."""
    import keras
    from sklearn.model_selection import train_test_split

    from solutions import a8_multilabel as a8

    keras.utils.set_random_seed(0)
    docs = data.load_multilabel()
    x_fit, x_val, y_fit, y_val = train_test_split(docs.x_train, docs.y_train, test_size=0.25,
                                                  random_state=0)
    model = a8.build_tagger()
    model.fit(x_fit, y_fit, epochs=a8.EPOCHS, batch_size=32, verbose=0)
    return {"model": model, "x_val": x_val, "x_train": docs.x_train, "y_train": docs.y_train,
            "x_test": docs.x_test, "y_test": docs.y_test,
            "thresholds": a8.label_thresholds(model, x_val, y_val),
            "precision_at_k": a8.precision_at_2(model, docs.x_test, docs.y_test),
            "accuracy_misleads": a8.ACCURACY_QUESTION.answer}


@pytest.mark.slow
def test_reference_passes_in_the_kernel_and_in_the_grader(reference: dict, tmp_path: Path) -> None:
    from solutions import a8_multilabel as a8

    holdout = data.load_holdout("multilabel")
    verdict = check_label_thresholds(reference["model"], holdout.x, holdout.y,
                                     thresholds=reference["thresholds"],
                                     min_macro_f1=a8.MIN_MACRO_F1)
    assert verdict.passed, str(verdict)
    assert export_and_verify(tmp_path, a8.ASSIGNMENT, reference) == full_marks(a8.ASSIGNMENT)


@pytest.mark.slow
def test_flagging_every_topic_or_a_grid_threshold_earns_nothing(
        reference: dict, tmp_path: Path) -> None:
    from solutions import a8_multilabel as a8

    scores = export_and_verify(tmp_path, a8.ASSIGNMENT, {**reference, "thresholds": [1e-6] * 5})
    assert scores["unseen-macro-f1"] == 0 and scores["thresholds-from-validation"] == 0
    for bad in ([0.5] * 4, [1.5] * 5, "0.5", [None] * 5):
        verdict = check_label_thresholds(reference["model"], reference["x_test"],
                                         reference["y_test"], thresholds=bad, min_macro_f1=0.5)
        assert not verdict.passed and "thresholds" in verdict.message.lower()
    on_test = check_label_threshold_choice(reference["thresholds"], reference["model"],
                                           reference["x_test"], reference["x_train"],
                                           reference["y_train"], reference["x_test"])
    assert not on_test.passed and "test rows" in on_test.message
    wrong = check_multilabel_figures(reference["model"], reference["x_test"],
                                     reference["y_test"], precision_at_k=1.0, k=2)
    assert not wrong.passed


def test_precision_at_k_counts_true_labels_among_the_top_k() -> None:
    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.3, 0.9]])
    truth = np.array([[1, 0, 1], [0, 1, 1]])
    assert precision_at(scores, truth, 2) == pytest.approx((0.5 + 1.0) / 2)


def test_keras_accuracy_on_multi_hot_targets_raises_nothing_and_the_empty_tagger_scores_high(
        ) -> None:
    # What the graded choice question states: Keras computes an "accuracy" from the shapes
    # without raising, and predicting no topic at all already gets most decisions right.
    import keras

    docs = data.load_multilabel()
    model = keras.Sequential([keras.Input(shape=(20,)),
                              keras.layers.Dense(5, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(docs.x_train[:64], docs.y_train[:64], epochs=1, verbose=0)
    assert "accuracy" in history.history
    assert float(np.mean(docs.y_test == 0)) == pytest.approx(0.55, abs=0.01)
