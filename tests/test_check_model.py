"""check_model on real Keras models: right answers in many shapes pass, each mistake fails with
a message naming its cause and fix, and nothing reaches stderr."""

from __future__ import annotations

import os
import time
import warnings

import keras
import numpy as np
import pytest
from _loud import everything_to_stderr, loud_model

from autograder import check_model
from autograder.result import Outcome

L = keras.layers

IMAGE = (28, 28, 1)
FEATURES = (10,)
MULTI_HOT = {"input_shape": FEATURES, "num_classes": 5, "labels": "multi_hot"}


def _compiled(model, loss):
    if loss is not None:
        model.compile(optimizer="adam", loss=loss)
    return model


def seq(*layers, shape=IMAGE, loss="sparse_categorical_crossentropy"):
    """A tiny Sequential model that starts with keras.Input."""
    return _compiled(keras.Sequential([keras.Input(shape), *layers]), loss)


def mlp(units=10, activation="softmax", loss="sparse_categorical_crossentropy"):
    return seq(L.Flatten(), L.Dense(4, activation="relu"), L.Dense(units, activation=activation),
               loss=loss)


def binary(units=1, activation="sigmoid", loss="binary_crossentropy"):
    return seq(L.Dense(4, activation="relu"), L.Dense(units, activation=activation),
               shape=FEATURES, loss=loss)


def functional():
    inputs = keras.Input(IMAGE)
    hidden = L.Dense(4, activation="relu")(L.Flatten()(inputs))
    model = keras.Model(inputs, L.Dense(10, activation="softmax")(hidden))
    return _compiled(model, "sparse_categorical_crossentropy")


class Subclassed(keras.Model):
    """A subclassed classifier; built only when first called."""

    def __init__(self, units=10, reshape_to=None, activation="softmax"):
        super().__init__()
        self.reshape = L.Reshape(reshape_to) if reshape_to else L.Flatten()
        self.hidden = L.Dense(4, activation="relu")
        self.out = L.Dense(units, activation=activation)

    def call(self, inputs):
        return self.out(self.hidden(self.reshape(inputs)))


def subclassed(**kwargs):
    return _compiled(Subclassed(**kwargs), "sparse_categorical_crossentropy")


def cnn():
    return seq(L.Conv2D(2, 3, activation="relu"), L.MaxPooling2D(4), L.Flatten(),
               L.Dense(10, activation="softmax"))


def _non_negative_logit():
    # Untrained logits can be >= 0 with many exact zeros (dead relu units, positive weights):
    # that must not be mistaken for a relu output layer.
    model = binary(activation=None, loss=keras.losses.BinaryCrossentropy(from_logits=True))
    last = model.layers[-1]
    last.set_weights([np.ones((4, 1), np.float32), np.zeros(1, np.float32)])
    return model


def _nan_model():
    model = mlp()
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
    return model


def two_outputs():
    inputs = keras.Input(FEATURES)
    model = keras.Model(inputs, [L.Dense(1, activation="sigmoid")(inputs),
                                 L.Dense(1, activation="sigmoid")(inputs)])
    return model


