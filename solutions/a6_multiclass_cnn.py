"""Assignment 6, a small CNN for digits (lesson 4): reference answers and the assignment as data.

The learner builds a convolutional classifier for scikit-learn's 8x8 digits with integer
labels, trains it, and reads its mistakes: the most confused pair of classes from a confusion
matrix, and the top-3 accuracy. The grader checks the model's shapes, loss and convolution, its
accuracy and every class's recall on grader-only images, and both figures, recomputed from the
model on the learner's test split (which the grader rebuilds).
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import confusion_matrix

from autograder.grading.manifest import CheckSpec, Export, Verified
from autograder.render.nbgrader_source import (
    Assignment,
    GivenCode,
    GradeCell,
    Instructions,
    SolutionCode,
    source_of,
)

NAME = "a6_multiclass_cnn"
MIN_ACCURACY = 0.9
MIN_CLASS_RECALL = 0.75
# One 3x3 convolution reaches 0.95 accuracy on the grader's 360 images after 20 epochs, every
# class at 0.85 recall or more (three seeds).
EPOCHS = 20


def build_cnn() -> keras.Model:
    """Build and compile a small CNN for 8x8x1 digit images with integer labels.

    Returns:
        A compiled model: a convolution, then a softmax over the 10 digits.
    """
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(16, kernel_size=3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def most_confused_pair(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """The (true, predicted) pair of different classes the model mixes up most often.

    Args:
        model: The trained classifier.
        x: Images.
        y: Integer labels.

    Returns:
        ``(true class, predicted class)`` of the largest entry off the confusion matrix's
        diagonal.
    """
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    matrix = confusion_matrix(y, predicted, labels=np.arange(10))
    np.fill_diagonal(matrix, -1)
    true_class, predicted_class = np.unravel_index(matrix.argmax(), matrix.shape)
    return int(true_class), int(predicted_class)


def top3(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of images whose true class is among the model's 3 most probable classes.

    Args:
        model: The trained classifier.
        x: Images.
        y: Integer labels.

    Returns:
        The top-3 accuracy as a plain float.
    """
    best3 = np.argsort(model.predict(x, verbose=0), axis=1)[:, -3:]
    return float(np.mean([label in row for label, row in zip(y, best3, strict=True)]))


LOAD_DATA = """\
from autograder import data

digits = data.load_digits()
x_train, y_train = digits.x_train, digits.y_train
x_test, y_test = digits.x_test, digits.y_test
print(digits.description)
print("train:", x_train.shape, "test:", x_test.shape)"""

_MODEL = Export("model", "model", "model")
_NEEDS = {"model": "the cell that trains `model`"}

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("04-multiclass-classification",),
    title="Assignment 6: a small CNN for digits",
    introduction=(
        "Build a small convolutional network for 8x8 handwritten digits, train it, and read "
        "its mistakes. The grader checks the model, its accuracy and the recall of every digit "
        "on images you never see, and two figures you compute from a confusion matrix and "
        "from the predicted probabilities. Run the first code cell before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## Part 1: a CNN\n\n"
            "Write `build_cnn()`: a **compiled** model for images of shape `(8, 8, 1)` with at "
            "least one `Conv2D` layer and one probability per digit (10 classes). The labels "
            "are integers 0-9. Train `model = build_cnn()` on `x_train, y_train` with "
            "`verbose=0`, keeping part of the training images for validation "
            "(`validation_split=0.2` in `fit`): choose the epochs and the layers from the "
            "validation curves, and look at `x_test` only in the checks below, once you have "
            "settled. Train with `epochs=min(your_choice, EPOCHS_CAP)`: the notebook's first "
            "cell sets `EPOCHS_CAP` to 1000, so it never limits you, and the course's own tests "
            "lower it to run faster."
        ),
        SolutionCode(
            "train-cnn",
            source_of(build_cnn) + "\n\n\n"
            "model = build_cnn()\n"
            "# The last 20 % of the training images validate: choose the epochs from "
            "history.history['val_accuracy'].\n"
            f"history = model.fit(x_train, y_train, epochs=min({EPOCHS}, EPOCHS_CAP), "
            "batch_size=32,\n"
            "                    validation_split=0.2, verbose=0)",
        ),
        GradeCell(
            "cnn-shape", 1,
            "from autograder.checks.multiclass import check_cnn\n\n"
            "# autograder.check_model for these shapes, then at least one convolution layer.\n"
            "check_cnn(\n"
            "    model, input_shape=(8, 8, 1), num_classes=10, labels=\"integer\",\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL,),
                (CheckSpec("check_cnn", ("@model",),
                           {"input_shape": [8, 8, 1], "num_classes": 10, "labels": "integer"}),),
            ),
            needs=_NEEDS,
        ),
        GradeCell(
            "unseen-class-recall", 3,
            "# Here: your test split. The grader measures the same on images you have not "
            "seen.\n"
            "from autograder.checks.multiclass import check_class_recall\n\n"
            "check_class_recall(\n"
            f"    model, x_test, y_test, min_accuracy={MIN_ACCURACY}, "
            f"min_class_recall={MIN_CLASS_RECALL},\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL,),
                (CheckSpec("check_class_recall", ("@model", "@holdout:digits.x",
                                                  "@holdout:digits.y"),
                           {"min_accuracy": MIN_ACCURACY,
                            "min_class_recall": MIN_CLASS_RECALL}),),
            ),
            needs=_NEEDS,
        ),
        Instructions(
            "## Part 2: read its mistakes\n\n"
            "On `x_test, y_test`: compute the confusion matrix of `model` (rows are true "
            "classes, columns predicted ones) and assign to `confused_pair` the pair "
            "`(true class, predicted class)` of different digits that the model mixes up most "
            "often. Then assign to `top3_accuracy` the share of test images whose true class "
            "is among the model's three most probable classes, as a plain float."
        ),
        SolutionCode(
            "read-mistakes",
            source_of(most_confused_pair, top3) + "\n\n\n"
            "confused_pair = most_confused_pair(model, x_test, y_test)\n"
            "top3_accuracy = top3(model, x_test, y_test)\n"
            "print(confused_pair, f\"top-3 accuracy {top3_accuracy:.3f}\")",
            before="from sklearn.metrics import confusion_matrix",
        ),
        GradeCell(
            "mistake-figures", 2,
            "from autograder.checks.multiclass import check_multiclass_figures\n\n"
            "check_multiclass_figures(\n"
            "    model, x_test, y_test, confused_pair=confused_pair, top3_accuracy=top3_accuracy,\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, Export("answer", "confused_pair", "confused_pair"),
                 Export("answer", "top3_accuracy", "top3_accuracy")),
                (CheckSpec("check_multiclass_figures",
                           ("@model", "@dataset:digits.x_test", "@dataset:digits.y_test"),
                           {"confused_pair": "@confused_pair",
                            "top3_accuracy": "@top3_accuracy"}),),
            ),
            needs={**_NEEDS, "confused_pair": "most_confused_pair",
                   "top3_accuracy": "top3"},
        ),
    ),
)
