"""Checks of a learner's own ``keras.metrics.Metric`` subclass and ``keras.callbacks.Callback``.

Learner classes cannot be loaded outside the kernel (``safe_mode`` refuses their code), so the
kernel runs them here on inputs this module defines, and hands the grader plain data:

- :func:`check_metric_class` feeds the metric the batches of :func:`probe_batches` (seeded;
  grade cells use a seed that only the grader knows) in two runs: a fresh instance per way of
  batching the rows (``result()`` read after every batch, as ``fit`` does), and one instance fed
  every probe with ``reset_state()`` between them. It compares every result with scikit-learn's
  figure; a metric earns nothing unless every result is right.
  :func:`check_metric_results` recomputes the expected figures from the same seed outside the
  kernel and judges the exported results with the same comparison, so kernel and grader say the
  same thing (a wrong formula, a figure that depends on the batching, or a reset that is not
  one).
- :func:`check_callback_class` trains a tiny model for a few epochs with the callback and
  compares what it recorded with the History of the same run; :func:`check_callback_records`
  re-checks the exported records against the exported History for consistency.

A metric that raises, returns something that is not one number, or a callback that never
finishes (each run has a time limit) fails with a message saying so, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from autograder import result
from autograder.checks._inspect import short_error
from autograder.checks.rows import is_figure
from autograder.grading import export as exporting
from autograder.quiet import no_stderr
from autograder.result import CheckResult

FIGURES = ("specificity", "recall", "precision", "mcc", "balanced_accuracy")
# How messages name each figure, with the scikit-learn function that computes it.
_FIGURE_NAMES = {
    "specificity": "specificity (recall_score with pos_label=0)",
    "recall": "recall (recall_score)",
    "precision": "precision (precision_score)",
    "mcc": "Matthews correlation (matthews_corrcoef)",
    "balanced_accuracy": "balanced accuracy (balanced_accuracy_score)",
}
# The counts each figure is built from, for the message about running counts.
_COUNTS = {
    "specificity": "true negatives and false positives",
    "recall": "true positives and false negatives",
    "precision": "true positives and false positives",
    "mcc": "true and false positives and negatives",
    "balanced_accuracy": "true and false positives and negatives",
}
PUBLIC_SEED = 0
# How each probe's rows are cut into batches (the first is one batch).
BATCHINGS = ((200,), (64, 64, 64, 8), (1, 99, 50, 50), (13,) * 15 + (5,))
TIME_LIMIT = 20.0
_TOLERANCE = 1e-4


class _TimeUp(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError`` in the block after ``seconds`` (main thread only; else no limit).

    Args:
        seconds: The limit.

    Yields:
        Nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TimeUp:
        raise TimeoutError(f"it did not finish within {seconds:g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def probe_batches(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The labels and predicted probabilities a metric is fed, one pair per batching.

    Args:
        seed: Seed of the rows (the grade cells' seed is known only to the grader).

    Returns:
        One ``(y_true, y_pred)`` pair of 200 rows per entry of :data:`BATCHINGS`; ``y_true``
        holds 0/1 floats, ``y_pred`` probabilities, both shaped ``(200, 1)``.
    """
    rng = np.random.default_rng(seed)
    probes = []
    for _ in BATCHINGS:
        y_true = (rng.random(200) < rng.uniform(0.2, 0.6)).astype(np.float32)
        # Scores that lean towards the truth, so every cell of the confusion matrix is filled.
        y_pred = np.clip(0.35 * y_true + rng.random(200) * 0.65, 0.0, 1.0).astype(np.float32)
        probes.append((y_true[:, None], y_pred[:, None]))
    return probes


def expected_results(seed: int, figure: str, threshold: float = 0.5) -> list[float]:
    """scikit-learn's figure on each probe of :func:`probe_batches`.

    Args:
        seed: The probes' seed.
        figure: One of :data:`FIGURES`.
        threshold: Probability from which a row counts as predicted positive.

    Returns:
        One figure per probe.
    """
    from sklearn.metrics import (
        balanced_accuracy_score,
        matthews_corrcoef,
        precision_score,
        recall_score,
    )

    if figure not in FIGURES:
        raise ValueError(f"`figure` must be one of {FIGURES}, got {figure!r}.")
    figures = []
    for y_true, y_pred in probe_batches(seed):
        truth, predicted = y_true.ravel().astype(int), (y_pred.ravel() >= threshold).astype(int)
        if figure == "specificity":
            value = recall_score(truth, predicted, pos_label=0, zero_division=0)
        elif figure == "recall":
            value = recall_score(truth, predicted, zero_division=0)
        elif figure == "precision":
            value = precision_score(truth, predicted, zero_division=0)
        elif figure == "mcc":
            value = matthews_corrcoef(truth, predicted)
        else:
            value = balanced_accuracy_score(truth, predicted)
        figures.append(float(value))
    return figures


