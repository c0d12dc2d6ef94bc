"""Assignment 8, multi-label topics (lesson 8): reference answers and the assignment as data.

Each generated document carries one or more of five topics. The learner picks the activation
of a multi-label output, builds one sigmoid per label, chooses a threshold per label on
validation rows cut from the training rows, reports precision@2, and answers why plain
"accuracy" misleads here. The grader checks the head, the macro F1 at their thresholds on
grader-only documents (flagging every topic fails), that on the validation rows each threshold
does at least as well as the best of lesson 8's grid, and the figure.
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
    QuizAnswer,
    SolutionCode,
    model_check_cell,
    right_answer,
    source_of,
)
from autograder.schema import Choice, SingleChoice

NAME = "a8_multilabel"
LABELS = 5
K = 2
# Per-label thresholds tuned on validation give a macro F1 of 0.72-0.74 on the 600 reserve
# documents (two seeds), and pass on the documents derived from three course secrets; 0.5
# everywhere gives about 0.70 and flagging every topic 0.56.
MIN_MACRO_F1 = 0.68
EPOCHS = 15


def build_tagger() -> keras.Model:
    """Build and compile a multi-label model: one independent sigmoid per topic.

    Returns:
        A compiled model for 20 features with 5 sigmoid outputs and binary cross-entropy.
    """
    model = keras.Sequential([
        keras.Input(shape=(20,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(5, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def label_thresholds(model: keras.Model, x_val: np.ndarray, y_val: np.ndarray) -> list[float]:
    """For each label, the validation score that, used as threshold, gives the best F1.

    Args:
        model: The trained model.
        x_val: Validation features.
        y_val: Their 0/1 label matrix.

    Returns:
        One threshold per label.
    """
    scores = model.predict(x_val, verbose=0)
    chosen = []
    for label in range(y_val.shape[1]):
        truth = y_val[:, label] == 1
        best, best_f1 = 0.5, -1.0
        for cut in np.unique(scores[:, label]):
            flagged = scores[:, label] >= cut
            f1 = 2 * np.sum(truth & flagged) / max(np.sum(truth) + np.sum(flagged), 1)
            if f1 > best_f1:
                best, best_f1 = float(cut), f1
        chosen.append(best)
    return chosen


def precision_at_2(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Mean share of true topics among each document's two most probable topics.

    Args:
        model: The trained model.
        x: Features.
        y: 0/1 label matrix.

    Returns:
        precision@2 as a plain float.
    """
    top = np.argsort(-model.predict(x, verbose=0), axis=1, kind="stable")[:, :2]
    return float(np.mean(np.take_along_axis(y, top, axis=1).sum(axis=1) / 2))


LOAD_DATA = """\
from autograder import data

docs = data.load_multilabel()
x_train, y_train = docs.x_train, docs.y_train
x_test, y_test = docs.x_test, docs.y_test
print(docs.description)
print("topics:", docs.class_names, "labels per document:", y_train.sum(axis=1).mean())"""

_ACCURACY_MISLEADS = SingleChoice(
    id="accuracy_misleads", hints=(), solution="",
    prompt="A colleague trains a tagger for these documents and reports a per-label "
           "accuracy of 0.6 (every one of the 5 yes/no decisions of every document counts "
           "once). Why is that figure no evidence that the tagger works?",
    choices=(
        Choice("Accuracy is undefined for sigmoid outputs, so a figure computed from them "
               "measures how confident the tagger is, not how often it is right.",
               "Accuracy is defined for any thresholded prediction; the problem is what "
               "it rewards."),
        Choice("A tagger that ignores the document and gives each topic its more common "
               "answer, present or absent, gets about 0.67 of the decisions right.",
               "A per-label accuracy has to beat that baseline before it says anything about "
               "the tagger, and 0.6 falls short of it.", correct=True),
        Choice("Accuracy needs one-hot labels: with several labels per document Keras raises "
               "an error, so the colleague's 0.6 must come from another model.",
               "Keras computes an accuracy from the shapes without raising: that is "
               "exactly why a wrong one goes unnoticed."),
        Choice("A per-label accuracy of 0.6 is the share of documents whose five topics are "
               "all right, a figure that is hard to reach with many topics.",
               "That share is the exact-match (subset) accuracy; the colleague counts each "
               "yes/no decision once, as the question says. The trouble is the bar 0.6 must "
               "clear."),
    ),
)

_ACTIVATION = SingleChoice(
    id="multilabel_activation", hints=(), solution="",
    prompt="Another model tags photos with any number of five tags at once (a photo can be "
           "both 'beach' and 'sunset'). Which activation should its last `Dense(5)` layer "
           "use?",
    choices=(
        Choice("softmax", "Softmax makes the tags compete for one unit of probability, so a "
                          "photo cannot be both 'beach' and 'sunset' with high confidence."),
        Choice("sigmoid", "Each tag gets its own independent probability between 0 and 1.",
               correct=True),
        Choice("relu", "ReLU outputs are not bounded by 1, so they are not probabilities."),
        Choice("linear", "A linear output gives unbounded scores, not probabilities."),
    ),
)

ACTIVATION_QUESTION = QuizAnswer(
    "multilabel_activation", _ACTIVATION, right_answer(_ACTIVATION),
    how_to_answer="the activation's name as a string, or the letter listed for it.",
)

ACCURACY_QUESTION = QuizAnswer(
    "accuracy_misleads", _ACCURACY_MISLEADS, right_answer(_ACCURACY_MISLEADS),
    how_to_answer='the letter listed for the option you pick, such as "B", or its text.',
)

