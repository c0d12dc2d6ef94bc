"""Assignment 3, imbalanced fraud: reference answers and the assignment as data.

Only about 2 % of the generated transactions are fraud, so a model that always answers
"legitimate" is 98 % accurate and useless. The learner states that baseline, trains a model on
part of the training rows, tunes its decision threshold on a validation split cut from the rest
of the training rows (the best F2 there), and must meet a recall target *and* a precision target
together on grader-only transactions (so an extreme threshold that flags everything, or nothing,
earns nothing). The grader recomputes the threshold rule on the learner's validation rows, so a
threshold tuned on the test split fails. Then they report precision and recall on their own test
split correctly.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import fbeta_score, precision_score, recall_score
from sklearn.model_selection import train_test_split

from autograder.grading.manifest import CheckSpec, Export, Verified
from autograder.render.nbgrader_source import (
    Assignment,
    GivenCode,
    GradeCell,
    Instructions,
    QuizAnswer,
    SolutionCode,
    model_check_cell,
    source_of,
)
from autograder.schema import Mistake, Numeric

NAME = "a3_imbalanced_fraud"
MIN_RECALL = 0.6
MIN_PRECISION = 0.25
# Measured on the 2,000 reserve transactions (40 frauds, so one fraud moves recall by 0.025)
# after 10 epochs on 75 % of the training rows with scaled class weights (lesson 5: they average
# to 1 over the rows), threshold chosen for the best F2 on the other 25 %, over seeds 0-5:
# precision 0.34-0.42, recall 0.70-0.80. Flagging everything gives a precision of 0.02. The
# targets leave a margin for the run-to-run spread of training.
EPOCHS = 10
# F2 weighs recall twice as much as precision: a missed fraud costs more than a false alarm.
BETA = 2.0
# Share of legitimate transactions in the learner's test split (1,568 of 1,600).
BASELINE_ACCURACY = 0.98


def build_model() -> keras.Model:
    """Build and compile a binary classifier for the 10 transaction features.

    Returns:
        A compiled model with one sigmoid unit (the probability of fraud) and binary
        cross-entropy.
    """
    model = keras.Sequential([
        keras.Input(shape=(10,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="binary_crossentropy")
    return model


def scaled_class_weights(y: np.ndarray) -> dict[int, float]:
    """Class weights that balance the classes and average to 1 over the rows (lesson 5).

    Args:
        y: Labels, 1 for fraud.

    Returns:
        ``{0: w0, 1: w1}`` with ``w_c = n / (2 n_c)``: each class carries half the loss, and the
        loss keeps the size it had without weights.
    """
    counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
    return {c: float(len(y) / (2 * counts[c])) for c in (0, 1)}


def train(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, epochs: int) -> keras.Model:
    """Train with scaled class weights, so that the rare fraud class is not ignored.

    Args:
        model: A compiled model from :func:`build_model`.
        x_train: Features, shape (n, 10).
        y_train: Labels, 1 for fraud.
        epochs: Passes over the training data.

    Returns:
        The same model, trained.
    """
    model.fit(
        x_train, y_train, epochs=epochs, batch_size=128, class_weight=scaled_class_weights(y_train),
        verbose=0
    )
    return model


def split_for_validation(
    x_train: np.ndarray, y_train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut a validation split out of the training rows, keeping the share of fraud in both.

    Args:
        x_train: Training features.
        y_train: Training labels.

    Returns:
        ``(x_fit, x_val, y_fit, y_val)``: rows to train on and rows to tune the threshold on.
    """
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=0.25, stratify=y_train, random_state=0
    )
    return x_fit, x_val, y_fit, y_val


def choose_threshold(model: keras.Model, x_val: np.ndarray, y_val: np.ndarray) -> float:
    """The threshold with the best F2 score on the validation rows, trying every probability.

    Args:
        model: The trained model.
        x_val: Validation features (never the test split).
        y_val: Validation labels.

    Returns:
        A threshold strictly between 0 and 1.
    """
    probabilities = model.predict(x_val, verbose=0).ravel()
    # Every validation probability is a candidate: no better threshold lies between two of them.
    candidates = np.clip(np.unique(probabilities), 1e-6, 1 - 1e-6)
    scores = [fbeta_score(y_val, probabilities >= c, beta=BETA, zero_division=0)
              for c in candidates]
    return float(candidates[int(np.argmax(scores))])