def _scalar(value: Any) -> float:
    import keras

    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.shape not in ((), (1,)):
        raise ValueError(f"result() returned an array of shape {array.shape}, not one number")
    if array.dtype.kind not in "biuf":
        # Say what the learner's code returned (a str, None), not NumPy's dtype code ("<U4").
        if value is None:
            raise ValueError("result() returned None: it must `return` the figure")
        shown = (f"a {type(value).__name__}" if array.dtype.kind in "USO"
                 else f"{array.dtype} values")
        raise ValueError(f"result() returned {shown} ({str(value)[:40]!r}), not a number")
    return float(array.reshape(()))


def _feed(metric: Any, y_true: np.ndarray, y_pred: np.ndarray, sizes: Sequence[int]) -> float:
    """Feed one probe batch by batch, reading ``result()`` after each batch as ``fit`` does."""
    start = 0
    for size in sizes:
        metric.update_state(y_true[start:start + size], y_pred[start:start + size])
        _scalar(metric.result())
        start += size
    return _scalar(metric.result())


def metric_results(metric_class: Callable[[], Any], seed: int) -> list[list[float]]:
    """Run a metric class on the probes: whole, batched, and after ``reset_state()``.

    Args:
        metric_class: The learner's ``keras.metrics.Metric`` subclass (built with no arguments).
        seed: The probes' seed.

    Returns:
        ``[whole, batched, after_reset]``, one result per probe each: a new instance fed the
        probe as one batch; a new instance fed it in its batching of :data:`BATCHINGS`; and one
        instance fed every probe in its batching in turn, with ``reset_state()`` before each
        probe but the first.

    Raises:
        Exception: Whatever the learner's code raises, or ``TimeoutError``.
    """
    probes = list(zip(probe_batches(seed), BATCHINGS, strict=True))
    whole = [_feed(metric_class(), y_true, y_pred, (len(y_true),))
             for (y_true, y_pred), _ in probes]
    batched = [_feed(metric_class(), y_true, y_pred, sizes)
               for (y_true, y_pred), sizes in probes]
    metric, after_reset = metric_class(), []
    for index, ((y_true, y_pred), sizes) in enumerate(probes):
        if index:
            metric.reset_state()
        after_reset.append(_feed(metric, y_true, y_pred, sizes))
    return [whole, batched, after_reset]


def _how(sizes: Sequence[int]) -> str:
    if len(sizes) == 1:
        return "one batch"
    shown = ", ".join(map(str, sizes[:4])) + (", ..." if len(sizes) > 4 else "")
    return f"{len(sizes)} batches of sizes {shown}"


_RUNS = 3


def _results(found: Any, count: int) -> list[list[float]] | None:
    """The runs of :func:`metric_results` as floats, or None when malformed."""
    if type(found) not in (list, tuple) or len(found) != _RUNS:
        return None
    runs = []
    for run in found:
        if type(run) not in (list, tuple) or len(run) != count or not all(map(is_figure, run)):
            return None
        runs.append([float(value) for value in run])
    return runs


_ERROR_CHARS = 300


def _raised(error: str) -> CheckResult:
    return result.failed("check_metric_results",
                         f"Your metric failed while it was fed rows: {error}. Build it with no "
                         "arguments, and make update_state() and result() work on batches of "
                         "any size.")


