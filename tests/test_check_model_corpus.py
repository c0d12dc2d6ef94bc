"""check_model on a corpus of classification models as the well-known public examples write them.

Each model is re-typed after a Keras example, a TensorFlow tutorial or a textbook notebook (the
source is named above it) and adapted only in size, input shape and class count, so the corpus
runs fast. Every right model must pass under several random seeds: an untrained model's outputs
depend on the seed, and a verdict must not. Every wrong variant (one mistake in a right model)
must fail under every seed, naming its cause.

Every message and note is then checked for truth against the model itself: a claim that rows do
not sum to 1 is met by computing the rows, a claim that the data does not fit by calling the
model on data of that shape and seeing it raise, a claim that fit() stops by running fit().
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pytest

from autograder import check_model
from autograder.checks._model_head import probe_inputs
from autograder.result import CheckResult, Outcome

# Several sources still pass input_shape= to a layer, which Keras 3 accepts with a warning.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Do not pass an")]

L = keras.layers
SEEDS = (0, 1, 2, 3, 4, 5, 6, 7)
SCC_LOGITS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
BCE_LOGITS = keras.losses.BinaryCrossentropy(from_logits=True)
IMAGE = (28, 28, 1)
COLOR = (32, 32, 3)


@dataclass(frozen=True)
class Case:
    """A model builder and the task it is checked against.

    Attributes:
        build: Builds a fresh compiled model.
        input_shape, num_classes, labels: The task, as ``check_model`` takes it.
        data: The kind of data the source feeds the model: ``"unit"`` (scaled to [0, 1]),
            ``"pixels"`` (0 to 255), ``"standard"`` (standardised), ``"counts"`` (0/1
            features), ``"tokens"`` (ids below 200) or ``"measurements"`` (around 50).
        words: For a wrong variant, text the result must contain.
    """

    build: Callable[[], keras.Model]
    input_shape: tuple[int, ...]
    num_classes: int
    labels: str = "integer"
    data: str = "unit"
    words: tuple[str, ...] = field(default=())

    def task(self) -> dict[str, Any]:
        return {"input_shape": self.input_shape, "num_classes": self.num_classes,
                "labels": self.labels}


def compiled(model: keras.Model, loss: Any, optimizer: str = "adam") -> keras.Model:
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def sample(kind: str, shape: tuple[int, ...], rows: int = 32, seed: int = 99) -> np.ndarray:
    """Data like the source's, drawn independently of the check's own probe."""
    rng = np.random.default_rng(seed)
    if kind == "pixels":
        return rng.integers(0, 256, (rows, *shape)).astype("float32")
    if kind == "standard":
        return rng.normal(0, 1, (rows, *shape)).astype("float32")
    if kind == "counts":
        return (rng.random((rows, *shape)) < 0.2).astype("float32")
    if kind == "tokens":
        return rng.integers(0, 200, (rows, *shape)).astype("int32")
    if kind == "measurements":
        return rng.normal(50, 20, (rows, *shape)).astype("float32")
    return rng.random((rows, *shape)).astype("float32")


# ----------------------------------------------------------------------------- right models


def keras_mnist_convnet(units=10, flatten=True, loss="categorical_crossentropy"):
    # After the Keras example "Simple MNIST convnet" (one-hot labels, softmax output).
    layers = [keras.Input(IMAGE), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2),
              L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2)]
    if flatten:
        layers += [L.Flatten(), L.Dropout(0.5)]
    return compiled(keras.Sequential([*layers, L.Dense(units, activation="softmax")]), loss)


def tf_quickstart_beginner(activation=None, loss=SCC_LOGITS):
    # After the TensorFlow tutorial "TensorFlow 2 quickstart for beginners": an input_shape on
    # Flatten, logits out, SparseCategoricalCrossentropy(from_logits=True).
    return compiled(keras.Sequential([
        L.Flatten(input_shape=(28, 28)), L.Dense(32, activation="relu"), L.Dropout(0.2),
        L.Dense(10, activation=activation)]), loss)


def tf_basic_classification():
    # After the TensorFlow tutorial "Basic classification: Classify images of clothing".
    return compiled(keras.Sequential([
        keras.Input((28, 28)), L.Flatten(), L.Dense(32, activation="relu"), L.Dense(10)]),
        SCC_LOGITS)


def tf_basic_classification_probability_model():
    # The same tutorial's `probability_model`: the trained logits model wrapped in a
    # Sequential with a Softmax layer on top (compiled here so that it can be checked).
    inner = keras.Sequential([
        keras.Input((28, 28)), L.Flatten(), L.Dense(32, activation="relu"), L.Dense(10)])
    return compiled(keras.Sequential([inner, L.Softmax()]), "sparse_categorical_crossentropy")


class QuickstartExpertsModel(keras.Model):
    # After the TensorFlow tutorial "TensorFlow 2 quickstart for experts" (a subclassed model).
    def __init__(self, activation=None):
        super().__init__()
        self.conv1 = L.Conv2D(8, 3, activation="relu")
        self.flatten = L.Flatten()
        self.d1 = L.Dense(32, activation="relu")
        self.d2 = L.Dense(10, activation=activation)

    def call(self, x):
        return self.d2(self.d1(self.flatten(self.conv1(x))))


def tf_quickstart_experts():
    return compiled(QuickstartExpertsModel(), SCC_LOGITS)


def tf_image_classification(num_classes=5, augment=False, loss=SCC_LOGITS):
    # After the TensorFlow tutorial "Image classification" (flowers): Rescaling(1./255) in
    # front, three conv blocks, logits out; with augment, its "data augmentation and dropout"
    # version.
    front = [L.RandomFlip("horizontal"), L.RandomRotation(0.1), L.RandomZoom(0.1)]
    layers = [keras.Input(COLOR), *(front if augment else []), L.Rescaling(1.0 / 255)]
    for filters in (4, 8, 16):
        layers += [L.Conv2D(filters, 3, padding="same", activation="relu"), L.MaxPooling2D()]
    if augment:
        layers.append(L.Dropout(0.2))
    layers += [L.Flatten(), L.Dense(16, activation="relu"), L.Dense(num_classes, name="outputs")]
    return compiled(keras.Sequential(layers), loss)


def keras_image_classification_from_scratch():
    # After the Keras example "Image classification from scratch" (cats vs dogs): augmentation,
    # Rescaling, BatchNormalization, separable-conv residual blocks, one logit for two classes.
    augmentation = keras.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.1)])
    inputs = keras.Input(COLOR)
    x = L.Rescaling(1.0 / 255)(augmentation(inputs))
    x = L.Conv2D(8, 3, strides=2, padding="same")(x)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    previous = x
    for size in (8, 16):
        x = L.Activation("relu")(x)
        x = L.BatchNormalization()(L.SeparableConv2D(size, 3, padding="same")(x))
        x = L.Activation("relu")(x)
        x = L.BatchNormalization()(L.SeparableConv2D(size, 3, padding="same")(x))
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = L.Conv2D(size, 1, strides=2, padding="same")(previous)
        x = previous = L.add([x, residual])
    x = L.Activation("relu")(L.BatchNormalization()(L.SeparableConv2D(16, 3, padding="same")(x)))
    x = L.Dropout(0.25)(L.GlobalAveragePooling2D()(x))
    outputs = L.Dense(1, activation=None)(x)
    return compiled(keras.Model(inputs, outputs), BCE_LOGITS)


def _frozen_base():
    # Stands in for a pretrained network (MobileNetV2, Xception, VGG16), which would need a
    # download: a small conv stack with BatchNormalization, frozen as the sources freeze theirs.
    inputs = keras.Input(COLOR)
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, strides=2)(inputs)))
    base = keras.Model(inputs, L.Conv2D(16, 3, strides=2, activation="relu")(x))
    base.trainable = False
    return base


def tf_transfer_learning():
    # After the TensorFlow tutorial "Transfer learning and fine-tuning": augmentation, the
    # base's preprocessing to [-1, 1], the frozen base called with training=False, global
    # pooling, dropout and one logit.
    base = _frozen_base()
    inputs = keras.Input(COLOR)
    x = keras.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.2)])(inputs)
    x = base(L.Rescaling(1.0 / 127.5, offset=-1)(x), training=False)
    outputs = L.Dense(1)(L.Dropout(0.2)(L.GlobalAveragePooling2D()(x)))
    return compiled(keras.Model(inputs, outputs), BCE_LOGITS)


def dlwp_feature_extraction():
    # After "Deep Learning with Python" (2nd ed.), chapter 8, feature extraction with a frozen
    # convolutional base and a sigmoid output.
    base = _frozen_base()
    inputs = keras.Input(COLOR)
    x = keras.Sequential([L.RandomFlip("horizontal"), L.RandomZoom(0.2)])(inputs)
    x = L.Flatten()(base(L.Rescaling(1.0 / 127.5, offset=-1)(x)))
    x = L.Dropout(0.5)(L.Dense(16)(x))
    outputs = L.Dense(1, activation="sigmoid")(x)
    return compiled(keras.Model(inputs, outputs), "binary_crossentropy", "rmsprop")


def _adapted_normalization(shape, seed=5):
    normalization = L.Normalization()
    normalization.adapt(sample("measurements", shape, 200, seed))
    return normalization


def tf_structured_data(activation=None, loss=BCE_LOGITS):
    # After the TensorFlow tutorial "Classify structured data using Keras preprocessing layers":
    # adapted Normalization of numeric features, Dense(32), Dropout(0.5), one logit.
    inputs = keras.Input((6,))
    x = L.Dropout(0.5)(L.Dense(32, activation="relu")(_adapted_normalization((6,))(inputs)))
    outputs = L.Dense(1, activation=activation)(x)
    return compiled(keras.Model(inputs, outputs), loss)


def keras_structured_data_from_scratch():
    # After the Keras example "Structured data classification from scratch" (heart disease):
    # normalised numeric features, Dense(32), Dropout(0.5), a sigmoid output.
    inputs = keras.Input((13,))
    x = L.Dense(32, activation="relu")(_adapted_normalization((13,))(inputs))
    outputs = L.Dense(1, activation="sigmoid")(L.Dropout(0.5)(x))
    return compiled(keras.Model(inputs, outputs), "binary_crossentropy")


def tf_imbalanced_data(loss="binary_crossentropy"):
    # After the TensorFlow tutorial "Classification on imbalanced data": the output bias starts
    # at log(pos / neg), so the untrained model already predicts the rare class's frequency.
    initial_bias = math.log(492 / 284315)
    return compiled(keras.Sequential([
        keras.Input((29,)), L.Dense(16, activation="relu"), L.Dropout(0.5),
        L.Dense(1, activation="sigmoid",
                bias_initializer=keras.initializers.Constant(initial_bias))]), loss)


def tf_overfit_underfit():
    # After the TensorFlow tutorial "Overfit and underfit" (Higgs): elu layers, one logit.
    return compiled(keras.Sequential([
        L.Dense(16, activation="elu", input_shape=(28,)), L.Dense(16, activation="elu"),
        L.Dense(1)]), BCE_LOGITS)


def tf_custom_training_walkthrough(activation=None, loss=SCC_LOGITS):
    # After the TensorFlow tutorial "Custom training: walkthrough" (penguins): 4 features,
    # two Dense(10) layers, 3 logits.
    return compiled(keras.Sequential([
        L.Dense(10, activation="relu", input_shape=(4,)), L.Dense(10, activation="relu"),
        L.Dense(3, activation=activation)]), loss)


def dlwp_mnist(activation="softmax", loss="sparse_categorical_crossentropy", shape=(784,)):
    # After "Deep Learning with Python", chapter 2: Dense(512) then a softmax over 10 digits,
    # rmsprop, flattened images.
    return compiled(keras.Sequential([
        keras.Input(shape), L.Dense(64, activation="relu"),
        L.Dense(10, activation=activation)]), loss, "rmsprop")


def dlwp_imdb(activation="sigmoid", loss="binary_crossentropy"):
    # After "Deep Learning with Python", chapter 4, IMDB reviews as multi-hot word vectors.
    return compiled(keras.Sequential([
        keras.Input((100,)), L.Dense(16, activation="relu"), L.Dense(16, activation="relu"),
        L.Dense(1, activation=activation)]), loss, "rmsprop")


def dlwp_reuters(loss="categorical_crossentropy"):
    # After "Deep Learning with Python", chapter 4, Reuters newswires: 46 topics, one-hot labels.
    return compiled(keras.Sequential([
        keras.Input((100,)), L.Dense(64, activation="relu"), L.Dense(64, activation="relu"),
        L.Dense(46, activation="softmax")]), loss, "rmsprop")


def dlwp_functional_convnet():
    # After "Deep Learning with Python", chapter 8, the first MNIST convnet (functional API).
    inputs = keras.Input(IMAGE)
    x = L.MaxPooling2D(2)(L.Conv2D(8, 3, activation="relu")(inputs))
    x = L.MaxPooling2D(2)(L.Conv2D(16, 3, activation="relu")(x))
    x = L.Flatten()(L.Conv2D(16, 3, activation="relu")(x))
    outputs = L.Dense(10, activation="softmax")(x)
    return compiled(keras.Model(inputs, outputs), "sparse_categorical_crossentropy", "rmsprop")


def dlwp_cats_vs_dogs():
    # After "Deep Learning with Python", chapter 8, the cats-vs-dogs convnet trained from
    # scratch: Rescaling(1./255), conv blocks, Flatten, one sigmoid unit.
    inputs = keras.Input(COLOR)
    x = L.Rescaling(1.0 / 255)(inputs)
    for filters in (4, 8, 16):
        x = L.MaxPooling2D(2)(L.Conv2D(filters, 3, activation="relu")(x))
    outputs = L.Dense(1, activation="sigmoid")(L.Flatten()(x))
    return compiled(keras.Model(inputs, outputs), "binary_crossentropy", "rmsprop")


def geron_fashion_mlp():
    # After "Hands-On Machine Learning" (Géron), chapter 10, the Fashion MNIST MLP:
    # Flatten(input_shape=[28, 28]), two hidden layers, softmax, SGD.
    return compiled(keras.Sequential([
        L.Flatten(input_shape=[28, 28]), L.Dense(30, activation="relu"),
        L.Dense(10, activation="relu"), L.Dense(10, activation="softmax")]),
        "sparse_categorical_crossentropy", "sgd")


def geron_batch_norm():
    # After "Hands-On Machine Learning", chapter 11: BatchNormalization before the activation,
    # Dense layers without bias, a separate Activation layer.
    return compiled(keras.Sequential([
        L.Flatten(input_shape=[28, 28]), L.BatchNormalization(),
        L.Dense(30, kernel_initializer="he_normal", use_bias=False), L.BatchNormalization(),
        L.Activation("relu"), L.Dense(10, kernel_initializer="he_normal", use_bias=False),
        L.BatchNormalization(), L.Activation("relu"), L.Dense(10, activation="softmax")]),
        "sparse_categorical_crossentropy", "sgd")


def geron_cnn():
    # After "Hands-On Machine Learning", chapter 14, the Fashion MNIST CNN (7x7 first filter,
    # "same" padding, dropout in the head).
    return compiled(keras.Sequential([
        keras.Input(IMAGE), L.Conv2D(8, 7, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2), L.Flatten(),
        L.Dense(16, activation="relu"), L.Dropout(0.5), L.Dense(10, activation="softmax")]),
        "sparse_categorical_crossentropy")


def keras_intro_for_engineers():
    # After the Keras guide "Introduction to Keras for engineers": two conv pairs, global
    # average pooling, a loss instance with from_logits=False.
    return compiled(keras.Sequential([
        keras.Input(IMAGE), L.Conv2D(8, 3, activation="relu"), L.Conv2D(8, 3, activation="relu"),
        L.MaxPooling2D(3), L.Conv2D(16, 3, activation="relu"), L.Conv2D(16, 3, activation="relu"),
        L.GlobalAveragePooling2D(), L.Dropout(0.5), L.Dense(10, activation="softmax")]),
        keras.losses.SparseCategoricalCrossentropy(from_logits=False))


def keras_functional_api_guide():
    # After the Keras guide "The Functional API": 784 inputs, two Dense(64), 10 logits, RMSprop.
    inputs = keras.Input((784,))
    x = L.Dense(64, activation="relu")(L.Dense(64, activation="relu")(inputs))
    return compiled(keras.Model(inputs, L.Dense(10)(x)), SCC_LOGITS, "rmsprop")


def keras_training_guide(compile_it=True):
    # After the Keras guide "Training & evaluation with the built-in methods".
    inputs = keras.Input((784,), name="digits")
    x = L.Dense(64, activation="relu", name="dense_1")(inputs)
    x = L.Dense(64, activation="relu", name="dense_2")(x)
    outputs = L.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    if compile_it:
        model.compile(optimizer="rmsprop", loss=keras.losses.SparseCategoricalCrossentropy())
    return model


def keras_text_classification():
    # After the Keras example "Text classification from scratch" (IMDB): integer token ids,
    # Embedding, strided Conv1D, global max pooling, a sigmoid named "predictions".
    inputs = keras.Input((None,), dtype="int64")
    x = L.Dropout(0.5)(L.Embedding(200, 8)(inputs))
    x = L.Conv1D(8, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.GlobalMaxPooling1D()(L.Conv1D(8, 7, padding="valid", activation="relu", strides=3)(x))
    x = L.Dropout(0.5)(L.Dense(16, activation="relu")(x))
    outputs = L.Dense(1, activation="sigmoid", name="predictions")(x)
    return compiled(keras.Model(inputs, outputs), "binary_crossentropy")


def keras_multilabel_text(units=6, activation="sigmoid", loss="binary_crossentropy"):
    # After the Keras example "Large-scale multi-label text classification": a Sequential MLP
    # with no Input (built when first called), one sigmoid per label, binary cross-entropy.
    return compiled(keras.Sequential([
        L.Dense(32, activation="relu"), L.Dense(16, activation="relu"),
        L.Dense(units, activation=activation)]), loss)


RIGHT = {
    "Keras 'Simple MNIST convnet'": Case(keras_mnist_convnet, IMAGE, 10, "one_hot"),
    "TF quickstart for beginners": Case(tf_quickstart_beginner, (28, 28), 10),
    "TF quickstart, Flatten(input_shape=(28, 28)) fed (28, 28, 1)": Case(
        tf_quickstart_beginner, IMAGE, 10),
    "TF basic classification": Case(tf_basic_classification, (28, 28), 10),
    "TF basic classification, probability_model": Case(
        tf_basic_classification_probability_model, (28, 28), 10),
    "TF quickstart for experts (subclassed)": Case(tf_quickstart_experts, IMAGE, 10),
    "TF image classification (Rescaling, logits)": Case(
        tf_image_classification, COLOR, 5, data="pixels"),
    "TF image classification, augmentation and dropout": Case(
        lambda: tf_image_classification(augment=True), COLOR, 5, data="pixels"),
    "TF image classification, two classes": Case(
        lambda: tf_image_classification(num_classes=2), COLOR, 2, data="pixels"),
    "Keras 'Image classification from scratch'": Case(
        keras_image_classification_from_scratch, COLOR, 2, data="pixels"),
    "TF transfer learning (frozen base, one logit)": Case(
        tf_transfer_learning, COLOR, 2, data="pixels"),
    "DLwP feature extraction (frozen base, sigmoid)": Case(
        dlwp_feature_extraction, COLOR, 2, data="pixels"),
    "TF structured data (Normalization, one logit)": Case(
        tf_structured_data, (6,), 2, data="measurements"),
    "Keras structured data from scratch": Case(
        keras_structured_data_from_scratch, (13,), 2, data="measurements"),
    "TF imbalanced data (output bias)": Case(tf_imbalanced_data, (29,), 2, data="standard"),
    "TF overfit and underfit (elu, one logit)": Case(
        tf_overfit_underfit, (28,), 2, data="standard"),
    "TF custom training walkthrough (penguins)": Case(tf_custom_training_walkthrough, (4,), 3),
    "DLwP MNIST": Case(dlwp_mnist, (784,), 10),
    "DLwP IMDB": Case(dlwp_imdb, (100,), 2, data="counts"),
    "DLwP Reuters (one-hot)": Case(dlwp_reuters, (100,), 46, "one_hot", data="counts"),
    "DLwP functional convnet": Case(dlwp_functional_convnet, IMAGE, 10),
    "DLwP cats vs dogs": Case(dlwp_cats_vs_dogs, COLOR, 2, data="pixels"),
    "Géron Fashion MNIST MLP": Case(geron_fashion_mlp, (28, 28), 10),
    "Géron batch normalization": Case(geron_batch_norm, (28, 28), 10),
    "Géron CNN": Case(geron_cnn, IMAGE, 10),
    "Keras intro for engineers": Case(keras_intro_for_engineers, IMAGE, 10),
    "Keras functional API guide (logits)": Case(keras_functional_api_guide, (784,), 10),
    "Keras training guide": Case(keras_training_guide, (784,), 10),
    "Keras text classification (tokens)": Case(keras_text_classification, (50,), 2,
                                               data="tokens"),
    "Keras multi-label text": Case(keras_multilabel_text, (100,), 6, "multi_hot", "counts"),
    "Keras multi-label text, logits": Case(
        lambda: keras_multilabel_text(activation=None, loss=BCE_LOGITS), (100,), 6, "multi_hot",
        "counts"),
}

# ----------------------------------------------------------------------------- wrong variants

WRONG = {
    "flowers logits, loss without from_logits": Case(
        lambda: tf_image_classification(loss="sparse_categorical_crossentropy"), COLOR, 5,
        data="pixels", words=("linear", "not probabilities", "from_logits=True")),
    "quickstart softmax into from_logits=True": Case(
        lambda: tf_quickstart_beginner(activation="softmax"), (28, 28), 10,
        words=("already outputs probabilities", "second softmax")),
    "MNIST convnet without Flatten": Case(
        lambda: keras_mnist_convnet(flatten=False), IMAGE, 10, "one_hot",
        words=("(None, 5, 5, 10)", "Flatten")),
    "MNIST convnet with 9 units": Case(
        lambda: keras_mnist_convnet(units=9), IMAGE, 10, "one_hot",
        words=("(None, 9)", "10 units")),
    "Reuters, sparse loss for one-hot labels": Case(
        lambda: dlwp_reuters("sparse_categorical_crossentropy"), (100,), 46, "one_hot",
        data="counts", words=("one-hot", "integer class index")),
    "Reuters, categorical loss for integer labels": Case(
        dlwp_reuters, (100,), 46, data="counts",
        words=("integers", "shape error", '"sparse_categorical_crossentropy"')),
    "IMDB, softmax on one unit": Case(
        lambda: dlwp_imdb(activation="softmax"), (100,), 2, data="counts",
        words=("one output unit with softmax", 'activation="sigmoid"')),
    "penguins, sigmoid over three classes": Case(
        lambda: tf_custom_training_walkthrough("sigmoid", "sparse_categorical_crossentropy"),
        (4,), 3, words=("instead of 1", 'activation="softmax"')),
    "MNIST, relu output": Case(
        lambda: dlwp_mnist(activation="relu"), (784,), 10,
        words=("relu", "never negative", 'activation="softmax"')),
    "MNIST, mse": Case(lambda: dlwp_mnist(loss="mse"), (784,), 10,
                       words=("regression loss", "sparse_categorical_crossentropy")),
    "training guide, never compiled": Case(
        lambda: keras_training_guide(compile_it=False), (784,), 10,
        words=("not been compiled", "model.compile(")),
    "flat input fed images": Case(dlwp_mnist, IMAGE, 10, words=("does not fit", "Flatten")),
    "colour images fed grey ones": Case(
        dlwp_cats_vs_dogs, IMAGE, 2, data="pixels",
        words=("does not fit", "keras.Input(shape=(28, 28, 1))")),
    "multi-label with softmax": Case(
        lambda: keras_multilabel_text(activation="softmax"), (100,), 6, "multi_hot", "counts",
        words=("sum to 1 in every row", 'activation="sigmoid"')),
    "multi-label with categorical_crossentropy": Case(
        lambda: keras_multilabel_text(loss="categorical_crossentropy"), (100,), 6, "multi_hot",
        "counts", words=("multi-hot", 'loss="binary_crossentropy"')),
    "multi-label with one unit": Case(
        lambda: keras_multilabel_text(units=1), (100,), 6, "multi_hot", "counts",
        words=("(None, 1)", "6 labels", 'Dense(6, activation="sigmoid")')),
    "multi-label sigmoid into from_logits=True": Case(
        lambda: keras_multilabel_text(loss=BCE_LOGITS), (100,), 6, "multi_hot", "counts",
        words=("already outputs probabilities", "second sigmoid")),
    "multi-label logits without from_logits": Case(
        lambda: keras_multilabel_text(activation=None), (100,), 6, "multi_hot", "counts",
        words=("linear", "BinaryCrossentropy(from_logits=True)")),
    "multi-label with the sparse loss": Case(
        lambda: keras_multilabel_text(loss="sparse_categorical_crossentropy"), (100,), 6,
        "multi_hot", "counts", words=("integer class index", "0/1 values")),
    "ten classes scored as yes/no questions": Case(
        lambda: dlwp_mnist(activation="sigmoid", loss="binary_crossentropy"), (784,), 10,
        words=("instead of 1", "yes/no")),
    "imbalanced, sigmoid into from_logits=True": Case(
        lambda: tf_imbalanced_data(BCE_LOGITS), (29,), 2, data="standard",
        words=("already outputs probabilities", "from_logits=True")),
    "structured data, logit with binary_crossentropy": Case(
        lambda: tf_structured_data(loss="binary_crossentropy"), (6,), 2, data="measurements",
        words=("linear", 'activation="sigmoid"')),
}


# ----------------------------------------------------------------------------- truth of claims


def _outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)


class Evidence:
    """What a model really does, computed once per model for all the claims about it."""

    def __init__(self, model: keras.Model, case: Case) -> None:
        self.model, self.case = model, case
        self.data = sample(case.data, case.input_shape)

    @functools.cached_property
    def outputs(self) -> np.ndarray:
        """Outputs on data like the source's."""
        return _outputs(self.model, self.data)

    @functools.cached_property
    def probe_outputs(self) -> np.ndarray:
        """Outputs on the check's own probe rows, for claims that quote figures from them."""
        values = _outputs(self.model, probe_inputs(self.model, self.case.input_shape).x)
        return values[np.isfinite(values).all(axis=1)]

    @functools.cached_property
    def output_shape(self) -> str:
        return "(" + ", ".join(["None", *(str(d) for d in self.outputs.shape[1:])]) + ")"

    @functools.cached_property
    def loss_name(self) -> str:
        loss = self.model.loss
        if isinstance(loss, str):
            return loss
        # The class name and the configured name both say which loss it is.
        return f"{type(loss).__name__} {loss.get_config().get('name', '')}"

    @property
    def from_logits(self) -> bool:
        return bool(self.model.loss.get_config().get("from_logits"))

    @functools.cached_property
    def raises_on_data(self) -> bool:
        try:
            self.model(self.data, training=False)
        except Exception:
            return True
        return False

    def in_unit_interval(self) -> bool:
        return bool(((self.probe_outputs >= 0) & (self.probe_outputs <= 1)).all())

    def last_activation(self) -> str | None:
        return self.model.layers[-1].get_config().get("activation")

    def fit_fails_with_integer_labels(self) -> bool:
        y = np.arange(len(self.data)) % self.case.num_classes
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model.run_eagerly = True  # tracing a graph would cost more than the fit
                self.model.fit(self.data, y, epochs=1, verbose=0)
        except Exception:
            return True
        return False

    def accuracy_is_categorical(self) -> bool:
        rng = np.random.default_rng(3)
        targets = (rng.random((len(self.data), self.case.num_classes)) < 0.4).astype("float32")
        targets[0] = 0  # a row with no label: its argmax is the first label
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The metric does not depend on the loss, and a wrong loss could stop evaluate():
            # a copy with the same weights is compiled with the same metrics and a fitting loss.
            copy = keras.models.clone_model(self.model)
            copy.set_weights(self.model.get_weights())
            copy.compile(loss="binary_crossentropy", metrics=["accuracy"], run_eagerly=True)
            reported = copy.evaluate(self.data, targets, verbose=0, return_dict=True)
        categorical = np.mean(self.outputs.argmax(axis=1) == targets.argmax(axis=1))
        per_label = np.mean((self.outputs > 0.5) == targets)
        return math.isclose(reported["accuracy"], categorical, abs_tol=1e-6) and not math.isclose(
            reported["accuracy"], per_label, abs_tol=1e-6)

    def range_matches(self, text: str) -> bool:
        low, high = (float(v) for v in re.findall(r"from (-?[\d.]+) to (-?[\d.]+)", text)[0])
        values = self.probe_outputs
        return math.isclose(low, round(values.min(), 2), abs_tol=0.011) and math.isclose(
            high, round(values.max(), 2), abs_tol=0.011)

    def stated_layer_is_linear_output(self, text: str) -> bool:
        name = re.search(r"last layer \(([^)]+)\) is linear", text).group(1)
        layer = self.model.get_layer(name)
        reaches_output = keras.Model(self.model.inputs, layer.output)
        return layer.get_config()["activation"] == "linear" and np.allclose(
            _outputs(reaches_output, self.data), self.outputs)

    def stated_loss_is_compiled(self, text: str) -> bool:
        stated = re.search(r"compiled with (\S+?)[,.]", text).group(1)
        return stated.strip("'\"").split("(")[0] in self.loss_name