def report(
    model: keras.Model, x: np.ndarray, y: np.ndarray, threshold: float
) -> tuple[float, float]:
    """Precision and recall of the fraud class at a decision threshold.

    Args:
        model: The trained model.
        x: Features.
        y: True labels, 1 for fraud.
        threshold: Probabilities at or above it count as fraud.

    Returns:
        ``(precision, recall)`` as plain floats.
    """
    predicted = (model.predict(x, verbose=0).ravel() >= threshold).astype(int)
    precision = precision_score(y, predicted, zero_division=0)
    recall = recall_score(y, predicted, zero_division=0)
    return float(precision), float(recall)


LOAD_DATA = """\
from autograder import data

fraud = data.load_fraud()
x_train, y_train = fraud.x_train, fraud.y_train
x_test, y_test = fraud.x_test, fraud.y_test
print(fraud.description)
print("fraud in train:", int(y_train.sum()), "of", len(y_train))"""

BASELINE = QuizAnswer(
    "baseline_accuracy",
    Numeric(
        id="baseline_accuracy",
        prompt="A 'model' that labels **every** transaction in `x_test` as legitimate: what "
        "accuracy does it get on `y_test`? Compute it from the labels.",
        hints=(), solution="", answer=BASELINE_ACCURACY, tolerance=0.001,
        mistakes=(
            Mistake(0.02, "That is the share of fraud, which this model never finds: its "
                    "accuracy counts the transactions it gets right."),
            Mistake(0.5, "The classes are not balanced: count the legitimate rows in y_test."),
        ),
    ),
    BASELINE_ACCURACY,
    how_to_answer="a fraction between 0 and 1 (such as 0.75).",
)

# What the grade cells of parts 2 and 3 hand to `autograder grade`.
_MODEL_EXPORTS = (Export("model", "model", "model"), Export("answer", "threshold", "threshold"))
_NEEDS = {"model": "the cell that trains `model`", "threshold": "the cell that trains `model`"}


def _holdout_check(**minimum: float) -> Verified:
    """Re-check of `model` on grader-only transactions at the learner's threshold."""
    return Verified(
        _MODEL_EXPORTS,
        (CheckSpec("check_metrics", ("@model", "@holdout:fraud.x", "@holdout:fraud.y"),
                   {**minimum, "threshold": "@threshold"}),),
    )


