"""A saved model's fingerprint: the same for the same weights, whatever the save, and recorded
with the verdict of every task that read the model."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from _verified import export_and_verify

from autograder.grading.fingerprints import WEIGHTS_MEMBER, model_digest


def _dense(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])


def _train(model) -> None:
    if not model.compiled:
        model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[0.0, 1.0, 0.0]]))


def test_the_same_weights_saved_twice_have_one_fingerprint(tmp_path: Path) -> None:
    import time

    model = _dense(0)
    _train(model)
    model.save(tmp_path / "first.keras")
    time.sleep(1.1)  # the archive's metadata records the save time, to the second
    model.save(tmp_path / "second.keras")
    assert (tmp_path / "first.keras").read_bytes() != (tmp_path / "second.keras").read_bytes()
    assert model_digest(tmp_path / "first.keras") == model_digest(tmp_path / "second.keras")
    assert len(model_digest(tmp_path / "first.keras")) == 64
    # One step of training, or another initialisation, is other weights.
    # One more step of training, or another initialisation, is other weights.
    _train(model)
    model.save(tmp_path / "trained.keras")
    other = _dense(1)
    _train(other)
    other.save(tmp_path / "other.keras")
    digests = {model_digest(tmp_path / name)
               for name in ("first.keras", "trained.keras", "other.keras")}
    assert len(digests) == 3


def test_a_model_never_trained_has_no_fingerprint(tmp_path: Path) -> None:
    # Its weights are its seed's, which learners who seed alike share honestly.
    model = _dense(0)
    model.save(tmp_path / "built.keras")
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "compiled.keras")
    assert model_digest(tmp_path / "built.keras") == model_digest(tmp_path / "compiled.keras") == ""


@pytest.mark.parametrize("content", ["not a zip", "zip without weights"])
def test_a_file_without_readable_weights_has_no_fingerprint(tmp_path: Path,
                                                            content: str) -> None:
    path = tmp_path / "model.keras"
    if content == "not a zip":
        path.write_text("hello")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", "{}")
    assert model_digest(path) == ""
    assert model_digest(tmp_path / "missing.keras") == ""
    assert WEIGHTS_MEMBER == "model.weights.h5"


def test_the_verdict_of_a_model_task_records_its_fingerprint(tmp_path: Path) -> None:
    import keras

    from autograder.grading.manifest import manifest_for
    from autograder.grading.verify import verify_submission
    from solutions import a1_shapes_and_compile as a1

    def seeded(seed: int):
        def build() -> keras.Model:
            # A learner who trains the model before handing it in (one step is enough).
            keras.utils.set_random_seed(seed)
            model = a1.build_compiled_model()
            model.train_on_batch(np.zeros((2, 8, 8, 1)), np.eye(10)[:2])
            return model
        return build

    digests = {}
    for learner, seed in (("ada", 0), ("bea", 0), ("cy", 1)):
        folder = tmp_path / learner
        export_and_verify(folder, a1.ASSIGNMENT, {"build_compiled_model": seeded(seed)})
        verdicts = verify_submission(manifest_for(a1.ASSIGNMENT), folder)
        model_task = next(v for v in verdicts if v.grade_id == "build-compiled-model-test")
        assert model_task.score == model_task.max_score
        assert list(model_task.exports) == ["model `compiled_model`"]
        assert model_task.to_dict()["exports"] == dict(model_task.exports)
        digests[learner] = model_task.exports["model `compiled_model`"]
        # Tasks that read no model record no fingerprint.
        assert all(not v.exports for v in verdicts if v is not model_task)
    assert digests["ada"] == digests["bea"] != digests["cy"]
