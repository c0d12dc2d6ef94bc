"""What ``check_model`` tells a learner about the output activation and the loss.

Each function returns the problems found, as messages in the course voice: what was observed,
why it matters, what to try. A message states only what the output head or the compiled loss
shows: when the evidence is ambiguous (a subclassed model whose outputs stay in [0, 1] could be
a sigmoid or logits that happen to be small), nothing is claimed and nothing is rejected.
"""

from __future__ import annotations

from typing import Any

from autograder.checks._inspect import (
    BINARY,
    CATEGORICAL,
    REGRESSION,
    SPARSE,
    LossInfo,
    rows_sum_to_one,
)
from autograder.checks._model_head import (
    BOUNDED,
    LINEAR,
    RELU,
    SIGMOID,
    SOFTMAX,
    SOFTMAX_ONE_UNIT,
    OutputHead,
)

MULTI_HOT = "multi_hot"
# Loss a right answer uses, by canonical name -> the class that builds it with from_logits=True.
_LOSS_CLASSES = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
}
PROBABILITY_LOSSES = SPARSE | CATEGORICAL | BINARY


def expected_loss(units: int, labels: str) -> str:
    """The loss that fits an output of ``units`` values and labels of kind ``labels``.

    Args:
        units: Values per example the model outputs.
        labels: ``"integer"``, ``"one_hot"`` or ``"multi_hot"``.

    Returns:
        A canonical Keras loss name.
    """
    if units == 1 or labels == MULTI_HOT:
        return "binary_crossentropy"
    return "sparse_categorical_crossentropy" if labels == "integer" else "categorical_crossentropy"


def loss_code(expected: str, logits: bool) -> str:
    """How to write the expected loss in ``compile``.

    Args:
        expected: A canonical loss name from :func:`expected_loss`.
        logits: Whether the model outputs logits.

    Returns:
        Code such as ``'"binary_crossentropy"'`` or
        ``"keras.losses.BinaryCrossentropy(from_logits=True)"``.
    """
    if logits:
        return f"keras.losses.{_LOSS_CLASSES[expected]}(from_logits=True)"
    return f'"{expected}"'


def _row_sums(head: OutputHead) -> str:
    sums = head.values.sum(axis=1)
    return f"between {sums.min():.2f} and {sums.max():.2f}"


def _range(head: OutputHead) -> str:
    return f"from {head.values.min():.2f} to {head.values.max():.2f}"