RIGHT = {
    "sequential softmax": (mlp, {}),
    "functional": (functional, {}),
    "subclassed, unbuilt": (subclassed, {}),
    "separate Activation layer": (
        lambda: seq(L.Flatten(), L.Dense(10), L.Activation("softmax")), {}),
    "logits with from_logits=True": (
        lambda: mlp(activation=None,
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)), {}),
    "loss given as a function": (
        lambda: mlp(loss=keras.losses.sparse_categorical_crossentropy), {}),
    "loss given as a class name": (lambda: mlp(loss="SparseCategoricalCrossentropy"), {}),
    "loss given in a list": (lambda: mlp(loss=["sparse_categorical_crossentropy"]), {}),
    "CNN": (cnn, {}),
    "one-hot labels, categorical": (
        lambda: mlp(loss="categorical_crossentropy"), {"labels": "one_hot"}),
    "one-hot logits": (
        lambda: mlp(activation=None,
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True)),
        {"labels": "one_hot"}),
    "binary, one sigmoid unit": (binary, {"num_classes": 2}),
    "binary, one logit unit": (
        lambda: binary(activation=None,
                       loss=keras.losses.BinaryCrossentropy(from_logits=True)),
        {"num_classes": 2}),
    "binary logit that is never negative on the probe": (
        lambda: _non_negative_logit(), {"num_classes": 2}),
    "binary, focal loss": (
        lambda: binary(loss=keras.losses.BinaryFocalCrossentropy()), {"num_classes": 2}),
    "binary, two softmax units, integer labels": (
        lambda: binary(2, "softmax", "sparse_categorical_crossentropy"), {"num_classes": 2}),
    "binary, two softmax units, one-hot labels": (
        lambda: binary(2, "softmax", "categorical_crossentropy"),
        {"num_classes": 2, "labels": "one_hot"}),
    "softmax, then a Dropout layer": (
        lambda: seq(L.Flatten(), L.Dense(10, activation="softmax"), L.Dropout(0.2)), {}),
    "functional graph ending in keras.ops.softmax": (lambda: _compiled(
        _ops_softmax_model(), "sparse_categorical_crossentropy"), {}),
    "multi-hot, one sigmoid per label": (
        lambda: binary(5, "sigmoid"), MULTI_HOT),
    "multi-hot, logits with from_logits=True": (
        lambda: binary(5, None, keras.losses.BinaryCrossentropy(from_logits=True)), MULTI_HOT),
    "multi-hot, binary focal loss": (
        lambda: binary(5, "sigmoid", keras.losses.BinaryFocalCrossentropy()), MULTI_HOT),
    "multi-hot, subclassed": (
        lambda: _compiled(Subclassed(units=5, activation="sigmoid"), "binary_crossentropy"),
        {"labels": "multi_hot", "num_classes": 5}),
}


def _ops_softmax_model():
    # The graph ends in an operation, not a layer: only the values can show the softmax.
    inputs = keras.Input(IMAGE)
    return keras.Model(inputs, keras.ops.softmax(L.Dense(10)(L.Flatten()(inputs))))


def _task(kwargs):
    task = {"input_shape": FEATURES if kwargs.get("num_classes") == 2 else IMAGE,
            "num_classes": 10, "labels": "integer"}
    task.update(kwargs)
    return task


@pytest.mark.parametrize("build, kwargs", RIGHT.values(), ids=RIGHT.keys())
def test_right_answers_pass(build, kwargs):
    res = check_model(build(), **_task(kwargs))
    assert res.outcome is Outcome.PASSED, str(res)
    assert "Your model maps a batch of shape" in res.message


def test_unbuilt_sequential_passes_with_a_note_about_input():
    model = _compiled(keras.Sequential([L.Flatten(), L.Dense(10, activation="softmax")]),
                      "sparse_categorical_crossentropy")
    res = check_model(model, input_shape=IMAGE, num_classes=10)
    assert res.passed, str(res)
    assert any("keras.Input(shape=(28, 28, 1))" in note for note in res.details)


def test_unknown_loss_is_not_judged_but_said_so():
    def my_loss(y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

    res = check_model(mlp(loss=my_loss), input_shape=IMAGE, num_classes=10)
    assert res.passed, str(res)
    assert any("my_loss" in d and "not judged" in d for d in res.details)


def _small_logits(*, activation=None, loss=None, front=None):
    """A Rescaling(1/255) front and an output layer whose values lie in [0, 1] on any input
    (a tiny kernel and a bias of 0.5), as untrained logits often do at some seeds."""
    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = seq(front or L.Rescaling(1.0 / 255), L.Flatten(), L.Dense(10, activation=activation),
                loss=loss)
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, 1e-6), np.full_like(bias, 0.5)])
    return model


