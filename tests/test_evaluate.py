"""The confined evaluator of models with classes of their own (:mod:`autograder.grading.evaluate`).

A model the verifier cannot load with ``safe_mode=True`` runs in an evaluator; these tests hand it
real exports (written by :func:`autograder.grading.export.model`, classes pickled by value) and
check what the checks then see, and that a hostile class gains nothing: whatever it tries, it
reports what it managed in its predictions, and every flag stays 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder.grading import evaluate, export
from autograder.grading.evaluate import Evaluator, EvaluatorError, Settings
from autograder.grading.manifest import CheckSpec, Manifest, answer_task, checks_task
from autograder.grading.verify import verify_submission

keras = pytest.importorskip("keras")




def _traced() -> bool:
    """True while Keras traces a layer to learn its output shape (when a model is built).

    The hostile layers below act only when called for real, in the evaluator: this process
    builds them but never calls them.
    """
    import tensorflow as tf

    return not tf.executing_eagerly()


# Not registered with Keras: the verifier, like the real one, cannot load them safely.


class Doubling(keras.layers.Layer):
    """A harmless custom layer."""

    def call(self, x: Any) -> Any:
        return x * 2.0


class SmallCNN(keras.Model):
    """A subclassed CNN for 8x8x1 images and 10 classes."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3, activation="relu")
        self.flatten = keras.layers.Flatten()
        self.head = keras.layers.Dense(10, activation="softmax")

    def call(self, x: Any) -> Any:
        return self.head(self.flatten(self.conv(x)))


