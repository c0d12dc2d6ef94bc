"""``check_split``: is the test set really unseen?

Two kinds of leakage are detected:

- test rows that also appear, identically, in the training set (the score then rewards memory);
- a scaler whose statistics were computed on the training and test rows together, so that the
  test set shaped the preprocessing the model trained on.

The function expects the raw, unscaled arrays and the fitted scaler, because only raw data shows
which rows the scaler's statistics came from. Arrays that were already scaled are mapped back
with the scaler's ``inverse_transform`` when it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import describe, percent, short_error
from autograder.quiet import no_stderr
from autograder.result import CheckResult

CHECK = "check_split"

# Public fitted attributes of scikit-learn scalers -> how to compute them from raw rows.
# StandardScaler: mean_, var_; MinMaxScaler: data_min_, data_max_; MaxAbsScaler: max_abs_;
# RobustScaler: center_ (the median). Any scaler exposing these names is judged the same way.
_STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean_": lambda rows: rows.mean(axis=0),
    "var_": lambda rows: rows.var(axis=0),
    "data_min_": lambda rows: rows.min(axis=0),
    "data_max_": lambda rows: rows.max(axis=0),
    "max_abs_": lambda rows: np.abs(rows).max(axis=0),
    "center_": lambda rows: np.median(rows, axis=0),
}
# Statistics are compared in units of each feature's spread. Fitting on train + test moves them
# by roughly (test share) / sqrt(test rows) of a spread, far above this rounding tolerance.
_TOLERANCE = 1e-4
_FIX = (
    "Fit the scaler on the training rows only, scaler.fit(x_train), then transform both sets "
    "with it: x_train = scaler.transform(x_train) and x_test = scaler.transform(x_test)."
)


def shared_rows(x_train: Any, x_test: Any) -> np.ndarray:
    """Find the test rows that also occur, value for value, in the training rows.

    Rows are compared by the bytes of their values in float64 (so 1 and 1.0 match, and -0.0
    matches 0.0); non-numeric rows are compared by their text.

    Args:
        x_train: Training rows, an array or DataFrame of shape ``(n_train, ...)``.
        x_test: Test rows with the same shape per row.

    Returns:
        A boolean array with one entry per test row, True where that row is in ``x_train``.
    """
    train_keys = set(_row_keys(_as_rows(x_train)))
    return np.fromiter(
        (key in train_keys for key in _row_keys(_as_rows(x_test))), dtype=bool,
        count=len(x_test),
    )


def _as_rows(values: Any) -> np.ndarray:
    rows = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if rows.ndim == 1:
        return rows.reshape(-1, 1)
    return rows.reshape(len(rows), -1)


def _row_keys(rows: np.ndarray) -> list[bytes] | list[str]:
    if not (np.issubdtype(rows.dtype, np.number) or rows.dtype == bool):
        return [repr(tuple(row)) for row in rows.tolist()]
    # Adding 0.0 turns -0.0 into 0.0, which compares equal but has different bytes.
    numeric = np.ascontiguousarray(rows.astype(np.float64) + 0.0)
    return [row.tobytes() for row in numeric]


def check_split(x_train: Any, x_test: Any, *, scaler: Any = None,
                judge_rows: bool = True) -> CheckResult:
    """Check a train/test split, and optionally a fitted scaler, for leakage.

    Pass the raw arrays, before any scaling, and the scaler fitted for them. The check fails
    when test rows also appear in the training rows, or when the scaler's statistics were
    computed on train + test together instead of on the training rows alone.

    Args:
        x_train: Raw (unscaled) training features, an array or DataFrame, one row per example.
        x_test: Raw (unscaled) test features with the same columns.
        scaler: Optional fitted scaler with public fitted attributes: scikit-learn's
            ``StandardScaler`` (``mean_``, ``var_``), ``MinMaxScaler`` (``data_min_``,
            ``data_max_``), ``MaxAbsScaler`` (``max_abs_``), ``RobustScaler`` (``center_``) or
            any object exposing the same names.
        judge_rows: False judges the scaler alone: test rows that also appear in the training
            rows are then named in a note, not failed (a task about the scaler, beside one
            about the rows, so that one mistake costs one task).

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_split``; its ``metrics`` hold
        ``shared_rows`` and ``shared_fraction`` (of the test rows).
    """
    with no_stderr():
        if x_train is Ellipsis or x_test is Ellipsis or scaler is Ellipsis:
            return result.not_attempted(
                CHECK, "Replace the `...` placeholders with your arrays, then run this cell again."
            )
        try:
            return _judge(x_train, x_test, scaler, judge_rows)
        except Exception as exc:  # never a traceback in a learner's notebook
            return result.error(CHECK, f"Your split could not be checked: {short_error(exc)}.")


def _judge(x_train: Any, x_test: Any, scaler: Any, judge_rows: bool = True) -> CheckResult:
    arrays = {}
    for name, value in (("x_train", x_train), ("x_test", x_test)):
        if value is None or isinstance(value, str | bytes | dict) or np.ndim(value) == 0:
            return result.error(
                CHECK,
                f"`{name}` must be an array or DataFrame with one row per example, but received "
                f"{describe(value)}.",
            )
        arrays[name] = _as_rows(value)
    train, test = arrays["x_train"], arrays["x_test"]
    if train.shape[1] != test.shape[1]:
        return result.error(
            CHECK,
            f"`x_train` has {train.shape[1]} values per row but `x_test` has {test.shape[1]}: "
            "pass the features of the same dataset, split by rows.",
        )
    if len(train) == 0 or len(test) == 0:
        return result.error(CHECK, "`x_train` and `x_test` must both contain rows.")

    shared = int(shared_rows(train, test).sum())
    figures = {"shared_rows": float(shared), "shared_fraction": shared / len(test)}
    problems: list[str] = []
    notes: list[str] = []
    if shared and not judge_rows:
        notes.append(
            f"{shared} of your {len(test)} test rows also appear in the training set; that "
            "leak costs the task that checks the rows, not this one."
        )
    elif shared:
        problems.append(
            f"{shared} of your {len(test)} test rows ({percent(shared / len(test))}) also appear "
            "in the training set, so the test score partly measures memory, not how the model "
            "does on new data. Remove duplicate rows before splitting (np.unique(x, axis=0) or "
            "DataFrame.drop_duplicates()) and split once, e.g. with train_test_split, so that "
            "no row lands in both sets."
        )
    if scaler is not None:
        finding = _scaler_problem(scaler, train, test, notes)
        if finding is not None:
            if finding[0] == "error":
                return result.error(CHECK, finding[1], metrics=figures)
            problems.append(finding[1])
    if problems:
        return result.failed(
            CHECK, problems[0], details=tuple(problems[1:] + notes), metrics=figures
        )
    if judge_rows:
        confirmed = "no test row appears in the training set"
        if scaler is not None:
            confirmed += ", and the scaler's statistics come from the training rows alone"
    else:
        confirmed = "the scaler's statistics come from the training rows alone"
    return result.passed(
        CHECK, f"Checked {len(train)} training and {len(test)} test rows: {confirmed}.",
        details=tuple(notes), metrics=figures,
    )


def _scaler_problem(
    scaler: Any, train: np.ndarray, test: np.ndarray, notes: list[str]
) -> tuple[str, str] | None:
    """Return ("failed" | "error", message) for a scaler that leaks or cannot be judged."""
    fitted = {
        name: np.asarray(value, dtype=np.float64).ravel()
        for name in _STATISTICS
        if (value := getattr(scaler, name, None)) is not None
    }
    if not fitted:
        if hasattr(scaler, "fit") and hasattr(scaler, "transform"):
            return "failed", (
                f"Your scaler ({type(scaler).__name__}) has not been fitted yet, so it has no "
                "statistics to check. " + _FIX
            )
        return "error", (
            "`scaler` must be a fitted scaler such as sklearn.preprocessing.StandardScaler or "
            f"MinMaxScaler, but received {describe(scaler)}."
        )
    width = {len(values) for values in fitted.values()}
    if width != {train.shape[1]}:
        return "error", (
            f"Your scaler was fitted on {min(width)} features, but `x_train` has "
            f"{train.shape[1]} values per row: pass the same raw arrays the scaler was fitted on."
        )
    raw_train = train.astype(np.float64)
    raw_test = test.astype(np.float64)
    verdict = _which_rows(fitted, raw_train, raw_test)
    if verdict is None and hasattr(scaler, "inverse_transform"):
        # The learner may have passed arrays already transformed by this scaler.
        restored_train = np.asarray(scaler.inverse_transform(raw_train), dtype=np.float64)
        restored_test = np.asarray(scaler.inverse_transform(raw_test), dtype=np.float64)
        verdict = _which_rows(fitted, restored_train, restored_test)
        if verdict is not None:
            notes.append(
                "Your arrays look already scaled, so they were mapped back with "
                "scaler.inverse_transform before checking; check_split expects the raw arrays."
            )
    names = ", ".join(fitted)
    if verdict == "train":
        return None
    if verdict == "train+test":
        return "failed", (
            f"Your scaler's statistics ({names}) match x_train and x_test combined, not x_train "
            "alone: it was fitted on the test rows too, so the test set leaks into the "
            "preprocessing the model learns from and the test score is optimistic. " + _FIX
        )
    return "failed", (
        f"Your scaler's statistics ({names}) match neither x_train nor x_train and x_test "
        "combined: it was fitted on other rows, such as the whole dataset before a split with "
        "a validation set. check_split expects the raw, unscaled x_train and x_test and the "
        "scaler fitted on them. " + _FIX
    )


def _which_rows(
    fitted: dict[str, np.ndarray], train: np.ndarray, test: np.ndarray
) -> str | None:
    """Say whether fitted statistics come from "train", "train+test", or neither (None)."""
    both = np.concatenate([train, test])
    spread = both.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)

    def distance(rows: np.ndarray) -> float:
        worst = 0.0
        for name, values in fitted.items():
            expected = _STATISTICS[name](rows)
            # A variance is compared in squared units.
            unit = spread**2 if name == "var_" else spread
            worst = max(worst, float(np.max(np.abs(values - expected) / unit)))
        return worst

    if distance(train) <= _TOLERANCE:
        return "train"
    if distance(both) <= _TOLERANCE:
        return "train+test"
    return None
