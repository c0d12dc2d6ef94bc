"""Checks of a model made to generalise, and of the epoch chosen on its validation curve.

Lesson 6 trains a network that overfits a few images, then cures it (dropout, an L2 penalty, a
smaller network, early stopping) and reads the epoch to keep off the validation curve. These
checks grade that skill on behaviour:

- :func:`check_generalisation`: the model's cross-entropy on rows it never saw (the grader's own
  rows; in the kernel, :func:`practice_rows` of the same kind) is at most a bar set below what
  the overfitting starter reaches. The loss is computed from the predictions, so no L2 term
  counts: lesson 6 shows that Keras's own ``val_loss`` carries the penalty, which would make an
  L2 model look worse than it predicts.
- :func:`check_chosen_epoch`: on the learner's own History, the chosen epoch's validation loss
  is at or near the lowest, and ``model`` holds that epoch's weights: its validation loss,
  recomputed as Keras reports it (cross-entropy plus the model's penalties), is the one the
  History records for that epoch. Training on and keeping the last epoch of an overfitting run
  fails; so does choosing the right epoch but keeping other weights.

Every input is plain data or a model file, so the kernel and the grader run the same functions;
numpy numbers and arrays are judged in the form the grader receives them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import not_a_model, short_error
from autograder.checks.answers import plain_numbers
from autograder.checks.rows import class_scores, is_figure, labels_of
from autograder.quiet import no_stderr
from autograder.result import CheckResult

# How far above the curve's lowest validation loss the chosen epoch's may be, relatively.
NEAR_MINIMUM = 0.05
# How closely the model's recomputed validation loss must match the History's (relatively):
# Keras averages over batches in float32, the check over all rows at once.
SAME_LOSS = 0.01
_PROBABILITY_FLOOR = 1e-7  # as Keras clips probabilities before the log


def _rows_for(model: Any, x: Any) -> np.ndarray:
    """Rows shaped for the model: images flattened when the model takes flat vectors."""
    rows = np.asarray(x, dtype=np.float32)
    wanted = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    if wanted and None not in wanted and rows.shape[1:] != wanted and int(
            np.prod(rows.shape[1:])) == int(np.prod(wanted)):
        rows = rows.reshape(len(rows), *wanted)
    return rows


# Secret of the practice rows: public, so anyone can rebuild them; the grader's come from the
# course secret. Both are derived the same way from the same public reserve.
PRACTICE_SECRET = "keras-classroom practice rows"


def practice_rows(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the same kind as the grader's unseen rows, for the learner's own check.

    The grader derives its rows from the course secret (:mod:`autograder.holdout`); these are
    derived in the same way from a public secret, so a model that passes on them meets the same
    bar on rows of the same kind, and tuning on them does not reach the grader's.

    Args:
        name: A dataset of :mod:`autograder.data`, such as ``"digits"``.

    Returns:
        ``(x, y)``.
    """
    from autograder import holdout

    rows = holdout.derive(name, PRACTICE_SECRET)
    return rows.x, rows.y


def cross_entropy(model: Any, x: Any, y: Any) -> float:
    """Mean cross-entropy of a classifier's predictions, without any penalty term.

    Args:
        model: A Keras classifier (softmax outputs, or logits with a ``from_logits`` loss).
        x: Rows.
        y: Integer class labels.

    Returns:
        The mean of ``-log p(true class)``, probabilities clipped at 1e-7 as Keras does.
    """
    scores = class_scores(model, _rows_for(model, x))
    labels = np.asarray(y).astype(np.int64).ravel()
    picked = np.clip(scores[np.arange(len(labels)), labels], _PROBABILITY_FLOOR, 1.0)
    return float(-np.mean(np.log(picked)))


def _penalties(model: Any) -> float:
    import keras

    return float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses))


def check_generalisation(model: Any, x: Any, y: Any, *, max_loss: float) -> CheckResult:
    """Check that a model's loss on unseen rows is at most a bar.

    Args:
        model: A trained Keras classifier.
        x: Rows the model never trained on.
        y: Their integer labels.
        max_loss: Highest accepted mean cross-entropy (no penalty terms).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_generalisation`` with the
        ``loss`` in its metrics.
    """
    check = "check_generalisation"
    problem = not_a_model(check, model)
    if problem is not None:
        return problem
    try:
        with no_stderr():
            loss = cross_entropy(model, x, y)
    except Exception as exc:  # never a traceback in a learner's notebook
        return result.failed(check, f"Your model could not be scored: {short_error(exc)}.")
    if loss <= max_loss:
        return result.passed(check, f"On rows it never saw, your model's cross-entropy is "
                                    f"{loss:.3f}, at most {max_loss:g}: it generalises.",
                             metrics={"loss": loss})
    return result.failed(check, f"On rows it never saw, your model's cross-entropy is "
                                f"{loss:.3f}, above {max_loss:g}: it still fits the training "
                                f"images better than new ones. Watch the validation loss "
                                f"while you add dropout or an L2 penalty, shrink the network "
                                f"or stop early, and keep the weights of the epoch where it "
                                f"is lowest.", metrics={"loss": loss})


