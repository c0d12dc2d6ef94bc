"""Grader-only rows of a public dataset cannot be truly unseen: the grader says when it shows.

The grader-only digits are perturbations of rows that ship with scikit-learn. A model trained on
the whole public dataset, with every learner row mislabelled (0 % on its own test split), still
scores on them; the verifier compares the figure with the learner's own test split, which it
rebuilds itself, and flags the gap for the instructor, while an honest model is not flagged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder import data
from autograder.grading import export
from autograder.grading.manifest import CheckSpec, Manifest, checks_task
from autograder.grading.pool import print_summary
from autograder.grading.results import SubmissionResult, TaskResult
from autograder.grading.unseen import UNSEEN_GAP
from autograder.grading.verify import verify_submission
from autograder.holdout import new_secret

keras = pytest.importorskip("keras")

MANIFEST = Manifest("a", (checks_task("nb", "unseen", "model", 2, [
    CheckSpec("check_metrics", ("@model", "@holdout:digits.x", "@holdout:digits.y"),
              {"min_accuracy": 0.5})]),))


def _trained(x: np.ndarray, y: np.ndarray, epochs: int) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def _verdict(model: Any, folder: Path, secret: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(export.ENV_VAR, str(folder))
    export.model("model", model)
    monkeypatch.delenv(export.ENV_VAR)
    return verify_submission(MANIFEST, folder, secret=secret)[0]


def test_a_model_trained_on_the_public_source_is_flagged_and_an_honest_one_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_digits

    secret = new_secret()
    mine = data.load("digits")
    honest = _trained(mine.x_train, mine.y_train, 20)
    # The public dataset, as anyone gets it from scikit-learn, with every row of the learner
    # pool given a wrong label: it can only have learned the reserve, from its public rows.
    public = load_digits()
    x = (public.images.astype(np.float32) / 16.0)[..., np.newaxis]
    y = public.target.astype(np.int64)
    learner_rows = {row.tobytes() for row in np.concatenate([mine.x_train, mine.x_test])}
    pool = np.array([row.tobytes() in learner_rows for row in x])
    y = np.where(pool, (y + 1) % 10, y)
    cheat = _trained(x, y, 60)

    cheat_verdict = _verdict(cheat, tmp_path / "cheat", secret, monkeypatch)
    honest_verdict = _verdict(honest, tmp_path / "honest", secret, monkeypatch)
    own = float(np.mean(cheat.predict(mine.x_test, verbose=0).argmax(axis=1) == mine.y_test))
    assert own < 0.1
    assert cheat_verdict.flag, cheat_verdict
    assert "on the learner's own test split" in cheat_verdict.flag
    assert f"{own:.3f}" in cheat_verdict.flag
    assert honest_verdict.score == 2 and honest_verdict.flag == "", honest_verdict

    # The summary says which cell, and points to the report.
    result = SubmissionResult("cheat", tasks=[TaskResult(**cheat_verdict.to_dict())])
    lines: list[str] = []
    print_summary([result], lines.append)
    assert "unseen: far better on grader-only rows than on its own test split" in lines[-1]
    assert UNSEEN_GAP < 0.5  # a clear margin, not a hair
