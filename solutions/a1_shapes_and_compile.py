"""Assignment 1, shapes and compile: reference answers and the assignment as data.

The learner reads a small convolutional model and answers with plain variables (shapes, counts,
a loss name), then writes a function that builds and compiles a model for one-hot labels. One
count, the weights without the biases across the layers, is printed by no ``summary()``. The
expected answers below go only into the hidden tests of the source notebook.
"""

from __future__ import annotations

import keras

from autograder.grading.manifest import Export
from autograder.render.nbgrader_source import (
    Assignment,
    Instructions,
    QuizAnswer,
    SolutionCode,
    model_check_cell,
    source_of,
)
from autograder.schema import Choice, Mistake, Numeric, OutputShape, SingleChoice

NAME = "a1_shapes_and_compile"

# The model every question of this assignment is about. Kept as text so that the notebook shows
# exactly what the tests of this module build.
CONV_MODEL_CODE = """\
model = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    keras.layers.Conv2D(16, kernel_size=3, activation="relu"),
    keras.layers.MaxPooling2D(pool_size=2),
    keras.layers.Flatten(),
    keras.layers.Dense(5, activation="softmax"),
])"""

# Reference answers (checked against the real model by tests/test_course.py).
conv_output_shape = (None, 30, 30, 16)
flatten_units = 3600
output_shape = (None, 5)
dense_params = 18005
# Kernel entries of every layer: 3 * 3 * 3 * 16 in the convolution, 3600 * 5 in the Dense layer.
weight_count = 18432
loss_name = "sparse_categorical_crossentropy"

_LOSS_CHOICES = (
    Choice(
        "binary_crossentropy",
        "Binary cross-entropy treats every output unit as its own yes/no question; it fits one "
        "sigmoid unit or multi-label outputs, not five mutually exclusive classes.",
    ),
    Choice(
        "categorical_crossentropy",
        "Categorical cross-entropy expects one-hot label rows such as [0, 0, 1, 0, 0]; these "
        "labels are single integers, so Keras would complain about the label shape.",
    ),
    Choice(
        "sparse_categorical_crossentropy",
        "Integer class labels with a softmax over the classes take the sparse variant.",
        correct=True,
    ),
    Choice(
        "mean_squared_error",
        "Mean squared error measures distances between numbers; class indices are names, not "
        "quantities, so it trains a poor classifier.",
    ),
)

def build_compiled_model() -> keras.Model:
    """Build and compile a classifier for 8x8 grey digit images with one-hot labels.

    Returns:
        A compiled model: input (8, 8, 1), a softmax over 10 classes, categorical
        cross-entropy (the labels are one-hot rows) and accuracy as a metric.
    """
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _shape_question(
    qid: str, prompt: str, answer: tuple, mistakes: tuple[Mistake, ...]
) -> OutputShape:
    return OutputShape(
        id=qid, prompt=prompt, hints=("Follow the shape through each layer in turn.",),
        solution="", answer=answer, mistakes=mistakes,
    )


