"""The curve checks of assignment 9: the loss on unseen rows and the epoch chosen on validation."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from _verified import export_and_verify, full_marks

from autograder import data, holdout
from autograder.checks.curves import check_chosen_epoch, check_generalisation, cross_entropy
from solutions import a9_overfitting_curves as a9


@pytest.fixture(scope="module")
def digits() -> dict:
    """The notebook's rows: 100 to train on, 300 to validate, the test split."""
    loaded = data.load_digits()
    flat = loaded.x_train.reshape(len(loaded.x_train), -1)
    return {"x_small": flat[:100], "y_small": loaded.y_train[:100], "x_val": flat[100:400],
            "y_val": loaded.y_train[100:400], "x_train": loaded.x_train,
            "y_train": loaded.y_train,
            "x_test": loaded.x_test.reshape(len(loaded.x_test), -1), "y_test": loaded.y_test}


@pytest.fixture(scope="module")
def untrained(digits: dict) -> tuple[keras.Model, float]:
    """A model with an L2 penalty, and its validation loss as Keras reports it."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-2)),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    reported = model.evaluate(digits["x_val"], digits["y_val"], verbose=0,
                              batch_size=len(digits["x_val"]))
    return model, float(reported)


def _choice(digits: dict, model: keras.Model, curve: object, epoch: object):
    return check_chosen_epoch(curve, epoch, model, digits["x_val"], digits["x_train"],
                              digits["y_train"])


def test_the_loss_counts_no_penalty_while_the_epoch_check_matches_kerass_val_loss(
        digits: dict, untrained: tuple[keras.Model, float]) -> None:
    model, reported = untrained
    plain = cross_entropy(model, digits["x_val"], digits["y_val"])
    penalty = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert penalty > 0.01 and reported == pytest.approx(plain + penalty, rel=1e-4)
    verdict = check_generalisation(model, digits["x_val"], digits["y_val"], max_loss=0.3)
    assert not verdict.passed and verdict.metrics["loss"] == pytest.approx(plain)
    assert "above 0.3: it still fits the training images better" in verdict.message
    # Images (n, 8, 8, 1) are flattened for a model that takes 64 numbers.
    images = data.load_digits().x_train[100:400]
    assert cross_entropy(model, images, digits["y_val"]) == pytest.approx(plain)


def test_the_epoch_of_the_lowest_validation_loss_holding_its_weights_passes(
        digits: dict, untrained: tuple[keras.Model, float]) -> None:
    model, loss = untrained
    curve = [loss * 1.5, loss, loss * 1.4]
    assert _choice(digits, model, curve, 2).passed
    # As a learner's NumPy values, and as the grader reads them back.
    assert _choice(digits, model, np.array(curve, dtype=np.float32), np.int64(2)).passed
    # Within 5 % of the lowest is near enough.
    assert _choice(digits, model, [loss * 1.5, loss * 0.97, loss], 3).passed


def test_an_epoch_past_the_low_point_fails_and_says_which_epoch_was_lowest(
        digits: dict, untrained: tuple[keras.Model, float]) -> None:
    model, loss = untrained
    verdict = _choice(digits, model, [loss * 1.5, loss * 0.7, loss], 3)
    assert not verdict.passed and verdict.fraction == 0
    assert f"Your chosen epoch 3 has a validation loss of {loss:.4f}, but epoch 2" in (
        verdict.message)


def test_a_model_that_kept_other_weights_fails_and_says_which_epoch_it_matches(
        digits: dict, untrained: tuple[keras.Model, float]) -> None:
    model, loss = untrained
    verdict = _choice(digits, model, [loss * 1.5, loss * 0.8, loss], 2)
    assert not verdict.passed
    assert "closest to epoch 3 (your last epoch): `model` does not hold the weights" in (
        verdict.message)
    assert "restore_best_weights=True" in verdict.message


@pytest.mark.parametrize(("curve", "epoch", "words"), [
    ("val_loss", 1, "`val_losses` must be your run's validation losses"),
    ([0.5], 1, "`val_losses` must be"),
    ([0.5, 0.4], 0, "`chosen_epoch` must be a whole number from 1 to 2"),
    ([0.5, 0.4], 2.5, "`chosen_epoch` must be a whole number"),
    ([0.5, 0.4], True, "`chosen_epoch` must be a whole number"),
    ([0.5, 0.4], 3, "`chosen_epoch` must be a whole number from 1 to 2"),
])
def test_malformed_answers_fail_alike_in_the_kernel_and_the_grader(
        digits: dict, untrained: tuple[keras.Model, float], curve: object, epoch: object,
        words: str) -> None:
    model, _ = untrained
    verdict = _choice(digits, model, curve, epoch)
    assert not verdict.passed and words in verdict.message, verdict.message
    if isinstance(curve, list):
        as_numpy = _choice(digits, model, np.array(curve), epoch)
        assert as_numpy.message == verdict.message


def test_validation_rows_that_are_not_training_rows_fail(
        digits: dict, untrained: tuple[keras.Model, float]) -> None:
    model, loss = untrained
    verdict = check_chosen_epoch([loss, loss * 1.2], 1, model, digits["x_test"],
                                 digits["x_train"], digits["y_train"])
    assert not verdict.passed and "rows of `x_val` are not rows of the data" in verdict.message


@pytest.fixture(scope="module")
def trained(digits: dict) -> dict:
    """The reference run, and the starter trained as the assignment says it overfits."""
    model, history, chosen = a9.train(digits["x_small"], digits["y_small"], digits["x_val"],
                                      digits["y_val"], epochs=a9.EPOCHS)
    keras.utils.set_random_seed(0)
    starter = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    starter.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                    loss="sparse_categorical_crossentropy")
    long_run = starter.fit(digits["x_small"], digits["y_small"],
                           validation_data=(digits["x_val"], digits["y_val"]),
                           epochs=a9.EPOCHS, batch_size=16, verbose=0)
    return {"model": model, "history": history, "chosen_epoch": chosen, "starter": starter,
            "starter_history": long_run, "YOUR_NAME": "",
            "compare_regularisers": a9.REGULARISER_QUESTION.answer, **digits}


@pytest.mark.slow
def test_the_reference_passes_in_the_kernel_and_the_grader_and_the_starter_fails(
        trained: dict, tmp_path: Path) -> None:
    from autograder.checks.curves import practice_rows

    practice = practice_rows("digits")
    assert check_generalisation(trained["model"], *practice, max_loss=a9.MAX_UNSEEN_LOSS).passed
    assert export_and_verify(tmp_path / "reference", a9.ASSIGNMENT, trained) == full_marks(
        a9.ASSIGNMENT)
    # The starter, trained for as long as the task says, misses the bar by a margin, on the
    # practice rows and on rows derived from another secret (as a course's would be).
    grader_kind = holdout.derive("digits", "another course secret, for this test")
    for x, y in (practice, (grader_kind.x, grader_kind.y)):
        verdict = check_generalisation(trained["starter"], x, y, max_loss=a9.MAX_UNSEEN_LOSS)
        assert not verdict.passed and verdict.metrics["loss"] > a9.MAX_UNSEEN_LOSS + 0.03, (
            verdict.message)
        assert check_generalisation(trained["model"], x, y,
                                    max_loss=a9.MAX_UNSEEN_LOSS - 0.01).passed
    # Its last epoch is no choice either: the validation loss rose well past its low point.
    curve = trained["starter_history"].history["val_loss"]
    shortcut = {**trained, "model": trained["starter"], "history": trained["starter_history"],
                "chosen_epoch": len(curve)}
    scores = export_and_verify(tmp_path / "starter", a9.ASSIGNMENT, shortcut)
    assert scores == {"unseen-loss": 0, "epoch-from-validation": 0,
                      "compare_regularisers-test": 1}


def test_compare_regularisers_says_what_keras_does_and_gives_nothing_away(
        digits: dict, untrained: tuple[keras.Model, float]) -> None:
    import re

    # The right choice: Keras's val_loss carries the L2 term (the first test of this module
    # measures it). A distractor's claim: dropout is off when Keras evaluates.
    keras.utils.set_random_seed(0)
    dropped = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dropout(0.9),
                                keras.layers.Dense(10, activation="softmax")])
    dropped.compile(loss="sparse_categorical_crossentropy")
    reported = dropped.evaluate(digits["x_val"], digits["y_val"], verbose=0)
    assert reported == pytest.approx(cross_entropy(dropped, digits["x_val"], digits["y_val"]),
                                     rel=1e-4)
    absolute = re.compile(r"\b(always|never|only|at all|nothing|none|cannot|can't|impossible|"
                          r"guaranteed?|everything|no matter)\b", re.IGNORECASE)
    choices = a9.REGULARISER_QUESTION.question.choices
    right = next(choice for choice in choices if choice.correct)
    lengths = sorted(len(choice.text) for choice in choices)
    assert lengths[0] < len(right.text) < lengths[-1]
    assert [c.text for c in choices if absolute.search(c.text)] == []
