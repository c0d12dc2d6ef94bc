"""Shared pieces of the figure checks: plain numbers, model scores, and rows the grader knows.

A grader-side check never trusts labels a learner exported. When a learner names rows (their
test or validation rows), :func:`labels_of` looks each row up in data the grader rebuilt itself
and returns the labels found there, or says which rows it does not know.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autograder.checks._inspect import call_model, is_probability, read_loss, sigmoid, softmax


def is_figure(value: Any) -> bool:
    """True for a finite plain number (``int``, ``float`` or a numpy float), never a ``bool``.

    Args:
        value: A learner's answer.

    Returns:
        Whether it is a number a figure can be compared with.
    """
    if type(value) in (int, float) or isinstance(value, np.floating | np.integer):
        return math.isfinite(float(value))
    return False


def labels_of(rows: Any, x: np.ndarray, y: np.ndarray, what: str) -> tuple[Any, Any, str]:
    """Look the learner's rows up in the grader's own data.

    Args:
        rows: The rows the learner names (raw features, one row per example).
        x: The grader's rows.
        y: Their labels (one per row, or a 0/1 row per example).
        what: The learner's name for the rows, for messages (``"x_val"``).

    Returns:
        ``(rows, labels, "")``, or ``(None, None, message)`` when the rows are malformed or
        not rows of ``x``.
    """
    found = np.asarray(rows)
    if found.dtype.kind not in "biuf" or found.shape[1:] != x.shape[1:] or len(found) == 0:
        return None, None, (f"`{what}` must hold raw rows shaped like the data, "
                            f"{tuple(x.shape[1:])} each, but it has shape {found.shape}.")
    found = found.astype(x.dtype)
    index = {np.ascontiguousarray(row).tobytes(): i for i, row in enumerate(x)}
    positions = [index.get(np.ascontiguousarray(row).tobytes()) for row in found]
    unknown = sum(position is None for position in positions)
    if unknown:
        return None, None, (f"{unknown} of the {len(found)} rows of `{what}` are not rows of the "
                            "data you were given: pass the raw (unscaled) rows themselves.")
    return found, y[np.asarray(positions, dtype=np.int64)], ""


def class_scores(model: Any, x: np.ndarray) -> np.ndarray:
    """Probabilities a classifier gives, logits turned into probabilities.

    Args:
        model: A Keras model with one output.
        x: Features.

    Returns:
        ``(n,)`` for one unit, else ``(n, units)``: sigmoid units stay independent, softmax
        outputs (or logits with a softmax loss) are rows that sum to 1.

    Raises:
        ValueError: For a model with several outputs or outputs that are not finite.
    """
    raw = call_model(model, np.asarray(x, dtype=np.float32))
    if isinstance(raw, list):
        raise ValueError(f"the model returns {len(raw)} outputs; it needs one")
    outputs = np.asarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(outputs)):
        raise ValueError("the model predicts NaN or infinity; training probably diverged")
    outputs = outputs.reshape(len(outputs), -1)
    loss = read_loss(model)
    logits = bool(loss is not None and loss.from_logits) or not is_probability(outputs)
    if outputs.shape[1] == 1:
        column = outputs[:, 0]
        return sigmoid(column) if logits else column
    if logits:
        binary_loss = loss is not None and "binary" in (loss.name or "")
        return sigmoid(outputs) if binary_loss else softmax(outputs)
    return outputs
