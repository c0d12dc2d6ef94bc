"""A stand-in, in the verifier, for a model that runs in its evaluator.

The registered checks take a Keras model: they call it on batches, read ``model.loss`` and walk
``model.layers``. :func:`stand_in` builds a ``keras.Model`` whose ``call`` sends the batch to the
submission's evaluator (:mod:`autograder.grading.evaluate`) and returns its predictions, so every
check runs unchanged on what the learner's model answers. What the stand-in says of the model
is only what is known without running learner code, or known to be the model's own answer:

- ``loss`` and ``optimizer``: the learner's compile configuration, read from the ``.keras``
  file's ``config.json`` (plain JSON) and deserialized in safe mode, so only Keras's own losses
  and optimizers come back; a custom loss leaves the stand-in uncompiled, which the checks
  report as a loss they cannot read.
- ``layers``: the built-in Keras layers the evaluator found in the model, rebuilt (without
  weights) from their configuration, so that a check that needs a convolution finds the
  learner's ``Conv2D``; a custom layer appears as an opaque layer whose class name says that it
  is the learner's own (``MyBlock (custom)``), never as a built-in one.
- ``inputs``, ``get_config()``: nothing beyond the name, like a subclassed model.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

# config.json of a .keras archive is small; refuse one that is not.
_MAX_CONFIG_BYTES = 20 * 2**20
# Built-in layers that are never rebuilt from a learner's configuration: they hold code.
_NEVER_REBUILT = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}


def read_keras_config(path: Path) -> dict[str, Any]:
    """Read ``config.json`` of a ``.keras`` archive as plain JSON.

    Args:
        path: The archive.

    Returns:
        The configuration, or an empty dict when it is missing or unreadable.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > _MAX_CONFIG_BYTES:
                return {}
            with archive.open(info) as handle:
                found = json.loads(handle.read(_MAX_CONFIG_BYTES + 1))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError):
        return {}
    return found if isinstance(found, dict) else {}


def stand_in(evaluator: Any, name: str, config: dict[str, Any],
             layers: list[dict[str, Any]]) -> Any:
    """Build the stand-in for one exported model.

    Args:
        evaluator: The submission's :class:`~autograder.grading.evaluate.Evaluator`, with the
            model loaded under ``name``.
        name: The export's name.
        config: The ``.keras`` file's configuration (:func:`read_keras_config`).
        layers: What the evaluator reported of the model's layers (already checked).

    Returns:
        A ``keras.Model`` that predicts through the evaluator.
    """
    import keras
    import numpy as np

    class Evaluated(keras.Model):
        """The learner's model, evaluated in a confined process of its own."""

        def __init__(self) -> None:
            model_name = (config.get("config") or {}).get("name")
            super().__init__(name=model_name if isinstance(model_name, str) else name)
            # Its weights live in the evaluator; there is nothing to build here.
            self.built = True
            # Plain attributes, not tracked as this model's own layers or weights.
            object.__setattr__(self, "_declared", _declared_layers(layers))

        @property
        def layers(self) -> list[Any]:
            return list(self._declared)

        def call(self, inputs: Any, training: bool = False) -> Any:
            x = np.asarray(keras.ops.convert_to_numpy(inputs))
            outputs = [item.astype(np.float32) for item in evaluator.predict(name, x)]
            return outputs[0] if len(outputs) == 1 else outputs

    model = Evaluated()
    _compile_like(model, config.get("compile_config"))
    return model


def _compile_like(model: Any, compile_config: Any) -> None:
    """Compile the stand-in as the learner compiled theirs, with Keras's own objects only."""
    if not isinstance(compile_config, dict):
        return
    try:
        # deserialize_keras_object runs in safe mode unless told otherwise: built-in losses
        # and optimizers only, no code.
        model.compile_from_config(compile_config)
    except Exception:  # noqa: BLE001 - a custom loss or metric: fall back to what is plain
        loss = compile_config.get("loss")
        if isinstance(loss, str):
            try:
                model.compile(loss=loss)
            except Exception:  # noqa: BLE001 - an unknown loss name: leave it uncompiled
                return


def _declared_layers(layers: list[dict[str, Any]]) -> tuple[Any, ...]:
    import keras

    class CustomLayer(keras.layers.Layer):
        """A layer of the learner's own class; it runs only in the evaluator."""

    made = []
    for item in layers:
        kind = getattr(keras.layers, item["class_name"], None)
        built = None
        if (item["builtin"] and isinstance(kind, type) and issubclass(kind, keras.layers.Layer)
                and item["class_name"] not in _NEVER_REBUILT and item["config"] is not None):
            try:
                built = kind.from_config(item["config"])
            except Exception:  # noqa: BLE001 - a configuration this Keras cannot rebuild
                built = None
        if built is None:
            opaque = type(f"{item['class_name']} (custom)" if not item["builtin"]
                          else item["class_name"] + " (not rebuilt)", (CustomLayer,), {})
            built = opaque()
        made.append(built)
    return tuple(made)
