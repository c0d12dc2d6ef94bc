"""Hand graded work from the learner's kernel to the grader as plain data.

This module runs *inside* the learner's kernel, called from grade cells. Nothing it does is
trusted: learner code may replace it, patch it, or skip it. Its only job is to write what the
grade cell was given into the submission's export folder, in forms the grader can read without
running learner code:

- answers as JSON, and only ``str``, ``int``, ``float``, ``bool``, ``None``, lists and tuples
  (numpy scalars become their Python value, numpy arrays of numbers nested lists). The type
  check is exact, so an object that subclasses ``int`` or defines an ``__eq__`` that is always
  true is recorded as *rejected*, not written; the grader checks the types again when it reads
  the file;
- models as ``.keras`` files, which the grader loads with ``safe_mode=True`` (no Lambda code);
  a model with classes of its own (subclassed, custom layers) also hands over those classes,
  pickled by value, which only the grader's confined evaluator unpickles;
- arrays as ``.npz`` without pickles, and a scikit-learn scaler as its fitted statistics.

Skipping the export costs the learner the task, so no tampering can score more than an empty
submission. When ``AUTOGRADER_EXPORT_DIR`` is not set (a learner running the notebook in
JupyterLab, or plain ``nbgrader autograde``) every function does nothing.

Every function is silent (nbgrader scores 0 for a grade cell with stderr output) and never
raises, so the grade cell's own check still runs after it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

from autograder.quiet import no_stderr

ENV_VAR = "AUTOGRADER_EXPORT_DIR"
# The scaler classes the grader knows how to rebuild from their fitted statistics.
SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_DEPTH = 8
_MAX_ITEMS = 100_000


class Rejected(TypeError):
    """A value that is not plain data; the message says what it was."""


def export_dir() -> Path | None:
    """Return the folder exports go to, or None when not grading.

    Returns:
        The path from ``AUTOGRADER_EXPORT_DIR``, or None.
    """
    value = os.environ.get(ENV_VAR)
    return Path(value) if value else None


def answer(name: str, value: Any, learner: Any = None) -> None:
    """Export a plain answer as ``answer-<name>.json``.

    Args:
        name: The answer's name in the manifest (a Python identifier).
        value: The learner's answer.
        learner: For a choice question of a graded notebook, the ``YOUR_NAME`` that orders its
            options (:mod:`autograder.choices`); kept only when it is text.
    """
    folder = _target(name)
    # `...` is the course's placeholder for "not answered yet": nothing to hand over.
    if folder is None or value is Ellipsis:
        return
    try:
        record: dict[str, Any] = {"value": plain(value)}
    except Rejected as exc:
        record = {"rejected": str(exc)}
    if type(learner) is str:
        record["learner"] = learner[:1000]
    _write_json(folder / f"answer-{name}.json", record)


def model(name: str, value: Any) -> None:
    """Export a Keras model as ``model-<name>.keras``.

    Args:
        name: The model's name in the manifest.
        value: The learner's model.
    """
    folder = _target(name)
    if folder is None or value is Ellipsis:
        return
    path = folder / f"model-{name}.keras"
    with no_stderr():
        try:
            import keras

            if not isinstance(value, keras.Model):
                raise Rejected(f"a {type(value).__name__}, not a Keras model")
            tmp = folder / f".model-{name}.tmp.keras"
            keras.saving.save_model(value, tmp)
            os.replace(tmp, path)
            _export_classes(folder, name, value)
            return
        except Exception as exc:  # noqa: BLE001 - any failure is recorded, never raised
            reason = str(exc) if isinstance(exc, Rejected) else f"could not save: {exc!r}"[:500]
    _write_json(folder / f"rejected-{name}.json", {"rejected": reason})


# The classes a model needs, pickled by value, are at most this large.
MAX_CLASSES_BYTES = 20 * 2**20


def custom_classes(value: Any) -> dict[str, Any]:
    """The classes of a model, its layers and its loss that are not Keras's own.

    Args:
        value: A Keras model.

    Returns:
        Registered name (what the ``.keras`` file calls the class) -> class.
    """
    import keras

    found: dict[str, Any] = {}
    flatten = getattr(value, "_flatten_layers", None)
    layers = list(flatten(include_self=True, recursive=True)) if callable(flatten) else [value]
    loss = getattr(value, "loss", None)
    for item in [*layers, *(loss if isinstance(loss, list | tuple) else [loss])]:
        if item is None or isinstance(item, str):
            continue
        # A loss may be a plain function; anything else is an instance of its class.
        kind = item if isinstance(item, types.FunctionType) else type(item)
        if not str(getattr(kind, "__module__", "")).startswith("keras"):
            found[keras.saving.get_registered_name(kind)] = kind
    return found


def _export_classes(folder: Path, name: str, value: Any) -> None:
    """Write ``classes-<name>.pkl``: the model's own classes, by value (:mod:`cloudpickle`).

    Only the grader's confined evaluator ever unpickles them (the verifier does not), to run a
    model that cannot be loaded with ``safe_mode=True``.
    """
    target = folder / f"classes-{name}.pkl"
    try:
        target.unlink(missing_ok=True)
        classes = custom_classes(value)
        if not classes:
            return
        import cloudpickle

        # Classes of a module beside the notebook would be pickled by reference, and the
        # evaluator has no such module: pickle them by value too.
        for kind in classes.values():
            module = sys.modules.get(getattr(kind, "__module__", ""))
            origin = str(getattr(module, "__file__", "") or "")
            if module is not None and origin and not origin.startswith((sys.prefix,
                                                                        sys.base_prefix)):
                cloudpickle.register_pickle_by_value(module)
        data = cloudpickle.dumps(classes)
        if len(data) <= MAX_CLASSES_BYTES:
            tmp = folder / f".classes-{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
    except Exception:  # noqa: BLE001 - the model itself is exported; the grader says the rest
        return


def arrays(name: str, **values: Any) -> None:
    """Export numeric arrays as ``arrays-<name>.npz`` (no pickled objects).

    Args:
        name: The bundle's name in the manifest.
        **values: Arrays or array-likes; object arrays are rejected.
    """
    folder = _target(name)
    if folder is None:
        return
    with no_stderr():
        try:
            import numpy as np

            bundle = {key: np.asarray(item) for key, item in values.items()}
            for key, item in bundle.items():
                if item.dtype.kind not in "biuf":
                    raise Rejected(f"array {key!r} has dtype {item.dtype}, not a number type")
            tmp = folder / f".arrays-{name}.tmp.npz"
            with open(tmp, "wb") as handle:
                np.savez(handle, **bundle)
            os.replace(tmp, folder / f"arrays-{name}.npz")
            return
        except Exception as exc:  # noqa: BLE001
            reason = str(exc) if isinstance(exc, Rejected) else f"could not save: {exc!r}"[:500]
    _write_json(folder / f"rejected-{name}.json", {"rejected": reason})


def scaler(name: str, value: Any) -> None:
    """Export a fitted scikit-learn scaler as its class name and fitted statistics.

    Args:
        name: The scaler's name in the manifest.
        value: A fitted scaler of one of the :data:`SCALERS` classes, or None for "no scaler".
    """
    folder = _target(name)
    if folder is None:
        return
    if value is None:
        _write_json(folder / f"scaler-{name}.json", {"value": None})
        return
    kind = type(value).__name__
    if kind not in SCALERS or not type(value).__module__.startswith("sklearn."):
        _write_json(folder / f"scaler-{name}.json",
                    {"rejected": f"a {kind}, not one of {', '.join(SCALERS)}"})
        return
    fitted: dict[str, Any] = {}
    try:
        for attribute in ("mean_", "scale_", "var_", "min_", "data_min_", "data_max_",
                          "data_range_", "max_abs_", "center_", "n_samples_seen_"):
            found = getattr(value, attribute, None)
            if found is not None:
                fitted[attribute] = plain(_tolist(found))
        record: dict[str, Any] = {"value": {"class": kind, "fitted": fitted}}
    except Rejected as exc:
        record = {"rejected": str(exc)}
    _write_json(folder / f"scaler-{name}.json", record)


def plain(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as plain JSON data, checking every type exactly.

    Args:
        value: An answer.
        depth: Nesting depth so far (deep nesting is rejected).

    Returns:
        The value with tuples turned into lists and numpy scalars into Python numbers.

    Raises:
        Rejected: The value (or something inside it) is not plain data.
    """
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        if not math.isfinite(value):
            raise Rejected(f"the number {value!r} is not finite")
        return value
    if kind in (list, tuple):
        if depth >= _MAX_DEPTH or len(value) > _MAX_ITEMS:
            raise Rejected("the answer is nested too deeply or is too long")
        return [plain(item, depth + 1) for item in value]
    if _is_numpy_scalar(value):
        return plain(value.item(), depth)
    if _is_numpy_array(value):
        # An array of numbers is data as a learner naturally writes it: it becomes nested lists.
        if value.size > _MAX_ITEMS or value.ndim > _MAX_DEPTH - depth:
            raise Rejected("the answer is nested too deeply or is too long")
        if value.dtype.kind not in "biuf":
            raise Rejected(f"an array of {value.dtype} is not plain data (use numbers)")
        return plain(value.tolist(), depth)
    raise Rejected(f"a {kind.__module__}.{kind.__qualname__} is not plain data "
                   f"(use str, int, float, bool, None, a list or a tuple)")


def _is_numpy_scalar(value: Any) -> bool:
    # Exact numpy types only: a subclass defined by learner code could override comparisons.
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with every course install
        return False
    return type(value) in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                           np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)


def _is_numpy_array(value: Any) -> bool:
    # The exact ndarray type: a subclass defined by learner code could override tolist().
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with every course install
        return False
    return type(value) is np.ndarray


def _tolist(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and type(value).__module__ == "numpy" else value


def _target(name: str) -> Path | None:
    folder = export_dir()
    if folder is None or not _NAME.match(str(name)):
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def _write_json(path: Path, record: dict[str, Any]) -> None:
    # Write then rename: a kernel killed mid-write leaves no half file for the grader to read.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(record, allow_nan=False), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass
