"""Assignment 9, cure an overfitting network (lesson 6): reference answers and the data.

The learner is handed lesson 6's starter, a wide network that overfits 100 digit images, and
makes it generalise with what lesson 6 teaches (dropout, an L2 penalty, a smaller network, early
stopping), choosing the epoch on the validation curve. The grader checks the model's
cross-entropy on grader-only images against a bar below the starter's, and that the chosen epoch
is at the low point of the learner's own validation curve with ``model`` holding its weights.
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
    right_answer,
    source_of,
)
from autograder.schema import Choice, SingleChoice

NAME = "a9_overfitting_curves"
EPOCHS = 120
# On digits derived as the grader derives its own (two secrets), the starter trained for EPOCHS
# epochs reaches a cross-entropy of about 0.55 or more; this reference 0.41-0.43, dropout with
# early stopping 0.47-0.49, a smaller network with dropout 0.43-0.45. The bar sits below the
# starter's by a margin. The learner's own check uses the same bar on practice rows of the same
# kind (curves.practice_rows).
MAX_UNSEEN_LOSS = 0.50

GIVEN = '''\
from autograder import data

digits = data.load_digits()
flat = digits.x_train.reshape(len(digits.x_train), -1)
# 100 images to train on (too few for a wide network), 300 to watch while it trains.
x_small, y_small = flat[:100], digits.y_train[:100]
x_val, y_val = flat[100:400], digits.y_train[100:400]
x_test, y_test = digits.x_test.reshape(len(digits.x_test), -1), digits.y_test


def starter_model():
    """Lesson 6's starter: two wide hidden layers, far more capacity than 100 images need."""
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