def _compare(found: Any, expected: Sequence[float], figure: str) -> CheckResult:
    """Judge the runs of :func:`metric_results`; the first problem found is the one named."""
    check = "check_metric_results"
    name = _FIGURE_NAMES[figure]
    if found == "failed":
        return result.failed(check, "Your metric raised an error when it was fed rows; the "
                                    "check in your notebook says which.")
    if type(found) in (list, tuple) and len(found) == 2 and type(found[1]) is str:
        if found[0] == "failed":
            return _raised(found[1][:_ERROR_CHARS])
        if found[0] == "refused":
            return result.failed(check, found[1][:_ERROR_CHARS])
    runs = _results(found, len(expected))
    if runs is None:
        return result.failed(check, f"The metric's results should be {_RUNS} runs of "
                                    f"{len(expected)} numbers (one batch, several batches, "
                                    f"after reset_state()), but they are {str(found)[:80]}.")

    def off(values: Sequence[float]) -> list[int]:
        return [index for index, (given, truth) in enumerate(zip(values, expected, strict=True))
                if not math.isclose(given, truth, abs_tol=_TOLERANCE)]

    (whole, batched, after_reset), counts = runs, _COUNTS[figure]
    wrong_whole, wrong_batched, wrong_reset = off(whole), off(batched), off(after_reset)
    if wrong_whole:
        first = wrong_whole[0]
        return result.failed(check, f"Fed 200 rows as one batch, a new instance of your metric "
                                    f"gives {whole[first]:.4f} where scikit-learn's {name} is "
                                    f"{expected[first]:.4f}: the formula in result(), or the "
                                    f"counts it divides, is off before any batching comes in. "
                                    f"Work the figure out by hand from the {counts} of a few "
                                    f"rows and compare with what your metric returns.")
    if wrong_batched:
        first = wrong_batched[0]
        return result.failed(check, f"Fed 200 rows as one batch, your metric gives "
                                    f"scikit-learn's {name}, {expected[first]:.4f}; fed the "
                                    f"same rows as {_how(BATCHINGS[first])}, it gives "
                                    f"{batched[first]:.4f}: the figure depends on how the rows "
                                    f"are batched. Keep running counts ({counts}) in state "
                                    f"variables, add each batch's counts in update_state(), and "
                                    f"compute the figure only in result().")
    if wrong_reset:
        first = wrong_reset[0]
        return result.failed(check, f"A new instance of your metric gives scikit-learn's {name} "
                                    f"however the rows are batched, but after reset_state() it "
                                    f"gives {after_reset[first]:.4f} where {expected[first]:.4f} "
                                    f"is right: something of the earlier rows survives the "
                                    f"reset. reset_state() must set every state variable back "
                                    f"to its start value (Keras's own reset_state() does that "
                                    f"for every variable made with add_variable; if you "
                                    f"override it, reset them all).")
    return result.passed(check, f"Your metric equals scikit-learn's {name} however the rows "
                                f"are batched, and after reset_state().")


def check_metric_results(found: Any, *, seed: int, figure: str) -> CheckResult:
    """Compare a metric's exported results with scikit-learn's figures (the grader's side).

    Args:
        found: The results :func:`metric_results` gave in the kernel (plain data).
        seed: The probes' seed.
        figure: One of :data:`FIGURES`.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_metric_results``; it passes only
        when every result is right.
    """
    return _compare(found, expected_results(seed, figure), figure)


def probe_results(metric_class: Any, seed: int) -> Any:
    """What a grade cell hands the grader: a metric class's results on the probes, as data.

    Never raises: a class that is not a metric, or a metric that raises, gives a pair that
    :func:`check_metric_results` turns into the message the kernel's check gives.

    Args:
        metric_class: The learner's class (not an instance).
        seed: Seed of the probe rows.

    Returns:
        The runs of :func:`metric_results`; ``["refused", message]`` for something that is not
        a metric class; ``["failed", error]`` when the metric raised or ran out of time.
    """
    import keras

    if not (isinstance(metric_class, type) and issubclass(metric_class, keras.metrics.Metric)):
        return ["refused", f"Pass your metric class itself, a subclass of keras.metrics.Metric; "
                           f"this is {type(metric_class).__name__}."]
    try:
        with no_stderr(), time_limit(TIME_LIMIT):
            return metric_results(metric_class, seed)
    except Exception as exc:  # the learner's code: report it, never a traceback
        return ["failed", short_error(exc)[:_ERROR_CHARS]]


def check_metric_class(metric_class: Any, *, figure: str = "specificity",
                       seed: int = PUBLIC_SEED, export: str | None = None) -> CheckResult:
    """Check a ``keras.metrics.Metric`` subclass against scikit-learn's figure.

    Args:
        metric_class: The class (not an instance); it must be built with no arguments.
        figure: The figure it computes at threshold 0.5: one of :data:`FIGURES`.
        seed: Seed of the probe rows.
        export: When grading, the name under which the results are handed to the grader.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_metric_results``, the same
        verdict :func:`check_metric_results` gives on the exported results.
    """
    if metric_class is Ellipsis:
        return result.not_attempted("check_metric_results",
                                    "Replace the `...` placeholder with your class.")
    found = probe_results(metric_class, seed)
    if export:
        exporting.answer(export, found)
    return _compare(found, expected_results(seed, figure), figure)


