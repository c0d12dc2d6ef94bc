"""Assignment 5, a screening threshold (lesson 3): reference answers and the assignment as data.

A screen for malignant tumours must find almost all of them. In the breast cancer data label 0
is malignant, so the learner first decides which class is positive. They train a model whose
sigmoid gives the probability of malignant, cut a validation split out of the training rows,
choose the threshold there by a stated rule, and report precision at that threshold and the
PR-AUC on their test split. The grader checks the goal on grader-only tumours at their threshold
(recall and precision together, so flagging everything fails), that the threshold is the one the
rule picks on validation rows that are training rows and no test row, and the figures.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

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

NAME = "a5_thresholds"
MALIGNANT = 0
# The screen's goal on grader-only tumours, and the rule's margin on the validation rows.
# Measured over four seeds (a logistic regression, 40 epochs): recall 0.95-1.0 and precision
# 0.84-0.87 on the grader's 114 tumours at the rule's threshold.
GOAL_RECALL = 0.9
GOAL_PRECISION = 0.7
RULE_RECALL = 0.98
EPOCHS = 40


def split_for_validation(
    x_train: np.ndarray, y_train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut a stratified validation split out of the training rows.

    Args:
        x_train: Raw training features.
        y_train: Training labels (0 malignant, 1 benign).

    Returns:
        ``(x_fit, x_val, y_fit, y_val)``.
    """
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=0.25, stratify=y_train, random_state=0
    )
    return x_fit, x_val, y_fit, y_val


def train_screen(
    x_fit: np.ndarray, y_fit: np.ndarray, epochs: int
) -> tuple[keras.Model, StandardScaler]:
    """Train a model whose sigmoid output is the probability that a tumour is malignant.

    Args:
        x_fit: Raw features to train on.
        y_fit: Their labels (0 malignant, 1 benign).
        epochs: Passes over the data.

    Returns:
        ``(model, scaler)``: the trained model and the scaler fitted on ``x_fit``.
    """
    scaler = StandardScaler().fit(x_fit)
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    # Malignant is the class the screen looks for: make it the positive label 1 for training.
    model.fit(scaler.transform(x_fit), (y_fit == 0).astype(int), epochs=epochs, verbose=0)
    return model, scaler


def choose_threshold(
    model: keras.Model, scaler: StandardScaler, x_val: np.ndarray, y_val: np.ndarray
) -> float:
    """The highest threshold that still flags 98 % of the malignant validation tumours.

    Args:
        model: The trained screen.
        scaler: Its scaler.
        x_val: Raw validation features.
        y_val: Their labels (0 malignant).

    Returns:
        The threshold.
    """
    scores = model.predict(scaler.transform(x_val), verbose=0).ravel()
    malignant = np.sort(scores[y_val == 0])[::-1]
    needed = int(np.ceil(0.98 * len(malignant)))
    return float(malignant[needed - 1])


def screen_figures(
    model: keras.Model, scaler: StandardScaler, x: np.ndarray, y: np.ndarray, threshold: float
) -> tuple[float, float]:
    """Precision at the threshold and PR-AUC, with malignant as the positive class.

    Args:
        model: The trained screen.
        scaler: Its scaler.
        x: Raw features.
        y: Labels (0 malignant).
        threshold: The screen's threshold.

    Returns:
        ``(precision, pr_auc)`` as plain floats.
    """
    scores = model.predict(scaler.transform(x), verbose=0).ravel()
    malignant = y == 0
    flagged = scores >= threshold
    precision = float(np.sum(flagged & malignant) / max(np.sum(flagged), 1))
    return precision, float(average_precision_score(malignant, scores))


LOAD_DATA = """\
from autograder import data

cancer = data.load_breast_cancer()
x_train, y_train = cancer.x_train, cancer.y_train
x_test, y_test = cancer.x_test, cancer.y_test
print(cancer.description)
print("classes:", cancer.class_names)"""

_MODEL = Export("model", "model", "model")
_SCALER = Export("scaler", "scaler", "scaler")
_THRESHOLD = Export("answer", "threshold", "threshold")
_MODEL_NEEDS = {"model": "train_screen", "scaler": "train_screen",
                "threshold": "choose_threshold"}
