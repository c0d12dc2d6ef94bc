"""The metric and callback checks of assignment 7: the reference, shortcuts and bad classes."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from _verified import export_and_verify, full_marks

from autograder.checks import custom
from autograder.checks.custom import (
    check_callback_class,
    check_callback_records,
    check_metric_class,
    check_metric_results,
    expected_results,
)
from solutions import a7_custom_metric_callback as a7

METRIC = a7.MatthewsCorrelation


class LastBatchOnly(METRIC):
    """A shortcut: the coefficient of the last batch, with no running counts."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.reset_state()
        super().update_state(y_true, y_pred, sample_weight)


class MeanOfBatchValues(keras.metrics.Metric):
    """Stateless at heart: each batch's coefficient, averaged over the batches."""

    def __init__(self, name="mcc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.batches = self.add_variable(shape=(), initializer="zeros", name="batches")

    def update_state(self, y_true, y_pred, sample_weight=None):
        one = METRIC()
        one.update_state(y_true, y_pred)
        self.total.assign_add(one.result())
        self.batches.assign_add(1.0)

    def result(self):
        return keras.ops.divide_no_nan(self.total, self.batches)


class NeverReset(METRIC):
    def reset_state(self):
        pass


class ResetsHalf(METRIC):
    """Its own reset_state forgets two of the four counts."""

    def reset_state(self):
        self.true_positives.assign(0.0)
        self.true_negatives.assign(0.0)


class CountsInPython(METRIC):
    """Counts kept as plain floats, outside Keras variables: the inherited reset misses them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tp = self.tn = self.fp = self.fn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = np.asarray(y_true).ravel() == 1
        flagged = np.asarray(y_pred).ravel() >= 0.5
        self.tp += float(np.sum(truth & flagged))
        self.tn += float(np.sum(~truth & ~flagged))
        self.fp += float(np.sum(~truth & flagged))
        self.fn += float(np.sum(truth & ~flagged))

    def result(self):
        spread = math.sqrt((self.tp + self.fp) * (self.tp + self.fn) * (self.tn + self.fp)
                           * (self.tn + self.fn))
        return (self.tp * self.tn - self.fp * self.fn) / spread if spread else 0.0


class CountsInPythonReset(CountsInPython):
    def reset_state(self):
        self.tp = self.tn = self.fp = self.fn = 0.0


class NoSquareRoot(METRIC):
    def result(self):
        tp, tn = self.true_positives, self.true_negatives
        fp, fn = self.false_positives, self.false_negatives
        return keras.ops.divide_no_nan(tp * tn - fp * fn, (tp + fp) * (tp + fn) * (tn + fp)
                                       * (tn + fn))


class Raises(METRIC):
    def update_state(self, y_true, y_pred, sample_weight=None):
        raise RuntimeError("not written yet")


class WrongShape(METRIC):
    def result(self):
        return keras.ops.ones((3,))


class ReturnsText(METRIC):
    def result(self):
        return "high"


class ReturnsCounts(METRIC):
    """Returns two counts as a tuple instead of the coefficient."""

    def result(self):
        return self.true_negatives, self.false_positives


class ReturnsNothing(METRIC):
    def result(self):
        self.true_negatives / (self.true_negatives + self.false_positives)


class NeedsArguments(METRIC):
    def __init__(self, threshold, **kwargs):
        super().__init__(threshold=threshold, **kwargs)


class CountsFromZero(a7.EveryNEpochs):
    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every == 0:
            self.records.append((epoch, float(logs["loss"])))


class NeverFinishes(a7.EveryNEpochs):
    def on_epoch_end(self, epoch, logs=None):
        while True:
            pass


def test_reference_metric_matches_sklearn_on_every_batching_and_in_the_grader(
        tmp_path: Path) -> None:
    assert check_metric_class(METRIC, figure="mcc").passed
    # The reference relies on the inherited reset_state(): it zeroes add_variable variables.
    assert "reset_state" not in vars(METRIC)
    scores = export_and_verify(tmp_path, a7.ASSIGNMENT, {
        "MatthewsCorrelation": METRIC, "EveryNEpochs": a7.EveryNEpochs,
        "check_metric_class": check_metric_class, "check_callback_class": check_callback_class,
    })
    # The callback cell exports from its own visible call; run it as the notebook does.
    assert scores["metric-matches-sklearn"] == full_marks(a7.ASSIGNMENT)["metric-matches-sklearn"]


def test_the_grader_seed_gives_other_rows_than_the_public_one() -> None:
    assert expected_results(a7.GRADER_SEED, "mcc") != expected_results(custom.PUBLIC_SEED, "mcc")
    results = custom.metric_results(METRIC, a7.GRADER_SEED)
    assert check_metric_results(results, seed=a7.GRADER_SEED, figure="mcc").passed
    assert not check_metric_results(results, seed=custom.PUBLIC_SEED, figure="mcc").passed


@pytest.mark.parametrize("figure", custom.FIGURES)
def test_every_figure_is_scikit_learns_on_the_probes(figure: str) -> None:
    from sklearn.metrics import balanced_accuracy_score, matthews_corrcoef

    y_true, y_pred = custom.probe_batches(3)[0]
    truth, predicted = y_true.ravel(), y_pred.ravel() >= 0.5
    tp, tn = np.sum(truth * predicted), np.sum((1 - truth) * ~predicted)
    fp, fn = np.sum((1 - truth) * predicted), np.sum(truth * ~predicted)
    by_hand = {"specificity": tn / (tn + fp), "recall": tp / (tp + fn),
               "precision": tp / (tp + fp), "mcc": matthews_corrcoef(truth, predicted),
               "balanced_accuracy": balanced_accuracy_score(truth, predicted)}
    assert expected_results(3, figure)[0] == pytest.approx(by_hand[figure])


def test_the_reference_counts_rows_by_their_sample_weight() -> None:
    from sklearn.metrics import matthews_corrcoef

    y_true, y_pred = custom.probe_batches(5)[0]
    weight = np.random.default_rng(5).uniform(0.1, 3.0, len(y_true)).astype("float32")
    metric = METRIC()
    metric.update_state(y_true[:50], y_pred[:50], sample_weight=weight[:50])
    metric.update_state(y_true[50:], y_pred[50:], sample_weight=weight[50:, None])
    expected = matthews_corrcoef(y_true.ravel(), y_pred.ravel() >= 0.5, sample_weight=weight)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-5)


ONE_BATCH = "Fed 200 rows as one batch, a new instance of your metric gives"
BATCHED = "the figure depends on how the rows are batched. Keep running counts"
RESET = "after reset_state() it gives"


@pytest.mark.parametrize(("metric_class", "words"), [
    (LastBatchOnly, BATCHED),
    (MeanOfBatchValues, BATCHED),
    (NeverReset, RESET),
    (ResetsHalf, RESET),
    (CountsInPython, RESET),
    (NoSquareRoot, ONE_BATCH),
    (Raises, "not written yet"),
    (WrongShape, "shape (3,)"),
    (ReturnsText, "returned a str ('high'), not a number"),
    (ReturnsCounts, "shape (2,), not one number"),
    (ReturnsNothing, "returned None: it must `return` the figure"),
    (NeedsArguments, "no arguments"),
    (a7.EveryNEpochs, "subclass of keras.metrics.Metric"),
])
def test_bad_metrics_fail_with_a_message_and_earn_nothing(metric_class: type, words: str) -> None:
    verdict = check_metric_class(metric_class, figure="mcc")
    assert not verdict.passed and words in verdict.message, verdict.message
    assert verdict.fraction == 0
    assert "Traceback" not in verdict.message


@pytest.mark.parametrize("metric_class", [
    METRIC, CountsInPythonReset, LastBatchOnly, MeanOfBatchValues, NeverReset, ResetsHalf,
    CountsInPython, NoSquareRoot, Raises, ReturnsText, NeedsArguments, a7.EveryNEpochs])
def test_the_grader_says_what_the_kernel_says(metric_class: type, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from autograder.grading.export import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    kernel = check_metric_class(metric_class, figure="mcc", seed=a7.GRADER_SEED,
                                export="metric_results")
    exported = json.loads((tmp_path / "answer-metric_results.json").read_text())["value"]
    grader = check_metric_results(exported, seed=a7.GRADER_SEED, figure="mcc")
    assert (grader.passed, grader.fraction) == (kernel.passed, kernel.fraction)
    assert grader.message == kernel.message


def test_messages_describe_what_each_metric_does() -> None:
    # The batched message says one batch is right, the reset message says a new instance is:
    # true of the metrics that get them, checked on the very rows of the message.
    from sklearn.metrics import matthews_corrcoef

    whole, batched, after_reset = custom.metric_results(MeanOfBatchValues, custom.PUBLIC_SEED)
    expected = expected_results(custom.PUBLIC_SEED, "mcc")
    assert whole == pytest.approx(expected, abs=1e-4)
    assert abs(batched[1] - expected[1]) > 1e-3
    whole, batched, after_reset = custom.metric_results(NeverReset, custom.PUBLIC_SEED)
    assert batched == pytest.approx(expected, abs=1e-4)
    assert abs(after_reset[1] - expected[1]) > 1e-3
    y_true, y_pred = custom.probe_batches(custom.PUBLIC_SEED)[0]
    assert matthews_corrcoef(y_true.ravel(), y_pred.ravel() >= 0.5) == pytest.approx(expected[0])


def test_exported_results_that_are_not_numbers_fail() -> None:
    runs = [[0.5] * len(custom.BATCHINGS)] * 3
    for found in ("failed", [0.5] * 3, runs[:2], [["0.5"] * len(custom.BATCHINGS)] * 3, None):
        verdict = check_metric_results(found, seed=1, figure="mcc")
        assert not verdict.passed and verdict.fraction == 0


@pytest.mark.slow
def test_reference_callback_records_every_n_epochs() -> None:
    assert check_callback_class(a7.EveryNEpochs, every=2, epochs=6).passed
    verdict = check_callback_class(CountsFromZero, every=2, epochs=6)
    assert not verdict.passed and "epoch + 1" in verdict.message


@pytest.mark.slow
def test_a_callback_that_never_finishes_is_stopped(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    import json

    from autograder.grading.export import ENV_VAR

    monkeypatch.setattr(custom, "TIME_LIMIT", 3.0)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    verdict = check_callback_class(NeverFinishes, every=2, epochs=4, export="callback")
    assert not verdict.passed and "did not finish within 3 s" in verdict.message
    # The grader, reading what the kernel handed over, says the same.
    records, losses = (json.loads((tmp_path / f"answer-callback_{name}.json").read_text())[
        "value"] for name in ("records", "losses"))
    assert check_callback_records(records, losses, every=2).message == verdict.message


def test_records_are_checked_against_the_history() -> None:
    losses = [0.9, 0.8, 0.7, 0.6]
    assert check_callback_records([[2, 0.8], [4, 0.6]], losses, every=2).passed
    assert not check_callback_records([[2, 0.5], [4, 0.6]], losses, every=2).passed
    assert not check_callback_records("records", losses, every=2).passed
    assert not check_callback_records([[2, math.inf]], losses, every=2).passed


class CallsCounted(METRIC):
    """The reference, counting how often Keras calls result() and reset_state()."""

    calls: dict[str, int] = {"result": 0, "reset_state": 0}

    def result(self):
        CallsCounted.calls["result"] += 1
        return super().result()

    def reset_state(self):
        CallsCounted.calls["reset_state"] += 1
        super().reset_state()


def _question_choice(start: str) -> object:
    return next(c for c in a7._WHY_STATE.choices if c.text.startswith(start))


def test_why_state_choices_say_what_keras_and_the_arithmetic_do() -> None:
    from sklearn.metrics import matthews_corrcoef

    # The right choice and the rounding distractor: on the check's own rows in four batches,
    # the mean of batch coefficients misses the coefficient by about 0.02, far above float32
    # rounding (the reference in float32 is within a few millionths of float64).
    y_true, y_pred = custom.probe_batches(custom.PUBLIC_SEED)[1]
    truth, flagged = y_true.ravel(), y_pred.ravel() >= 0.5
    whole = matthews_corrcoef(truth, flagged)
    coefficients, start = [], 0
    for size in custom.BATCHINGS[1]:
        part = slice(start, start + size)
        coefficients.append(matthews_corrcoef(truth[part], flagged[part]))
        start += size
    assert 0.015 < abs(float(np.mean(coefficients)) - whole) < 0.03
    assert "about 0.02" in _question_choice("The classmate's mean").feedback
    metric = METRIC()
    metric.update_state(y_true, y_pred)
    assert abs(float(metric.result()) - whole) < 5e-6
    # The two distractors about Keras: fit reads result() after every batch, and resets the
    # metric once per epoch, not after each batch.
    CallsCounted.calls.update(result=0, reset_state=0)
    model = keras.Sequential([keras.Input(shape=(1,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    # Run eagerly so that every call runs the Python methods (a traced step runs them once).
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[CallsCounted()],
                  run_eagerly=True)
    model.fit(y_pred, y_true, batch_size=20, epochs=2, verbose=0)
    assert CallsCounted.calls["reset_state"] <= 3 < 20 <= CallsCounted.calls["result"]


def test_why_state_gives_nothing_away_by_its_surface() -> None:
    import re

    absolute = re.compile(r"\b(always|never|only|at all|nothing|none|cannot|can't|impossible|"
                          r"guaranteed?|everything|no matter)\b", re.IGNORECASE)
    lengths = sorted(len(choice.text) for choice in a7._WHY_STATE.choices)
    right = next(choice for choice in a7._WHY_STATE.choices if choice.correct)
    assert lengths[0] < len(right.text) < lengths[-1]
    assert [c.text for c in a7._WHY_STATE.choices if absolute.search(c.text)] == []
