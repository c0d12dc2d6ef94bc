"""The similarity section of the report, on a planted corpus of a2 submissions.

The release notebook is rendered from ``solutions/a2_mnist_classifier.py`` and cleared by
nbgrader's own ``ClearSolutions``, as ``generate_assignment`` does; learners' notebooks are that
release with their solution cells filled in, planted under ``submitted/`` (no kernel runs: the
similarity reads code). One learner's solution is copied three ways (verbatim; variables renamed,
statements and cells reordered; comments and docstrings rewritten), and six learners write their
own correct solutions in clearly different styles. Every copy must be flagged at the default
threshold and no pair of independent solutions may be.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from itertools import combinations
from pathlib import Path

import nbformat
import pytest

from autograder.grading import similarity
from autograder.grading.layout import CourseLayout

A2 = "a2_mnist_classifier"
BUILD, TRAIN = "build-model", "train-model"

ORIGINAL = {
    BUILD: '''\
def build_model():
    """Two hidden layers that shrink, with dropout between them."""
    # Pixels are already in [0, 1]; flatten each 28x28 image into 784 inputs.
    inputs = keras.Input(shape=(28, 28, 1), name="digits")
    hidden = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(300, activation="relu")(hidden)
    hidden = keras.layers.Dropout(0.25)(hidden)
    hidden = keras.layers.Dense(75, activation="relu")(hidden)
    probabilities = keras.layers.Dense(10, activation="softmax")(hidden)
    model = keras.Model(inputs, probabilities, name="ada_mlp")
    optimizer = keras.optimizers.Adam(learning_rate=0.002)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
''',
    TRAIN: '''\
stop_early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                           restore_best_weights=True)
model = build_model()
history = model.fit(x_train, y_train, validation_split=0.15, batch_size=48,
                    epochs=min(12, EPOCHS_CAP), callbacks=[stop_early], verbose=0)
print("stopped after", len(history.history["loss"]), "epochs")
''',
}

RENAMED = {
    # Other names everywhere, the optimizer made before the layers, the keyword arguments of
    # fit in another order.
    BUILD: '''\
def build_model():
    """Two hidden layers that shrink, with dropout between them."""
    opt = keras.optimizers.Adam(learning_rate=0.002)
    # Pixels are already in [0, 1]; flatten each 28x28 image into 784 inputs.
    img = keras.Input(shape=(28, 28, 1), name="digits")
    z = keras.layers.Flatten()(img)
    z = keras.layers.Dense(300, activation="relu")(z)
    z = keras.layers.Dropout(0.25)(z)
    z = keras.layers.Dense(75, activation="relu")(z)
    out = keras.layers.Dense(10, activation="softmax")(z)
    net = keras.Model(img, out, name="ada_mlp")
    net.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    return net
''',
    TRAIN: '''\
model = build_model()
es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                   restore_best_weights=True)
h = model.fit(x_train, y_train, validation_split=0.15, batch_size=48,
              epochs=min(12, EPOCHS_CAP), callbacks=[es], verbose=0)
print("stopped after", len(h.history["loss"]), "epochs")
''',
}

RECOMMENTED = {
    BUILD: '''\
def build_model():
    """My model: an MLP, 784 -> 300 -> 75 -> 10."""
    # input layer
    inputs = keras.Input(shape=(28, 28, 1), name="digits")
    hidden = keras.layers.Flatten()(inputs)  # 784 values
    # first hidden layer, then dropout so it does not overfit
    hidden = keras.layers.Dense(300, activation="relu")(hidden)
    hidden = keras.layers.Dropout(0.25)(hidden)
    # second hidden layer
    hidden = keras.layers.Dense(75, activation="relu")(hidden)
    probabilities = keras.layers.Dense(10, activation="softmax")(hidden)  # one per digit
    model = keras.Model(inputs, probabilities, name="ada_mlp")
    optimizer = keras.optimizers.Adam(learning_rate=0.002)  # a bit faster than the default
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
''',
    TRAIN: '''\
# stop when the validation loss stops improving
stop_early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                           restore_best_weights=True)
model = build_model()
# train on 85 % of the rows, validate on the rest
history = model.fit(x_train, y_train, validation_split=0.15, batch_size=48,
                    epochs=min(12, EPOCHS_CAP), callbacks=[stop_early], verbose=0)
print("stopped after", len(history.history["loss"]), "epochs")  # how far it got
''',
}

# Correct solutions written independently, each in a style of its own.
INDEPENDENT = {
    "sequential-list": {
        BUILD: '''\
def build_model():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
''',
        TRAIN: '''\
model = build_model()
model.fit(x_train, y_train, epochs=min(5, EPOCHS_CAP), batch_size=32, verbose=0)
''',
    },
    "sequential-add": {
        BUILD: '''\
from keras import layers


def build_model():
    net = keras.Sequential()
    net.add(layers.Input((28, 28, 1)))
    net.add(layers.Reshape((784,)))
    net.add(layers.Dense(256))
    net.add(layers.Activation("relu"))
    net.add(layers.Dropout(0.3))
    net.add(layers.Dense(10))
    net.add(layers.Softmax())
    net.compile(keras.optimizers.RMSprop(1e-3),
                keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return net
''',
        TRAIN: '''\
model = build_model()
for epoch in range(min(4, EPOCHS_CAP)):
    model.fit(x_train, y_train, epochs=1, batch_size=128, shuffle=True, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"epoch {epoch + 1}: test accuracy {acc:.3f}")
''',
    },
    "cnn": {
        BUILD: '''\
def build_model():
    """A small convolutional network."""
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, kernel_size=3, activation="relu"),
            keras.layers.MaxPooling2D(pool_size=2),
            keras.layers.Conv2D(32, kernel_size=3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="cnn",
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    return model
''',
        TRAIN: '''\
EPOCHS = min(6, EPOCHS_CAP)
model = build_model()
model.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, validation_data=(x_test, y_test),
          verbose=0)
''',
    },
    "logits-sgd": {
        BUILD: '''\
def build_model():
    # Logits out of the last Dense; the loss applies the softmax itself.
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(200, activation="tanh"),
                          keras.layers.Dense(100, activation="tanh"),
                          keras.layers.Dense(10)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m
''',
        TRAIN: '''\
def train(model, x, y, epochs):
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


model = train(build_model(), x_train, y_train, min(3, EPOCHS_CAP))
''',
    },
    "layer-loop": {
        BUILD: '''\
HIDDEN_UNITS = [512, 256, 64]


def build_model(units=HIDDEN_UNITS, rate=1e-3):
    x = inp = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Flatten()(x)
    for n in units:
        x = keras.layers.Dense(n, activation="elu", kernel_initializer="he_normal")(x)
        x = keras.layers.BatchNormalization()(x)
    out = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inp, outputs=out)
    model.compile(optimizer=keras.optimizers.Nadam(rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
''',
        TRAIN: '''\
model = build_model()
cb = [keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)]
model.fit(x_train, y_train, epochs=min(8, EPOCHS_CAP), batch_size=100, callbacks=cb, verbose=0)
''',
    },
    "subclassed": {
        BUILD: '''\
class DigitNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(160, activation="swish")
        self.drop = keras.layers.Dropout(0.1)
        self.head = keras.layers.Dense(10, activation="softmax")

    def call(self, images, training=False):
        return self.head(self.drop(self.hidden(self.flat(images)), training=training))


def build_model():
    net = DigitNet()
    net.build((None, 28, 28, 1))
    net.compile("adamw", "sparse_categorical_crossentropy", ["accuracy"])
    return net
''',
        TRAIN: '''\
model = build_model()
model.fit(x_train, y_train, epochs=min(3, EPOCHS_CAP), validation_split=0.1, verbose=0,
          batch_size=256)
''',
    },
}

COPIES = {"bea": ORIGINAL, "cal": RENAMED, "dee": RECOMMENTED}
ALL = {"ada": ORIGINAL, **COPIES, **INDEPENDENT}


def _release_notebook() -> nbformat.NotebookNode:
    """The a2 release notebook, as ``nbgrader generate_assignment`` clears it."""
    from nbgrader.preprocessors import ClearSolutions

    from autograder.render.nbgrader_source import render
    from solutions.a2_mnist_classifier import ASSIGNMENT

    cleared, _ = ClearSolutions().preprocess(copy.deepcopy(render(ASSIGNMENT)),
                                             {"language": "python"})
    return cleared


def _plant(root: Path, release: nbformat.NotebookNode, student: str,
           answers: dict[str, str], *, swap: bool = False) -> Path:
    """Write a learner's notebook: the release with their solution cells filled in."""
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    if swap:
        # The two solution cells trade places in the notebook.
        spots = [index for index, cell in enumerate(notebook.cells)
                 if cell.metadata.get("nbgrader", {}).get("grade_id") in answers]
        first, second = spots
        notebook.cells[first], notebook.cells[second] = (notebook.cells[second],
                                                         notebook.cells[first])
    target = root / "submitted" / student / A2 / f"{A2}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course folder with the a2 release and the planted corpus under ``submitted/``."""
    root = tmp_path_factory.mktemp("similar")
    release = _release_notebook()
    path = root / "release" / A2 / f"{A2}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(release, path)
    for student, answers in ALL.items():
        _plant(root, release, student, answers, swap=student == "cal")
    return root