_MODEL = Export("model", "model", "model")
_THRESHOLDS = Export("answer", "thresholds", "thresholds")
_NEEDS = {"model": "the cell that trains `model`", "thresholds": "label_thresholds"}

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("08-multilabel-classification",),
    title="Assignment 8: multi-label topics",
    introduction=(
        "Each of these generated documents carries one or more of five topics. You will build "
        "a tagger with one sigmoid per topic, choose a threshold per topic on validation rows, "
        "and measure it with figures that suit several labels per document. The grader "
        "measures your tagger on documents you never see. Run the first code cell before "
        "anything else."
    ),
    parts=(
        GivenCode("load-data", LOAD_DATA),
        Instructions("## Warm-up: an output for several labels"),
        ACTIVATION_QUESTION,
        Instructions(
            "## Part 1: one sigmoid per topic\n\n"
            "Cut a validation split `x_val, y_val` out of `x_train` and train on the rest. "
            "Write `build_tagger()`: a **compiled** model for the 20 features with one output "
            "per topic, each the independent probability of that topic. Train `model` with "
            "`epochs=min(your_choice, EPOCHS_CAP)`."
        ),
        SolutionCode(
            "train-tagger",
            source_of(build_tagger) + "\n\n\n"
            "x_fit, x_val, y_fit, y_val = train_test_split(\n"
            "    x_train, y_train, test_size=0.25, random_state=0\n"
            ")\n"
            "model = build_tagger()\n"
            f"history = model.fit(x_fit, y_fit, epochs=min({EPOCHS}, EPOCHS_CAP), batch_size=32, "
            "verbose=0)",
            before="from sklearn.model_selection import train_test_split",
        ),
        model_check_cell(
            "tagger-shape", 1, (_MODEL,), input_shape=(20,), num_classes=LABELS,
            labels="multi_hot", needs={"model": "the cell that trains `model`"},
        ),
        Instructions(
            "## Part 2: a threshold per topic\n\n"
            "Write `label_thresholds(model, x_val, y_val)`: one threshold per topic, chosen "
            "on the validation rows for the topic's F1 (a probability at or above the "
            "threshold flags the topic). The rule the grader checks: on your validation rows, "
            "each topic's F1 at its threshold is at least the best F1 of the thresholds "
            "0.05, 0.10, ..., 0.95. Lesson 8's grid search over those thresholds meets it, and "
            "so does trying every validation probability of the topic as its threshold. "
            "Assign the 5 thresholds to `thresholds` (a list or a NumPy array). Never look "
            "at `x_test` for this."
        ),
        SolutionCode(
            "choose-thresholds",
            source_of(label_thresholds) + "\n\n\n"
            "thresholds = label_thresholds(model, x_val, y_val)\n"
            "print([round(t, 3) for t in thresholds])",
        ),
        GradeCell(
            "unseen-macro-f1", 3,
            "# Here: your test split. The grader measures the same on documents you have not "
            "seen.\n"
            "from autograder.checks.multilabel import check_label_thresholds\n\n"
            "check_label_thresholds(\n"
            f"    model, x_test, y_test, thresholds=thresholds, min_macro_f1={MIN_MACRO_F1},\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _THRESHOLDS),
                (CheckSpec("check_label_thresholds",
                           ("@model", "@holdout:multilabel.x", "@holdout:multilabel.y"),
                           {"thresholds": "@thresholds", "min_macro_f1": MIN_MACRO_F1}),),
            ),
            needs=_NEEDS,
        ),
        GradeCell(
            "thresholds-from-validation", 2,
            "from autograder.checks.multilabel import check_label_threshold_choice\n\n"
            "check_label_threshold_choice(\n"
            "    thresholds, model, x_val, x_train, y_train, x_test,\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _THRESHOLDS, Export("arrays", "validation", "x_val=x_val")),
                (CheckSpec("check_label_threshold_choice",
                           ("@thresholds", "@model", "@validation.x_val",
                            "@dataset:multilabel.x_train", "@dataset:multilabel.y_train",
                            "@dataset:multilabel.x_test")),),
            ),
            needs={**_NEEDS, "x_val": "the validation split"},
        ),
        Instructions(
            "## Part 3: figures that suit several labels\n\n"
            f"Assign to `precision_at_k` the precision@{K} of `model` on `x_test, y_test`: for "
            f"each document, the share of true topics among its {K} most probable topics, "
            "averaged over the documents (a plain float)."
        ),
        SolutionCode(
            "precision-at-k",
            source_of(precision_at_2) + "\n\n\n"
            "precision_at_k = precision_at_2(model, x_test, y_test)\n"
            "print(f\"precision@2 {precision_at_k:.3f}\")",
        ),
        GradeCell(
            "precision-at-k-test", 1,
            "from autograder.checks.multilabel import check_multilabel_figures\n\n"
            "check_multilabel_figures(\n"
            f"    model, x_test, y_test, precision_at_k=precision_at_k, k={K},\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, Export("answer", "precision_at_k", "precision_at_k")),
                (CheckSpec("check_multilabel_figures",
                           ("@model", "@dataset:multilabel.x_test", "@dataset:multilabel.y_test"),
                           {"precision_at_k": "@precision_at_k", "k": K}),),
            ),
            needs={"model": "the cell that trains `model`", "precision_at_k": "precision_at_2"},
        ),
        ACCURACY_QUESTION,
    ),
)
