"""The offline datasets: shapes, types, label meaning, seeded splits, and grader-only rows that no
learner split contains."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import data
from autograder.checks.leakage import shared_rows

pytestmark = pytest.mark.xdist_group("datasets")

# name -> (shape of one example, number of classes, rows in the learner pool, grader rows)
EXPECTED = {
    "mnist": ((28, 28, 1), 10, 4000, 1000),
    "digits": ((8, 8, 1), 10, 1437, 360),
    "breast_cancer": ((30,), 2, 455, 114),
    "fraud": ((10,), 2, 8000, 2000),
    "multilabel": ((20,), 5, 2400, 600),
}


@pytest.mark.parametrize("name", data.DATASETS)
def test_shapes_and_types(name):
    shape, classes, pool, reserve = EXPECTED[name]
    ds = data.load(name)
    assert ds.input_shape == shape
    assert ds.num_classes == classes == len(ds.class_names)
    assert len(ds.x_train) + len(ds.x_test) == pool
    assert len(ds.x_test) == pytest.approx(0.2 * pool, abs=1)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert len(x) == len(y) and np.all(np.isfinite(x))
    holdout = data.load_holdout(name)
    assert len(holdout.x) == reserve and holdout.x.shape[1:] == shape


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_images_are_scaled_to_unit_range(name):
    ds = data.load(name)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_mnist_has_500_images_per_digit():
    ds, holdout = data.load_mnist(), data.load_holdout("mnist")
    labels = np.concatenate([ds.y_train, ds.y_test, holdout.y])
    assert np.bincount(labels).tolist() == [500] * 10


def test_fraud_is_about_two_percent_positive():
    ds = data.load_fraud()
    assert ds.positive_class == 1 and ds.class_names[1] == "fraud"
    for y in (ds.y_train, ds.y_test, data.load_holdout("fraud").y):
        assert 0.015 < y.mean() < 0.025


def test_breast_cancer_says_label_one_is_benign():
    ds = data.load_breast_cancer()
    assert ds.class_names == ("malignant", "benign")
    assert ds.positive_class == 1
    assert "BENIGN" in ds.description


def test_multilabel_rows_have_at_least_one_label():
    ds = data.load_multilabel()
    assert ds.y_train.shape == (len(ds.x_train), 5)
    assert set(np.unique(ds.y_train)) == {0, 1}
    assert ds.y_train.sum(axis=1).min() >= 1


@pytest.mark.parametrize("name", data.DATASETS)
def test_same_seed_same_split_other_seed_other_split(name):
    first, again, other = data.load(name), data.load(name), data.load(name, seed=1)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_test, other.x_test)
    # Another seed reshuffles the same pool: the union of rows is unchanged.
    assert shared_rows(np.concatenate([first.x_train, first.x_test]), other.x_test).all()


@pytest.mark.parametrize("name", data.DATASETS)
@pytest.mark.parametrize("seed", [0, 3])
def test_learner_rows_never_include_grader_rows(name, seed):
    ds = data.load(name, seed=seed, test_size=0.3)
    holdout = data.load_holdout(name)
    learner = np.concatenate([ds.x_train, ds.x_test])
    assert not shared_rows(learner, holdout.x).any()
    assert not shared_rows(ds.x_train, ds.x_test).any()


def test_loaded_arrays_are_copies():
    ds = data.load_digits()
    ds.x_train[0] = -1.0
    assert data.load_digits().x_train.min() == 0.0


@pytest.mark.parametrize("kwargs, argument", [
    ({"name": "cifar"}, "name"),
    ({"name": "digits", "test_size": 1.5}, "test_size"),
    ({"name": "digits", "test_size": 0}, "test_size"),
])
def test_bad_arguments_raise_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        data.load(**kwargs)
