"""check_metrics on real Keras models: figures equal scikit-learn's for every output format, the
accuracy paradox is named, and bad inputs give messages instead of tracebacks.

No model is trained here. Classifiers get their weights in closed form (logistic-regression
weights, class centroids, a bias that forces the majority class), which is instant and
deterministic while still being real Keras models.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from _loud import everything_to_stderr, loud_model
from sklearn import metrics
from sklearn.linear_model import LogisticRegression

from autograder import check_metrics, data
from autograder.result import Outcome

L = keras.layers
TOL = 1e-6


def _dense_model(input_shape, kernel, bias, *, activation=None, loss=None, flatten=False):
    layers = [keras.Input(input_shape)] + ([L.Flatten()] if flatten else [])
    dense = L.Dense(kernel.shape[1])
    model = keras.Sequential([*layers, dense] + ([L.Activation(activation)] if activation else []))
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    if loss is not None:
        model.compile(optimizer="adam", loss=loss)
    return model


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer data and a logistic regression folded into Keras-ready weights."""
    ds = data.load_breast_cancer()
    mean, std = ds.x_train.mean(axis=0), ds.x_train.std(axis=0)
    reg = LogisticRegression(max_iter=2000).fit((ds.x_train - mean) / std, ds.y_train)
    # (x - mean) / std @ w + b == x @ (w / std) + (b - mean / std @ w)
    weights = reg.coef_[0] / std
    bias = reg.intercept_[0] - float((mean / std) @ reg.coef_[0])
    return ds, weights[:, np.newaxis], np.array([bias])