# Each claim a message can make, and how to see whether the model bears it out.
CLAIMS: dict[str, Callable[[str, Evidence], bool]] = {
    r"outputs shape \(None[\d, ]*\)": lambda text, ev: (
        ev.output_shape == re.search(r"outputs shape (\(None[\d, ]*\))", text).group(1)),
    r"maps a batch of shape \(None[\d, ]*\) to \(None, \d+\)": lambda text, ev: (
        ev.output_shape == re.search(r"to (\(None, \d+\))", text).group(1)),
    r"sum to 1 in every row|each row sums to 1|softmax probabilities": lambda text, ev: (
        np.allclose(ev.outputs.sum(axis=1), 1.0, atol=1e-4)),
    r"a row sums to between": lambda text, ev: np.abs(ev.outputs.sum(axis=1) - 1).max() > 1e-3,
    r"outputs 1\.0 for every example": lambda text, ev: np.allclose(ev.outputs, 1.0),
    r"each lie between 0 and 1|they lie in \[0, 1\]|one probability per|inside \[0, 1\]|"
    r"stayed between 0 and 1": lambda text, ev: ev.in_unit_interval(),
    r"is linear \(it has no activation\)": lambda text, ev: (
        ev.stated_layer_is_linear_output(text)),
    r"here they range from|happen to lie from|outputs values from": lambda text, ev: (
        ev.range_matches(text)),
    r"outside \[0, 1\]": lambda text, ev: not ev.in_unit_interval(),
    r"never negative": lambda text, ev: bool((ev.probe_outputs >= 0).all()),
    r"uses relu": lambda text, ev: ev.last_activation() == "relu",
    r"was built with from_logits=True": lambda text, ev: ev.from_logits,
    r"not been compiled": lambda text, ev: ev.model.loss is None,
    r"a regression loss": lambda text, ev: any(
        name in ev.loss_name for name in ("mse", "mean_squared_error")),
    r"does not fit|failed with": lambda text, ev: ev.raises_on_data,
    r"Keras accepted a batch of the data's shape": lambda text, ev: (
        not ev.raises_on_data and tuple(ev.model.inputs[0].shape[1:]) != ev.case.input_shape),
    r"had no input shape until this check": lambda text, ev: not ev.case.build().built,
    r"fit\(\) stops with a shape error": lambda text, ev: (
        ev.case.labels == "integer" and ev.fit_fails_with_integer_labels()),
    r"Your labels are one-hot": lambda text, ev: ev.case.labels == "one_hot",
    r"Your labels are multi-hot": lambda text, ev: ev.case.labels == "multi_hot",
    r"expects one integer class index": lambda text, ev: "parse" in ev.loss_name.lower(),
    r"treats each of your \d+ outputs as a separate yes/no": lambda text, ev: (
        "binary" in ev.loss_name.lower()),
    r"single output unit|one output unit": lambda text, ev: ev.output_shape == "(None, 1)",
    r"compiled with (?!metrics=)": lambda text, ev: ev.stated_loss_is_compiled(text),
    r'You compiled with metrics=\["accuracy"\]': lambda text, ev: (
        "accuracy" in ev.model.get_compile_config()["metrics"] and ev.accuracy_is_categorical()),
    r"logits \(unnormalised scores\)": lambda text, ev: (
        not ev.in_unit_interval() or ev.last_activation() == "linear"),
}


