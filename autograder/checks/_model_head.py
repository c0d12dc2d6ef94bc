"""How ``check_model`` tells probabilities from logits without relying on a lucky random seed.

Two kinds of evidence, both public:

- **Values** on a probe batch at the scale the model's own front implies: a ``Rescaling(1/255)``
  front means pixels from 0 to 255, an adapted ``Normalization`` means features around its mean,
  an ``Embedding`` (or an integer input) means token ids. Wide rows, far larger than data, push
  an unbounded (linear) output out of [0, 1], while sigmoid and softmax outputs stay inside.
- **Configuration** of the layer that produces the output: its ``activation`` argument, an
  ``Activation`` or ``Softmax`` layer, the output node named by a functional model's
  ``get_config()``. Values alone cannot tell an untrained linear layer whose outputs happen to
  fall in [0, 1] from a sigmoid; the configuration can. A subclassed model has no such
  configuration, so only its values count and an ambiguous case is said to be ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.checks._inspect import import_keras, is_probability, rows_sum_to_one

# Rows of the probe batch, by (kind, parameter, rows). "uniform" rows lie in [0, 1] and "normal"
# rows have the given standard deviation, both in the space the model's first Dense or Conv
# layer sees (after Rescaling/Normalization); they are mapped back to the raw input scale.
DATA_LIKE_ROWS = (("uniform", 1.0, 8), ("normal", 1.0, 8))
WIDE_ROWS = (("normal", 10.0, 4), ("normal", 100.0, 4))
# Token ids for a model that reads integers but declares no vocabulary size.
_DEFAULT_VOCABULARY = 10

# Layers that neither compute a prediction nor change the activation of the values they pass on.
_PASS_THROUGH = ("Dropout", "Flatten", "Reshape", "ActivityRegularization", "Identity",
                 "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
                 "SpatialDropout2D", "SpatialDropout3D", "Permute")
# Layers at the front that only resize or (in training) augment, so they keep the input scale.
_SCALE_KEEPING = ("InputLayer", "Resizing", "CenterCrop", *_PASS_THROUGH)

# Output kinds. The first three are certain probabilities; "bounded" means values that stayed in
# [0, 1] on every probe row of a model whose configuration does not say what its last layer is.
SOFTMAX, SOFTMAX_ONE_UNIT, SIGMOID = "softmax", "softmax_one_unit", "sigmoid"
RELU, LINEAR, UNBOUNDED, BOUNDED = "relu", "linear", "unbounded", "bounded"
PROBABILITY_KINDS = frozenset({SOFTMAX, SOFTMAX_ONE_UNIT, SIGMOID})
LOGIT_KINDS = frozenset({LINEAR, UNBOUNDED})


@dataclass(frozen=True)
class Probe:
    """Inputs to call a model on.

    Attributes:
        x: The whole batch: data-like rows first, then wide rows.
        data_rows: How many of the first rows are like real data.
    """

    x: np.ndarray
    data_rows: int


@dataclass(frozen=True)
class OutputHead:
    """What a model's output layer is, from its values and its configuration.

    Attributes:
        kind: One of the kinds above.
        units: Values per example.
        values: Outputs on the finite probe rows, shape ``(n, units)``.
        layer: Name of the layer that produces the output, when the configuration tells.
        configured: The activation that layer declares (``"linear"``, ``"softmax"``, ...), or
            None when no configuration says.
    """

    kind: str
    units: int
    values: np.ndarray
    layer: str | None
    configured: str | None

    @property
    def probabilities(self) -> bool:
        """True when the output is certainly made of probabilities."""
        return self.kind in PROBABILITY_KINDS

    @property
    def logits(self) -> bool:
        """True when the output is certainly unbounded scores."""
        return self.kind in LOGIT_KINDS


def probe_inputs(model: Any, input_shape: Sequence[int]) -> Probe:
    """A fixed batch at the scale the model's front layers imply.

    Args:
        model: A Keras model.
        input_shape: Shape of one example of the data.

    Returns:
        The same :class:`Probe` on every call for the same model and shape.
    """
    rng = np.random.default_rng(0)
    shape = tuple(input_shape)
    vocabulary = _token_vocabulary(model)
    if vocabulary is not None:
        rows = sum(n for _, _, n in DATA_LIKE_ROWS + WIDE_ROWS)
        # Token ids have no "wide" version: every row is data-like.
        return Probe(rng.integers(0, vocabulary, (rows, *shape)).astype(np.int32), rows)
    parts = [_rows(rng, kind, size, rows, shape) for kind, size, rows in DATA_LIKE_ROWS + WIDE_ROWS]
    seen = np.concatenate(parts)
    raw = _to_raw_scale(seen, _front_transforms(model), shape)
    return Probe(raw.astype(np.float32), sum(n for _, _, n in DATA_LIKE_ROWS))


def _rows(rng: np.random.Generator, kind: str, size: float, rows: int, shape: tuple) -> np.ndarray:
    if kind == "uniform":
        return rng.random((rows, *shape)) * size
    return rng.normal(0.0, size, (rows, *shape))


def _front_layers(model: Any) -> list[Any]:
    """The layers in order from the input, entering nested models at the front."""
    keras = import_keras()
    layers: list[Any] = []
    for layer in getattr(model, "layers", None) or []:
        if isinstance(layer, keras.Model):
            layers.extend(_front_layers(layer))
        else:
            layers.append(layer)
    return layers


def _token_vocabulary(model: Any) -> int | None:
    """The range of token ids a model reads, or None when it reads real-valued features."""
    keras = import_keras()
    for layer in _front_layers(model):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.get_config()["input_dim"])
        if not _is_scale_keeping(layer):
            break
    try:
        dtype = str(model.inputs[0].dtype)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if "int" not in dtype:
        return None
    # An 8-bit unsigned input is usually raw pixels.
    return 256 if dtype == "uint8" else _DEFAULT_VOCABULARY


def _is_scale_keeping(layer: Any) -> bool:
    name = type(layer).__name__
    return name in _SCALE_KEEPING or name.startswith("Random")


def _front_transforms(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The affine maps ``x -> x * scale + shift`` applied before the first computing layer."""
    keras = import_keras()
    transforms = []
    for layer in _front_layers(model):
        if isinstance(layer, keras.layers.Rescaling):
            config = layer.get_config()
            scale = np.asarray(config.get("scale", 1.0), dtype=np.float64)
            transforms.append((scale, np.asarray(config.get("offset", 0.0), dtype=np.float64)))
        elif isinstance(layer, keras.layers.Normalization):
            normalization = _normalization_transform(layer)
            if normalization is None:
                break
            transforms.append(normalization)
        elif not _is_scale_keeping(layer):
            break
    return transforms