QUESTIONS = (
    QuizAnswer(
        "conv_output_shape",
        _shape_question(
            "conv_output_shape",
            "What is the output shape of the `Conv2D` layer in this model?",
            conv_output_shape,
            (
                Mistake(
                    (None, 32, 32, 16),
                    "A 3x3 kernel with the default padding='valid' cannot be centred on the "
                    "border pixels, so each spatial side shrinks by 2.",
                ),
                Mistake(
                    (None, 30, 30, 3),
                    "The last axis of a Conv2D output counts filters, not input channels.",
                ),
            ),
        ),
        conv_output_shape,
        how_to_answer="a tuple such as `(None, 8, 8, 4)`, with None for the batch.",
    ),
    QuizAnswer(
        "flatten_units",
        Numeric(
            id="flatten_units", prompt="How many numbers per image does the `Flatten` layer "
            "output in this model?", hints=(), solution="", answer=float(flatten_units),
            mistakes=(
                Mistake(14400, "That is the size before pooling: MaxPooling2D(2) halves both "
                        "spatial sides."),
                Mistake(3072, "That is the size of the input image; follow it through the "
                        "convolution and the pooling first."),
            ),
        ),
        flatten_units,
        how_to_answer="a whole number.",
    ),
    QuizAnswer(
        "output_shape",
        _shape_question(
            "output_shape", "What is the shape of the model's output?", output_shape,
            (Mistake((5,), "Keras keeps the batch dimension, shown as None, in front."),),
        ),
        output_shape,
        how_to_answer="a tuple with None for the batch dimension.",
    ),
    QuizAnswer(
        "dense_params",
        Numeric(
            id="dense_params", prompt="How many trainable parameters does the final `Dense` "
            "layer have?", hints=(), solution="", answer=float(dense_params),
            mistakes=(
                Mistake(18000, "Each of the 5 units also has a bias."),
                Mistake(3605, "Every unit connects to every flattened input, so multiply."),
            ),
        ),
        dense_params,
        how_to_answer="a whole number.",
    ),
    QuizAnswer(
        "weight_count",
        Numeric(
            id="weight_count", prompt="How many of the model's trainable parameters are "
            "weights, not biases, counting every layer?", hints=(), solution="",
            answer=float(weight_count),
            mistakes=(
                Mistake(18453, "That is every trainable parameter; leave out the biases, one "
                        "per filter of the convolution and one per unit of the Dense layer."),
                Mistake(18000, "The convolution's kernels are weights too: each of its 16 "
                        "filters has a 3x3 kernel over the 3 input channels."),
                Mistake(18144, "Each 3x3 filter reaches across all 3 input channels, so it "
                        "has 3 * 3 * 3 weights."),
            ),
        ),
        weight_count,
        how_to_answer="a whole number.",
    ),
    QuizAnswer(
        "loss_name",
        SingleChoice(
            id="loss_name", prompt="This model is trained on labels that are integers from 0 "
            "to 4 (one per image). Which loss should `compile` use?", hints=(), solution="",
            choices=_LOSS_CHOICES,
        ),
        loss_name,
        how_to_answer="the loss name as a string, or the letter of the choice.",
    ),
)

ASSIGNMENT = Assignment(
    name=NAME,
    lessons=("01-keras-sequential-api", "02-compile-fit-evaluate"),
    title="Assignment 1: shapes and compile",
    introduction=(
        "Read the models below and answer each question by assigning a plain Python variable "
        "in the cell under it; then build and compile a model of your own. Each answer is graded "
        "on its own, so you earn credit for every part you get right. Run the first code cell "
        "before anything else."
    ),
    parts=(
        Instructions(
            "## Reading a model\n\n"
            "The first five questions are about this model. Work each answer out by hand, "
            "layer by layer, as lesson 1 does: reading a model's shapes and counts before it "
            "runs is the skill these questions grade, and `summary()` does not print every "
            "answer.\n\n"
            f"```python\n{CONV_MODEL_CODE}\n```"
        ),
        *QUESTIONS,
        Instructions(
            "## Build and compile a model\n\n"
            "Write `build_compiled_model()`: it returns a **compiled** Keras model for 8x8 "
            "greyscale digit images (input shape `(8, 8, 1)`) and 10 classes, trained on "
            "**one-hot** label rows. Start with `keras.Input`, end with an output that fits "
            "the labels, and choose the loss that matches one-hot labels."
        ),
        SolutionCode("build-compiled-model", source_of(build_compiled_model)),
        model_check_cell(
            "build-compiled-model-test", 2,
            (Export("model", "compiled_model", "build_compiled_model()"),),
            input_shape=(8, 8, 1), num_classes=10, labels="one_hot",
            needs={"build_compiled_model": "build_compiled_model"},
        ),
    ),
)
