"""Shared ways of looking at a learner's Keras model: what it is, what it outputs, what loss it has.

Only public Keras API is used (``isinstance``, ``model(x, training=False)``, ``model.inputs``,
``model.loss`` and ``Loss.get_config()``), so models rebuilt from ``.keras`` files with
``safe_mode=True`` are judged exactly like live ones. Keras is imported lazily: an answer that is
not a model can be rejected without paying for the TensorFlow import.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder import result
from autograder.result import CheckResult

# Loss families, by canonical name. Focal losses are cross-entropies with a weighting term, so
# they fit the same labels and outputs as their plain versions.
SPARSE = frozenset({"sparse_categorical_crossentropy"})
CATEGORICAL = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy"})
BINARY = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
REGRESSION = frozenset({
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "log_cosh", "poisson", "cosine_similarity",
})

# Spelling (lower case, underscores removed) -> canonical name. Keras accepts short aliases,
# snake_case function names and CamelCase class names for the same loss.
_LOSS_ALIASES = {
    "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
    "categoricalcrossentropy": "categorical_crossentropy",
    "categoricalfocalcrossentropy": "categorical_focal_crossentropy",
    "binarycrossentropy": "binary_crossentropy",
    "binaryfocalcrossentropy": "binary_focal_crossentropy",
    "mse": "mean_squared_error",
    "meansquarederror": "mean_squared_error",
    "mae": "mean_absolute_error",
    "meanabsoluteerror": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "meanabsolutepercentageerror": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "meansquaredlogarithmicerror": "mean_squared_logarithmic_error",
    "huber": "huber",
    "logcosh": "log_cosh",
    "poisson": "poisson",
    "cosinesimilarity": "cosine_similarity",
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class LossInfo:
    """What a compiled model's loss is.

    Attributes:
        name: Canonical snake_case name (``"mean_squared_error"`` for ``"mse"``), or None when
            the loss is not one Keras ships (a custom function, a dict of losses).
        from_logits: True when the loss applies the sigmoid or softmax itself.
        shown: How to name the loss to the learner, e.g. ``"'mse'"``.
    """

    name: str | None
    from_logits: bool
    shown: str


def import_keras() -> Any:
    """Import Keras (and its backend) on first use.

    Returns:
        The ``keras`` module.
    """
    import keras

    return keras


def describe(value: Any) -> str:
    """Say in a few words what a value is, for a message about a wrong type.

    Args:
        value: Anything a learner might have passed.

    Returns:
        A phrase such as ``"a NumPy array of shape (800, 10)"``.
    """
    if value is None:
        return "None"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape}"
    if isinstance(value, type):
        return f"the class {value.__name__} itself, not an instance of it"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} items"
    kind = type(value)
    return f"an object of type {kind.__module__}.{kind.__qualname__}"


def not_a_model(check: str, value: Any) -> CheckResult | None:
    """Reject anything that is not a Keras model, with a message saying what was received.

    Args:
        check: Name of the calling check, for the result.
        value: The learner's answer.

    Returns:
        A not-attempted result for the ``...`` placeholder, an error result for anything that
        is not a ``keras.Model`` instance, and None for a model.
    """
    if value is Ellipsis:
        return result.not_attempted(
            check, "Replace the `...` placeholder with your Keras model, then run this cell again."
        )
    # Without Keras loaded nothing can be a Keras model, and importing it costs seconds.
    keras = import_keras() if "keras" in sys.modules else None
    if keras is not None and isinstance(value, keras.Model):
        return None
    expected = (
        "Expected a Keras model (keras.Sequential, a functional keras.Model or a keras.Model "
        "subclass)"
    )
    received = describe(value)
    if value is None:
        hint = (
            "Check that the cell that builds the model has run, and that a function that builds "
            "it ends with `return model`."
        )
    elif isinstance(value, np.ndarray):
        hint = "Pass the model itself, not its predictions or the data."
    elif keras is not None and isinstance(value, type) and issubclass(value, keras.Model):
        hint = f"Create the model first, e.g. `model = {value.__name__}(...)`, and pass that."
    elif keras is not None and isinstance(value, keras.layers.Layer):
        received = f"a Keras layer ({type(value).__name__})"
        hint = "A single layer is not a model: wrap your layers in keras.Sequential([...])."
    elif isinstance(value, list | tuple) and keras is not None and value and all(
        isinstance(item, keras.layers.Layer) for item in value
    ):
        hint = "These are layers: wrap the list in keras.Sequential([...]) to make a model."
    elif isinstance(value, str):
        hint = "Pass the model object, not its name or a file path."
    else:
        hint = "Pass the model object you built."
    return result.error(check, f"{expected}, but received {received}. {hint}")


def read_loss(model: Any) -> LossInfo | None:
    """Read the loss a model was compiled with.

    Args:
        model: A Keras model.

    Returns:
        A :class:`LossInfo`, or None when the model was never compiled.
    """
    loss = getattr(model, "loss", None)
    # compile(loss=[...]) or {name: ...} with a single entry is the same single loss.
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if isinstance(loss, list | tuple) and len(loss) == 1:
        loss = loss[0]
    if loss is None:
        return None
    if isinstance(loss, str):
        return LossInfo(_canonical(loss), False, repr(loss))
    keras = import_keras()
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        name = _canonical(type(loss).__name__) or _canonical(str(config.get("name", "")))
        from_logits = bool(config.get("from_logits", False))
        suffix = "(from_logits=True)" if from_logits else "()"
        return LossInfo(name, from_logits, f"{type(loss).__name__}{suffix}")
    if callable(loss):
        label = getattr(loss, "__name__", type(loss).__name__)
        return LossInfo(_canonical(label), False, label)
    return LossInfo(None, False, describe(loss))


def _canonical(name: str) -> str | None:
    return _LOSS_ALIASES.get(name.lower().replace("_", ""))


def declared_input_shape(model: Any) -> tuple[int | None, ...] | None:
    """The shape of one example that a model declares, without the batch axis.

    Args:
        model: A Keras model.

    Returns:
        The declared shape, or None when the model declares none (an unbuilt Sequential model,
        a subclassed model) or has several inputs.
    """
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs or len(inputs) != 1:
        return None
    return tuple(inputs[0].shape[1:])


def shape_accepts(declared: Sequence[int | None], actual: Sequence[int]) -> bool:
    """Whether a declared example shape (None = any size) admits an actual one.

    Args:
        declared: Shape declared by the model, without the batch axis.
        actual: Shape of one example of the data.

    Returns:
        True when ranks match and every fixed dimension agrees.
    """
    return len(declared) == len(actual) and all(
        want is None or want == got for want, got in zip(declared, actual, strict=True)
    )


def call_model(model: Any, x: np.ndarray, *, chunk: int = 1024) -> np.ndarray | list[np.ndarray]:
    """Run a model in inference mode and return NumPy outputs.

    Calling the model directly avoids the graph tracing ``predict`` does, which costs more than
    the whole computation for the small batches checks use.

    Args:
        model: A Keras model.
        x: Input batch.
        chunk: Largest number of rows per call, to bound memory.

    Returns:
        One array, or a list of arrays for a model with several outputs.

    Raises:
        Exception: Whatever the model raises; callers turn it into a message.
    """
    keras = import_keras()
    pieces = []
    for start in range(0, max(len(x), 1), chunk):
        out = model(x[start:start + chunk], training=False)
        if isinstance(out, dict):
            out = list(out.values())
        if isinstance(out, list | tuple):
            if len(out) != 1:
                return [keras.ops.convert_to_numpy(item) for item in out]
            out = out[0]
        pieces.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def short_error(exc: BaseException) -> str:
    """The first informative line of an exception, without colour codes or dumped arrays.

    Args:
        exc: The exception a model raised.

    Returns:
        ``"ValueError: ..."``, at most about 300 characters.
    """
    text = _ANSI.sub("", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # Keras puts "Exception encountered when calling X" first and the cause after it.
    informative = [line for line in lines if not line.startswith("Exception encountered")]
    first = (informative or lines or [""])[0]
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def shape_text(shape: Sequence[int | None]) -> str:
    """Write a batch shape as Keras prints it, with None for the batch axis.

    Args:
        shape: A shape whose first entry is the batch size.

    Returns:
        Text such as ``"(None, 28, 28, 10)"``.
    """
    dims = ["None", *(str(d) for d in shape[1:])]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def example_shape_text(shape: Sequence[int | None]) -> str:
    """Write the shape of one example.

    Args:
        shape: A shape without the batch axis.

    Returns:
        Text such as ``"(28, 28, 1)"`` or ``"(784,)"``.
    """
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def is_probability(values: np.ndarray) -> bool:
    """Whether every value lies in [0, 1], as sigmoid and softmax outputs do.

    Args:
        values: Model outputs.

    Returns:
        True when no value is below 0 or above 1 (beyond float rounding).
    """
    return bool(np.all((values >= -1e-6) & (values <= 1 + 1e-6)))


def rows_sum_to_one(values: np.ndarray) -> bool:
    """Whether every row sums to 1, as softmax outputs do.

    Args:
        values: Model outputs of shape ``(n, units)``.

    Returns:
        True when each row sums to 1 within 0.001.
    """
    return bool(np.allclose(values.sum(axis=-1), 1.0, atol=1e-3))


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Apply the logistic function in float64 without overflow for large magnitudes.

    Args:
        values: Logits.

    Returns:
        Probabilities in [0, 1].
    """
    values = np.asarray(values, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -values))


def softmax(values: np.ndarray) -> np.ndarray:
    """Apply softmax to each row in float64.

    Args:
        values: Logits of shape ``(n, units)``.

    Returns:
        Rows of probabilities that sum to 1.
    """
    values = np.asarray(values, dtype=np.float64)
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def percent(fraction: float) -> str:
    """Format a fraction as a percentage with one decimal.

    Args:
        fraction: A number from 0 to 1.

    Returns:
        Text such as ``"98.0 %"``.
    """
    if math.isnan(fraction):
        return "n/a"
    return f"{100 * fraction:.1f} %"
