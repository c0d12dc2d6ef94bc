"""Assignment 4, a leaky pipeline: reference answer and the assignment as data.

The learner is given tumour records in which a third of the tumours (the hard-to-call ones)
were entered twice, and a pipeline that leaks in two ways: it splits the rows as they come (so
copies of test tumours sit in the training rows) and fits the scaler on every row (so the test
rows' statistics shape the training data). Its model is a wide network trained long enough to
memorise its training rows, so the copies pay: it reports about 0.99 where an honest split of
the same model measures about 0.95. The task text names neither leak. The learner writes a
pipeline without them, chooses the model's settings on validation rows, measures the leaky and
the honest test accuracy side by side, and trains a model that still scores well on grader-only
tumours.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from autograder.grading.manifest import CheckSpec, Export, Verified
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
# Two Dense(128) layers on the 30 standardised features, 50 epochs of batches of 64: the leaky
# pipeline reports 0.987 on its test rows over seeds 0-2, the honest one 0.94-0.97 on its own and
# about 0.97 on grader-only tumours. Each model trains in a few seconds.
EPOCHS = 50

# Runs in the learner's notebook as given; `check_leak_scores` repeats its split.
LEAKY_PIPELINE = """\
def leaky_pipeline(x, y):
    \"\"\"The pipeline to fix: it reports a test accuracy it has not earned.\"\"\"
    scaler = StandardScaler().fit(x)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    model.fit(scaler.transform(x_train), y_train, epochs=min(50, EPOCHS_CAP), batch_size=64,
              verbose=0)
    return model, scaler, x_test, y_test


leaky_model, leaky_scaler, leaky_x_test, leaky_y_test = leaky_pipeline(x, y)"""


def split_and_scale(
    x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, StandardScaler]:
    """Split so that no tumour is on both sides, then fit the scaler on the training rows only.

    Args:
        x: Features of every record, unscaled.
        y: Labels (1 = benign, 0 = malignant).

    Returns:
        ``(x_train, x_test, y_train, y_test, scaler)``: unscaled splits with no row in both,
        and a scaler fitted on ``x_train`` alone.
    """
    # A tumour entered twice is one tumour: keep its first record only.
    _, first = np.unique(x, axis=0, return_index=True)
    keep = np.sort(first)
    x_train, x_test, y_train, y_test = train_test_split(
        x[keep], y[keep], test_size=0.25, random_state=0, stratify=y[keep]
    )
    scaler = StandardScaler().fit(x_train)
    return x_train, x_test, y_train, y_test, scaler


def build_model() -> keras.Model:
    """Build and compile the leaky pipeline's network, for the 30 scaled tumour features.

    The same model as the leaky pipeline's, so that the two scores differ by the leaks alone.

    Returns:
        A compiled model with one sigmoid unit (the probability of label 1, benign).
    """
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train(model: keras.Model, scaler: StandardScaler, x_train: np.ndarray, y_train: np.ndarray,
          epochs: int) -> keras.callbacks.History:
    """Train on the scaled training rows, the last 20 % of them kept for validation.

    Args:
        model: A compiled model from :func:`build_model`.
        scaler: The scaler fitted on ``x_train``.
        x_train: Raw training rows.
        y_train: Their labels.
        epochs: Passes over the data.

    Returns:
        The History: ``history.history["val_loss"]`` is where to choose the epochs.
    """
    return model.fit(scaler.transform(x_train), y_train, epochs=epochs, batch_size=64,
                     validation_split=0.2, verbose=0)


def accuracy(model: keras.Model, scaler: StandardScaler, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of a model on raw rows, scaled as its pipeline scales them.

    Args:
        model: A trained binary classifier.
        scaler: The scaler of the same pipeline.
        x: Raw test features.
        y: Test labels.

    Returns:
        The share of rows predicted right, as a plain float.
    """
    predicted = (model.predict(scaler.transform(x), verbose=0).ravel() >= 0.5).astype(int)
    return float(np.mean(predicted == y))


# What the grade cells hand to `autograder grade`: the raw split, the scaler and the models.
_SPLIT = Export("arrays", "split", "x_train=x_train, x_test=x_test")
_SCALER = Export("scaler", "scaler", "scaler")
_MODEL = Export("model", "model", "model")
_SPLIT_NEEDS = {"x_train": "split_and_scale", "x_test": "split_and_scale",
                "scaler": "split_and_scale"}
_MODEL_NEEDS = {**_SPLIT_NEEDS, "model": "the cell that trains `model`"}

