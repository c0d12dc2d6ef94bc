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
    model.fit(digits.x_train, digits.y_train, epochs=a6.EPOCHS, batch_size=32,
              validation_split=0.2, verbose=0)
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


def _fixed(outputs: np.ndarray):
    """A model that outputs the given rows, one per example index."""
    import keras

    table = keras.layers.Embedding(len(outputs), outputs.shape[1],
                                   embeddings_initializer=keras.initializers.Constant(outputs))
    return keras.Sequential([keras.Input(shape=(1,)), table, keras.layers.Flatten(),
                             keras.layers.Softmax()])


def test_messages_read_as_sentences_and_say_what_each_figure_is() -> None:
    # Ten images per class, each predicted right except class 8, always taken for a 3.
    y = np.repeat(np.arange(10), 10)
    predicted = np.where(y == 8, 3, y)
    logits = np.full((100, 10), -5.0)
    logits[np.arange(100), predicted] = 5.0
    logits[np.arange(100), (predicted + 1) % 10] = 2.0
    logits[y == 8, 8] = 1.0  # third most probable: the top-3 accuracy is 1
    model, x = _fixed(logits), np.arange(100).reshape(-1, 1)
    verdict = check_class_recall(model, x, y, min_accuracy=0.95, min_class_recall=0.75)
    assert not verdict.passed
    assert verdict.message.startswith("Your model's accuracy is 90.0%, below the 95% it needs")
    assert "Your model finds too few examples of class 8 (recall 0%)" in verdict.message
    assert "the model finds" not in verdict.message and "model's the" not in verdict.message
    right = check_multiclass_figures(model, x, y, confused_pair=(8, 3), top3_accuracy=1.0)
    assert right.passed, str(right)
    assert "mistakes class 8 for 3 on 10 of these images, more than any other pair" in str(right)
    # The pair is not a figure: it never prints as a number among them.
    assert "confused_pair" not in right.metrics and "confused_pair =" not in str(right)
    top1 = check_multiclass_figures(model, x, y, top3_accuracy=0.9)
    assert not top1.passed and "That is the top-1 accuracy" in top1.message
    other = check_multiclass_figures(model, x, y, confused_pair=(3, 8))
    assert not other.passed
    assert ("mistakes class 3 for 8 on 0 of these images, but another pair is confused on "
            "10") in other.message


def test_the_cnn_task_is_one_check_of_shapes_loss_and_convolution() -> None:
    import keras

    def cnn(loss: str) -> keras.Model:
        model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Conv2D(4, 3),
                                  keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss=loss)
        return model

    shapes = {"input_shape": [8, 8, 1], "num_classes": 10, "labels": "integer"}
    right = check_cnn(cnn("sparse_categorical_crossentropy"), **shapes)
    assert right.passed and "convolution layer" in right.message and "(None, 10)" in right.message
    wrong_loss = check_cnn(cnn("mse"), **shapes)
    assert not wrong_loss.passed and wrong_loss.check == "check_model"
    assert "regression loss" in wrong_loss.message
    mlp = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    dense = check_cnn(mlp, **shapes)
    assert not dense.passed and "needs at least one convolution layer" in dense.message
