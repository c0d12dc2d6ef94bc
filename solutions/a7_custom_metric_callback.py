"""Assignment 7, a custom metric and a callback (lesson 7): reference answers and the data.

The learner writes a stateful ``keras.metrics.Metric`` subclass for specificity and a callback
that records the loss every N epochs. Learner classes cannot be loaded outside the kernel, so
the grade cells run them on inputs the checks define (rows from a seed that only the grader
knows, batched in several ways, with ``reset_state()`` between) and hand the grader the results
as plain data; the grader recomputes scikit-learn's figures from the same seed.
"""

from __future__ import annotations

import keras
import numpy as np

from autograder.grading.manifest import CheckSpec, Verified
from autograder.render.nbgrader_source import (
    Assignment,
    GivenCode,
    GradeCell,
    Instructions,
    QuizAnswer,
    SolutionCode,
    right_answer,
    source_of,
)
from autograder.schema import Choice, SingleChoice

NAME = "a7_custom_metric_callback"
# Seed of the rows the grade cell feeds the metric; it appears only in hidden tests and the
# grading manifest.
GRADER_SEED = 73_911
EVERY = 2
EPOCHS = 6


class Specificity(keras.metrics.Metric):
    """Share of the true negatives (label 0) that the model predicts as negative."""

    def __init__(self, threshold=0.5, name="specificity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.true_negatives = self.add_variable(shape=(), initializer="zeros", name="tn")
        self.false_positives = self.add_variable(shape=(), initializer="zeros", name="fp")

    def update_state(self, y_true, y_pred, sample_weight=None):
        negative = 1.0 - keras.ops.reshape(keras.ops.cast(y_true, "float32"), (-1,))
        flagged = keras.ops.cast(keras.ops.reshape(y_pred, (-1,)) >= self.threshold, "float32")
        self.true_negatives.assign_add(keras.ops.sum(negative * (1.0 - flagged)))
        self.false_positives.assign_add(keras.ops.sum(negative * flagged))

    def result(self):
        return keras.ops.divide_no_nan(
            self.true_negatives, self.true_negatives + self.false_positives
        )

    def reset_state(self):
        self.true_negatives.assign(0.0)
        self.false_positives.assign(0.0)


class EveryNEpochs(keras.callbacks.Callback):
    """Record the training loss every ``every`` epochs as ``(epoch, loss)``, epochs from 1."""

    def __init__(self, every=2):
        super().__init__()
        self.every = every
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.records.append((epoch + 1, float(logs["loss"])))


def train_with_both(x: np.ndarray, y: np.ndarray, epochs: int) -> tuple[keras.Model, list]:
    """Train a logistic regression with the metric compiled in and the callback attached.

    Args:
        x: Scaled features.
        y: 0/1 labels.
        epochs: Passes over the data.

    Returns:
        ``(model, records)``: the trained model and what the callback recorded.
    """
    model = keras.Sequential([keras.Input(shape=(x.shape[1],)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[Specificity()])
    recorder = EveryNEpochs(every=2)
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[recorder])
    return model, recorder.records


_WHY_STATE = SingleChoice(
    id="why_state", hints=(), solution="",
    prompt="Your `Specificity` keeps running counts of true negatives and false positives "
           "and divides only in `result()`. Why not compute the ratio of each batch in "
           "`update_state()` and report the mean of those ratios?",
    choices=(
        Choice("Keras calls `result()` only once per epoch, so per-batch ratios would be "
               "lost.",
               "Keras may call `result()` after every batch (the progress bar does); the "
               "problem is the arithmetic, not when it is called."),
        Choice("The mean of per-batch ratios is the same number, only slower to compute.",
               "It is not the same number: batches hold different numbers of negatives, "
               "so each ratio has a different weight in the true figure."),
        Choice("Batches hold different numbers of negatives, so the mean of the batch "
               "ratios is not the ratio over all rows: the figure would depend on the "
               "batch size.",
               "Counts add up across batches; ratios do not.", correct=True),
        Choice("State variables are needed so that `reset_state()` can be skipped.",
               "`reset_state()` is what sets those variables back to zero between epochs; "
               "it is needed precisely because there is state."),
    ),
)

STATE_QUESTION = QuizAnswer(
    "why_state", _WHY_STATE, right_answer(_WHY_STATE),
    how_to_answer='the letter listed for the option you pick, such as "B", or its text.',
)

LOAD_DATA = """\
from sklearn.preprocessing import StandardScaler

from autograder import data

cancer = data.load_breast_cancer()
scaler = StandardScaler().fit(cancer.x_train)
x_train, y_train = scaler.transform(cancer.x_train), cancer.y_train
print(cancer.description)"""

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("07-custom-metrics-callbacks",),
    title="Assignment 7: a custom metric and a callback",
    introduction=(
        "Keras has no specificity metric; you will write one, as a stateful "
        "`keras.metrics.Metric` that gives the same figure however the rows are cut into "
        "batches. Then you will write a callback that records the loss every few epochs. The "
        "grader feeds your metric rows you never see, batched in several ways, and compares "
        "every result with scikit-learn's. Run the first code cell before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## Part 1: specificity as a stateful metric\n\n"
            "Write `class Specificity(keras.metrics.Metric)`: the share of true negatives "
            "(label 0) predicted negative, where a probability of at least 0.5 predicts label "
            "1. It must be built with no arguments, accept batches of any size in "
            "`update_state(y_true, y_pred, sample_weight=None)` (labels and probabilities of "
            "shape `(n, 1)`), return one number from `result()`, and start over after "
            "`reset_state()`."
        ),
        SolutionCode("specificity", source_of(Specificity)),
        GradeCell(
            "metric-matches-sklearn", 3,
            "from autograder.checks.custom import check_metric_class\n\n"
            "check_metric_class(Specificity, figure=\"specificity\").assert_passed();",
            run_first="from autograder.checks.custom import check_metric_class\n"
                      f"_unseen = check_metric_class(Specificity, figure=\"specificity\", "
                      f"seed={GRADER_SEED}, export=\"metric_results\")",
            hidden="_unseen.assert_passed();",
            verified=Verified(
                (),
                (CheckSpec("check_metric_results", ("@metric_results",),
                           {"seed": GRADER_SEED, "figure": "specificity"}),),
            ),
            needs={"Specificity": "Specificity"},
        ),
        Instructions(
            "## Part 2: a callback\n\n"
            "Write `class EveryNEpochs(keras.callbacks.Callback)`, built as "
            "`EveryNEpochs(every=2)`: it keeps a list `records` of `(epoch, loss)` pairs, one "
            "every `every` epochs, epochs counted from 1 and the loss a plain float from the "
            "epoch's logs. Then train a model with your metric compiled in and your callback "
            "attached."
        ),
        SolutionCode(
            "every-n-epochs",
            source_of(EveryNEpochs, train_with_both) + "\n\n\n"
            f"model, records = train_with_both(x_train, y_train, epochs=min({EPOCHS}, "
            "EPOCHS_CAP))\n"
            "print(records)",
        ),
        GradeCell(
            "callback-records", 2,
            "from autograder.checks.custom import check_callback_class\n\n"
            f"check_callback_class(EveryNEpochs, every={EVERY}, epochs={EPOCHS}, "
            "export=\"callback\").assert_passed();",
            verified=Verified(
                (),
                (CheckSpec("check_callback_records", ("@callback_records", "@callback_losses"),
                           {"every": EVERY}),),
            ),
            needs={"EveryNEpochs": "EveryNEpochs"},
        ),
        STATE_QUESTION,
    ),
)
