"""Run a model the verifier cannot load safely in a confined process of its own, and ask it for
predictions.

A subclassed model, a custom layer or a Lambda layer cannot be loaded with
``safe_mode=True``: loading it means running the learner's own classes. So the verifier never
loads it. It starts an *evaluator*: a fresh interpreter (``python -P -m
autograder.grading.evaluator_main``), which keeps nothing of the verifier's memory (no secret, no
labels, no manifest) and, before it reads anything the learner made, enters namespaces of its
own (:func:`autograder.grading.confine.spawn`): PID 1 of a new PID namespace, no network, a fresh
``/tmp``, the run's export folder covered by an empty file system, the kernels' limits, no
capabilities. It is handed, over its stdin, only the submission's ``.keras`` files and the
classes the kernel exported with them (``classes-<name>.pkl``, :mod:`cloudpickle`), and it
answers predict requests: arrays in, arrays out, as ``.npy``/``.npz`` bytes read with
``allow_pickle=False``.

What the verifier believes of the evaluator: nothing but the shape of its answers. Every reply is
size-capped and time-limited, and a reply that is late, malformed or too large stops the
evaluator and scores the task 0 with a message. Its predictions are the learner's model's own
answers, which is all a check needs (:class:`autograder.grading.standin.StandIn`).

Frames on both pipes: 8 bytes (header length, payload length; big-endian 32-bit), a JSON
header, then the payload.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.errors import AutograderError

# CPU seconds an evaluator may use to start and load a model (a fresh interpreter imports
# TensorFlow: about 6 s of CPU) and to answer one batch. CPU time, as for kernels, so that a
# busy machine does not shorten them; wall time stops it at WALL_FACTOR times as long (a model
# that sleeps uses no CPU).
START_SECONDS = 60.0
PREDICT_SECONDS = 30.0
WALL_FACTOR = 3.0
# CPU seconds one submission's evaluator may use in all (and WALL_FACTOR times as long in wall
# time), so that a model that stalls costs its own tasks and leaves the verification time for
# the rest (the grader's VERIFY_TIMEOUT is longer).
TOTAL_SECONDS = 90.0
# Largest reply the verifier reads, and largest header.
MAX_REPLY_BYTES = 256 * 2**20
MAX_HEADER_BYTES = 1 * 2**20
# CPU seconds the evaluator may use in all (a loop that never ends is stopped by the kernel).
CPU_SECONDS = 600
MAX_LAYERS = 2000


class EvaluatorError(AutograderError):
    """The evaluator could not start, load the model or answer in time; the message says why."""


@dataclass(frozen=True)
class Settings:
    """How the verifier starts evaluators.

    Attributes:
        limits: The kernels' limits (:class:`autograder.grading.sandbox.Limits` as a dict).
        memory_bytes: Most memory the evaluator may hold; None for no limit.
        enabled: False to refuse models that need their own classes (no evaluator is started).
        confinement: ``"bubblewrap"`` (a sandbox of its own, then namespaces of its own: for a
            verifier that runs unconfined), ``"namespaces"`` (namespaces of its own: for a
            verifier already in the grader's sandbox) or ``"none"`` (``--no-sandbox``, where
            kernels run unconfined too).
    """

    limits: dict[str, int] | None = None
    memory_bytes: int | None = 4096 * 2**20
    enabled: bool = True
    confinement: str = "bubblewrap"


def write_frame(fd: int, header: dict[str, Any], payload: bytes = b"") -> None:
    """Write one frame to a pipe.

    Args:
        fd: The pipe's descriptor.
        header: JSON-ready data.
        payload: Bytes that follow the header.
    """
    data = json.dumps(header).encode()
    view = memoryview(struct.pack(">II", len(data), len(payload)) + data + payload)
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int, deadline: float | None, watch: Any = None) -> tuple[dict[str, Any], bytes]:
    """Read one frame from a pipe, within a deadline and the size caps.

    Args:
        fd: The pipe's descriptor.
        deadline: ``time.monotonic()`` by which the whole frame must have arrived; None to wait.
        watch: Called about twice a second while waiting; returning a message stops the read.

    Returns:
        The header and the payload.

    Raises:
        EvaluatorError: The pipe closed, the deadline passed, ``watch`` objected, or the frame is
            too large or not JSON.
    """
    head = _read_exactly(fd, 8, deadline, watch)
    size, length = struct.unpack(">II", head)
    if size > MAX_HEADER_BYTES or length > MAX_REPLY_BYTES:
        raise EvaluatorError("the evaluator's answer is larger than the grader reads")
    try:
        header = json.loads(_read_exactly(fd, size, deadline, watch))
    except ValueError:
        raise EvaluatorError("the evaluator's answer is not in the expected form") from None
    if not isinstance(header, dict):
        raise EvaluatorError("the evaluator's answer is not in the expected form")
    return header, _read_exactly(fd, length, deadline, watch)


def _read_exactly(fd: int, count: int, deadline: float | None, watch: Any) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left > 0:
        wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        if wait <= 0:
            raise EvaluatorError("the evaluator did not answer in time")
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            problem = watch() if watch is not None else None
            if problem:
                raise EvaluatorError(problem)
            continue
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            raise EvaluatorError("the evaluator stopped before it answered")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def array_bytes(array: Any) -> bytes:
    """Serialise a numeric array as ``.npy`` bytes (never pickles).

    Args:
        array: An array-like of numbers.

    Returns:
        The bytes.
    """
    import numpy as np

    out = io.BytesIO()
    np.save(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def read_arrays(data: bytes) -> list[Any]:
    """Read an evaluator's ``.npz`` answer without pickles; only numeric arrays are accepted.

    Args:
        data: The bytes.

    Returns:
        The arrays, in the order ``out0``, ``out1`` ...

    Raises:
        EvaluatorError: The bytes are not such an archive.
    """
    import numpy as np

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as bundle:
            names = sorted(bundle.files, key=lambda key: int(key.removeprefix("out")))
            arrays = [bundle[key] for key in names]
    except Exception:  # noqa: BLE001 - anything unreadable is the evaluator's fault
        raise EvaluatorError("the evaluator's predictions are not readable arrays") from None
    if not arrays or any(item.dtype.kind not in "biuf" for item in arrays):
        raise EvaluatorError("the evaluator's predictions are not numbers")
    return arrays


class Evaluator:
    """One submission's evaluator, seen from the verifier: start it, load models, predict."""

    def __init__(self, settings: Settings, hide: str | Path | None):
        """Start an evaluator.

        Args:
            settings: Its limits.
            hide: A folder it must not see (the run's export folder, which holds other
                learners' exports), covered in its namespace.

        Raises:
            EvaluatorError: It could not be started.
        """
        from autograder.grading import sandbox

        self.settings = settings
        self.loaded: dict[str, list[dict[str, Any]]] = {}
        env = sandbox.environment(os.environ, PYTHONDONTWRITEBYTECODE="1", HOME="/tmp",
                                  TMPDIR="/tmp", TF_CPP_MIN_LOG_LEVEL="3",
                                  CUDA_VISIBLE_DEVICES="")
        env.setdefault("KERAS_BACKEND", "tensorflow")
        wrapped = settings.confinement == "bubblewrap"
        options = {"limits": settings.limits or {}, "confined": settings.confinement != "none",
                   # In a sandbox of its own the export folder is not there at all.
                   "hide": "" if wrapped or hide is None else str(hide)}
        argv = [sys.executable, "-P", "-m", "autograder.grading.evaluator_main",
                json.dumps(options)]
        try:
            if wrapped:
                argv = sandbox.command(argv)
            # A fresh interpreter, not a fork: none of the verifier's memory reaches it.
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=env, cwd="/",
                                         start_new_session=True, close_fds=True)
        except (OSError, AutograderError) as exc:
            raise EvaluatorError(f"the evaluator could not be started ({exc})") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._out, self._in = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self._deadline = time.monotonic() + WALL_FACTOR * TOTAL_SECONDS
        # CPU seconds the request being answered may still use, and its start.
        self._cpu_budget, self._cpu_start = 0.0, 0.0
        # Once it has failed, every later request fails for the same reason.
        self._failure: str | None = None

    def load(self, name: str, model: bytes, classes: bytes | None) -> list[dict[str, Any]]:
        """Hand over one exported model (and its classes) and have the evaluator load it.

        Args:
            name: The export's name.
            model: The ``.keras`` file's bytes.
            classes: The exported classes (cloudpickle bytes), or None.

        Returns:
            What the evaluator reports of the model's layers (untrusted, checked here).

        Raises:
            EvaluatorError: It could not load the model, or did not answer in time.
        """
        header = self._ask({"op": "load", "name": name, "model": len(model)},
                           model + (classes or b""), START_SECONDS)[0]
        layers = _checked_layers(header.get("layers"))
        self.loaded[name] = layers
        return layers

    def predict(self, name: str, x: Any) -> list[Any]:
        """Have the evaluator run a loaded model on a batch.

        Args:
            name: The export's name (loaded with :meth:`load`).
            x: The batch.

        Returns:
            The model's outputs, one array per output, one row per input row.

        Raises:
            EvaluatorError: It failed, answered badly, or not in time.
        """
        header, payload = self._ask({"op": "predict", "name": name}, array_bytes(x),
                                    PREDICT_SECONDS)
        arrays = read_arrays(payload)
        if any(item.ndim == 0 or len(item) != len(x) for item in arrays):
            raise EvaluatorError("the model's answer does not have one row per input row")
        return arrays

    def _ask(self, header: dict[str, Any], payload: bytes,
             seconds: float) -> tuple[dict[str, Any], bytes]:
        if self._failure is not None:
            raise EvaluatorError(self._failure)
        try:
            if self.proc.poll() is not None:
                raise EvaluatorError("the evaluator stopped before it answered")
            self._cpu_start = _tree_cpu(self.proc.pid)
            self._cpu_budget = min(seconds, TOTAL_SECONDS - self._cpu_start)
            write_frame(self._out, header, payload)
            deadline = min(time.monotonic() + WALL_FACTOR * seconds, self._deadline)
            reply, data = read_frame(self._in, deadline, self._watch)
        except (OSError, EvaluatorError) as exc:
            self._failure = (str(exc) if isinstance(exc, EvaluatorError)
                             else "the evaluator stopped before it answered")
            self.close()
            raise EvaluatorError(self._failure) from None
        if "error" in reply:
            raise EvaluatorError(str(reply["error"])[:300])
        return reply, data

    def _watch(self) -> str | None:
        if self.proc.poll() is not None:
            return "the evaluator stopped before it answered"
        limit = self.settings.memory_bytes
        if limit is not None and _tree_memory(self.proc.pid) > limit:
            return f"the model used more than {limit // 2**20} MB of memory"
        if _tree_cpu(self.proc.pid) - self._cpu_start > self._cpu_budget:
            return "the evaluator did not answer in time"
        return None

    def close(self) -> None:
        """Stop the evaluator and everything it started (it is PID 1 of its namespace)."""
        # Each process by its id, children first: entering a user namespace clears the
        # parent-death signal, so the process that waits for PID 1 would outlive bubblewrap.
        below = _descendants(self.proc.pid)
        for pid in [*reversed(below), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
        _wait_gone(below, 10.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close() if stream is not None else None
            except OSError:
                pass
        self.proc.wait()


def _descendants(pid: int) -> list[int]:
    """The ids of a process's descendants, parents before children ([] when it is gone)."""
    try:
        import psutil

        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - gone already
        return []


def _wait_gone(pids: list[int], seconds: float) -> None:
    """Wait until killed processes are gone or zombies (their reaper may be init)."""
    import psutil

    deadline = time.monotonic() + seconds
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(0.05)


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) of a process and its running descendants."""
    try:
        import psutil

        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
        return total
    except Exception:  # noqa: BLE001 - a process that is gone uses no more
        return 0.0


def _tree_memory(pid: int) -> int:
    """Resident memory of a process and its descendants, in bytes (0 when gone)."""
    try:
        import psutil

        root = psutil.Process(pid)
        total = 0
        for process in [root, *root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total
    except Exception:  # noqa: BLE001 - a process that is gone holds no memory
        return 0


def _checked_layers(value: Any) -> list[dict[str, Any]]:
    """The evaluator's description of the layers, kept only where it is plain and well formed."""
    import re

    if not isinstance(value, list):
        return []
    kept = []
    for item in value[:MAX_LAYERS]:
        if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
            continue
        name = item["class_name"]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", name):
            continue
        config = item.get("config")
        kept.append({"class_name": name, "builtin": item.get("builtin") is True,
                     "config": config if isinstance(config, dict) else None})
    return kept
