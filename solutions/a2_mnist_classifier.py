"""Assignment 2, an MNIST classifier: reference answer and the assignment as data.

The learner builds a compiled classifier for 28x28x1 digit images with integer labels, trains
it on the 3,200-image learner split with a fifth of it kept for validation, and chooses the
epochs from the validation curve. The grader checks the model's shapes and loss, its accuracy
on the learner's own test split, and (hidden) its accuracy on grader-only images.
"""

from __future__ import annotations

import keras
import numpy as np

from autograder.grading.manifest import CheckSpec, Export, Verified
from autograder.render.nbgrader_source import (
    Assignment,
    GivenCode,
    GradeCell,
    Instructions,
    SolutionCode,
    model_check_cell,
    source_of,
)

NAME = "a2_mnist_classifier"
MIN_ACCURACY = 0.9
# A two-layer perceptron trained on 80 % of the 3,200 training images (the rest validate):
# its validation accuracy rises to about 0.90 over 8 epochs (it flattens from about the 6th),
# and it reaches 0.924-0.929 on the grader's reserve images over seeds 0-2, in about 4 s of CPU.
EPOCHS = 8


def build_model() -> keras.Model:
    """Build and compile a classifier for 28x28x1 MNIST images with integer labels.

    Returns:
        A compiled model with a softmax over the 10 digits and sparse categorical
        cross-entropy.
    """
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def train(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray,
          epochs: int) -> keras.callbacks.History:
    """Train the model quietly, the last 20 % of the training images kept for validation.

    Args:
        model: A compiled model from :func:`build_model`.
        x_train: Images, shape (n, 28, 28, 1).
        y_train: Integer labels, shape (n,).
        epochs: Passes over the training data.

    Returns:
        The History: ``history.history["val_accuracy"]`` is where to choose the epochs.
    """
    return model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.2,
                     verbose=0)


def _metrics_on(x: str, y: str) -> Verified:
    """Re-check of `model`'s accuracy on the given rows, for ``autograder grade``."""
    return Verified(
        (Export("model", "model", "model"),),
        (CheckSpec("check_metrics", ("@model", x, y), {"min_accuracy": MIN_ACCURACY}),),
    )


_NEEDS = {"model": "the cell that trains `model`"}

LOAD_DATA = """\
from autograder import data

mnist = data.load_mnist()
x_train, y_train = mnist.x_train, mnist.y_train
x_test, y_test = mnist.x_test, mnist.y_test
print(mnist.description)
print("train:", x_train.shape, "test:", x_test.shape)"""

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("02-compile-fit-evaluate",),
    title="Assignment 2: an MNIST classifier",
    introduction=(
        "Build, compile and train a classifier for handwritten digits. You are graded on the "
        "model's shapes and loss, on its accuracy on your test split, and on its accuracy on "
        "images held back by the grader, which you never see: a model that memorised your "
        "training images will not pass that part. Run the first code cell before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## Part 1: build the model\n\n"
            "Write `build_model()`: it returns a **compiled** model that takes images of shape "
            "`(28, 28, 1)` and outputs one probability per digit (10 classes). The labels are "
            "integers 0-9, not one-hot rows; pick the loss that fits them."
        ),
        SolutionCode("build-model", source_of(build_model)),
        model_check_cell(
            "build-model-test", 2, (Export("model", "built_model", "build_model()"),),
            input_shape=(28, 28, 1), num_classes=10, labels="integer",
            needs={"build_model": "build_model"},
        ),
        Instructions(
            "## Part 2: train it\n\n"
            "Create `model = build_model()` and train it on `x_train, y_train`, keeping part of "
            "the training images for validation (`validation_split=0.2` in `fit`, as in lesson "
            "2). Choose the number of epochs from the validation curve in `history.history` "
            "(where `val_accuracy` stops rising), never from the test split: `x_test` is for "
            "one check at the end. A few epochs are enough to reach an accuracy of "
            f"{MIN_ACCURACY} on unseen images. Train with `epochs=min(your_choice, "
            "EPOCHS_CAP)`: the notebook's first cell sets `EPOCHS_CAP` to 1000, so it never "
            "limits you, and the course's own tests lower it to run faster. Pass `verbose=0` "
            "to keep the notebook short."
        ),
        SolutionCode(
            "train-model",
            source_of(train) + "\n\n\n"
            "model = build_model()\n"
            f"history = train(model, x_train, y_train, epochs=min({EPOCHS}, EPOCHS_CAP))\n"
            "print(\"validation accuracy by epoch:\", "
            "[round(a, 3) for a in history.history[\"val_accuracy\"]])",
        ),
        GradeCell(
            "test-accuracy", 1,
            f"autograder.check_metrics(model, x_test, y_test, min_accuracy={MIN_ACCURACY})"
            ".assert_passed();",
            verified=_metrics_on("@dataset:mnist.x_test", "@dataset:mnist.y_test"),
            needs=_NEEDS,
        ),
        GradeCell(
            "unseen-accuracy", 3,
            "# Here: your test split. The grader measures the same on digit images you have "
            "not seen.\n"
            f"autograder.check_metrics(model, x_test, y_test, min_accuracy={MIN_ACCURACY})"
            ".assert_passed();",
            verified=_metrics_on("@holdout:mnist.x", "@holdout:mnist.y"),
            needs=_NEEDS,
        ),
    ),
)