BINARY_FORMATS = {
    "one sigmoid unit": dict(activation="sigmoid", loss="binary_crossentropy"),
    "one logit, from_logits loss": dict(loss=keras.losses.BinaryCrossentropy(from_logits=True)),
    "one logit, never compiled": dict(),
    "two softmax units": dict(activation="softmax", loss="sparse_categorical_crossentropy"),
    "two logits, from_logits loss": dict(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
}


def _binary_model(cancer, form):
    ds, weights, bias = cancer
    if form.startswith("two"):
        # softmax([0, z])[1] == sigmoid(z): the same classifier with two output units.
        weights = np.hstack([np.zeros_like(weights), weights])
        bias = np.array([0.0, bias[0]])
    return _dense_model(ds.input_shape, weights, bias, **BINARY_FORMATS[form])


def _probability_of_one(model, x):
    out = model.predict(x, verbose=0).astype(np.float64)
    if out.shape[1] == 2:
        if np.any(out < 0) or np.any(out > 1):
            out = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
        return out[:, 1]
    if np.any(out < 0) or np.any(out > 1):
        out = 1 / (1 + np.exp(-out))
    return out[:, 0]


@pytest.mark.parametrize("threshold", [0.5, 0.3])
@pytest.mark.parametrize("form", BINARY_FORMATS)
def test_binary_figures_equal_scikit_learn(cancer, form, threshold):
    ds = cancer[0]
    model = _binary_model(cancer, form)
    res = check_metrics(model, ds.x_test, ds.y_test, threshold=threshold)
    assert res.passed, str(res)
    score = _probability_of_one(model, ds.x_test)
    predicted = (score >= threshold).astype(int)
    expected = {
        "accuracy": metrics.accuracy_score(ds.y_test, predicted),
        "precision": metrics.precision_score(ds.y_test, predicted),
        "recall": metrics.recall_score(ds.y_test, predicted),
        "f1": metrics.f1_score(ds.y_test, predicted),
        "auc": metrics.roc_auc_score(ds.y_test, score),
    }
    assert set(res.metrics) == set(expected)
    for name, value in expected.items():
        assert res.metrics[name] == pytest.approx(value, abs=TOL), name
    assert res.metrics["accuracy"] > 0.85  # a real classifier, not a degenerate one


def test_one_hot_labels_score_like_integer_labels(cancer):
    ds = cancer[0]
    model = _binary_model(cancer, "two softmax units")
    one_hot = np.eye(2, dtype=np.float32)[ds.y_test]
    assert check_metrics(model, ds.x_test, one_hot).metrics == pytest.approx(
        check_metrics(model, ds.x_test, ds.y_test).metrics, abs=TOL)


def test_probabilities_under_a_from_logits_loss_are_scored_as_logits_with_a_note(cancer):
    ds, weights, bias = cancer
    model = _dense_model(ds.input_shape, weights, bias, activation="sigmoid",
                         loss=keras.losses.BinaryCrossentropy(from_logits=True))
    res = check_metrics(model, ds.x_test, ds.y_test)
    # sigmoid(probability) >= 0.5 for every row: all rows are predicted positive.
    assert res.metrics["recall"] == 1.0
    assert res.metrics["accuracy"] == pytest.approx(ds.y_test.mean())
    assert any("treats them as logits" in d and "check_model" in d for d in res.details)


def test_met_bars_pass_and_list_each_figure(cancer):
    ds = cancer[0]
    res = check_metrics(_binary_model(cancer, "one sigmoid unit"), ds.x_test, ds.y_test,
                        min_accuracy=0.9, min_recall=0.9, min_auc=0.95)
    assert res.passed, str(res)
    assert "meeting every minimum" in res.message
    assert [d.split(":")[0] for d in res.details] == ["accuracy", "recall", "ROC AUC"]


@pytest.fixture(scope="module")
def digits():
    """Digits and a nearest-centroid classifier written as one Dense layer."""
    ds = data.load_digits()
    flat = ds.x_train.reshape(len(ds.x_train), -1)
    centroids = np.stack([flat[ds.y_train == k].mean(axis=0) for k in range(10)])
    # argmax of x.c - |c|^2 / 2 is the nearest centroid.
    return ds, centroids.T, -0.5 * (centroids**2).sum(axis=1)


@pytest.mark.parametrize("labels", ["integer", "one_hot"])
@pytest.mark.parametrize("form", ["softmax", "logits, from_logits loss", "logits, never compiled"])
def test_multiclass_figures_equal_scikit_learn(digits, form, labels):
    ds, kernel, bias = digits
    options = {
        "softmax": dict(activation="softmax", loss="sparse_categorical_crossentropy"),
        "logits, from_logits loss": dict(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        "logits, never compiled": dict(),
    }[form]
    model = _dense_model(ds.input_shape, kernel, bias, flatten=True, **options)
    y = ds.y_test if labels == "integer" else np.eye(10)[ds.y_test]
    res = check_metrics(model, ds.x_test, y)
    out = model.predict(ds.x_test, verbose=0).astype(np.float64)
    if form == "softmax":
        probabilities = out
    else:
        probabilities = np.exp(out - out.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = out.argmax(axis=1)
    expected = {
        "accuracy": metrics.accuracy_score(ds.y_test, predicted),
        "precision": metrics.precision_score(ds.y_test, predicted, average="macro"),
        "recall": metrics.recall_score(ds.y_test, predicted, average="macro"),
        "f1": metrics.f1_score(ds.y_test, predicted, average="macro"),
        "auc": metrics.roc_auc_score(ds.y_test, probabilities, multi_class="ovr"),
    }
    for name, value in expected.items():
        assert res.metrics[name] == pytest.approx(value, abs=TOL), name
    assert res.metrics["accuracy"] > 0.85


def test_missed_bar_on_balanced_data_fails_without_paradox(digits):
    ds, kernel, bias = digits
    model = _dense_model(ds.input_shape, kernel, bias, flatten=True, activation="softmax")
    res = check_metrics(model, ds.x_test, ds.y_test, min_accuracy=0.99)
    assert res.outcome is Outcome.FAILED
    assert "accuracy" in res.message and "below the required 0.990" in res.message
    assert "paradox" not in res.message
    assert "train longer" in res.message


@pytest.fixture(scope="module")
def fraud():
    """The 2 % fraud set and a model whose bias makes it always answer 'legitimate'."""
    ds = data.load_fraud()
    model = _dense_model(ds.input_shape, np.zeros((10, 1)), np.array([-8.0]),
                         activation="sigmoid", loss="binary_crossentropy")
    baseline = f"{100 * np.mean(ds.y_test == 0):.1f} %"
    return ds, model, baseline


def test_accuracy_paradox_is_named_with_the_majority_baseline(fraud):
    ds, model, baseline = fraud
    res = check_metrics(model, ds.x_test, ds.y_test, min_accuracy=0.95, min_recall=0.5)
    assert res.outcome is Outcome.FAILED
    assert res.metrics["accuracy"] >= 0.95 and res.metrics["recall"] == 0.0
    for words in ("accuracy paradox", "majority", f"already score {baseline}",
                  "recall 0.000 is below the required 0.500", "class_weight"):
        assert words in res.message, words
    assert [d.endswith("met") and not d.endswith("not met") for d in res.details] == [True, False]


def test_paradox_is_named_without_an_accuracy_bar(fraud):
    ds, model, baseline = fraud
    res = check_metrics(model, ds.x_test, ds.y_test, min_f1=0.3)
    assert res.outcome is Outcome.FAILED
    assert "accuracy paradox" in res.message and baseline in res.message


def test_passing_accuracy_alone_still_warns_about_the_paradox(fraud):
    ds, model, baseline = fraud
    res = check_metrics(model, ds.x_test, ds.y_test, min_accuracy=0.95)
    assert res.passed
    assert any("accuracy paradox" in d and baseline in d for d in res.details)


def test_different_lengths_name_both(fraud):
    ds, model, _ = fraud
    res = check_metrics(model, ds.x_test, ds.y_test[:-7], min_accuracy=0.5)
    assert res.outcome is Outcome.ERROR
    assert f"{len(ds.x_test)} rows" in res.message
    assert f"{len(ds.y_test) - 7} labels" in res.message


def test_nan_predictions_fail_clearly(fraud):
    ds, _, _ = fraud
    model = _dense_model(ds.input_shape, np.full((10, 1), np.nan), np.zeros(1),
                         activation="sigmoid", loss="binary_crossentropy")
    res = check_metrics(model, ds.x_test, ds.y_test, min_accuracy=0.5)
    assert res.outcome is Outcome.FAILED
    assert f"NaN or infinity for {len(ds.x_test)} of {len(ds.x_test)}" in res.message
    assert "learning rate" in res.message


def test_input_that_does_not_fit_the_model_fails(fraud, digits):
    ds, model, _ = fraud
    res = check_metrics(model, digits[0].x_test, digits[0].y_test)
    assert res.outcome is Outcome.FAILED
    assert f"Calling your model on x of shape {digits[0].x_test.shape} failed" in res.message


def test_single_unit_on_ten_classes_fails(fraud):
    res = check_metrics(fraud[1], np.zeros((5, 10)), np.arange(5))
    assert res.outcome is Outcome.FAILED
    assert "single output unit" in res.message and "class 4" in res.message


def test_labels_beyond_the_output_units_fail(digits):
    ds, kernel, bias = digits
    model = _dense_model(ds.input_shape, kernel[:, :5], bias[:5], flatten=True,
                         activation="softmax")
    res = check_metrics(model, ds.x_test, ds.y_test)
    assert res.outcome is Outcome.FAILED
    assert "class 9" in res.message and "only 5 values" in res.message


@pytest.mark.parametrize("x, y, words", [
    (None, np.zeros(3), ["`x`", "received None"]),
    (np.zeros((3, 10)), "labels", ["`y`", "a string"]),
    (np.zeros((0, 10)), np.zeros(0), ["empty"]),
    (np.zeros((3, 10)), np.array([[1, 1], [0, 1], [1, 0]]), ["multi-label", "(3, 2)"]),
    (np.zeros((3, 10)), np.array([0.5, 1.0, 0.0]), ["class indices"]),
    (np.array([["a"] * 10] * 3), np.zeros(3), ["numeric"]),
])
def test_unscorable_inputs_give_errors(fraud, x, y, words):
    res = check_metrics(fraud[1], x, y)
    assert res.outcome is Outcome.ERROR
    for word in words:
        assert word in res.message, word


def test_auc_on_one_class_is_an_error(fraud):
    ds, model, _ = fraud
    legit = ds.y_test == 0
    res = check_metrics(model, ds.x_test[legit], ds.y_test[legit], min_auc=0.5)
    assert res.outcome is Outcome.ERROR and "ROC AUC" in res.message
    assert "auc" not in res.metrics


@pytest.mark.parametrize("value, words", [
    (None, ["received None"]),
    ("model.keras", ["a string"]),
    (np.zeros(4), ["NumPy array"]),
])
def test_non_models_give_errors(fraud, value, words):
    ds = fraud[0]
    res = check_metrics(value, ds.x_test, ds.y_test, min_accuracy=0.5)
    assert res.outcome is Outcome.ERROR
    assert all(word in res.message for word in words)


def test_placeholder_is_not_attempted(fraud):
    res = check_metrics(..., fraud[0].x_test, fraud[0].y_test)
    assert res.outcome is Outcome.NOT_ATTEMPTED


@pytest.mark.parametrize("kwargs, argument", [
    ({"min_recall": 1.5}, "min_recall"),
    ({"min_accuracy": "high"}, "min_accuracy"),
    ({"min_auc": True}, "min_auc"),
    ({"threshold": 0.0}, "threshold"),
    ({"threshold": 1}, "threshold"),
])
def test_bad_bars_raise_naming_the_argument(fraud, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        check_metrics(fraud[1], fraud[0].x_test, fraud[0].y_test, **kwargs)


def test_nothing_reaches_stderr(capfd, digits):
    ds = digits[0]
    model = loud_model()
    with everything_to_stderr():
        capfd.readouterr()
        good = check_metrics(model, ds.x_test, ds.y_test)
        bad = check_metrics(model, ds.x_test[:, :4], ds.y_test)
        captured = capfd.readouterr()
    assert good.passed and not bad.passed
    assert captured.err == ""
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err