def _normalization_transform(layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
    keras = import_keras()
    try:
        if layer.get_config().get("invert") or not layer.built:
            return None
        mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64)
        variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64)
    except Exception:  # statistics not set (never adapted) or stored in an unusual form
        return None
    std = np.maximum(np.sqrt(np.maximum(variance, 0.0)), 1e-12)
    return 1.0 / std, -mean / std


def _to_raw_scale(
    seen: np.ndarray, transforms: list[tuple[np.ndarray, np.ndarray]], shape: tuple
) -> np.ndarray:
    raw = seen
    for scale, shift in reversed(transforms):
        if np.any(scale == 0):
            continue
        try:
            raw = (raw - _per_example(shift, shape)) / _per_example(scale, shape)
        except ValueError:  # statistics that do not broadcast to the data: keep the scale
            continue
    return raw


def _per_example(value: np.ndarray, shape: tuple) -> np.ndarray:
    # Normalization keeps a leading batch axis of size 1 in its statistics.
    if value.ndim == len(shape) + 1 and value.shape[0] == 1:
        value = value[0]
    np.broadcast_shapes(value.shape, shape)
    return value


def output_layer(model: Any) -> Any | None:
    """The layer whose output is the model's output, read from public structure only.

    Args:
        model: A Keras model.

    Returns:
        The layer (entering nested models and stepping back over dropout, flatten and reshape
        layers), or None for a subclassed model or a graph that ends in a plain operation.
    """
    keras = import_keras()
    layer = _final_layer(model, keras)
    while layer is not None:
        if isinstance(layer, keras.Model):
            layer = _final_layer(layer, keras)
        elif type(layer).__name__ in _PASS_THROUGH:
            layer = _producer(model, layer)
        else:
            return layer
    return None


def _final_layer(model: Any, keras: Any) -> Any | None:
    if isinstance(model, keras.Sequential):
        return model.layers[-1] if model.layers else None
    try:
        config = model.get_config() or {}
    except Exception:  # a subclassed model may not implement get_config
        return None
    outputs = config.get("output_layers")
    if not outputs:
        return None
    # A single output is stored as [name, node, tensor]; several as a list of those.
    if isinstance(outputs[0], list | tuple):
        if len(outputs) != 1:
            return None
        outputs = outputs[0]
    try:
        return model.get_layer(str(outputs[0]))
    except ValueError:  # the graph ends in an operation that is not a layer
        return None


def _producer(model: Any, layer: Any) -> Any | None:
    """The layer whose output feeds ``layer``, searched through the model's public layers."""
    try:
        wanted = layer.input
    except (AttributeError, ValueError):
        return None
    for candidate in _all_layers(model):
        try:
            if candidate.output is wanted:
                return candidate
        except (AttributeError, ValueError):
            continue
    return None


def _all_layers(model: Any) -> list[Any]:
    keras = import_keras()
    found = []
    for layer in getattr(model, "layers", None) or []:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def configured_activation(layer: Any) -> str | None:
    """The activation a layer declares, as a lower-case name.

    Args:
        layer: A Keras layer.

    Returns:
        ``"softmax"``, ``"sigmoid"``, ``"relu"``, ``"linear"`` (no activation), another name,
        or None when the layer's configuration names none.
    """
    keras = import_keras()
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    try:
        activation = layer.get_config().get("activation")
    except Exception:  # a custom layer without a usable get_config
        return None
    if isinstance(activation, dict):
        # A function from another module, e.g. tf.nn.softmax, is stored by its name.
        is_function = activation.get("class_name") == "function"
        activation = activation.get("config") if is_function else None
    if not isinstance(activation, str):
        return None
    name = activation.lower()
    return name.removesuffix("_v2")


def read_head(model: Any, values: np.ndarray) -> OutputHead:
    """Classify a model's output layer from its outputs and configuration.

    Args:
        model: A Keras model that produced ``values``.
        values: Finite outputs on probe rows, shape ``(n, units)``.

    Returns:
        An :class:`OutputHead`.
    """
    units = values.shape[1]
    layer = output_layer(model)
    configured = configured_activation(layer) if layer is not None else None
    if configured == "softmax":
        kind = SOFTMAX_ONE_UNIT if units == 1 else SOFTMAX
    elif configured in (SIGMOID, RELU, LINEAR):
        kind = configured
    elif is_probability(values):
        if units == 1:
            # Softmax over a single unit divides each value by itself: always exactly 1.
            kind = SOFTMAX_ONE_UNIT if np.allclose(values, 1.0, atol=1e-6) else BOUNDED
        else:
            kind = SOFTMAX if rows_sum_to_one(values) else BOUNDED
    else:
        kind = UNBOUNDED
    return OutputHead(kind, units, values, getattr(layer, "name", None), configured)
