"""The CNN checks of assignment 6 on its real reference model, a shortcut and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _verified import export_and_verify, full_marks

from autograder import data
from autograder.checks.multiclass import check_class_recall, check_cnn, check_multiclass_figures


@pytest.fixture(scope="module")
def reference() -> dict:
    """The reference CNN of assignment 6, trained as the notebook trains it."""
    import keras

    from solutions import a6_multiclass_cnn as a6

    keras.utils.set_random_seed(0)
    digits = data.load_digits()
    model = a6.build_cnn()
    model.fit(digits.x_train, digits.y_train, epochs=a6.EPOCHS, batch_size=32, verbose=0)
    return {"model": model, "x_test": digits.x_test, "y_test": digits.y_test,
            "confused_pair": a6.most_confused_pair(model, digits.x_test, digits.y_test),
            "top3_accuracy": a6.top3(model, digits.x_test, digits.y_test)}


@pytest.mark.slow
def test_reference_passes_in_the_kernel_and_in_the_grader(reference: dict, tmp_path: Path) -> None:
    from solutions import a6_multiclass_cnn as a6

    holdout = data.load_holdout("digits")
    verdict = check_class_recall(reference["model"], holdout.x, holdout.y,
                                 min_accuracy=a6.MIN_ACCURACY,
                                 min_class_recall=a6.MIN_CLASS_RECALL)
    assert verdict.passed, str(verdict)
    assert check_cnn(reference["model"]).passed
    assert export_and_verify(tmp_path, a6.ASSIGNMENT, reference) == full_marks(a6.ASSIGNMENT)


@pytest.mark.slow
def test_top1_reported_as_top3_and_a_wrong_pair_earn_nothing(reference: dict) -> None:
    import autograder

    args = (reference["model"], reference["x_test"], reference["y_test"])
    top1 = autograder.check_metrics(*args).metrics["accuracy"]
    assert reference["top3_accuracy"] - top1 > 0.01
    shortcut = check_multiclass_figures(*args, top3_accuracy=top1)
    assert not shortcut.passed and shortcut.fraction == 0
    predicted = reference["model"].predict(reference["x_test"], verbose=0).argmax(axis=1)
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(reference["y_test"], predicted, labels=np.arange(10))
    never = next((t, p) for t in range(10) for p in range(10) if t != p and matrix[t, p] == 0)
    assert not check_multiclass_figures(*args, confused_pair=never).passed
    for malformed in ((3, 3), (3,), ("3", "5"), (3, 12)):
        verdict = check_multiclass_figures(*args, confused_pair=malformed)
        assert not verdict.passed and "two different class numbers" in verdict.message


def test_a_model_without_convolution_is_not_a_cnn() -> None:
    import keras

    mlp = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    verdict = check_cnn(mlp)
    assert not verdict.passed and "Conv2D" in verdict.message
