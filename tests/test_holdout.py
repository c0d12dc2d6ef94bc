"""Grader-only rows derived from a secret: reproducible with the secret, out of reach without it,
and judging the same task as the reserve they replace."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, recall_score
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits

from autograder import data, holdout
from autograder.checks.leakage import shared_rows

# Fixed secrets, so a failure can be replayed; each is as long as one from new_secret().
SECRET = "5f0c1e9a7b3d42c8a1e6f09b2d7c4e3a8b1f6d0c9e2a7b4d3c8f1e0a9b6d2c7e"
OTHER_SECRET = "0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d"
# name -> number of derived rows
ROWS = {"mnist": 1000, "digits": 360, "breast_cancer": 114, "fraud": holdout.FRAUD_ROWS,
        "multilabel": holdout.MULTILABEL_ROWS}
# Largest accepted gap between a model's score on the derived rows and on the reserve.
ACCURACY_TOLERANCE = 0.05
RECALL_TOLERANCE = 0.1


@pytest.fixture(autouse=True)
def one_blas_thread() -> Iterator[None]:
    # The models here are small: on a busy machine, BLAS threads only wait for each other.
    with threadpool_limits(limits=1):
        yield


def every_row(name: str) -> np.ndarray:
    """All rows of a dataset: its learner pool and its reserve."""
    split = data.load(name)
    return np.concatenate([split.x_train, split.x_test, data.load_holdout(name).x])


def test_new_secrets_are_long_and_fresh() -> None:
    first, second = holdout.new_secret(), holdout.new_secret()
    assert first != second
    assert len(first) == 64 and int(first, 16) >= 0
    assert holdout.derive("digits", first).x.shape == (360, 8, 8, 1)


def test_same_secret_gives_the_same_rows_in_another_process() -> None:
    # A fresh interpreter has its own hash seed and no cache: only the secret decides the rows.
    # MNIST takes the same path as digits, at ten times the cost, so it is left out here.
    names = [name for name in data.DATASETS if name != "mnist"]
    script = (
        "import hashlib, sys\n"
        "from autograder import holdout\n"
        "for name in sys.argv[2:]:\n"
        "    rows = holdout.derive(name, sys.argv[1])\n"
        "    print(name, hashlib.sha256(rows.x.tobytes() + rows.y.tobytes()).hexdigest())\n"
    )
    done = subprocess.run([sys.executable, "-c", script, SECRET, *names], capture_output=True,
                          text=True, check=True, timeout=600)
    expected = []
    for name in names:
        rows = holdout.derive(name, SECRET)
        expected.append(f"{name} {hashlib.sha256(rows.x.tobytes() + rows.y.tobytes()).hexdigest()}")
    assert done.stdout.splitlines() == expected


@pytest.mark.parametrize("name", data.DATASETS)
def test_another_secret_gives_other_rows(name: str) -> None:
    first, second = holdout.derive(name, SECRET), holdout.derive(name, OTHER_SECRET)
    assert not shared_rows(first.x, second.x).any()


@pytest.mark.parametrize("name", data.DATASETS)
def test_no_derived_row_is_a_row_of_the_dataset(name: str) -> None:
    derived = holdout.derive(name, SECRET)
    assert not shared_rows(every_row(name), derived.x).any()


def test_no_loader_reproduces_a_derived_row() -> None:
    loaders = {"mnist": data.load_mnist, "digits": data.load_digits,
               "breast_cancer": data.load_breast_cancer, "fraud": data.load_fraud,
               "multilabel": data.load_multilabel}
    for name, loader in loaders.items():
        derived = holdout.derive(name, SECRET).x
        given = [data.load_holdout(name).x]
        for seed in (0, 1, 7, 2024):
            for test_size in (0.1, 0.2, 0.5):
                split = loader(test_size=test_size, seed=seed)
                given += [split.x_train, split.x_test]
        for rows in given:
            assert not shared_rows(derived, rows).any(), name


@pytest.mark.parametrize("name", data.DATASETS)
def test_rows_have_the_datasets_shapes_types_and_labels(name: str) -> None:
    derived, reserve = holdout.derive(name, SECRET), data.load_holdout(name)
    assert derived.name == name
    assert derived.x.shape == (ROWS[name], *reserve.x.shape[1:])
    assert derived.y.shape == (ROWS[name], *reserve.y.shape[1:])
    assert derived.x.dtype == np.float32 and derived.y.dtype == np.int64
    assert np.all(np.isfinite(derived.x))
    assert set(np.unique(derived.y)) == set(np.unique(reserve.y))
    assert (derived.class_names, derived.positive_class) == (reserve.class_names,
                                                             reserve.positive_class)
    # Cached rows are shared between callers: none of them may change them.
    assert not derived.x.flags.writeable and not derived.y.flags.writeable


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_images_are_moved_copies_of_the_reserve_in_unit_range(name: str) -> None:
    derived, reserve = holdout.derive(name, SECRET), data.load_holdout(name)
    assert derived.x.min() >= 0.0 and derived.x.max() <= 1.0
    np.testing.assert_array_equal(derived.y, reserve.y)
    change = np.abs(derived.x - reserve.x).mean(axis=(1, 2, 3))
    # Every image changed, none beyond recognition (pixels move by a fraction of their range).
    assert change.min() > 0.0 and change.mean() < 0.1


def test_tumour_rows_stay_non_negative_and_near_their_originals() -> None:
    derived, reserve = holdout.derive("breast_cancer", SECRET), data.load_holdout("breast_cancer")
    np.testing.assert_array_equal(derived.y, reserve.y)
    assert derived.x.min() >= 0.0
    # Zero features (no concavity) stay zero; others move by a few percent at most on average.
    np.testing.assert_array_equal(derived.x == 0, reserve.x == 0)
    positive = reserve.x > 0
    ratio = derived.x[positive] / reserve.x[positive]
    assert np.all(ratio > 0.5) and np.all(ratio < 2.0)
    assert np.median(np.abs(np.log(ratio))) < 0.05


def test_fraud_rows_keep_the_sources_fraud_rate() -> None:
    derived = holdout.derive("fraud", SECRET)
    source_rate = np.concatenate([data.load_fraud().y_train, data.load_fraud().y_test,
                                  data.load_holdout("fraud").y]).mean()
    assert derived.y.sum() == round(holdout.FRAUD_ROWS * source_rate)
    # Enough frauds for recall to be judged in steps of 1 %.
    assert derived.y.sum() >= 100


def test_multilabel_rows_keep_the_sources_label_frequencies() -> None:
    derived, split = holdout.derive("multilabel", SECRET), data.load_multilabel()
    source = np.concatenate([split.y_train, split.y_test, data.load_holdout("multilabel").y])
    assert derived.y.sum(axis=1).min() >= 1
    np.testing.assert_allclose(derived.y.mean(axis=0), source.mean(axis=0), atol=0.04)
    assert abs(derived.y.sum(axis=1).mean() - source.sum(axis=1).mean()) < 0.1
    # Word counts: log1p of non-negative integers, documents of about 50 words.
    counts = np.expm1(derived.x.astype(np.float64))
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
    assert abs(counts.sum(axis=1).mean() - 50) < 2


def test_multilabel_settings_rebuild_the_generated_source() -> None:
    # The derivation reads the generator's distributions with these settings; they must be the
    # ones the dataset was made with.
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(**holdout._MULTILABEL_SETTINGS)
    np.testing.assert_array_equal(np.log1p(x).astype(np.float32), data._source("multilabel").x)
    np.testing.assert_array_equal(y, data._source("multilabel").y)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", ["mnist", "digits", "breast_cancer"])
def test_a_model_scores_the_same_on_derived_and_reserve_rows(name: str) -> None:
    split, reserve = data.load(name), data.load_holdout(name)
    # A pixel-wise linear model is the most sensitive to moved pixels; 2,000 MNIST images are
    # enough for it (about 0.9 accuracy) and keep this test fast.
    x_train, y_train = _flat(split.x_train)[:2000], split.y_train[:2000]
    model = LogisticRegression(max_iter=200 if name != "breast_cancer" else 5000)
    if name == "breast_cancer":
        # Unscaled features: scale with the training rows' statistics, as a learner would.
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    else:
        mean, std = 0.0, 1.0
    model.fit((x_train - mean) / std, y_train)
    on_reserve = model.score((_flat(reserve.x) - mean) / std, reserve.y)
    for secret in (SECRET, OTHER_SECRET):
        derived = holdout.derive(name, secret)
        on_derived = model.score((_flat(derived.x) - mean) / std, derived.y)
        assert abs(on_derived - on_reserve) <= ACCURACY_TOLERANCE, (on_reserve, on_derived)


def test_fraud_recall_is_the_same_on_derived_and_reserve_rows() -> None:
    split, reserve = data.load_fraud(), data.load_holdout("fraud")
    model = LogisticRegression(class_weight="balanced", max_iter=1000)
    model.fit(split.x_train, split.y_train)
    scores = []
    for x, y in [(reserve.x, reserve.y)] + [(d.x, d.y) for d in (
            holdout.derive("fraud", SECRET), holdout.derive("fraud", OTHER_SECRET))]:
        predicted = model.predict(x)
        scores.append((accuracy_score(y, predicted), recall_score(y, predicted)))
    (accuracy, recall), *derived = scores
    for derived_accuracy, derived_recall in derived:
        assert abs(derived_accuracy - accuracy) <= ACCURACY_TOLERANCE, scores
        assert abs(derived_recall - recall) <= RECALL_TOLERANCE, scores


def test_multilabel_scores_are_the_same_on_derived_and_reserve_rows() -> None:
    split, reserve = data.load_multilabel(), data.load_holdout("multilabel")
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000))
    model.fit(split.x_train, split.y_train)

    def scores(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        right = model.predict(x) == y
        return float(right.mean()), float(right.all(axis=1).mean())  # per label, whole rows

    label_accuracy, row_accuracy = scores(reserve.x, reserve.y)
    for secret in (SECRET, OTHER_SECRET):
        derived = holdout.derive("multilabel", secret)
        derived_label, derived_row = scores(derived.x, derived.y)
        assert abs(derived_label - label_accuracy) <= ACCURACY_TOLERANCE
        assert abs(derived_row - row_accuracy) <= ACCURACY_TOLERANCE


@pytest.mark.parametrize(("name", "secret", "argument"), [
    ("cifar10", SECRET, "`name`"),
    ("mnist", "short", "`secret`"),
    ("mnist", " " * 40, "`secret`"),
    ("mnist", None, "`secret`"),
])
def test_bad_arguments_are_named(name: str, secret: object, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        holdout.derive(name, secret)  # type: ignore[arg-type]
