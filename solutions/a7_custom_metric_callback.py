"""Assignment 7, a custom metric and a callback (lesson 7): reference answers and the data.

The learner writes a stateful ``keras.metrics.Metric`` subclass for the Matthews correlation
coefficient (MCC: Keras has none, and lesson 7 does not write it out) and a callback that records
the loss every N epochs. Learner classes cannot be loaded outside the kernel, so
the grade cells run them on inputs the checks define (rows from a seed that only the grader
knows, fed as one batch, batched in several ways, and after ``reset_state()``) and hand the
grader the results as plain data; the grader recomputes scikit-learn's figures from the same seed
and pays for the metric only when every result is right.
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


class MatthewsCorrelation(keras.metrics.Metric):
    """Matthews correlation coefficient of 0/1 labels, a probability of at least 0.5 meaning 1."""

    def __init__(self, threshold=0.5, name="mcc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        # One running count per cell of the confusion matrix. The inherited reset_state() sets
        # every variable made with add_variable back to its initializer, zeros here, so this
        # metric needs no reset_state() of its own.
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="tp")
        self.true_negatives = self.add_variable(shape=(), initializer="zeros", name="tn")
        self.false_positives = self.add_variable(shape=(), initializer="zeros", name="fp")
        self.false_negatives = self.add_variable(shape=(), initializer="zeros", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        positive = keras.ops.reshape(keras.ops.cast(y_true, "float32"), (-1,))
        flagged = keras.ops.cast(keras.ops.reshape(y_pred, (-1,)) >= self.threshold, "float32")
        # A row's weight counts it that many times (1 for every row when fit passes none).
        weight = (keras.ops.ones_like(positive) if sample_weight is None
                  else keras.ops.reshape(keras.ops.cast(sample_weight, "float32"), (-1,)))
        self.true_positives.assign_add(keras.ops.sum(weight * positive * flagged))
        self.true_negatives.assign_add(keras.ops.sum(weight * (1 - positive) * (1 - flagged)))
        self.false_positives.assign_add(keras.ops.sum(weight * (1 - positive) * flagged))
        self.false_negatives.assign_add(keras.ops.sum(weight * positive * (1 - flagged)))

    def result(self):
        tp, tn = self.true_positives, self.true_negatives
        fp, fn = self.false_positives, self.false_negatives
        spread = keras.ops.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        # 0 when a row or column of the confusion matrix is empty, as scikit-learn returns.
        return keras.ops.divide_no_nan(tp * tn - fp * fn, spread)


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
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[MatthewsCorrelation()])
    recorder = EveryNEpochs(every=2)
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[recorder])
    return model, recorder.records


_WHY_STATE = SingleChoice(
    id="why_state", hints=(), solution="",
    prompt="Your `MatthewsCorrelation` adds each batch's four counts to running totals and "
           "computes the coefficient from the totals in `result()`. A classmate's metric "
           "computes each batch's coefficient in `update_state()` and reports the mean of those "
           "coefficients. Trained on the same data, the two metrics report different figures. "
           "Why?",
    choices=(
        Choice("The coefficient of all the rows is not the mean of the coefficients of their "
               "batches: the classmate's figure moves with the batching.",
               "Counts add up across batches; coefficients do not.", correct=True),
        Choice("Keras reads `result()` once, after the last batch of an epoch, so the "
               "classmate's coefficients of all of the earlier batches are lost.",
               "Keras reads `result()` after every batch (for the progress bar and the logs), "
               "and the classmate's mean is kept in state too: the arithmetic is what differs, "
               "not when it is read."),
        Choice("Keras calls `reset_state()` after each batch, so the classmate's mean starts "
               "over with every batch while the running totals survive.",
               "Keras resets a metric at the start of each epoch and of each evaluate(), not "
               "after each batch; a reset after every batch would wipe the running totals too."),
        Choice("The classmate's mean adds many small float32 fractions, and their rounding "
               "errors add up to the gap between the two figures.",
               "The gap is far larger than float32 rounding (a few millionths): on the rows of "
               "the notebook's own check, cut into four batches, it is about 0.02. The mean of "
               "batch coefficients is a different figure."),
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
        "Keras has no metric for the Matthews correlation coefficient; you will write one, as "
        "a stateful `keras.metrics.Metric` that gives the same figure however the rows are cut "
        "into batches. Then you will write a callback that records the loss every few epochs. "
        "The grader feeds your metric rows you never see, as one batch, batched in several "
        "ways and after a reset, and compares every result with scikit-learn's. Run the first "
        "code cell before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## Part 1: the Matthews correlation as a stateful metric\n\n"
            "The Matthews correlation coefficient (MCC) sums up a confusion matrix in one "
            "figure that stays informative when one class is rare. With the counts TP, TN, FP "
            "and FN of true and false positives and negatives,\n\n"
            "$$\\mathrm{MCC} = \\frac{TP \\cdot TN - FP \\cdot FN}"
            "{\\sqrt{(TP + FP)(TP + FN)(TN + FP)(TN + FN)}}$$\n\n"
            "It is 1 for perfect predictions, about 0 for guessing and -1 for predictions that "
            "are all wrong; scikit-learn's `matthews_corrcoef` computes it, and returns 0 when "
            "one of the four sums under the root is 0.\n\n"
            "Write `class MatthewsCorrelation(keras.metrics.Metric)`, where a probability of "
            "at least 0.5 predicts label 1 (no probability the grader feeds is exactly 0.5, "
            "so `>` works as well). It must be built with no arguments, accept batches of any "
            "size in `update_state(y_true, y_pred, sample_weight=None)` (labels and "
            "probabilities of shape `(n, 1)`), return one number from `result()`, and start "
            "over after `reset_state()` (the `reset_state()` every metric inherits sets each "
            "variable made with `add_variable` back to its initial value; write your own only "
            "for state kept some other way). The grader passes no `sample_weight`: counting "
            "each row `sample_weight` times (`fit` passes one when you give it "
            "`sample_weight=`) is good practice but not graded.\n\n"
            "The grader feeds your metric 200-row sets of rows as one batch, in batches of "
            "several sizes, and one set after another with `reset_state()` between them. The "
            "metric earns its points only when every one of these figures matches "
            "scikit-learn's."
        ),
        SolutionCode("matthews-correlation", source_of(MatthewsCorrelation)),
        GradeCell(
            "metric-matches-sklearn", 3,
            "from autograder.checks.custom import check_metric_class\n\n"
            "check_metric_class(MatthewsCorrelation, figure=\"mcc\").assert_passed();",
            # The results on the grader's rows go to the grader, which judges them; the
            # learner's kernel judges only the public rows of the visible line.
            run_first="import autograder.export\n"
                      "from autograder.checks.custom import probe_results\n\n"
                      "autograder.export.answer(\"metric_results\", "
                      f"probe_results(MatthewsCorrelation, seed={GRADER_SEED}))",
            verified=Verified(
                (),
                (CheckSpec("check_metric_results", ("@metric_results",),
                           {"seed": GRADER_SEED, "figure": "mcc"}),),
            ),
            needs={"MatthewsCorrelation": "MatthewsCorrelation"},
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
