"""The tumour records of the leaky-pipeline assignment, and the check of its two scores.

:func:`tumour_records` is the data the learner is given: the breast cancer learner pool as a
hospital export would list it, with a third of the tumours entered twice (the same features and
label on two rows: the hard-to-call tumours, read a second time), in a fixed order. A split of
these rows that ignores the repeats puts copies of test tumours into the training rows.

:func:`check_leak_scores` judges the two accuracies a learner reports side by side: the leaky
pipeline's, and their own honest pipeline's. It recomputes both from the learner's models and
scalers on rows it rebuilds itself, so exported figures or arrays cannot be doctored into a pass:
the leaky test rows come from the given pipeline's fixed split, and the honest test rows the
learner names must be rows of the records (their labels are taken from the records, not from
the learner).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import short_error
from autograder.quiet import no_stderr
from autograder.result import CheckResult

CHECK = "check_leak_scores"
# Seed and share of the repeated records; fixed for the life of the course.
_REPEAT_SEED = 4
_REPEAT_SHARE = 1 / 3
# The given leaky pipeline's split, which the grader repeats.
LEAKY_TEST_SIZE = 0.25
LEAKY_RANDOM_STATE = 0
# Smallest share of the distinct tumours an honest test split must hold.
_MIN_TEST_SHARE = 0.15
_TOLERANCE = 0.01


@cache
def _records() -> tuple[np.ndarray, np.ndarray]:
    from autograder import data

    cancer = data.load_breast_cancer()
    x = np.concatenate([cancer.x_train, cancer.x_test])
    y = np.concatenate([cancer.y_train, cancer.y_test])
    # The tumours that were hard to call were read twice: the third nearest the boundary between
    # the two classes' mean standardised rows. Those are the rows a model gets wrong when it has
    # to generalise and right when it has memorised a copy, so the leak shows in the score.
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    gap = np.abs(np.linalg.norm(z - z[y == 0].mean(axis=0), axis=1)
                 - np.linalg.norm(z - z[y == 1].mean(axis=0), axis=1))
    repeated = np.argsort(gap, kind="stable")[:int(len(x) * _REPEAT_SHARE)]
    rng = np.random.default_rng(_REPEAT_SEED)
    order = rng.permutation(len(x) + len(repeated))
    return (np.concatenate([x, x[repeated]])[order].astype(np.float32),
            np.concatenate([y, y[repeated]])[order].astype(np.int64))


def tumour_records() -> tuple[np.ndarray, np.ndarray]:
    """Return the tumour records of the leaky-pipeline assignment.

    Returns:
        ``(x, y)``: 30 unscaled float32 features per row and labels (1 benign, 0 malignant);
        the same arrays on every call.
    """
    x, y = _records()
    return x.copy(), y.copy()


def leaky_test_rows() -> tuple[np.ndarray, np.ndarray]:
    """Return the test rows of the given leaky pipeline's split of :func:`tumour_records`.

    Returns:
        ``(x_test, y_test)``, as ``train_test_split(x, y, test_size=0.25, random_state=0)``
        gives them.
    """
    from sklearn.model_selection import train_test_split

    x, y = _records()
    _, x_test, _, y_test = train_test_split(
        x, y, test_size=LEAKY_TEST_SIZE, random_state=LEAKY_RANDOM_STATE)
    return x_test, y_test


def _is_figure(value: Any) -> bool:
    return type(value) in (int, float) or isinstance(value, np.floating) and math.isfinite(
        float(value))


def _accuracy(model: Any, scaler: Any, x: np.ndarray, y: np.ndarray) -> float | None:
    from autograder.checks.metrics import check_metrics

    scaled = x if scaler is None else scaler.transform(x)
    return check_metrics(model, scaled, y).metrics.get("accuracy")


def _honest_rows(x_test: Any) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """The learner's test rows with labels from the records, or a message saying what is wrong."""
    x, y = _records()
    rows = np.asarray(x_test, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != x.shape[1] or len(rows) == 0:
        return None, None, (f"`x_test` must hold rows of the 30 tumour features, but it has "
                            f"shape {rows.shape}.")
    label_of = {row.tobytes(): label for row, label in zip(x, y, strict=True)}
    labels = [label_of.get(np.ascontiguousarray(row).tobytes()) for row in rows]
    unknown = sum(label is None for label in labels)
    if unknown:
        return None, None, (f"{unknown} rows of your `x_test` are not rows of the tumour "
                            "records: pass the raw (unscaled) test rows of your own split.")
    distinct = len(np.unique(rows, axis=0))
    needed = math.ceil(_MIN_TEST_SHARE * len(np.unique(x, axis=0)))
    if distinct < needed:
        return None, None, (f"Your `x_test` holds {distinct} different tumours; an honest score "
                            f"needs a test split of at least {needed}.")
    return rows, np.asarray(labels, dtype=np.int64), ""


def check_leak_scores(leaky_score: Any, honest_score: Any, *, leaky_model: Any,
                      leaky_scaler: Any, model: Any, scaler: Any, x_test: Any) -> CheckResult:
    """Check the leaky and the honest test accuracy a learner reports, side by side.

    Args:
        leaky_score: The learner's accuracy of ``leaky_model`` on the leaky pipeline's test rows.
        honest_score: The learner's accuracy of ``model`` on their own raw test rows ``x_test``.
        leaky_model: The model the given leaky pipeline trained.
        leaky_scaler: The scaler the leaky pipeline fitted.
        model: The learner's model from their honest pipeline.
        scaler: The scaler of their honest pipeline (None for no scaling).
        x_test: Their honest pipeline's raw test rows.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_leak_scores``; half the credit
        per figure within 0.01 of the grader's own, and ``metrics`` holding both of them.
    """
    with no_stderr():
        try:
            return _judge(leaky_score, honest_score, leaky_model, leaky_scaler, model, scaler,
                          x_test)
        except Exception as exc:  # never a traceback in a learner's notebook
            return result.error(CHECK, f"Your scores could not be checked: {short_error(exc)}.")


def _judge(leaky_score: Any, honest_score: Any, leaky_model: Any, leaky_scaler: Any,
           model: Any, scaler: Any, x_test: Any) -> CheckResult:
    problems: list[str] = []
    figures: dict[str, float] = {}
    leaky_x, leaky_y = leaky_test_rows()
    actual = _accuracy(leaky_model, leaky_scaler, leaky_x, leaky_y)
    rows, labels, problem = _honest_rows(x_test)
    honest = None if rows is None else _accuracy(model, scaler, rows, labels)
    for label, given, truth, how in (
        ("leaky_score", leaky_score, actual,
         "the accuracy of `leaky_model` on `leaky_scaler.transform(leaky_x_test)` against "
         "`leaky_y_test`"),
        ("honest_score", honest_score, honest,
         "the accuracy of `model` on `scaler.transform(x_test)` against `y_test`"),
    ):
        if truth is None:
            problems.append(problem if label == "honest_score" and problem else
                            f"`{label}` cannot be checked: its model could not be scored.")
        elif not _is_figure(given):
            problems.append(f"`{label}` must be a plain number between 0 and 1, not "
                            f"{type(given).__name__}.")
        elif abs(float(given) - truth) > _TOLERANCE:
            percent = (" Write it as a share between 0 and 1, not a percentage."
                       if abs(float(given) / 100 - truth) <= _TOLERANCE else "")
            problems.append(f"Your `{label}` is {float(given):.4f}, but {how} is "
                            f"{truth:.4f}.{percent}")
        else:
            figures[label] = truth
    score = len(figures) / 2
    if not problems:
        return result.passed(
            CHECK, f"Both scores are right: the leaky pipeline reports "
                   f"{figures['leaky_score']:.3f} and yours {figures['honest_score']:.3f}. Only "
                   "yours measures tumours the model never saw in any form.", metrics=figures)
    return result.failed(CHECK, " ".join(problems), metrics=figures, score=score)