def _tiny_fit(callback: Any, epochs: int) -> list[float]:
    import keras

    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])
    return [float(value) for value in history.history["loss"]]


def _callback_failed(error: str) -> CheckResult:
    return result.failed("check_callback_records",
                         f"Training with your callback failed: {error}. Build it as "
                         "EveryNEpochs(every=2), and keep its work in on_epoch_end short.")


def check_callback_records(records: Any, losses: Any, *, every: int) -> CheckResult:
    """Check what a callback recorded against the History of the same run.

    Args:
        records: The callback's ``records``: ``(epoch, loss)`` pairs, epochs counted from 1.
        losses: ``history.history["loss"]`` of the run.
        every: The callback's ``every``.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_callback_records``.
    """
    check = "check_callback_records"
    if type(records) in (list, tuple) and len(records) == 2 and records[0] == "failed" and type(
            records[1]) is str:
        return _callback_failed(records[1][:_ERROR_CHARS])
    if type(losses) not in (list, tuple) or not losses or not all(map(is_figure, losses)):
        return result.failed(check, "The training run's History could not be read.")
    wanted = [(epoch, float(losses[epoch - 1])) for epoch in range(every, len(losses) + 1, every)]
    pairs = records if type(records) in (list, tuple) else None
    if pairs is None or not all(type(pair) in (list, tuple) and len(pair) == 2 and
                                type(pair[0]) is int and is_figure(pair[1]) for pair in pairs):
        return result.failed(check, f"`records` must be a list of (epoch, loss) pairs, such as "
                                    f"[(2, 0.61), (4, 0.55)]; it is {str(records)[:80]}.")
    epochs = [pair[0] for pair in pairs]
    if epochs != [epoch for epoch, _ in wanted]:
        return result.failed(check, f"Trained for {len(losses)} epochs with every={every}, your "
                                    f"callback recorded epochs {epochs}, not "
                                    f"{[epoch for epoch, _ in wanted]}. Keras counts epochs from "
                                    "0 in on_epoch_end: epoch + 1 is the epoch's number.")
    for (epoch, value), (_, truth) in zip(pairs, wanted, strict=True):
        if not math.isclose(float(value), truth, rel_tol=1e-5, abs_tol=1e-6):
            return result.failed(check, f"At epoch {epoch} your callback recorded "
                                        f"{float(value):.5f}, but the epoch's loss was "
                                        f"{truth:.5f}: read logs['loss'] in on_epoch_end.")
    return result.passed(check, f"Your callback recorded the loss every {every} epochs.")


def check_callback_class(callback_class: Any, *, every: int = 2, epochs: int = 6,
                         export: str | None = None) -> CheckResult:
    """Train a tiny model with the learner's callback and check what it recorded.

    Args:
        callback_class: The class; built as ``callback_class(every=every)``, it keeps
            ``records``, a list of ``(epoch, loss)`` pairs for epochs ``every``, ``2 * every``
            ... (counted from 1).
        every: How often it records.
        epochs: How long the tiny model trains.
        export: When grading, the name under which records and losses go to the grader.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_callback_records``.
    """
    import keras

    check = "check_callback_records"
    if callback_class is Ellipsis:
        return result.not_attempted(check, "Replace the `...` placeholder with your class.")
    if not (isinstance(callback_class, type)
            and issubclass(callback_class, keras.callbacks.Callback)):
        return result.failed(check, f"Pass your callback class itself, a subclass of "
                                    f"keras.callbacks.Callback; this is "
                                    f"{type(callback_class).__name__}.")
    try:
        with no_stderr(), time_limit(TIME_LIMIT):
            callback = callback_class(every=every)
            losses = _tiny_fit(callback, epochs)
            records = exporting.plain(list(getattr(callback, "records", None) or []))
    except Exception as exc:  # the learner's code: report it, never a traceback
        error = short_error(exc)[:_ERROR_CHARS]
        if export:
            # The error itself goes to the grader, which then says what the kernel says.
            exporting.answer(f"{export}_records", ["failed", error])
            exporting.answer(f"{export}_losses", ["failed", error])
        return _callback_failed(error)
    if export:
        exporting.answer(f"{export}_records", records)
        exporting.answer(f"{export}_losses", losses)
    return check_callback_records(records, losses, every=every)