def activation_problems(head: OutputHead, loss: LossInfo | None, labels: str) -> list[str]:
    """Problems with the output activation, given the loss it is trained with.

    Args:
        head: The model's output head.
        loss: The compiled loss, or None.
        labels: ``"integer"``, ``"one_hot"`` or ``"multi_hot"``.

    Returns:
        Messages, most important first; empty when the activation fits.
    """
    multi_hot = labels == MULTI_HOT
    activation = "sigmoid" if head.units == 1 or multi_hot else "softmax"
    expected = expected_loss(head.units, labels)
    if head.kind == SOFTMAX_ONE_UNIT:
        return [
            "Your model has one output unit with softmax. Softmax divides each value by the sum "
            "over the units, so with one unit it outputs 1.0 for every example and the model "
            'cannot learn. Use activation="sigmoid" on the single unit, or '
            'keras.layers.Dense(2, activation="softmax") for two classes.'
        ]
    if multi_hot and head.kind == SOFTMAX:
        return [
            f"Your model's {head.units} outputs sum to 1 in every row, as softmax makes them: "
            "the labels compete, so two labels of the same example cannot both get a high "
            "probability. In a multi-label task each label is its own yes/no question: use "
            'activation="sigmoid" on the last layer, one independent probability per label, '
            'with loss="binary_crossentropy".'
        ]
    if not multi_hot and head.units > 1 and not rows_sum_to_one(head.values) and (
        head.kind == SIGMOID or (head.kind == BOUNDED and _expects_distribution(loss))
    ):
        cause = (
            "the output layer gives each class an independent (sigmoid) probability"
            if head.kind == SIGMOID
            else "they are not one probability distribution per example, which "
            f"{loss.shown} expects"
        )
        return [
            f"Your {head.units} outputs each lie between 0 and 1, but a row sums to "
            f"{_row_sums(head)} instead of 1: {cause}. Each example belongs to exactly one "
            'class, so use activation="softmax", which makes the class probabilities compete '
            "and sum to 1."
        ]
    if head.kind == RELU:
        zeros = int((head.values == 0).sum())
        seen = f" ({zeros} of {head.values.size} values were exactly 0 here)" if zeros else ""
        return [
            f"Your model's last layer uses relu, so its outputs are never negative{seen}: they "
            "are neither probabilities nor usable logits, and a unit stuck at 0 stops learning. "
            f'Use activation="{activation}" on the last layer, or no activation with '
            f"loss={loss_code(expected, logits=True)}."
        ]
    if loss is None or loss.name not in PROBABILITY_LOSSES:
        # No loss, or a loss judged on its own; the activation alone is fine.
        return []
    if head.logits and not loss.from_logits:
        return [_linear_into_probability_loss(head, loss, activation, expected)]
    if head.probabilities and loss.from_logits:
        observed = "each row sums to 1" if head.kind == SOFTMAX else "they lie in [0, 1]"
        return [
            f"Your model already outputs probabilities ({observed}), but its loss {loss.shown} "
            f"was built with from_logits=True, so it applies a second {activation} on top of "
            "yours and learning slows down. Either drop from_logits=True, or remove the "
            "activation from the last layer so that it outputs logits."
        ]
    return []


def _expects_distribution(loss: LossInfo | None) -> bool:
    return loss is not None and not loss.from_logits and loss.name in SPARSE | CATEGORICAL


def _linear_into_probability_loss(
    head: OutputHead, loss: LossInfo, activation: str, expected: str
) -> str:
    inside = bool(((head.values >= 0) & (head.values <= 1)).all())
    if head.kind == LINEAR:
        seen = (
            f"here they happen to lie {_range(head)}, inside [0, 1], but nothing keeps them there"
            if inside else f"here they range {_range(head)}"
        )
        observed = (
            f"Your model's last layer ({head.layer}) is linear (it has no activation), so it "
            f"outputs raw scores, not probabilities ({seen})"
        )
    else:
        observed = (
            f"Your model outputs values {_range(head)}, outside [0, 1], so they are not "
            "probabilities"
        )
    return (
        f"{observed}, but the loss {loss.shown} expects probabilities. Add "
        f'activation="{activation}" to the last layer, or keep it linear and compile with '
        f"loss={loss_code(expected, logits=True)}."
    )


