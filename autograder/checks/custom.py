"""Checks of a learner's own ``keras.metrics.Metric`` subclass and ``keras.callbacks.Callback``.

Learner classes cannot be loaded outside the kernel (``safe_mode`` refuses their code), so the
kernel runs them here on inputs this module defines, and hands the grader plain data:

- :func:`check_metric_class` feeds the metric the batches of :func:`probe_batches` (seeded;
  grade cells use a seed that only the grader knows), cut into batches in several ways and
  with ``reset_state()`` between them, and compares every result with scikit-learn's figure.
  :func:`check_metric_results` recomputes the expected figures from the same seed outside the
  kernel and compares them with the exported results.
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

FIGURES = ("specificity", "recall", "precision")
PUBLIC_SEED = 0
# How each probe's rows are cut into batches; after each probe the metric is reset.
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
    from sklearn.metrics import precision_score, recall_score

    if figure not in FIGURES:
        raise ValueError(f"`figure` must be one of {FIGURES}, got {figure!r}.")
    figures = []
    for y_true, y_pred in probe_batches(seed):
        truth, predicted = y_true.ravel().astype(int), (y_pred.ravel() >= threshold).astype(int)
        if figure == "specificity":
            value = recall_score(truth, predicted, pos_label=0, zero_division=0)
        elif figure == "recall":
            value = recall_score(truth, predicted, zero_division=0)
        else:
            value = precision_score(truth, predicted, zero_division=0)
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


def metric_results(metric_class: Callable[[], Any], seed: int) -> list[float]:
    """Run a metric class on the probes: one instance, ``reset_state()`` between probes.

    Args:
        metric_class: The learner's ``keras.metrics.Metric`` subclass (built with no arguments).
        seed: The probes' seed.

    Returns:
        The metric's ``result()`` after each probe.

    Raises:
        Exception: Whatever the learner's code raises, or ``TimeoutError``.
    """
    metric = metric_class()
    found = []
    for (y_true, y_pred), sizes in zip(probe_batches(seed), BATCHINGS, strict=True):
        start = 0
        for size in sizes:
            metric.update_state(y_true[start:start + size], y_pred[start:start + size])
            start += size
        found.append(_scalar(metric.result()))
        metric.reset_state()
    return found


_ACCUMULATE = (" Keep running counts (true negatives, false positives ...) in state variables, "
               "add each batch's counts in update_state(), and compute the ratio only in "
               "result().")
_RESET = (" A new instance gets it right, so the state survives reset_state(): reset_state() "
          "must set every state variable back to its start value.")


def _diagnose(metric_class: Callable[[], Any], seed: int, expected: Sequence[float]) -> str:
    """Tell a metric that does not reset from one that does not accumulate (a fresh instance)."""
    index = next(i for i, sizes in enumerate(BATCHINGS) if len(sizes) > 1)
    y_true, y_pred = probe_batches(seed)[index]
    metric, start = metric_class(), 0
    for size in BATCHINGS[index]:
        metric.update_state(y_true[start:start + size], y_pred[start:start + size])
        start += size
    fresh_right = math.isclose(_scalar(metric.result()), expected[index], abs_tol=_TOLERANCE)
    return _RESET if fresh_right else _ACCUMULATE


def _compare(found: Any, expected: Sequence[float], figure: str,
             hint: str | None = None) -> CheckResult:
    check = "check_metric_results"
    if found == "failed":
        return result.failed(check, "Your metric raised an error when it was fed rows; the "
                                    "check in your notebook says which.")
    if type(found) not in (list, tuple) or len(found) != len(expected) or not all(
            is_figure(item) for item in found):
        return result.failed(check, f"The metric's results should be {len(expected)} numbers, "
                                    f"one per way of batching the rows, but they are "
                                    f"{str(found)[:80]}.")
    wrong = [index for index, (given, truth) in enumerate(zip(found, expected, strict=True))
             if not math.isclose(float(given), truth, abs_tol=_TOLERANCE)]
    if not wrong:
        return result.passed(check, f"Your metric equals scikit-learn's {figure} on every "
                                    f"batching, including after reset_state().")
    first = wrong[0]
    sizes = BATCHINGS[first]
    how = "one batch" if len(sizes) == 1 else f"{len(sizes)} batches of sizes {sizes[:4]}..."
    hint = _ACCUMULATE if hint is None else hint
    return result.failed(check, f"Fed 200 rows as {how}, your metric gives "
                                f"{float(found[first]):.4f} where scikit-learn's {figure} is "
                                f"{expected[first]:.4f}.{hint}",
                         score=(len(expected) - len(wrong)) / len(expected))


def check_metric_results(found: Any, *, seed: int, figure: str) -> CheckResult:
    """Compare a metric's exported results with scikit-learn's figures (the grader's side).

    Args:
        found: The results :func:`metric_results` gave in the kernel (plain data).
        seed: The probes' seed.
        figure: One of :data:`FIGURES`.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_metric_results``.
    """
    return _compare(found, expected_results(seed, figure), figure)


def check_metric_class(metric_class: Any, *, figure: str = "specificity",
                       seed: int = PUBLIC_SEED, export: str | None = None) -> CheckResult:
    """Check a ``keras.metrics.Metric`` subclass against scikit-learn's figure.

    Args:
        metric_class: The class (not an instance); it must be built with no arguments.
        figure: The figure it computes at threshold 0.5: one of :data:`FIGURES`.
        seed: Seed of the probe rows.
        export: When grading, the name under which the results are handed to the grader.

    Returns:
        A :class:`~autograder.result.CheckResult` named ``check_metric_results``.
    """
    import keras

    check = "check_metric_results"
    if metric_class is Ellipsis:
        return result.not_attempted(check, "Replace the `...` placeholder with your class.")
    if not (isinstance(metric_class, type) and issubclass(metric_class, keras.metrics.Metric)):
        return result.failed(check, f"Pass your metric class itself, a subclass of "
                                    f"keras.metrics.Metric; this is {type(metric_class).__name__}.")
    try:
        with no_stderr(), time_limit(TIME_LIMIT):
            found: Any = metric_results(metric_class, seed)
    except Exception as exc:  # the learner's code: report it, never a traceback
        if export:
            exporting.answer(export, "failed")
        return result.failed(check, f"Your metric failed while it was fed rows: "
                                    f"{short_error(exc)}. Build it with no arguments, and "
                                    "make update_state() and result() work on batches of any "
                                    "size.")
    if export:
        exporting.answer(export, found)
    expected = expected_results(seed, figure)
    verdict = _compare(found, expected, figure)
    if verdict.passed:
        return verdict
    try:
        with no_stderr(), time_limit(TIME_LIMIT):
            hint = _diagnose(metric_class, seed, expected)
    except Exception:  # noqa: BLE001 - the plain hint still applies
        hint = None
    return _compare(found, expected, figure, hint)


def _tiny_fit(callback: Any, epochs: int) -> list[float]:
    import keras

    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])
    return [float(value) for value in history.history["loss"]]


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
        return result.failed(check, f"Training with your callback failed: {short_error(exc)}. "
                                    "Build it as EveryNEpochs(every=2), and keep its work in "
                                    "on_epoch_end short.")
    if export:
        exporting.answer(f"{export}_records", records)
        exporting.answer(f"{export}_losses", losses)
    return check_callback_records(records, losses, every=every)