def assert_every_claim_true(res: CheckResult, model: keras.Model, case: Case) -> int:
    """Check each claim of the message and of each detail; return how many claims were seen."""
    evidence = Evidence(model, case)
    seen = 0
    for text in (res.message, *res.details):
        matched = [claim for claim in CLAIMS if re.search(claim, text)]
        for claim in matched:
            assert CLAIMS[claim](text, evidence), f"untrue ({claim!r}): {text}"
        assert matched, f"no known claim to verify in: {text}"
        seen += len(matched)
    return seen


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", RIGHT.values(), ids=RIGHT.keys())
def test_right_models_pass_under_every_seed(case: Case) -> None:
    for seed in SEEDS:
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(seed)
        model = case.build()
        res = check_model(model, **case.task())
        assert res.outcome is Outcome.PASSED, f"seed {seed}: {res}"
        assert assert_every_claim_true(res, model, case) > 0


@pytest.mark.parametrize("case", WRONG.values(), ids=WRONG.keys())
def test_wrong_variants_fail_naming_the_cause_under_every_seed(case: Case) -> None:
    for seed in SEEDS:
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(seed)
        model = case.build()
        res = check_model(model, **case.task())
        assert res.outcome is Outcome.FAILED, f"seed {seed}: {res}"
        for word in case.words:
            assert word in str(res), f"seed {seed}: {word!r} missing from: {res}"
        assert assert_every_claim_true(res, model, case) > 0


@pytest.fixture(scope="module", autouse=True)
def _free_memory_after_the_corpus():
    yield
    # A full clear runs the garbage collector, which costs more than building a model: once.
    keras.backend.clear_session()


def test_the_corpus_is_large_and_varied() -> None:
    assert len(RIGHT) >= 25 and len(WRONG) >= 15
    labels = {case.labels for case in RIGHT.values()}
    assert labels == {"integer", "one_hot", "multi_hot"}
    assert {case.data for case in RIGHT.values()} >= {"unit", "pixels", "tokens", "measurements"}