def loss_problems(
    loss: LossInfo | None, head: OutputHead, labels: str, num_classes: int
) -> list[str]:
    """Problems with the compiled loss, given the output and the labels.

    Args:
        loss: The compiled loss, or None.
        head: The model's output head.
        labels: ``"integer"``, ``"one_hot"`` or ``"multi_hot"``.
        num_classes: Number of classes (or of labels, for multi-hot labels).

    Returns:
        Messages, most important first; empty when the loss fits.
    """
    expected = expected_loss(head.units, labels)
    code = loss_code(expected, head.logits)
    if loss is None:
        return [
            "Your model has not been compiled, so it has no loss to learn from. Call "
            f'model.compile(optimizer="adam", loss={code}, metrics=["accuracy"]) before fit().'
        ]
    if loss.name is None:
        return []
    if loss.name in REGRESSION:
        return [
            f"Your model is compiled with {loss.shown}, a regression loss: it treats the labels "
            "as numbers to predict instead of scoring the probability of each answer, so "
            f"training is slow and the outputs are not probabilities. Use loss={code}."
        ]
    if labels == MULTI_HOT:
        return _multi_hot_loss_problems(loss, code, num_classes)
    if expected in SPARSE and loss.name in CATEGORICAL:
        return [
            f"Your labels are integers (one class index per example), but {loss.shown} expects "
            "one-hot labels with a column per class, so fit() stops with a shape error. Use "
            f"loss={code}, or one-hot encode the labels with keras.utils.to_categorical."
        ]
    if expected in CATEGORICAL and loss.name in SPARSE:
        return [
            f"Your labels are one-hot (a column per class), but {loss.shown} expects one integer "
            f"class index per example. Use loss={code}, or turn the labels back into integers "
            "with argmax."
        ]
    if expected not in BINARY and loss.name in BINARY:
        return [
            f"The loss {loss.shown} treats each of your {head.units} outputs as a separate "
            "yes/no question, which suits multi-label tasks, not a choice of one class among "
            f"{num_classes}: the loss and accuracy are then misleading. Use loss={code}."
        ]
    if expected in BINARY and loss.name not in BINARY:
        reason = (
            ": over a single column it is always zero, so nothing is learned"
            if loss.name in CATEGORICAL else ""
        )
        return [
            f"Your model has a single output unit (one probability per example), but "
            f"{loss.shown} expects one output per class{reason}. Use loss={code} with the "
            'single sigmoid unit, or keras.layers.Dense(2, activation="softmax") with a '
            "categorical cross-entropy."
        ]
    return []


def _multi_hot_loss_problems(loss: LossInfo, code: str, num_labels: int) -> list[str]:
    if loss.name in CATEGORICAL:
        return [
            f"Your labels are multi-hot (any number of the {num_labels} labels can be 1), but "
            f"{loss.shown} scores each row as one probability distribution in which exactly one "
            "label is right, so it rewards putting all the probability on a single label. "
            f"Score each label as its own yes/no question with loss={code}."
        ]
    if loss.name in SPARSE:
        return [
            f"{loss.shown} expects one integer class index per example, but a multi-hot target "
            f"is a row of {num_labels} 0/1 values, one per label. Use loss={code}, which scores "
            "each label as its own yes/no question."
        ]
    return []


def ambiguity_note(head: OutputHead, loss: LossInfo | None) -> str | None:
    """A note for a model whose outputs could be probabilities or small logits.

    Args:
        head: The model's output head.
        loss: The compiled loss, or None.

    Returns:
        The note, or None when the output kind is certain.
    """
    if head.kind != BOUNDED:
        return None
    reading = (
        "logits, as your loss's from_logits=True says" if loss is not None and loss.from_logits
        else "probabilities"
    )
    return (
        "Your model's outputs stayed between 0 and 1 on every input tried, and its "
        "configuration does not say which activation its last layer applies, so they were "
        f"taken as {reading}. If that is not what you meant, check the last layer's activation."
    )


def accuracy_note(model: Any, labels: str) -> str | None:
    """A note for a multi-label model compiled with the ``"accuracy"`` string.

    Keras resolves ``"accuracy"`` from the shapes of targets and outputs only, so with multi-hot
    targets it becomes categorical accuracy, which compares two argmax positions.

    Args:
        model: A compiled Keras model.
        labels: ``"integer"``, ``"one_hot"`` or ``"multi_hot"``.

    Returns:
        The note, or None when it does not apply.
    """
    if labels != MULTI_HOT:
        return None
    try:
        metrics = (model.get_compile_config() or {}).get("metrics")
    except Exception:  # not compiled, or compiled in a way that has no config
        return None
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    names = metrics if isinstance(metrics, list | tuple) else [metrics]
    if not any(isinstance(name, str) and name.lower() in ("accuracy", "acc") for name in names):
        return None
    return (
        'You compiled with metrics=["accuracy"]. With multi-hot targets Keras turns "accuracy" '
        "into categorical accuracy, which only checks whether the highest-scoring label is the "
        "first label marked 1 in the target row (the first label when none is), so every other "
        "label is ignored. Use "
        "keras.metrics.BinaryAccuracy(threshold=0.5), which scores every label, and per-label "
        "precision and recall."
    )