def _curve(val_losses: Any) -> list[float] | None:
    values = plain_numbers(val_losses)
    if type(values) is not list or len(values) < 2 or not all(map(is_figure, values)):
        return None
    return [float(value) for value in values]


def _epoch(chosen: Any, epochs: int) -> int | None:
    value = plain_numbers(chosen)
    if type(value) is float and value.is_integer():
        value = int(value)
    return value if type(value) is int and 1 <= value <= epochs else None


def check_chosen_epoch(val_losses: Any, chosen_epoch: Any, model: Any, x_val: Any,
                       x_train: Any, y_train: Any) -> CheckResult:
    """Check the chosen epoch against the learner's validation curve and their model.

    Args:
        val_losses: ``history.history["val_loss"]`` of the learner's run, one per epoch.
        chosen_epoch: The epoch whose weights ``model`` holds, counted from 1.
        model: The learner's model.
        x_val: The validation rows of that run (raw features, rows of ``x_train``).
        x_train: The training rows the learner was given (the grader's copy).
        y_train: Their integer labels.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_chosen_epoch``.
    """
    check = "check_chosen_epoch"
    if val_losses is Ellipsis or chosen_epoch is Ellipsis:
        return result.not_attempted(check, "Replace the `...` placeholders with your run's "
                                           "History and the epoch you chose.")
    curve = _curve(val_losses)
    if curve is None:
        return result.failed(check, f"`val_losses` must be your run's validation losses, "
                                    f"history.history['val_loss']: a list of numbers, one per "
                                    f"epoch; it is {str(plain_numbers(val_losses))[:80]}.")
    epoch = _epoch(chosen_epoch, len(curve))
    if epoch is None:
        return result.failed(check, f"`chosen_epoch` must be a whole number from 1 to "
                                    f"{len(curve)}, the epoch (counted from 1) whose weights "
                                    f"your model holds; it is "
                                    f"{str(plain_numbers(chosen_epoch))[:40]}.")
    lowest = int(np.argmin(curve)) + 1
    best, picked = curve[lowest - 1], curve[epoch - 1]
    if picked > best * (1 + NEAR_MINIMUM) + 1e-12:
        return result.failed(check, f"Your chosen epoch {epoch} has a validation loss of "
                                    f"{picked:.4f}, but epoch {lowest} of your run reaches "
                                    f"{best:.4f}: after that, the model learns the training "
                                    f"images rather than digits. Keep the epoch where the "
                                    f"validation loss is lowest (within "
                                    f"{NEAR_MINIMUM:.0%} of it).")
    labels, message = None, ""
    try:
        grid = np.asarray(x_train)
        flat = np.asarray(x_val)
        if flat.ndim == 2 and grid.ndim > 2:
            grid = grid.reshape(len(grid), -1)  # the notebook hands flattened images over
        rows, labels, message = labels_of(flat, grid, np.asarray(y_train), "x_val")
    except Exception as exc:  # a malformed x_val: say what it is
        message = f"`x_val` could not be read as rows: {short_error(exc)}."
    if labels is None:
        return result.failed(check, message)
    problem = not_a_model(check, model)
    if problem is not None:
        return problem
    try:
        with no_stderr():
            holds = cross_entropy(model, rows, labels) + _penalties(model)
    except Exception as exc:  # never a traceback in a learner's notebook
        return result.failed(check, f"Your model could not be scored: {short_error(exc)}.")
    if math.isclose(holds, picked, rel_tol=SAME_LOSS, abs_tol=1e-4):
        return result.passed(check, f"Epoch {epoch} is at the low point of your validation "
                                    f"curve ({picked:.4f}), and your model holds its weights.")
    closest = int(np.argmin([abs(value - holds) for value in curve])) + 1
    last = " (your last epoch)" if closest == len(curve) else ""
    return result.failed(check, f"Your History records a validation loss of {picked:.4f} for "
                                f"epoch {epoch}, but your model's is {holds:.4f}, closest to "
                                f"epoch {closest}{last}: `model` does not hold the weights of "
                                f"the epoch you chose. EarlyStopping keeps the last epoch's "
                                f"weights unless you pass restore_best_weights=True; or "
                                f"retrain with the same seed for chosen_epoch epochs.")
