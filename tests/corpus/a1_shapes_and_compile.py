"""Assignment 1 (shapes and compile), as capable learners write it, right and wrong."""

from __future__ import annotations

from _options import letter_of

from corpus import Answers, Case
from solutions import a1_shapes_and_compile as a1

_LOSS = next(part.question for part in a1.QUESTIONS if part.variable == "loss_name")
_SPARSE = "sparse_categorical_crossentropy"


def _answers(**values: object) -> Answers:
    return {f"{name}-answer": f"{name} = {value}" for name, value in values.items()}


# Figures computed with NumPy (np.int64 answers), shapes as lists, the loss by the letter this
# learner sees; a functional model with an Activation layer and a loss object.
_NUMPY_FIGURES = {
    "conv_output_shape-answer": "conv_output_shape = [None, 32 - 3 + 1, 32 - 3 + 1, 16]",
    "flatten_units-answer": "flatten_units = np.prod((15, 15, 16))",
    "output_shape-answer": "output_shape = [None, 5]",
    "dense_params-answer": "dense_params = np.prod((15, 15, 16)) * 5 + 5",
    "weight_count-answer": "weight_count = np.int64(3 * 3 * 3) * 16 + np.prod((15, 15, 16)) * 5",
    "build-compiled-model": '''\
def build_compiled_model():
    inputs = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(10)(x)
    outputs = keras.layers.Activation("softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    return model''',
}

# Everything typed as text, as Keras prints it ("3,600", "None, 30, 30, 16"), the loss by its
# name; a model that outputs logits with from_logits=True.
_TEXT_ANSWERS = {
    **_answers(conv_output_shape="'None, 30, 30, 16'", flatten_units="'3,600'",
               output_shape="'(None, 5)'", dense_params="'18,005'", weight_count="'18432'",
               loss_name=repr(_SPARSE)),
    "build-compiled-model": '''\
def build_compiled_model():
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer="rmsprop",
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model''',
}

# Tuples and floats, the loss letter in lower case; a small CNN of its own for the digits.
_CNN = {
    **_answers(conv_output_shape="(None, 30, 30, 16)", flatten_units="3600.0",
               output_shape="(None, 5)", dense_params="18005.0", weight_count="18432.0"),
    "build-compiled-model": '''\
def build_compiled_model():
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model''',
}


def _letter(name: str, text: str, lower: bool = False) -> Answers:
    letter = letter_of(_LOSS, name, text)
    return {"loss_name-answer": f"loss_name = {(letter.lower() if lower else letter)!r}",
            "YOUR_NAME": name}


CASES = [
    Case("a1_numpy_figures", lambda answers: {**_NUMPY_FIGURES,
                                              **_letter("Nia Numpy", _SPARSE)},
         why="NumPy integers and lists, a functional model with an Activation layer"),
    Case("a1_text_as_keras_prints", lambda answers: dict(_TEXT_ANSWERS),
         why="answers typed as text, a logits model with from_logits=True"),
    Case("a1_tuples_floats_cnn", lambda answers: {**_CNN,
                                                  **_letter("Cam Conv", _SPARSE, lower=True)},
         why="tuples and floats, a lower-case letter, a CNN of its own"),
    Case("a1_same_padding", lambda answers: _answers(conv_output_shape="(None, 32, 32, 16)"),
         lost={"conv_output_shape-test": ("padding='valid' cannot be centred on the border "
                                          "pixels",)},
         why="the convolution read as if it kept the image size"),
    Case("a1_weights_with_biases", lambda answers: _answers(weight_count="18453"),
         lost={"weight_count-test": ("That is every trainable parameter; leave out the "
                                     "biases",)},
         why="every parameter counted, biases included"),
    Case("a1_categorical_for_integer_labels", lambda answers: _answers(
        loss_name="'categorical_crossentropy'"),
         lost={"loss_name-test": ("Categorical cross-entropy expects one-hot label rows",)},
         why="the one-hot loss for integer labels"),
    Case("a1_sparse_loss_for_one_hot", lambda answers: {"build-compiled-model": answers[
        "build-compiled-model"].replace('loss="categorical_crossentropy"',
                                        f'loss="{_SPARSE}"')},
         lost={"build-compiled-model-test": ("but 'sparse_categorical_crossentropy' expects one "
                                              "integer class index per example",)},
         why="the integer-label loss for one-hot rows"),
]