def _reported_figure_test(test_id: str, variable: str, figure: str) -> GradeCell:
    # The grader recomputes the figure from the learner's own model and test rows at their
    # threshold, so nothing about the expected value appears in the release.
    return GradeCell(
        test_id, 1,
        "from autograder.checks.thresholds import check_figures\n\n"
        f"check_figures(model, x_test, y_test, threshold=threshold, {figure}={variable})"
        ".assert_passed();",
        needs={**_NEEDS, variable: "`report` and the cell that calls it"},
        verified=Verified(
            (Export("answer", variable, variable), *_MODEL_EXPORTS),
            (CheckSpec("check_figures", ("@model", "@dataset:fraud.x_test",
                                         "@dataset:fraud.y_test"),
                       {"threshold": "@threshold", figure: f"@{variable}"}),),
        ),
    )


ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("05-metric-pitfalls", "03-binary-classification-thresholds"),
    title="Assignment 3: fraud on an imbalanced data set",
    introduction=(
        "About 2 % of these generated card transactions are fraud. You will see why accuracy "
        "misleads here, train a model that finds fraud without drowning the bank in false "
        "alarms, and report its precision and recall. The grader measures your model on "
        f"transactions you never see: it needs a recall of at least {MIN_RECALL} and a "
        f"precision of at least {MIN_PRECISION} for fraud (label 1). Run the first code cell "
        "before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        BASELINE,
        Instructions(
            "## Part 2: a model that finds fraud\n\n"
            "Build a compiled model with one sigmoid output (the probability of fraud) and "
            "train it as `model` on part of `x_train`. Fraud is rare: a model trained as if "
            "every mistake cost the same can be 98 % accurate and still miss most of it, so use "
            "what lesson 5 showed for rare classes.\n\n"
            "Cut a **validation split `x_val, y_val` out of `x_train`** and train on the rest. "
            "Then choose the decision threshold `threshold` on the validation rows alone: the "
            "one with the **best F2 score** there (F-beta with beta = 2, which counts a missed "
            "fraud as worse than a false alarm; a probability at or above the threshold flags "
            "the transaction). Try every predicted probability of `x_val` as a threshold, or "
            "lesson 5's thresholds 0.01, 0.02, ..., 0.90, and keep the one with the best F2; "
            "the grader repeats that search on your validation rows. Never tune on "
            "`x_test`: a threshold tuned on the test rows makes the test score an optimistic "
            "guess instead of a measurement, and the grader checks the threshold against your "
            "validation rows. The grader needs both targets at once, at your threshold: a "
            "threshold that flags every transaction finds all the fraud but fails precision. "
            "Train with `epochs=min(your_choice, EPOCHS_CAP)`: the notebook's first cell sets "
            "`EPOCHS_CAP` to 1000, so it never limits you, and the course's own tests lower it "
            "to run faster."
        ),
        SolutionCode(
            "train-model",
            f"BETA = {BETA}\n\n\n"
            + source_of(split_for_validation, build_model, scaled_class_weights, train,
                        choose_threshold) + "\n\n\n"
            "x_fit, x_val, y_fit, y_val = split_for_validation(x_train, y_train)\n"
            f"model = train(build_model(), x_fit, y_fit, epochs=min({EPOCHS}, EPOCHS_CAP))\n"
            "threshold = choose_threshold(model, x_val, y_val)\n"
            "print(f\"threshold {threshold:.3f}\")",
            before="from sklearn.metrics import fbeta_score\n"
                   "from sklearn.model_selection import train_test_split",
        ),
        model_check_cell(
            "model-shape", 1, _MODEL_EXPORTS,
            input_shape=(10,), num_classes=2, labels="integer",
            also="assert 0.0 < float(threshold) < 1.0, "
            "\"Your threshold must lie strictly between 0 and 1.\"",
            needs=_NEEDS,
        ),
        GradeCell(
            "threshold-from-validation", 1,
            "from autograder.checks.thresholds import check_threshold_choice\n\n"
            "check_threshold_choice(\n"
            f"    threshold, model, x_val, x_train, y_train, x_test, beta={BETA},\n"
            ").assert_passed();",
            verified=Verified(
                (*_MODEL_EXPORTS, Export("arrays", "validation", "x_val=x_val")),
                (CheckSpec("check_threshold_choice",
                           ("@threshold", "@model", "@validation.x_val",
                            "@dataset:fraud.x_train", "@dataset:fraud.y_train",
                            "@dataset:fraud.x_test"),
                           {"beta": BETA}),),
            ),
            needs={**_NEEDS, "x_val": "the validation split"},
        ),
        GradeCell(
            "unseen-recall-and-precision", 3,
            "# Here: your test split. The grader measures the same on transactions you have "
            "not seen.\n"
            "autograder.check_metrics(\n"
            f"    model, x_test, y_test, min_recall={MIN_RECALL}, min_precision={MIN_PRECISION},\n"
            "    threshold=threshold,\n"
            ").assert_passed();",
            verified=_holdout_check(min_recall=MIN_RECALL, min_precision=MIN_PRECISION),
            needs=_NEEDS,
        ),
        Instructions(
            "## Part 3: report your metrics\n\n"
            "Compute the precision and the recall of the fraud class for `model` on "
            "`x_test, y_test` at your `threshold`, and assign them as plain floats to "
            "`test_precision` and `test_recall`."
        ),
        SolutionCode(
            "report-metrics",
            source_of(report) + "\n\n\n"
            "test_precision, test_recall = report(model, x_test, y_test, threshold)\n"
            "print(f\"precision {test_precision:.3f}, recall {test_recall:.3f}\")",
            before="from sklearn.metrics import precision_score, recall_score",
        ),
        _reported_figure_test("report-precision", "test_precision", "precision"),
        _reported_figure_test("report-recall", "test_recall", "recall"),
    ),
)
