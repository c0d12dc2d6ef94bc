"""check_split on the course's real data with real scikit-learn scalers: clean splits pass,
shared rows are counted, and scalers fitted on train + test are caught."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from _loud import everything_to_stderr, make_noise
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from autograder import check_split, data
from autograder.checks.leakage import shared_rows
from autograder.result import Outcome

SCALERS = [StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler]


@pytest.fixture(scope="module")
def fraud():
    return data.load_fraud()


def test_clean_split_passes(fraud):
    res = check_split(fraud.x_train, fraud.x_test)
    assert res.passed, str(res)
    assert res.metrics == {"shared_rows": 0.0, "shared_fraction": 0.0}
    assert f"{len(fraud.x_train)} training and {len(fraud.x_test)} test rows" in res.message


@pytest.mark.parametrize("copied", [1, 40])
def test_test_rows_copied_from_training_are_counted(fraud, copied):
    x_test = np.concatenate([fraud.x_test, fraud.x_train[:copied]])
    res = check_split(fraud.x_train, x_test)
    assert res.outcome is Outcome.FAILED
    fraction = copied / len(x_test)
    assert res.metrics["shared_rows"] == copied
    assert res.metrics["shared_fraction"] == pytest.approx(fraction)
    assert f"{copied} of your {len(x_test)} test rows ({100 * fraction:.1f} %)" in res.message
    assert "drop_duplicates" in res.message and "train_test_split" in res.message


def test_dataframes_are_accepted(fraud):
    columns = list(data.FRAUD_FEATURES)
    train = pd.DataFrame(fraud.x_train, columns=columns)
    test = pd.DataFrame(np.concatenate([fraud.x_test, fraud.x_train[:3]]), columns=columns)
    res = check_split(train, test, scaler=StandardScaler().fit(train))
    assert res.outcome is Outcome.FAILED and res.metrics["shared_rows"] == 3


def test_image_rows_are_compared_whole():
    digits = data.load_digits()
    leaked = np.concatenate([digits.x_test, digits.x_train[5:7]])
    assert check_split(digits.x_train, digits.x_test).passed
    assert shared_rows(digits.x_train, leaked).sum() == 2


def test_shared_rows_ignores_dtype_and_signed_zero():
    train = np.array([[0.0, 1.0], [2.0, 3.0]])
    test = np.array([[-0.0, 1.0], [2.0, 4.0], [2.0, 3.0]])
    assert shared_rows(train, test).tolist() == [True, False, True]
    assert shared_rows(train.astype(np.float32), np.array([[2, 3]])).tolist() == [True]


@pytest.mark.parametrize("scaler_class", SCALERS, ids=lambda c: c.__name__)
def test_scaler_fitted_on_training_rows_passes(fraud, scaler_class):
    res = check_split(fraud.x_train, fraud.x_test, scaler=scaler_class().fit(fraud.x_train))
    assert res.passed, str(res)
    assert "training rows alone" in res.message


@pytest.mark.parametrize("scaler_class", SCALERS, ids=lambda c: c.__name__)
def test_scaler_fitted_on_train_and_test_fails(fraud, scaler_class):
    scaler = scaler_class().fit(np.concatenate([fraud.x_train, fraud.x_test]))
    res = check_split(fraud.x_train, fraud.x_test, scaler=scaler)
    assert res.outcome is Outcome.FAILED, str(res)
    for words in ("x_train and x_test combined", "scaler.fit(x_train)",
                  "x_test = scaler.transform(x_test)"):
        assert words in res.message, words


@pytest.mark.parametrize("leaky", [False, True])
def test_already_scaled_arrays_are_mapped_back(fraud, leaky):
    rows = np.concatenate([fraud.x_train, fraud.x_test]) if leaky else fraud.x_train
    scaler = StandardScaler().fit(rows)
    res = check_split(scaler.transform(fraud.x_train), scaler.transform(fraud.x_test),
                      scaler=scaler)
    assert res.passed is not leaky, str(res)
    assert any("inverse_transform" in d for d in res.details)


def test_scaler_fitted_on_other_rows_fails(fraud):
    holdout = data.load_holdout("fraud")
    res = check_split(fraud.x_train, fraud.x_test, scaler=StandardScaler().fit(holdout.x))
    assert res.outcome is Outcome.FAILED
    assert "match neither" in res.message and "raw, unscaled" in res.message


def test_unfitted_scaler_fails(fraud):
    res = check_split(fraud.x_train, fraud.x_test, scaler=MinMaxScaler())
    assert res.outcome is Outcome.FAILED
    assert "MinMaxScaler" in res.message and "not been fitted" in res.message


def test_duplicates_and_leaky_scaler_are_both_reported(fraud):
    x_test = np.concatenate([fraud.x_test, fraud.x_train[:2]])
    scaler = StandardScaler().fit(np.concatenate([fraud.x_train, x_test]))
    res = check_split(fraud.x_train, x_test, scaler=scaler)
    assert "2 of your" in res.message
    assert any("combined" in d for d in res.details)


def test_judging_the_scaler_alone_names_shared_rows_without_failing_them(fraud):
    # A task about the scaler beside a task about the rows: one mistake costs one task.
    x_test = np.concatenate([fraud.x_test, fraud.x_train[:5]])
    honest = check_split(fraud.x_train, x_test, scaler=StandardScaler().fit(fraud.x_train),
                         judge_rows=False)
    assert honest.passed, str(honest)
    assert "the scaler's statistics come from the training rows alone" in honest.message
    assert "no test row appears" not in honest.message
    assert any("5 of your" in note and "not this one" in note for note in honest.details)
    assert honest.metrics["shared_rows"] == 5
    leaky = StandardScaler().fit(np.concatenate([fraud.x_train, x_test]))
    verdict = check_split(fraud.x_train, x_test, scaler=leaky, judge_rows=False)
    assert not verdict.passed
    assert verdict.message.startswith("Your scaler's statistics") and "combined" in verdict.message
    # The rows are still judged by default.
    assert not check_split(fraud.x_train, x_test, scaler=StandardScaler().fit(
        fraud.x_train)).passed


@pytest.mark.parametrize("kwargs, words", [
    ({"x_train": None}, ["`x_train`", "received None"]),
    ({"x_test": "test.csv"}, ["`x_test`", "a string"]),
    ({"x_test": np.zeros((4, 3))}, ["10 values per row", "3"]),
    ({"scaler": "standard"}, ["`scaler`", "a string"]),
    ({"scaler": StandardScaler().fit(np.zeros((3, 4)))}, ["fitted on 4 features"]),
])
def test_unusable_inputs_give_errors(fraud, kwargs, words):
    arguments = {"x_train": fraud.x_train, "x_test": fraud.x_test, **kwargs}
    res = check_split(arguments.pop("x_train"), arguments.pop("x_test"), **arguments)
    assert res.outcome is Outcome.ERROR, str(res)
    for word in words:
        assert word in res.message, word


@pytest.mark.parametrize("position", range(3))
def test_placeholders_are_not_attempted(fraud, position):
    arguments = [fraud.x_train, fraud.x_test, StandardScaler().fit(fraud.x_train)]
    arguments[position] = ...
    res = check_split(arguments[0], arguments[1], scaler=arguments[2])
    assert res.outcome is Outcome.NOT_ATTEMPTED


class LoudScaler:
    """Exposes a fitted scaler's statistics and makes noise whenever they are read."""

    def __init__(self, rows):
        self._fitted = StandardScaler().fit(rows)

    @property
    def mean_(self):
        make_noise()
        return self._fitted.mean_

    @property
    def var_(self):
        make_noise()
        return self._fitted.var_


def test_nothing_reaches_stderr(fraud, capfd):
    leaky = LoudScaler(np.concatenate([fraud.x_train, fraud.x_test]))
    with everything_to_stderr():
        capfd.readouterr()
        results = [
            check_split(fraud.x_train, fraud.x_test, scaler=LoudScaler(fraud.x_train)),
            check_split(fraud.x_train, fraud.x_test, scaler=leaky),
            check_split(pd.DataFrame(fraud.x_train), fraud.x_test[:, :3], scaler=leaky),
            check_split(fraud.x_train, np.array([["a"] * 10]), scaler=leaky),
        ]
        captured = capfd.readouterr()
    assert [r.outcome for r in results] == [
        Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.ERROR]
    assert captured.err == ""
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err
