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
            "accuracy_misleads": a8.ACCURACY_QUESTION.answer,
            "multilabel_activation": a8.ACTIVATION_QUESTION.answer, "y_val": y_val}


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


def test_keras_accuracy_on_multi_hot_targets_raises_nothing_and_the_majority_rule_beats_06(
        ) -> None:
    # What the graded choice question states: Keras computes an "accuracy" from the shapes
    # without raising, and giving each topic its more common answer in every document gets
    # about 0.67 of the decisions right, above the colleague's 0.6, on every split.
    import keras

    docs = data.load_multilabel()
    model = keras.Sequential([keras.Input(shape=(20,)),
                              keras.layers.Dense(5, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(docs.x_train[:64], docs.y_train[:64], epochs=1, verbose=0)
    assert "accuracy" in history.history
    common = docs.y_train.mean(axis=0) >= 0.5
    for y in (docs.y_train, docs.y_test, data.load_holdout("multilabel").y):
        assert float(np.mean(y == common)) == pytest.approx(0.67, abs=0.01)
    # The distractor's subset accuracy is another figure: the share of documents with all
    # five topics right, far below the per-decision figure of the same rule.
    assert float(np.mean(np.all(docs.y_test == common, axis=1))) < 0.3


def test_accuracy_misleads_gives_nothing_away_by_its_surface() -> None:
    import re

    from solutions import a8_multilabel as a8

    absolute = re.compile(r"\b(always|never|only|at all|nothing|none|cannot|can't|impossible|"
                          r"guaranteed?|everything|no matter)\b", re.IGNORECASE)
    choices = a8._ACCURACY_MISLEADS.choices
    right = next(choice for choice in choices if choice.correct)
    assert sorted(len(c.text) for c in choices)[0] < len(right.text) < max(
        len(c.text) for c in choices)
    assert [c.text for c in choices if absolute.search(c.text)] == []


def _grid_thresholds(model, x_val, y_val) -> np.ndarray:
    """Lesson 8's search: the best F1 of a 0.05-step grid, per label, as a NumPy array."""
    from sklearn.metrics import f1_score

    val_scores = model.predict(x_val, verbose=0)
    candidates = np.round(np.arange(0.05, 0.96, 0.05), 2)
    return np.array([
        max(candidates, key=lambda t, j=j: f1_score(y_val[:, j], val_scores[:, j] >= t,
                                                    zero_division=0))
        for j in range(y_val.shape[1])
    ])


@pytest.mark.slow
def test_the_lessons_grid_search_and_a_numpy_array_pass_in_the_kernel_and_the_grader(
        reference: dict, tmp_path: Path) -> None:
    from solutions import a8_multilabel as a8

    grid = _grid_thresholds(reference["model"], reference["x_val"], reference["y_val"])
    assert type(grid) is np.ndarray
    verdict = check_label_threshold_choice(grid, reference["model"], reference["x_val"],
                                           reference["x_train"], reference["y_train"],
                                           reference["x_test"])
    assert verdict.passed, str(verdict)
    exhaustive = np.asarray(reference["thresholds"], dtype=np.float32)
    for thresholds in (grid, exhaustive):
        namespace = {**reference, "thresholds": thresholds,
                     "precision_at_k": np.float32(reference["precision_at_k"])}
        assert export_and_verify(tmp_path / str(id(thresholds)), a8.ASSIGNMENT,
                                 namespace) == full_marks(a8.ASSIGNMENT)
    figure = check_multilabel_figures(reference["model"], reference["x_test"],
                                      reference["y_test"], k=2,
                                      precision_at_k=np.array(reference["precision_at_k"]))
    assert figure.passed, str(figure)


@pytest.mark.slow
def test_a_threshold_below_the_grids_best_costs_the_task_and_says_so(reference: dict,
                                                                    tmp_path: Path) -> None:
    from autograder.checks.multilabel import GRID, best_f1
    from solutions import a8_multilabel as a8

    model, x_val, y_val = reference["model"], reference["x_val"], reference["y_val"]
    scores = model.predict(x_val, verbose=0)
    # 0.5 for every label: the rare label 1 does worse there than at the best of the grid.
    at_half = [float(np.mean(2 * np.sum((scores[:, j] >= 0.5) & (y_val[:, j] == 1))) / (
        np.sum(scores[:, j] >= 0.5) + np.sum(y_val[:, j]))) for j in range(5)]
    short = [j for j in range(5) if at_half[j] < best_f1(scores[:, j], y_val[:, j] == 1, GRID)
             - 1e-9]
    assert short, "0.5 is the grid's best for every label of this model"
    verdict = check_label_threshold_choice([0.5] * 5, model, x_val, reference["x_train"],
                                           reference["y_train"], reference["x_test"])
    assert not verdict.passed and verdict.fraction == 0
    assert f"label {short[0]} (F1 {at_half[short[0]]:.3f} at 0.5" in verdict.message
    assert "0.05, 0.10, ..., 0.95" in verdict.message
    scores = export_and_verify(tmp_path, a8.ASSIGNMENT, {**reference, "thresholds": [0.5] * 5})
    assert scores["thresholds-from-validation"] == 0


def test_thresholds_in_the_wrong_shape_fail_alike_in_the_kernel_and_the_grader() -> None:
    import keras

    model = keras.Sequential([keras.Input(shape=(20,)),
                              keras.layers.Dense(5, activation="sigmoid")])
    docs = data.load_multilabel()
    row = np.full((1, 5), 0.4)
    kernel = check_label_thresholds(model, docs.x_test, docs.y_test, thresholds=row,
                                    min_macro_f1=0.5)
    grader = check_label_thresholds(model, docs.x_test, docs.y_test, thresholds=row.tolist(),
                                    min_macro_f1=0.5)
    assert not kernel.passed and kernel.message == grader.message
    assert "1-D array" in kernel.message
    same = [check_label_thresholds(model, docs.x_test, docs.y_test, thresholds=value,
                                   min_macro_f1=0.0) for value in (np.full(5, 0.4), [0.4] * 5)]
    assert same[0].passed and same[0].message == same[1].message