@pytest.fixture(scope="module")
def everything(course: Path) -> similarity.Similarity:
    """Every pair the index finds, whatever its score (threshold 0)."""
    return similarity.find_similarity(course, A2, threshold=0.0)


def _flagged(found: similarity.Similarity) -> set[tuple[str, frozenset[str]]]:
    return {(pair.cell, frozenset(pair.students)) for pair in found.pairs}


def test_every_copy_is_flagged_in_both_cells(course: Path) -> None:
    found = similarity.find_similarity(course, A2)
    flagged = _flagged(found)
    group = ["ada", *COPIES]
    for cell in (BUILD, TRAIN):
        for first, second in combinations(group, 2):
            assert (cell, frozenset((first, second))) in flagged, (cell, first, second)
    assert found.learners == len(ALL) and found.cells == [BUILD, TRAIN]
    assert found.problems == []


def test_no_independent_solution_is_flagged(course: Path,
                                            everything: similarity.Similarity) -> None:
    found = similarity.find_similarity(course, A2)
    # Independent learners are flagged with nobody: neither with each other nor with the copies.
    assert all(set(pair.students) <= {"ada", *COPIES} for pair in found.pairs), found.pairs
    # And with a margin: the most alike independent pair is well below the threshold, every
    # copy well above it (the measurement behind DEFAULT_THRESHOLD).
    independent = [pair.score for pair in everything.pairs
                   if not set(pair.students) <= {"ada", *COPIES}]
    copied = [pair.score for pair in everything.pairs if set(pair.students) <= {"ada", *COPIES}]
    assert max(independent, default=0.0) < similarity.DEFAULT_THRESHOLD - 0.1, independent
    assert min(copied) > similarity.DEFAULT_THRESHOLD + 0.1, copied


