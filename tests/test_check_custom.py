"""The metric and callback checks of assignment 7: the reference, shortcuts and bad classes."""

from __future__ import annotations

import math
from pathlib import Path

import keras
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


class LastBatchOnly(a7.Specificity):
    """A shortcut: the ratio of the last batch, with no running counts."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.reset_state()
        super().update_state(y_true, y_pred, sample_weight)


class NeverReset(a7.Specificity):
    def reset_state(self):
        pass


class Raises(a7.Specificity):
    def update_state(self, y_true, y_pred, sample_weight=None):
        raise RuntimeError("not written yet")


class WrongShape(a7.Specificity):
    def result(self):
        return keras.ops.ones((3,))


class ReturnsText(a7.Specificity):
    def result(self):
        return "high"


class ReturnsCounts(a7.Specificity):
    """Returns the two counts as a tuple instead of their ratio."""

    def result(self):
        return self.true_negatives, self.false_positives


class ReturnsNothing(a7.Specificity):
    def result(self):
        self.true_negatives / (self.true_negatives + self.false_positives)


class NeedsArguments(a7.Specificity):
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
    assert check_metric_class(a7.Specificity).passed
    scores = export_and_verify(tmp_path, a7.ASSIGNMENT, {
        "Specificity": a7.Specificity, "EveryNEpochs": a7.EveryNEpochs,
        "check_metric_class": check_metric_class, "check_callback_class": check_callback_class,
    })
    # The callback cell exports from its own visible call; run it as the notebook does.
    assert scores["metric-matches-sklearn"] == full_marks(a7.ASSIGNMENT)["metric-matches-sklearn"]


def test_the_grader_seed_gives_other_rows_than_the_public_one() -> None:
    assert expected_results(a7.GRADER_SEED, "specificity") != expected_results(
        custom.PUBLIC_SEED, "specificity")
    results = custom.metric_results(a7.Specificity, a7.GRADER_SEED)
    assert check_metric_results(results, seed=a7.GRADER_SEED, figure="specificity").passed
    assert not check_metric_results(results, seed=custom.PUBLIC_SEED, figure="specificity").passed


@pytest.mark.parametrize(("metric_class", "words"), [
    (LastBatchOnly, "running counts"),
    (NeverReset, "reset_state() must set"),
    (Raises, "not written yet"),
    (WrongShape, "shape (3,)"),
    (ReturnsText, "returned a str ('high'), not a number"),
    (ReturnsCounts, "shape (2,), not one number"),
    (ReturnsNothing, "returned None: it must `return` the figure"),
    (NeedsArguments, "no arguments"),
    (a7.EveryNEpochs, "subclass of keras.metrics.Metric"),
])
def test_bad_metrics_fail_with_a_message(metric_class: type, words: str) -> None:
    verdict = check_metric_class(metric_class)
    assert not verdict.passed and words in verdict.message, verdict.message
    assert "Traceback" not in verdict.message


def test_exported_results_that_are_not_numbers_fail() -> None:
    for found in ("failed", [0.5] * 3, ["0.5"] * len(custom.BATCHINGS), None):
        assert not check_metric_results(found, seed=1, figure="specificity").passed


@pytest.mark.slow
def test_reference_callback_records_every_n_epochs() -> None:
    assert check_callback_class(a7.EveryNEpochs, every=2, epochs=6).passed
    verdict = check_callback_class(CountsFromZero, every=2, epochs=6)
    assert not verdict.passed and "epoch + 1" in verdict.message


@pytest.mark.slow
def test_a_callback_that_never_finishes_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custom, "TIME_LIMIT", 3.0)
    verdict = check_callback_class(NeverFinishes, every=2, epochs=4)
    assert not verdict.passed and "did not finish within 3 s" in verdict.message


def test_records_are_checked_against_the_history() -> None:
    losses = [0.9, 0.8, 0.7, 0.6]
    assert check_callback_records([[2, 0.8], [4, 0.6]], losses, every=2).passed
    assert not check_callback_records([[2, 0.5], [4, 0.6]], losses, every=2).passed
    assert not check_callback_records("records", losses, every=2).passed
    assert not check_callback_records([[2, math.inf]], losses, every=2).passed


def test_the_mean_of_batch_ratios_is_not_the_ratio_over_all_rows() -> None:
    # What the graded choice question states, on the rows the check itself uses.
    import numpy as np

    y_true, y_pred = custom.probe_batches(custom.PUBLIC_SEED)[1]
    negative = y_true.ravel() == 0
    flagged = y_pred.ravel() >= 0.5
    whole = float(np.sum(negative & ~flagged) / np.sum(negative))
    ratios, start = [], 0
    for size in custom.BATCHINGS[1]:
        part = slice(start, start + size)
        ratios.append(np.sum(negative[part] & ~flagged[part]) / np.sum(negative[part]))
        start += size
    assert abs(float(np.mean(ratios)) - whole) > 1e-3