class Probe(keras.layers.Layer):
    """Tries what a hostile class would, and outputs one flag per success (1 = it worked).

    It signals only the one process named in its targets: a test's own sentinel.
    """

    def __init__(self, targets: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.targets = targets or {}

    def get_config(self) -> dict:
        return {**super().get_config(), "targets": self.targets}

    def call(self, x: Any) -> Any:
        if _traced():
            return keras.ops.zeros_like(x[:, :6])
        t = self.targets
        flags = [0.0] * 6
        try:
            with open(t["secret"], "rb") as handle:
                flags[0] = float(bool(handle.read()))
        except OSError:
            pass
        try:
            flags[1] = float(bool(os.listdir(t["others"])))
        except OSError:
            pass
        try:
            with open(t["outside"], "w") as handle:
                handle.write("pwned")
            flags[2] = 1.0
        except OSError:
            pass
        try:
            os.kill(int(t["pid"]), signal.SIGKILL)
            flags[3] = 1.0
        except OSError:
            pass
        try:
            socket.create_connection(("127.0.0.1", int(t["port"])), timeout=2).close()
            flags[4] = 1.0
        except OSError:
            pass
        # Any process but its own (PID 1 of its namespace) in sight?
        flags[5] = float(any(name.isdigit() and name != "1" for name in os.listdir("/proc")))
        return keras.ops.zeros_like(x[:, :6]) + keras.ops.convert_to_tensor(flags)


class Stall(keras.layers.Layer):
    """Never answers."""

    def call(self, x: Any) -> Any:
        while not _traced():
            pass
        return x


class Hog(keras.layers.Layer):
    """Holds far more memory than it is allowed, then waits."""

    def call(self, x: Any) -> Any:
        import time

        if _traced():
            return x
        # Written, not just reserved: resident memory counts.
        hoard = b"x" * (1500 * 2**20)
        time.sleep(120)
        return x + len(hoard)


class Garbage(keras.layers.Layer):
    """Writes junk to every descriptor it can, hoping to forge the evaluator's answer."""

    def call(self, x: Any) -> Any:
        if _traced():
            return x
        print("not a frame")
        for fd in range(3, 64):
            try:
                os.write(fd, b"\xff" * 64)
            except OSError:
                pass
        return x


def _exported(folder: Path, name: str, model: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(export.ENV_VAR, str(folder))
    export.model(name, model)
    monkeypatch.delenv(export.ENV_VAR)
    assert (folder / f"model-{name}.keras").is_file(), sorted(os.listdir(folder))
    return folder


def _load(evaluator: Evaluator, folder: Path, name: str) -> list[dict]:
    classes = folder / f"classes-{name}.pkl"
    return evaluator.load(name, (folder / f"model-{name}.keras").read_bytes(),
                          classes.read_bytes() if classes.is_file() else None)


def _sequential(shape: tuple[int, ...], *layers: Any) -> Any:
    model = keras.Sequential([keras.Input(shape=shape), *layers])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_export_pickles_only_the_classes_that_are_not_keras(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    plain = _sequential((4,), keras.layers.Dense(3, activation="softmax"))
    custom = _sequential((4,), Doubling(), keras.layers.Dense(3, activation="softmax"))
    _exported(tmp_path, "plain", plain, monkeypatch)
    _exported(tmp_path, "custom", custom, monkeypatch)
    assert not (tmp_path / "classes-plain.pkl").exists()
    assert set(export.custom_classes(custom)) == {"Doubling"}
    assert (tmp_path / "classes-custom.pkl").stat().st_size > 0


def test_models_with_their_own_classes_are_judged_on_their_predictions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cnn = SmallCNN()
    cnn(np.zeros((1, 8, 8, 1), "float32"))
    cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    custom = _sequential((8, 8, 1), Doubling(), keras.layers.Flatten(),
                         keras.layers.Dense(10, activation="softmax"))
    folder = tmp_path / "exports" / "learner"
    folder.mkdir(parents=True)
    _exported(folder, "cnn", cnn, monkeypatch)
    _exported(folder, "custom", custom, monkeypatch)
    model_check = {"input_shape": [8, 8, 1], "num_classes": 10}
    manifest = Manifest("a", [
        checks_task("nb", "cnn-shape", "cnn", 2, [CheckSpec("check_model", ("@cnn",),
                                                            model_check)]),
        checks_task("nb", "cnn-conv", "cnn", 1, [CheckSpec("check_cnn", ("@cnn",), {})]),
        checks_task("nb", "custom-shape", "custom", 2,
                    [CheckSpec("check_model", ("@custom",), model_check)]),
        checks_task("nb", "custom-conv", "custom", 1, [CheckSpec("check_cnn", ("@custom",),
                                                                 {})]),
    ])
    verdicts = {v.grade_id: v for v in verify_submission(manifest, folder)}
    assert verdicts["cnn-shape"].score == 2, verdicts["cnn-shape"].message
    assert verdicts["cnn-conv"].score == 1, verdicts["cnn-conv"].message
    assert verdicts["custom-shape"].score == 2, verdicts["custom-shape"].message
    # No convolution: the custom layer is named as the learner's own, never as a built-in one.
    assert verdicts["custom-conv"].score == 0
    assert "Doubling (custom)" in verdicts["custom-conv"].message


def test_a_hostile_class_can_read_write_signal_and_connect_to_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "grader" / "secret"
    secret.parent.mkdir()
    secret.write_text("course secret")
    others = tmp_path / "exports" / "other-learner"
    others.mkdir(parents=True)
    (others / "answer-x.json").write_text("{}")
    for path in (tmp_path, secret.parent, secret, others.parent, others):
        path.chmod(0o777 if path.is_dir() else 0o666)
    outside = tmp_path / "pwned"
    # A process of the sandbox's own account that an unconfined class could kill.
    sentinel = subprocess.Popen(["sleep", "600"], user=65534 if os.geteuid() == 0 else None)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    targets = {"secret": str(secret), "others": str(others), "outside": str(outside),
               "pid": sentinel.pid, "port": port}
    try:
        model = _sequential((6,), Probe(targets))
        folder = _exported(tmp_path / "mine", "probe", model, monkeypatch)
        garbage = _sequential((6,), Garbage())
        _exported(folder, "garbage", garbage, monkeypatch)
        # Never called here: in this process it would read, write and signal for real.
        evaluator = Evaluator(Settings(), others.parent)
        try:
            _load(evaluator, folder, "probe")
            flags = evaluator.predict("probe", np.zeros((3, 6), "float32"))[0]
            # In the evaluator, nothing worked.
            assert flags.tolist() == [[0.0] * 6] * 3
            assert sentinel.poll() is None and not outside.exists()
            # Junk written to every descriptor is never taken for an answer.
            _load(evaluator, folder, "garbage")
            with pytest.raises(EvaluatorError):
                evaluator.predict("garbage", np.zeros((3, 6), "float32"))
            with pytest.raises(EvaluatorError):
                evaluator.predict("probe", np.zeros((3, 6), "float32"))
        finally:
            evaluator.close()
        assert evaluator.proc.poll() is not None
    finally:
        server.close()
        sentinel.kill()
        sentinel.wait()


def test_a_class_that_stalls_or_hoards_memory_is_stopped_and_the_rest_is_graded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate, "PREDICT_SECONDS", 10.0)
    folder = tmp_path / "exports" / "learner"
    folder.mkdir(parents=True)
    _exported(folder, "stall", _sequential((4,), Stall()), monkeypatch)
    _exported(folder, "hog", _sequential((4,), Hog()), monkeypatch)
    (folder / "answer-shape.json").write_text('{"value": [null, 10]}')
    manifest = Manifest("a", [
        checks_task("nb", "stalls", "stall", 2,
                    [CheckSpec("check_model", ("@stall",), {"input_shape": [4],
                                                            "num_classes": 3})]),
        answer_task("nb", "shape", "shape", 1, [None, 10]),
    ])
    verdicts = {v.grade_id: v for v in verify_submission(manifest, folder)}
    assert verdicts["stalls"].score == 0
    assert "did not answer in time" in verdicts["stalls"].message
    assert verdicts["shape"].score == 1
    evaluator = Evaluator(Settings(memory_bytes=1000 * 2**20), None)
    try:
        _load(evaluator, folder, "hog")
        started = evaluate._descendants(evaluator.proc.pid)
        with pytest.raises(EvaluatorError, match="more than 1000 MB"):
            evaluator.predict("hog", np.zeros((2, 4), "float32"))
    finally:
        evaluator.close()
    # Every process of the evaluator is gone (or a zombie waiting for init), not orphaned.
    assert started
    assert not [pid for pid in started if _running(pid)]


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_without_an_evaluator_such_a_model_is_refused_with_a_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _exported(tmp_path, "custom", _sequential((4,), Doubling()), monkeypatch)
    manifest = Manifest("a", [checks_task("nb", "g", "custom", 1, [
        CheckSpec("check_model", ("@custom",), {"input_shape": [4], "num_classes": 4})])])
    verdict = verify_submission(manifest, folder, evaluation=None)[0]
    assert verdict.score == 0 and "could not load it safely" in verdict.message