def test_verbatim_copies_form_a_group_of_identical_code(course: Path) -> None:
    found = similarity.find_similarity(course, A2)
    groups = {(group.cell, group.students) for group in found.groups if group.kind == "code"}
    # The re-commented copy normalises to the same code too: comments are not code.
    assert (BUILD, ("ada", "bea", "dee")) in groups
    assert all(set(students) <= {"ada", *COPIES} for _, students in groups)


def test_starter_code_is_subtracted(tmp_path: Path) -> None:
    # Two learners who kept a long starter and each added a line of their own are not alike.
    starter = """\
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def split_and_scale(x, y):
    \"\"\"Split rows 75/25 stratified, then fit a scaler on the training rows.\"\"\"
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler()
    # YOUR CODE HERE
    return x_train, x_test, y_train, y_test, scaler


def report(model, x_test, y_test):
    predictions = model.predict(x_test, verbose=0).argmax(axis=1)
    accuracy = float((predictions == y_test).mean())
    print(f"accuracy {accuracy:.3f} on {len(y_test)} rows")
    return accuracy
"""
    first = starter.replace("    # YOUR CODE HERE\n", "    scaler.fit(x_train)\n")
    second = starter.replace("    # YOUR CODE HERE\n", "    scaler = scaler.fit(x_train[:, :])\n")
    pairs, _, _ = similarity.compare_cell("split", {"a": first, "b": second}, starter)
    assert pairs == []
    # Without the starter subtracted, the pair would be flagged.
    pairs, _, _ = similarity.compare_cell("split", {"a": first, "b": second}, "")
    assert [pair.students for pair in pairs] == [("a", "b")]