LOAD_DATA = """\
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from autograder import data
from autograder.checks.leak_scores import tumour_records

# Tumour records as the hospital exported them, before any split of your own.
x, y = tumour_records()
print(data.load_breast_cancer().description)
print("records:", x.shape)"""

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("06-leakage-overfitting",),
    title="Assignment 4: fix a leaky pipeline",
    introduction=(
        "The pipeline below reports a test accuracy that it has not earned: information about "
        "the test rows reaches training in two ways. Find both leaks, write a pipeline without "
        "them, and measure how much the leaks were worth. The grader checks your split, your "
        "scaler, both scores, and your model's accuracy on tumours you never see. Run the "
        "first code cell before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## The leaky pipeline\n\n"
            "Run it: it trains `leaky_model` and keeps its test rows as `leaky_x_test`, "
            "`leaky_y_test` (raw, unscaled). Then read it closely and look at the records "
            "themselves: what do the test rows have in common with the training rows?"
        ),
        GivenCode("leaky-pipeline", LEAKY_PIPELINE),
        Instructions(
            "## Part 1: split and scale without leaking\n\n"
            "Write `split_and_scale(x, y)` returning `x_train, x_test, y_train, y_test, scaler`: "
            "**unscaled** splits such that your test score measures tumours the model has never "
            "seen in any form, and a `StandardScaler` fitted without looking at the test rows. "
            "Then call it."
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
            needs=_SPLIT_NEEDS,
        ),
        GradeCell(
            "scaler-from-train", 2,
            "# This cell judges the scaler alone; the cell above judges the rows.\n"
            "autograder.check_split(x_train, x_test, scaler=scaler, judge_rows=False)"
            ".assert_passed();",
            verified=Verified(
                (_SPLIT, _SCALER),
                (CheckSpec("check_split", ("@split.x_train", "@split.x_test"),
                           {"scaler": "@scaler", "judge_rows": False}),),
            ),
            needs=_SPLIT_NEEDS,
        ),
        Instructions(
            "## Part 2: train honestly, and measure both scores\n\n"
            "Write `build_model()` (a compiled binary classifier for the 30 features; the "
            "leaky pipeline's network is a fair choice, so that the two scores differ by the "
            "leaks alone) and train `model` on `scaler.transform(x_train)`. New tumours must go "
            "through the same `scaler` before the model sees them. Choose its settings "
            "(epochs, size) on **validation rows cut from the training rows**, for example "
            "with `validation_split=0.2` in `fit`, and keep `x_test` for one honest score at "
            "the end. Train with `epochs=min(your_choice, EPOCHS_CAP)`: the notebook's first "
            "cell sets `EPOCHS_CAP` to 1000, so it never limits you, and the course's own tests "
            "lower it to run faster.\n\n"
            "Then assign, as plain floats, `leaky_score`: the accuracy of `leaky_model` on "
            "`leaky_scaler.transform(leaky_x_test)` against `leaky_y_test`, and "
            "`honest_score`: the accuracy of your `model` on `scaler.transform(x_test)` against "
            "`y_test` (predict label 1 from a probability of 0.5)."
        ),
        SolutionCode(
            "train-model",
            source_of(build_model, train, accuracy) + "\n\n\n"
            "model = build_model()\n"
            f"history = train(model, scaler, x_train, y_train, epochs=min({EPOCHS}, EPOCHS_CAP))\n"
            "leaky_score = accuracy(leaky_model, leaky_scaler, leaky_x_test, leaky_y_test)\n"
            "honest_score = accuracy(model, scaler, x_test, y_test)\n"
            "print(f\"leaky {leaky_score:.3f}, honest {honest_score:.3f}\")",
        ),
        GradeCell(
            "leaky-and-honest-scores", 2,
            "from autograder.checks.leak_scores import check_leak_scores\n\n"
            "check_leak_scores(\n"
            "    leaky_score, honest_score, leaky_model=leaky_model, leaky_scaler=leaky_scaler,\n"
            "    model=model, scaler=scaler, x_test=x_test,\n"
            ").assert_passed();",
            verified=Verified(
                (Export("answer", "leaky_score", "leaky_score"),
                 Export("answer", "honest_score", "honest_score"),
                 Export("model", "leaky_model", "leaky_model"),
                 Export("scaler", "leaky_scaler", "leaky_scaler"), _MODEL, _SCALER, _SPLIT),
                (CheckSpec("check_leak_scores", ("@leaky_score", "@honest_score"),
                           {"leaky_model": "@leaky_model", "leaky_scaler": "@leaky_scaler",
                            "model": "@model", "scaler": "@scaler",
                            "x_test": "@split.x_test"}),),
            ),
            needs={**_MODEL_NEEDS, "leaky_score": "`leaky_score` and `honest_score`",
                   "honest_score": "`leaky_score` and `honest_score`"},
        ),
        GradeCell(
            "unseen-accuracy", 2,
            "# Here: your test split. The grader measures the same on tumours you have not "
            "seen, scaled by `scaler`.\n"
            "autograder.check_metrics(\n"
            f"    model, scaler.transform(x_test), y_test, min_accuracy={MIN_ACCURACY}\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _SCALER),
                (CheckSpec("check_metrics",
                           ("@model", "@holdout:breast_cancer.x|scaler",
                            "@holdout:breast_cancer.y"),
                           {"min_accuracy": MIN_ACCURACY}),),
            ),
            needs=_MODEL_NEEDS,
        ),
    ),
)