def test_logits_that_happen_to_lie_between_0_and_1_pass_with_from_logits():
    model = _small_logits()
    outputs = keras.ops.convert_to_numpy(model(np.full((2, *IMAGE), 255.0), training=False))
    assert ((outputs > 0) & (outputs < 1)).all()  # the case values alone cannot settle
    res = check_model(model, input_shape=IMAGE, num_classes=10)
    assert res.passed, str(res)
    assert "logits" in res.message


def test_logits_between_0_and_1_without_from_logits_fail_without_calling_them_out_of_range():
    res = check_model(_small_logits(loss="sparse_categorical_crossentropy"),
                      input_shape=IMAGE, num_classes=10)
    assert not res.passed
    assert "is linear" in res.message and "happen to lie" in res.message
    assert "inside [0, 1]" in res.message and "outside" not in res.message


def test_sigmoid_with_from_logits_fails_even_when_a_linear_layer_would_look_alike():
    res = check_model(_small_logits(activation="sigmoid", loss=keras.losses.BinaryCrossentropy(
        from_logits=True)), input_shape=IMAGE, num_classes=10, labels="multi_hot")
    assert not res.passed
    assert "already outputs probabilities" in res.message


def test_subclassed_outputs_between_0_and_1_with_from_logits_pass_with_a_note():
    model = _compiled(Subclassed(activation=None),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model(np.zeros((1, *IMAGE)))
    kernel, bias = model.out.get_weights()
    model.out.set_weights([np.full_like(kernel, 1e-6), np.full_like(bias, 0.5)])
    res = check_model(model, input_shape=IMAGE, num_classes=10)
    assert res.passed, str(res)
    assert any("stayed between 0 and 1" in note and "from_logits=True" in note
               for note in res.details)


def test_flatten_with_an_older_input_shape_accepts_a_trailing_channel_axis():
    # Older tutorials write Flatten(input_shape=(28, 28)); Keras 3 still takes (n, 28, 28, 1).
    model = _compiled(keras.Sequential([L.Flatten(input_shape=(28, 28)),
                                        L.Dense(10, activation="softmax")]),
                      "sparse_categorical_crossentropy")
    assert model(np.zeros((2, *IMAGE)), training=False).shape == (2, 10)
    res = check_model(model, input_shape=IMAGE, num_classes=10)
    assert res.passed, str(res)
    assert any("declares inputs of shape (None, 28, 28)" in note and "Keras accepted" in note
               for note in res.details)


def test_data_said_not_to_fit_really_does_not():
    model = seq(L.Dense(10, activation="softmax"), shape=(784,))
    res = check_model(model, input_shape=IMAGE, num_classes=10)
    assert "does not fit" in res.message
    with pytest.raises(ValueError):
        model(np.zeros((2, *IMAGE)), training=False)


def test_probe_is_at_the_scale_the_front_layers_imply():
    from autograder.checks._model_head import probe_inputs

    pixels = probe_inputs(_small_logits(), IMAGE)
    assert pixels.x[:pixels.data_rows].max() > 100  # Rescaling(1/255): pixel values
    normalization = L.Normalization()
    normalization.adapt(np.random.default_rng(0).normal(1000.0, 50.0, (100, 10)))
    features = probe_inputs(seq(normalization, L.Dense(2), shape=FEATURES), FEATURES)
    assert 500 < features.x[:features.data_rows].mean() < 1500
    tokens = probe_inputs(seq(L.Embedding(30, 4), L.Flatten(), L.Dense(2), shape=(12,)), (12,))
    assert tokens.x.dtype.kind == "i" and 0 <= tokens.x.min() and tokens.x.max() < 30


@pytest.mark.parametrize("metric, noted", [
    ("accuracy", True), (keras.metrics.BinaryAccuracy(threshold=0.5), False)])
def test_multi_hot_model_with_the_accuracy_string_gets_a_note(metric, noted):
    model = binary(5, "sigmoid")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[metric])
    res = check_model(model, **MULTI_HOT)
    assert res.passed, str(res)
    assert any("categorical accuracy" in note for note in res.details) is noted


