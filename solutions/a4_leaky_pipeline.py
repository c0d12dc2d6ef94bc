"""Assignment 4, a leaky pipeline: reference answer and the assignment as data.

The learner is given a pipeline that leaks in two ways: it duplicates rows before splitting (so
copies of test rows sit in the training set) and fits the scaler on every row (so the test set's
statistics shape the training data). They rewrite it to split first, fit the scaler on the
training rows only, and train a model that still scores well on grader-only tumours.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from autograder.manifest import CheckSpec, Export, Verified
from autograder.render.nbgrader_source import (
    Assignment,
    GivenCode,
    GradeCell,
    Instructions,
    SolutionCode,
    source_of,
)

NAME = "a4_leaky_pipeline"
MIN_ACCURACY = 0.9
# A logistic regression on the 30 standardised features reaches about 0.95 on grader-only
# tumours within 30 epochs.
EPOCHS = 30

LEAKY_PIPELINE = """\
# Duplicate the malignant tumours (label 0) so the classes look balanced ...
x_more = np.concatenate([x, x[y == 0]])
y_more = np.concatenate([y, y[y == 0]])
# ... scale with statistics of every row ...
scaler = StandardScaler().fit(x_more)
# ... and only then split.
x_train, x_test, y_train, y_test = train_test_split(
    x_more, y_more, test_size=0.25, random_state=0
)
model = build_model()
model.fit(scaler.transform(x_train), y_train, epochs=30, verbose=0)"""


def split_and_scale(
    x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, StandardScaler]:
    """Split first, then fit the scaler on the training rows only.

    Args:
        x: Features of every tumour, unscaled.
        y: Labels (1 = benign, 0 = malignant).

    Returns:
        ``(x_train, x_test, y_train, y_test, scaler)``: unscaled splits with no row in both,
        and a scaler fitted on ``x_train`` alone.
    """
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return x_train, x_test, y_train, y_test, scaler


def build_model() -> keras.Model:
    """Build and compile a logistic regression for the 30 scaled tumour features.

    Returns:
        A compiled model with one sigmoid unit (the probability of label 1, benign).
    """
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


# What the grade cells hand to `autograder grade`: the raw split, the scaler and the model.
_SPLIT = Export("arrays", "split", "x_train=x_train, x_test=x_test, y_test=y_test")
_SCALER = Export("scaler", "scaler", "scaler")
_MODEL = Export("model", "model", "model")


def _accuracy_check(x: str, y: str) -> Verified:
    """Re-check of `model` on rows scaled by the learner's exported scaler."""
    return Verified(
        (_MODEL, _SCALER, _SPLIT),
        (CheckSpec("check_metrics", ("@model", f"{x}|scaler", y),
                   {"min_accuracy": MIN_ACCURACY}),),
    )


LOAD_DATA = """\
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from autograder import data

cancer = data.load_breast_cancer()
# All the tumours you are given, before any split of your own.
x = np.concatenate([cancer.x_train, cancer.x_test])
y = np.concatenate([cancer.y_train, cancer.y_test])
print(cancer.description)
print("rows:", x.shape)"""

ASSIGNMENT = Assignment(
    name=NAME,
    title="Assignment 4: fix a leaky pipeline",
    introduction=(
        "The pipeline below reports a test accuracy that it has not earned: information about "
        "the test rows leaks into training in two ways. Find both leaks, write a pipeline "
        "without them, and train a model on it. The grader checks the split, the scaler, and "
        "the model's accuracy on tumours you never see. Run the first code cell before "
        "anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## The leaky pipeline (read it, do not run it)\n\n"
            f"```python\n{LEAKY_PIPELINE}\n```"
        ),
        Instructions(
            "## Part 1: split and scale without leaking\n\n"
            "Write `split_and_scale(x, y)` returning `x_train, x_test, y_train, y_test, scaler`: "
            "**unscaled** splits that share no row, and a `StandardScaler` fitted on the training "
            "rows alone. If you want to balance the classes, duplicate rows only inside the "
            "training set, after the split. Then call it."
        ),
        SolutionCode(
            "split-and-scale",
            source_of(split_and_scale) + "\n\n\n"
            "x_train, x_test, y_train, y_test, scaler = split_and_scale(x, y)",
        ),
        GradeCell(
            "no-shared-rows", 2,
            "autograder.check_split(x_train, x_test).assert_passed();",
            verified=Verified(
                (_SPLIT,), (CheckSpec("check_split", ("@split.x_train", "@split.x_test")),)
            ),
        ),
        GradeCell(
            "scaler-from-train", 2,
            "autograder.check_split(x_train, x_test, scaler=scaler).assert_passed();",
            verified=Verified(
                (_SPLIT, _SCALER),
                (CheckSpec("check_split", ("@split.x_train", "@split.x_test"),
                           {"scaler": "@scaler"}),),
            ),
        ),
        Instructions(
            "## Part 2: train on the scaled training rows\n\n"
            "Write `build_model()` (a compiled binary classifier for the 30 features) and train "
            "`model` on `scaler.transform(x_train)`. New tumours must go through the same "
            "`scaler` before the model sees them. Use `epochs=min(your_choice, EPOCHS_CAP)`."
        ),
        SolutionCode(
            "train-model",
            source_of(build_model) + "\n\n\n"
            "model = build_model()\n"
            "history = model.fit(\n"
            f"    scaler.transform(x_train), y_train, epochs=min({EPOCHS}, EPOCHS_CAP), verbose=0\n"
            ")",
        ),
        GradeCell(
            "test-accuracy", 1,
            "autograder.check_metrics(\n"
            f"    model, scaler.transform(x_test), y_test, min_accuracy={MIN_ACCURACY}\n"
            ").assert_passed();",
            verified=_accuracy_check("@split.x_test", "@split.y_test"),
        ),
        GradeCell(
            "unseen-accuracy", 2,
            "# The grader also measures `model` on tumours you have not seen, scaled by `scaler`.\n"
            "assert \"model\" in globals() and \"scaler\" in globals(), "
            "\"Define `scaler` and `model` above.\"",
            "holdout = autograder.data.load_holdout(\"breast_cancer\")\n"
            "autograder.check_metrics(\n"
            f"    model, scaler.transform(holdout.x), holdout.y, min_accuracy={MIN_ACCURACY}\n"
            ").assert_passed();",
            verified=_accuracy_check("@holdout:breast_cancer.x", "@holdout:breast_cancer.y"),
        ),
    ),
)