_SCREEN = {"positive": MALIGNANT, "threshold": "@threshold"}

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("03-binary-classification-thresholds",),
    title="Assignment 5: a screening threshold",
    introduction=(
        "A screen for breast cancer must find the malignant tumours: missing one costs far "
        "more than a second look at a benign one. You will train a model, choose its decision "
        "threshold for that goal on validation rows, and report what the screen costs in "
        "false alarms. The grader measures your screen on tumours you never see, at your "
        f"threshold: it must find at least {GOAL_RECALL:.0%} of the malignant tumours, and at "
        f"least {GOAL_PRECISION:.0%} of the tumours it flags must be malignant. Run the first "
        "code cell before anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions(
            "## Part 1: a model for the screen\n\n"
            "Read the dataset description above: which label is the class the screen looks "
            "for? Cut a validation split `x_val, y_val` out of `x_train` and train on the rest "
            "(`x_fit, y_fit`). Write `train_screen(x_fit, y_fit, epochs)` returning "
            "`(model, scaler)`: a compiled model with **one sigmoid unit whose output is the "
            "probability that a tumour is malignant**, trained on scaled rows, and the scaler "
            "(a `StandardScaler`) fitted on `x_fit` alone. "
            "Use `epochs=min(your_choice, EPOCHS_CAP)`."
        ),
        SolutionCode(
            "train-screen",
            source_of(split_for_validation, train_screen) + "\n\n\n"
            "x_fit, x_val, y_fit, y_val = split_for_validation(x_train, y_train)\n"
            f"model, scaler = train_screen(x_fit, y_fit, epochs=min({EPOCHS}, EPOCHS_CAP))",
            before="from sklearn.model_selection import train_test_split\n"
                   "from sklearn.preprocessing import StandardScaler",
        ),
        model_check_cell(
            "model-shape", 1, (_MODEL,), input_shape=(30,), num_classes=2, labels="integer",
            needs={"model": "train_screen"},
        ),
        Instructions(
            "## Part 2: the threshold\n\n"
            "Write `choose_threshold(model, scaler, x_val, y_val)`: the **highest** threshold "
            f"at which the screen still flags at least {RULE_RECALL:.0%} of the malignant "
            "tumours of the validation rows (a probability at or above the threshold flags a "
            f"tumour). The margin over the {GOAL_RECALL:.0%} goal is for tumours the model has "
            "not seen. Never look at `x_test` for this: assign `threshold`."
        ),
        SolutionCode(
            "choose-threshold",
            source_of(choose_threshold) + "\n\n\n"
            "threshold = choose_threshold(model, scaler, x_val, y_val)\n"
            "print(f\"threshold {threshold:.4f}\")",
        ),
        GradeCell(
            "screen-goal", 3,
            "# Here: your test split. The grader measures the same on tumours you have not "
            "seen.\n"
            "from autograder.checks.thresholds import check_screen\n\n"
            "check_screen(\n"
            "    model, scaler.transform(x_test), y_test, threshold=threshold,\n"
            f"    min_recall={GOAL_RECALL}, min_precision={GOAL_PRECISION}, positive={MALIGNANT},\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _SCALER, _THRESHOLD),
                (CheckSpec("check_screen", ("@model", "@holdout:breast_cancer.x|scaler",
                                            "@holdout:breast_cancer.y"),
                           {**_SCREEN, "min_recall": GOAL_RECALL,
                            "min_precision": GOAL_PRECISION}),),
            ),
            needs=_MODEL_NEEDS,
        ),
        GradeCell(
            "threshold-from-validation", 2,
            "from autograder.checks.thresholds import check_threshold_choice\n\n"
            "check_threshold_choice(\n"
            "    threshold, model, x_val, x_train, y_train, x_test,\n"
            f"    min_recall={RULE_RECALL}, positive={MALIGNANT}, scaler=scaler,\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _SCALER, _THRESHOLD, Export("arrays", "validation", "x_val=x_val")),
                (CheckSpec("check_threshold_choice",
                           ("@threshold", "@model", "@validation.x_val",
                            "@dataset:breast_cancer.x_train", "@dataset:breast_cancer.y_train",
                            "@dataset:breast_cancer.x_test"),
                           {"min_recall": RULE_RECALL, "positive": MALIGNANT,
                            "scaler": "@scaler"}),),
            ),
            needs={**_MODEL_NEEDS, "x_val": "the validation split"},
        ),
        Instructions(
            "## Part 3: what the screen costs\n\n"
            "On `x_test, y_test`, with malignant as the positive class, compute the precision "
            "of the screen at your `threshold` and the PR-AUC (the area under the "
            "precision-recall curve, `sklearn.metrics.average_precision_score` of the "
            "probabilities). Assign them as plain floats to `test_precision` and `test_pr_auc`."
        ),
        SolutionCode(
            "screen-figures",
            source_of(screen_figures) + "\n\n\n"
            "test_precision, test_pr_auc = screen_figures(model, scaler, x_test, y_test, "
            "threshold)\n"
            "print(f\"precision {test_precision:.3f}, PR-AUC {test_pr_auc:.3f}\")",
            before="from sklearn.metrics import average_precision_score",
        ),
        GradeCell(
            "screen-figures-test", 2,
            "from autograder.checks.thresholds import check_figures\n\n"
            "check_figures(\n"
            "    model, scaler.transform(x_test), y_test, threshold=threshold,\n"
            f"    positive={MALIGNANT}, precision=test_precision, pr_auc=test_pr_auc,\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _SCALER, _THRESHOLD, Export("answer", "test_precision", "test_precision"),
                 Export("answer", "test_pr_auc", "test_pr_auc")),
                (CheckSpec("check_figures", ("@model", "@dataset:breast_cancer.x_test|scaler",
                                             "@dataset:breast_cancer.y_test"),
                           {**_SCREEN, "precision": "@test_precision",
                            "pr_auc": "@test_pr_auc", "tolerance": 0.01}),),
            ),
            needs={**_MODEL_NEEDS, "test_precision": "screen_figures",
                   "test_pr_auc": "screen_figures"},
        ),
    ),
)