def test_a_text_model_on_token_ids_passes():
    model = seq(L.Embedding(30, 4), L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid"),
                shape=(12,), loss="binary_crossentropy")
    res = check_model(model, input_shape=(12,), num_classes=2)
    assert res.passed, str(res)


WRONG = {
    "Dense on an image without Flatten": (
        lambda: seq(L.Dense(4), L.Dense(10, activation="softmax")), {},
        ["(None, 28, 28, 10)", "10 classes", "Flatten"]),
    "too few output units": (
        lambda: mlp(units=5), {}, ["(None, 5)", "10 classes", "10 units"]),
    "two units for ten classes": (
        lambda: mlp(units=2), {}, ["(None, 2)", "10 units"]),
    "sigmoid over many classes": (
        lambda: mlp(activation="sigmoid"), {}, ["sigmoid", "softmax", "sum"]),
    "softmax on one unit": (
        lambda: binary(activation="softmax"), {"num_classes": 2},
        ["one output unit with softmax", "1.0", 'activation="sigmoid"']),
    "linear output without from_logits": (
        lambda: mlp(activation=None), {},
        ["linear", "not probabilities", 'activation="softmax"', "from_logits=True"]),
    "linear binary output without from_logits": (
        lambda: binary(activation=None), {"num_classes": 2},
        ["linear", 'activation="sigmoid"', "BinaryCrossentropy(from_logits=True)"]),
    "probabilities into from_logits=True": (
        lambda: mlp(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)), {},
        ["already outputs probabilities", "from_logits=True", "second softmax"]),
    "sigmoid into BinaryCrossentropy(from_logits=True)": (
        lambda: binary(loss=keras.losses.BinaryCrossentropy(from_logits=True)),
        {"num_classes": 2}, ["already outputs probabilities", "from_logits=True"]),
    "categorical loss with integer labels": (
        lambda: mlp(loss="categorical_crossentropy"), {},
        ["integers", "one-hot", 'loss="sparse_categorical_crossentropy"']),
    "sparse loss with one-hot labels": (
        lambda: mlp(loss="sparse_categorical_crossentropy"), {"labels": "one_hot"},
        ["one-hot", "integer class index", 'loss="categorical_crossentropy"']),
    "binary_crossentropy on 10 classes": (
        lambda: mlp(loss="binary_crossentropy"), {},
        ["binary_crossentropy", "yes/no", 'loss="sparse_categorical_crossentropy"']),
    "mse for classification": (
        lambda: mlp(loss="mse"), {}, ["'mse'", "regression loss", "sparse_categorical"]),
    "MeanSquaredError instance": (
        lambda: binary(loss=keras.losses.MeanSquaredError()), {"num_classes": 2},
        ["MeanSquaredError()", "regression loss", 'loss="binary_crossentropy"']),
    "categorical loss on a single unit": (
        lambda: binary(loss="categorical_crossentropy"), {"num_classes": 2},
        ["single output unit", "always zero", 'loss="binary_crossentropy"']),
    "never compiled": (
        lambda: mlp(loss=None), {},
        ["not been compiled", "model.compile(", '"sparse_categorical_crossentropy"']),
    "never compiled, logits": (
        lambda: mlp(activation=None, loss=None), {},
        ["not been compiled", "SparseCategoricalCrossentropy(from_logits=True)"]),
    "flat input for image data": (
        lambda: seq(L.Dense(10, activation="softmax"), shape=(784,)), {},
        ["(None, 784)", "(28, 28, 1)", "Flatten", "reshape"]),
    "input of another image size": (
        lambda: seq(L.Flatten(), L.Dense(10, activation="softmax"), shape=(8, 8, 1)), {},
        ["(None, 8, 8, 1)", "(28, 28, 1)", "keras.Input(shape=(28, 28, 1))"]),
    "subclassed model that cannot take the data": (
        lambda: subclassed(reshape_to=(100,)), {},
        ["Calling your model on 24 examples of shape (28, 28, 1)", "failed",
         "keras.Input(shape=(28, 28, 1))"]),
    "NaN weights": (_nan_model, {}, ["NaN", "Rebuild"]),
    "relu output": (
        lambda: mlp(activation="relu"), {}, ["relu", 'activation="softmax"']),
    "one unit with one-hot labels": (
        binary, {"num_classes": 2, "labels": "one_hot"}, ["one-hot", "2 columns", "Dense(2"]),
    "two outputs": (
        lambda: _compiled(two_outputs(), "binary_crossentropy"), {"num_classes": 2},
        ["2 outputs", "single output"]),
    "subclassed, sigmoid over ten classes": (
        lambda: _compiled(Subclassed(activation="sigmoid"), "sparse_categorical_crossentropy"),
        {}, ["instead of 1", "not one probability distribution", 'activation="softmax"']),
    "multi-hot, softmax over the labels": (
        lambda: binary(5, "softmax"), MULTI_HOT,
        ["sum to 1 in every row", "compete", 'activation="sigmoid"']),
    "multi-hot, categorical cross-entropy": (
        lambda: binary(5, "sigmoid", "categorical_crossentropy"), MULTI_HOT,
        ["multi-hot", "'categorical_crossentropy'", 'loss="binary_crossentropy"']),
    "multi-hot, sparse categorical cross-entropy": (
        lambda: binary(5, "sigmoid", "sparse_categorical_crossentropy"), MULTI_HOT,
        ["integer class index", "5 0/1 values", 'loss="binary_crossentropy"']),
    "multi-hot, a single unit": (
        binary, MULTI_HOT, ["(None, 1)", "5 labels", 'Dense(5, activation="sigmoid")']),
    "multi-hot, too few units": (
        lambda: binary(3), MULTI_HOT, ["(None, 3)", "5 labels", "one sigmoid per label"]),
    "multi-hot, linear without from_logits": (
        lambda: binary(5, None), MULTI_HOT,
        ["linear", 'activation="sigmoid"', "BinaryCrossentropy(from_logits=True)"]),
    "multi-hot, sigmoid into from_logits=True": (
        lambda: binary(5, "sigmoid", keras.losses.BinaryCrossentropy(from_logits=True)),
        MULTI_HOT, ["already outputs probabilities", "second sigmoid"]),
    "multi-hot, relu output": (
        lambda: binary(5, "relu"), MULTI_HOT, ["relu", 'activation="sigmoid"']),
    "multi-hot, mse": (
        lambda: binary(5, "sigmoid", "mse"), MULTI_HOT,
        ["regression loss", 'loss="binary_crossentropy"']),
    "multi-hot, never compiled": (
        lambda: binary(5, "sigmoid", None), MULTI_HOT,
        ["not been compiled", '"binary_crossentropy"']),
}