print(f"{len(x_small)} training images, {len(x_val)} validation images")'''


def build_model() -> keras.Model:
    """Lesson 6's starter with an L2 penalty on its hidden layers and a smaller step size.

    Returns:
        A compiled classifier for flattened 8x8 digits.
    """
    penalty = keras.regularizers.L2(1e-3)
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(256, activation="relu", kernel_regularizer=penalty),
        keras.layers.Dense(256, activation="relu", kernel_regularizer=penalty),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(x_small: np.ndarray, y_small: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
          epochs: int) -> tuple[keras.Model, keras.callbacks.History, int]:
    """Train with early stopping on the validation loss, keeping the best epoch's weights.

    Args:
        x_small: Training images, flattened.
        y_small: Their labels.
        x_val: Validation images, flattened.
        y_val: Their labels.
        epochs: Most epochs to train.

    Returns:
        ``(model, history, chosen_epoch)``: the model holds the weights of ``chosen_epoch``
        (counted from 1), the epoch of the lowest validation loss.
    """
    keras.utils.set_random_seed(0)
    model = build_model()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=12,
                                         restore_best_weights=True)
    history = model.fit(x_small, y_small, validation_data=(x_val, y_val), epochs=epochs,
                        batch_size=16, verbose=0, callbacks=[stop])
    chosen_epoch = int(np.argmin(history.history["val_loss"])) + 1
    return model, history, chosen_epoch


_PENALTY_IN_VAL_LOSS = SingleChoice(
    id="compare_regularisers", hints=(), solution="",
    prompt="A classmate trains the starter twice, once with an L2 penalty on its hidden layers "
           "and once with dropout, and reads `val_loss` off both Histories: the L2 run's lowest "
           "is 0.45, the dropout run's 0.38. They conclude that the L2 model predicts new "
           "digits worse. Why does that comparison not show it?",
    choices=(
        Choice("Keras adds the L2 penalty to `val_loss` as well, so the L2 run's figure holds a "
               "term that is not about its predictions.",
               "Compare a figure no penalty touches: validation accuracy, or a cross-entropy "
               "computed from the predictions, as this assignment's grader does.",
               correct=True),
        Choice("Dropout is still active while Keras computes `val_loss`, so the dropout run's "
               "figure comes from a weaker network.",
               "Keras switches dropout off when it evaluates; it is the L2 term that stays in "
               "`val_loss`."),
        Choice("The two runs stopped at different epochs, and a loss from a later epoch is "
               "lower because the model has trained longer.",
               "A validation loss can rise with more epochs, as the starter's does; the "
               "epochs are not the problem here, the L2 term in the L2 run's figure is."),
        Choice("Validation losses of two runs differ by chance alone whenever the runs use "
               "different seeds, so a gap of 0.07 says little.",
               "Seeds move such figures a little, but the L2 run's figure also holds the "
               "penalty itself, which biases this comparison whatever the seed."),
    ),
)

REGULARISER_QUESTION = QuizAnswer(
    "compare_regularisers", _PENALTY_IN_VAL_LOSS, right_answer(_PENALTY_IN_VAL_LOSS),
    how_to_answer='the letter listed for the option you pick, such as "B", or its text.',
)

_MODEL = Export("model", "model", "model")
_CURVE = Export("answer", "val_losses", "history.history['val_loss']")
_EPOCH = Export("answer", "chosen_epoch", "chosen_epoch")
_ROWS = Export("arrays", "validation", "x_val=x_val")

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("06-leakage-overfitting",),
    title="Assignment 9: cure an overfitting network",
    introduction=(
        "Lesson 6's starter network overfits: trained on 100 digit images it learns them by "
        "heart, and its validation loss rises while its training loss falls. You will make it "
        "generalise, choosing what to change and when to stop from its validation curve. The "
        "grader measures your model on digit images you never see. Run the first code cell "
        "before anything else."
    ),
    parts=(
        GivenCode("load-data", GIVEN),
        Instructions(
            "## Part 1: make it generalise\n\n"
            f"Trained for {EPOCHS} epochs, `starter_model()` ends with a validation loss well "
            "above its lowest (train it with `validation_data=(x_val, y_val)` and plot "
            "`history.history` to see it). Change the network or its training with what "
            "lesson 6 teaches (dropout, an L2 penalty, fewer units, early stopping), in any "
            "combination. Train `model` on `x_small, y_small` only, with "
            "`validation_data=(x_val, y_val)`, for at most "
            f"`min({EPOCHS}, EPOCHS_CAP)` epochs, and keep the run's History in `history`.\n\n"
            "Then set `chosen_epoch` to the epoch (counted from 1) whose weights `model` "
            "holds: the one with the lowest validation loss of your run, or one whose "
            f"validation loss is within 5 % of it. `EarlyStopping(..., "
            "restore_best_weights=True)` leaves the model at the best epoch; without it, "
            "`model` holds the last epoch's weights.\n\n"
            "The grader computes your model's cross-entropy from its predictions on digit "
            f"images you never see (no penalty term counts) and asks for at most "
            f"{MAX_UNSEEN_LOSS}; the starter trained for {EPOCHS} epochs is above it. In your "
            "notebook, practice images made the same way stand in for those images."
        ),
        SolutionCode(
            "train-model",
            source_of(build_model, train) + "\n\n\n"
            f"model, history, chosen_epoch = train(x_small, y_small, x_val, y_val, "
            f"epochs=min({EPOCHS}, EPOCHS_CAP))\n"
            "print(f\"chosen epoch {chosen_epoch} of {len(history.history['val_loss'])}\")",
        ),
        GradeCell(
            "unseen-loss", 3,
            "# Here: practice images made the way the grader makes its own (moved, scaled and\n"
            "# rotated a little, with some noise). The grader measures the same on images you\n"
            "# have not seen.\n"
            "from autograder.checks.curves import check_generalisation, practice_rows\n\n"
            "x_unseen, y_unseen = practice_rows(\"digits\")\n"
            "check_generalisation(\n"
            f"    model, x_unseen, y_unseen, max_loss={MAX_UNSEEN_LOSS},\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL,),
                (CheckSpec("check_generalisation",
                           ("@model", "@holdout:digits.x", "@holdout:digits.y"),
                           {"max_loss": MAX_UNSEEN_LOSS}),),
            ),
            needs={"model": "the cell that trains `model`"},
        ),
        GradeCell(
            "epoch-from-validation", 2,
            "from autograder.checks.curves import check_chosen_epoch\n\n"
            "check_chosen_epoch(\n"
            "    history.history['val_loss'], chosen_epoch, model, x_val, digits.x_train,\n"
            "    digits.y_train,\n"
            ").assert_passed();",
            verified=Verified(
                (_MODEL, _CURVE, _EPOCH, _ROWS),
                (CheckSpec("check_chosen_epoch",
                           ("@val_losses", "@chosen_epoch", "@model", "@validation.x_val",
                            "@dataset:digits.x_train", "@dataset:digits.y_train")),),
            ),
            needs={"model": "the cell that trains `model`",
                   "history": "the cell that trains `model`",
                   "chosen_epoch": "the cell that trains `model`"},
        ),
        Instructions("## Part 2: comparing cures"),
        REGULARISER_QUESTION,
    ),
)