def test_report_writes_a_ranked_csv_and_a_side_by_side_page(course: Path,
                                                            tmp_path: Path) -> None:
    lines: list[str] = []
    written = similarity.report_similarity(course, A2, tmp_path, lines.append)
    assert [path.name for path in written] == ["similarity.csv", "similarity.html"]
    assert "evidence, never a grade" in lines[0]
    with open(tmp_path / "similarity.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    pairs = [row for row in rows if row["kind"] == "similar code"]
    assert [int(row["rank"]) for row in pairs] == list(range(1, len(pairs) + 1))
    scores = [float(row["score"]) for row in pairs]
    assert scores == sorted(scores, reverse=True) and len(pairs) == 12
    page = (tmp_path / "similarity.html").read_text(encoding="utf-8")
    assert page.count("<div class='side'>") == len(pairs)
    assert "<mark>" in page and "restore_best_weights" in page
    assert "&quot;digits&quot;" in page or "&#x27;digits&#x27;" in page  # code is escaped


def test_learner_ids_and_code_are_escaped_in_the_page(tmp_path: Path) -> None:
    release = _release_notebook()
    path = tmp_path / "release" / A2 / f"{A2}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(release, path)
    hostile = {BUILD: ORIGINAL[BUILD] + "# </pre><script>alert(1)</script>\n",
               TRAIN: ORIGINAL[TRAIN]}
    _plant(tmp_path, release, "<i>eve & co", hostile)
    _plant(tmp_path, release, "fay", ORIGINAL)
    similarity.report_similarity(tmp_path, A2, tmp_path, lambda line: None)
    page = (tmp_path / "similarity.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<i>eve" not in page
    assert "&lt;i&gt;eve &amp; co" in page and "&lt;script&gt;" in page


def test_bad_notebooks_are_named_and_skipped(course: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(course, tmp_path / "c")
    root = tmp_path / "c"
    broken = root / "submitted" / "gus" / A2 / f"{A2}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json", encoding="utf-8")
    other = root / "submitted" / "hal" / A2 / f"{A2}.ipynb"
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"cells": 3}), encoding="utf-8")
    (root / "submitted" / "ivy" / A2).mkdir(parents=True)
    found = similarity.find_similarity(root, A2)
    assert len(found.problems) == 3 and found.learners == len(ALL)
    assert str(broken) in found.problems[0] and "cannot be read" in found.problems[0]
    assert str(other) in found.problems[1] and "not a Jupyter notebook" in found.problems[1]
    assert "ivy" in found.problems[2]
    lines = list(similarity.summary_lines(found))
    assert any(str(broken) in line for line in lines)


def test_no_release_notebook_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=re.escape(str(tmp_path.resolve() / "release"))):
        similarity.find_similarity(tmp_path, A2)
    lines: list[str] = []
    assert similarity.report_similarity(tmp_path, A2, tmp_path, lines.append) == []
    assert "not computed" in lines[0]


def test_rare_identical_wrong_answers_are_grouped(tmp_path: Path) -> None:
    from autograder.grading.manifest import manifest_for
    from solutions.a1_shapes_and_compile import ASSIGNMENT, NAME

    layout = CourseLayout(tmp_path)
    manifest_for(ASSIGNMENT).write(tmp_path)
    layout.release(NAME).parent.mkdir(parents=True)
    layout.release(NAME).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                "nbformat_minor": 5}), encoding="utf-8")
    task = "conv_output_shape-test"
    given = {"kim": [None, 31, 31, 16], "lou": [None, 31, 31, 16],  # a rare slip, shared
             "max": [None, 30, 30, 16], "ned": [None, 30, 30, 16],  # right: no evidence
             **{f"p{n}": [None, 32, 32, 16] for n in range(4)}}     # a common misconception
    layout.results(NAME).mkdir(parents=True)
    for student, answer in given.items():
        score = 1.0 if answer == [None, 30, 30, 16] else 0.0
        result = {"student": student, "tasks": [
            {"notebook": NAME, "grade_id": task, "score": score, "max_score": 1.0,
             "answer": answer}]}
        (layout.results(NAME) / f"{student}.json").write_text(json.dumps(result))
    found = similarity.find_similarity(tmp_path, NAME)
    assert [(group.kind, group.cell, group.students) for group in found.groups] == [
        ("answer", task, ("kim", "lou"))]


def test_autograder_report_prints_the_section_and_writes_its_files(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil
    import sys

    from nbgrader.api import Gradebook

    from autograder.cli import main

    root = tmp_path / "course"
    shutil.copytree(course, root)
    layout = CourseLayout(root)
    # nbgrader runs `alembic` from PATH when it creates the gradebook.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with Gradebook(layout.db_url, layout.course_id) as gradebook:
        gradebook.add_assignment(A2)
    assert main(["report", str(root), A2, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "similar solution code (evidence, never a grade): 12 pairs" in out
    assert f"wrote {tmp_path / 'out' / 'similarity.html'}" in out
    assert (tmp_path / "out" / "similarity.csv").is_file()
    # A stricter threshold flags fewer pairs; a threshold outside (0, 1] is refused by name.
    assert main(["report", str(root), A2, "--out", str(tmp_path / "out"),
                 "--similarity-threshold", "0.99"]) == 0
    assert "12 pairs" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        main(["report", str(root), A2, "--similarity-threshold", "70"])
    assert stopped.value.code == 2
    assert "--similarity-threshold: '70' is not a number above 0" in capsys.readouterr().err
