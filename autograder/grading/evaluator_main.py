"""The evaluator's own side: confine itself, then load the learner's model and answer.

Runs as ``python -P -m autograder.grading.evaluator_main OPTIONS``, started by
:class:`autograder.grading.evaluate.Evaluator`. Everything here after :func:`_main` has entered
the confinement runs with the learner's classes loaded: nothing it says is trusted by the
verifier, which reads its answers with size caps, deadlines and ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from autograder.grading.evaluate import (
    CPU_SECONDS,
    MAX_LAYERS,
    EvaluatorError,
    read_frame,
    write_frame,
)


def _describe(model: Any) -> list[dict[str, Any]]:
    """The model's layers, in order, entering nested models: class, origin and configuration."""
    import keras

    found: list[dict[str, Any]] = []

    def walk(owner: Any) -> None:
        for layer in list(getattr(owner, "layers", None) or [])[:MAX_LAYERS]:
            kind = type(layer)
            builtin = kind.__module__.startswith("keras.")
            config = None
            if builtin:
                try:
                    config = json.loads(json.dumps(layer.get_config(), default=str))
                except Exception:  # noqa: BLE001 - a layer whose config is not JSON
                    config = None
            found.append({"class_name": kind.__name__, "builtin": builtin, "config": config})
            if isinstance(layer, keras.Model):
                walk(layer)

    walk(model)
    return found


def _serve(requests: int, replies: int) -> int:
    """Confined: answer load and predict requests until the pipe closes."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    os.chdir("/tmp")
    from autograder.quiet import silence

    silence()
    import keras
    import numpy as np

    models: dict[str, Any] = {}
    while True:
        try:
            header, payload = read_frame(requests, None)
        except EvaluatorError:
            return 0
        try:
            if header.get("op") == "load":
                name = str(header["name"])
                split = int(header["model"])
                folder = Path("/tmp") / "models"
                folder.mkdir(exist_ok=True)
                path = folder / "model.keras"
                path.write_bytes(payload[:split])
                classes: dict[str, Any] = {}
                if len(payload) > split:
                    import pickle

                    import cloudpickle  # noqa: F401 - pickles of classes by value need it

                    loaded = pickle.loads(payload[split:])  # noqa: S301 - confined, by design
                    classes = loaded if isinstance(loaded, dict) else {}
                models[name] = keras.saving.load_model(path, custom_objects=classes,
                                                       safe_mode=False, compile=False)
                path.unlink()
                write_frame(replies, {"loaded": name, "layers": _describe(models[name])})
            elif header.get("op") == "predict":
                x = np.load(io.BytesIO(payload), allow_pickle=False)
                out = models[str(header["name"])](x, training=False)
                if isinstance(out, dict):
                    out = list(out.values())
                outs = list(out) if isinstance(out, list | tuple) else [out]
                buffer = io.BytesIO()
                np.savez(buffer, **{f"out{i}": np.asarray(keras.ops.convert_to_numpy(item),
                                                          dtype=np.float64)
                                    for i, item in enumerate(outs)})
                write_frame(replies, {"predicted": len(outs)}, buffer.getvalue())
            else:
                write_frame(replies, {"error": "unknown request"})
        except Exception as exc:  # noqa: BLE001 - the verifier reads the reason
            write_frame(replies, {"error": f"{type(exc).__name__}: {str(exc)[:250]}"})


def _main(options: dict[str, Any]) -> int:
    """Enter the confinement, then serve in its PID 1."""
    from autograder.grading import confine
    from autograder.grading.sandbox import Limits

    limits = Limits(**(options.get("limits") or {}))
    hide = options.get("hide") or None
    if hide is not None and not os.path.isdir(hide):
        hide = None
    # The pipes live on as private descriptors; 0 and 1 become /dev/null and the log, so
    # nothing the learner's code prints can be taken for an answer.
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    def run() -> int:
        return _serve(requests, replies)

    if not options.get("confined"):
        return run()
    confine.leave_root()
    # folder == hide: the whole export folder is covered and nothing of it is put back.
    confine.spawn(run, limits=limits, report=lambda pid: None, folder=hide, hide=hide,
                  keep=(requests, replies))


if __name__ == "__main__":
    sys.exit(_main(json.loads(sys.argv[1])))