@pytest.mark.parametrize("build, kwargs, words", WRONG.values(), ids=WRONG.keys())
def test_mistakes_fail_naming_cause_and_fix(build, kwargs, words):
    res = check_model(build(), **_task(kwargs))
    assert res.outcome is Outcome.FAILED, str(res)
    for word in words:
        assert word in res.message, f"{word!r} missing from: {res.message}"


def test_several_problems_are_all_reported():
    # Sigmoid over ten classes and a one-hot loss for integer labels: the first problem is the
    # message, the second is kept as a detail.
    res = check_model(mlp(activation="sigmoid", loss="categorical_crossentropy"),
                      input_shape=IMAGE, num_classes=10)
    assert not res.passed
    assert "softmax" in res.message
    assert any("one-hot" in detail for detail in res.details)


NOT_MODELS = {
    "None": (None, ["received None", "return model"]),
    "a string": ("my_model", ["a string ('my_model')", "model object"]),
    "an array": (np.zeros((3, 10)), ["NumPy array of shape (3, 10)", "predictions"]),
    "the Sequential class": (keras.Sequential, ["class Sequential", "model = Sequential("]),
    "a layer": (L.Dense(3), ["a Keras layer (Dense)", "keras.Sequential([...])"]),
    "a list of layers": ([L.Dense(3), L.Dense(2)], ["list of 2 items", "keras.Sequential"]),
    "a number": (3, ["builtins.int", "Keras model"]),
}


@pytest.mark.parametrize("value, words", NOT_MODELS.values(), ids=NOT_MODELS.keys())
def test_non_models_give_a_clear_error(value, words):
    res = check_model(value, input_shape=FEATURES, num_classes=3)
    assert res.outcome is Outcome.ERROR
    assert "Expected a Keras model" in res.message
    for word in words:
        assert word in res.message, f"{word!r} missing from: {res.message}"


def test_placeholder_is_not_attempted():
    res = check_model(..., input_shape=IMAGE, num_classes=10)
    assert res.outcome is Outcome.NOT_ATTEMPTED
    assert "`...`" in res.message


@pytest.mark.parametrize("kwargs, argument", [
    ({"labels": "onehot"}, "labels"),
    ({"num_classes": 1}, "num_classes"),
    ({"num_classes": 2.5}, "num_classes"),
    ({"input_shape": "28x28"}, "input_shape"),
    ({"input_shape": (0, 3)}, "input_shape"),
])
def test_bad_task_arguments_raise_naming_the_argument(kwargs, argument):
    task = {"input_shape": IMAGE, "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=argument):
        check_model(mlp(), **task)


SAVED = {
    "right, string loss": (mlp, {}),
    "right, logits": (
        lambda: mlp(activation=None,
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)), {}),
    "right, binary": (binary, {"num_classes": 2}),
    "wrong, mse": (lambda: mlp(loss="mse"), {}),
    "wrong, no Flatten": (lambda: seq(L.Dense(10, activation="softmax")), {}),
    "wrong, never compiled": (lambda: mlp(loss=None), {}),
    "wrong, probabilities into from_logits": (
        lambda: mlp(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)), {}),
}


@pytest.mark.parametrize("build, kwargs", SAVED.values(), ids=SAVED.keys())
def test_reloaded_keras_file_is_judged_like_the_live_model(build, kwargs, tmp_path):
    model = build()
    path = tmp_path / "model.keras"
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optimizer state of an untrained model
        loaded = keras.saving.load_model(path, safe_mode=True)
    task = _task(kwargs)
    assert check_model(loaded, **task).to_dict() == check_model(model, **task).to_dict()


def test_nothing_reaches_stderr_even_with_everything_turned_on(capfd):
    model = _compiled(loud_model(), "sparse_categorical_crossentropy")
    with everything_to_stderr():
        capfd.readouterr()
        passing = check_model(model, input_shape=IMAGE, num_classes=10)
        failing = check_model(model, input_shape=IMAGE, num_classes=3)
        broken = check_model(model, input_shape=(5,), num_classes=10)
        captured = capfd.readouterr()
    assert passing.passed and not failing.passed and not broken.passed
    assert captured.err == ""
    # Once the check is over, stderr works again.
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err


def test_check_is_fast_once_keras_is_loaded():
    check_model(cnn(), input_shape=IMAGE, num_classes=10)  # first call loads the backend's ops
    model = cnn()
    start = time.perf_counter()
    res = check_model(model, input_shape=IMAGE, num_classes=10)
    # The target is well under 1 s; the margin absorbs a busy shared machine.
    assert res.passed and time.perf_counter() - start < 3.0
