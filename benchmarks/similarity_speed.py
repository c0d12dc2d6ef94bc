"""How fast is the report's similarity section? Prints its time for 1,000 learners' notebooks.

Run with ``.venv/bin/python benchmarks/similarity_speed.py [LEARNERS]``. The target is under a
minute for 1,000 notebooks on 2 cores. It writes a course folder in a temporary directory: an a2
release notebook (two solution cells with nbgrader's placeholder) and one submitted notebook per
learner, each made from one of five templates with variation (names, layer sizes, activations,
optimizer, epochs, comments, the order of statements), plus a few copies of other learners'
notebooks with names changed. It then times :func:`find_similarity` (reading every notebook
included) and writing the CSV and HTML page, and prints how many pairs were compared and
flagged, and whether every planted copy was (as a pair, or in a group of identical code when
so much of it is common in the class that it counts as common knowledge).

Both wall and CPU time are printed: on a machine shared with other work the wall time is the
CPU time stretched by the load, and the CPU time is what the section itself costs (it runs in
one process).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

from autograder.grading import similarity

A2 = "a2_mnist_classifier"
TARGET_SECONDS = 60.0
PLACEHOLDER = "# YOUR CODE HERE\nraise NotImplementedError()"
NAMES = ["model", "net", "clf", "m", "mdl", "classifier", "digits_model", "mlp"]
HIDDEN = ["x", "h", "z", "hidden", "t", "layer_out", "feat"]
ACTIVATIONS = ["relu", "elu", "tanh", "selu", "gelu", "swish"]
OPTIMIZERS = ["'adam'", "'rmsprop'", "'nadam'", "keras.optimizers.Adam({lr})",
              "keras.optimizers.SGD({lr}, momentum=0.9)", "keras.optimizers.RMSprop({lr})"]
COMMENTS = ["# my model", "# build the network", "# compile for integer labels", "",
            "# TODO tidy", "# layers", "# hidden part"]


def _layers(rng: random.Random, style: str, act: str) -> list[str]:
    sizes = rng.sample([32, 48, 64, 96, 100, 128, 150, 200, 256, 300, 400, 512], rng.randint(1, 3))
    dropout = rng.choice([None, 0.1, 0.2, 0.25, 0.3, 0.5])
    if style == "cnn":
        out = [f"keras.layers.Conv2D({rng.choice([8, 16, 32])}, {rng.choice([3, 5])}, "
               f"activation='{act}')", "keras.layers.MaxPooling2D()", "keras.layers.Flatten()"]
    else:
        out = ["keras.layers.Flatten()"]
    for size in sizes:
        out.append(f"keras.layers.Dense({size}, activation='{act}')")
        if dropout:
            out.append(f"keras.layers.Dropout({dropout})")
    return out


def build_cell(rng: random.Random) -> str:
    """One learner's ``build_model`` cell, from a random template with random details."""
    style = rng.choice(["list", "add", "functional", "cnn", "loop"])
    act = rng.choice(ACTIVATIONS)
    name = rng.choice(NAMES)
    optimizer = rng.choice(OPTIMIZERS).format(lr=rng.choice(["1e-3", "0.001", "0.01", "3e-4"]))
    comment = rng.choice(COMMENTS)
    layers = _layers(rng, style, act)
    compile_line = (f"    {name}.compile(optimizer={optimizer}, "
                    "loss='sparse_categorical_crossentropy', metrics=['accuracy'])")
    if style in ("list", "cnn"):
        body = [f"    {name} = keras.Sequential([", "        keras.Input(shape=(28, 28, 1)),",
                *[f"        {layer}," for layer in layers],
                "        keras.layers.Dense(10, activation='softmax'),", "    ])"]
    elif style == "add":
        body = [f"    {name} = keras.Sequential()",
                f"    {name}.add(keras.Input((28, 28, 1)))",
                *[f"    {name}.add({layer})" for layer in layers],
                f"    {name}.add(keras.layers.Dense(10, activation='softmax'))"]
    elif style == "functional":
        var = rng.choice(HIDDEN)
        body = ["    inputs = keras.Input(shape=(28, 28, 1))", f"    {var} = inputs",
                *[f"    {var} = {layer}({var})" for layer in layers],
                f"    outputs = keras.layers.Dense(10, activation='softmax')({var})",
                f"    {name} = keras.Model(inputs, outputs)"]
    else:
        sizes = [layer.split("(")[1].split(",")[0] for layer in layers if "Dense" in layer]
        var = rng.choice(HIDDEN)
        body = [f"    {var} = start = keras.Input(shape=(28, 28, 1))",
                f"    {var} = keras.layers.Flatten()({var})",
                f"    for units in [{', '.join(sizes)}]:",
                f"        {var} = keras.layers.Dense(units, activation='{act}')({var})",
                f"    {name} = keras.Model(start, keras.layers.Dense(10, "
                f"activation='softmax')({var}))"]
    return "\n".join(["def build_model():", f"    {comment}" if comment else "    # model",
                      *body, compile_line, f"    return {name}", ""])


def train_cell(rng: random.Random) -> str:
    """One learner's training cell, from a random template with random details."""
    epochs = rng.randint(2, 15)
    batch = rng.choice([16, 32, 64, 100, 128, 256])
    name = rng.choice(["model", "trained"])
    extra = rng.choice(["", ", validation_split=0.1", ", validation_split=0.2",
                        ", validation_data=(x_test, y_test)", ", shuffle=True"])
    if rng.random() < 0.3:
        return (f"{name} = build_model()\ncallbacks = [keras.callbacks.EarlyStopping("
                f"patience={rng.randint(1, 4)}, restore_best_weights=True)]\n"
                f"history = {name}.fit(x_train, y_train, epochs=min({epochs}, EPOCHS_CAP), "
                f"batch_size={batch}, callbacks=callbacks{extra}, verbose=0)\n"
                + ("model = trained\n" if name == "trained" else ""))
    return (f"{name} = build_model()\n{name}.fit(x_train, y_train, epochs=min({epochs}, "
            f"EPOCHS_CAP), batch_size={batch}{extra}, verbose=0)\n"
            + ("model = trained\n" if name == "trained" else ""))


def _notebook(cells: dict[str, str]) -> dict:
    def code(grade_id: str, source: str, solution: bool) -> dict:
        meta = {"grade": False, "grade_id": grade_id, "locked": not solution,
                "schema_version": 3, "solution": solution, "task": False}
        return {"cell_type": "code", "execution_count": None, "id": grade_id,
                "metadata": {"nbgrader": meta}, "outputs": [], "source": source}

    return {"cells": [code("header", "import keras\nEPOCHS_CAP = 1000", False),
                      code("build-model", cells["build-model"], True),
                      code("build-model-test", "autograder.check_model(build_model())", False),
                      code("train-model", cells["train-model"], True)],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4, "nbformat_minor": 5}


def _write(path: Path, notebook: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")


def plant(root: Path, learners: int, seed: int = 0) -> dict[str, str]:
    """Write the release notebook and ``learners`` submissions, 3 % of them copies.

    Args:
        root: The course folder.
        learners: How many submitted notebooks.
        seed: Random seed of the variation.

    Returns:
        Copier -> the learner they copied.
    """
    rng = random.Random(seed)
    _write(root / "release" / A2 / f"{A2}.ipynb",
           _notebook({"build-model": PLACEHOLDER, "train-model": PLACEHOLDER}))
    made: dict[str, dict[str, str]] = {}
    copied: dict[str, str] = {}
    for number in range(learners):
        student = f"learner{number:04d}"
        if made and rng.random() < 0.03:
            source = rng.choice(sorted(made))
            cells = {key: value.replace("x_train", "xtr").replace("# ", "# note: ")
                     for key, value in made[source].items()}
            copied[student] = source
        else:
            cells = {"build-model": build_cell(rng), "train-model": train_cell(rng)}
        made[student] = cells
        _write(root / "submitted" / student / A2 / f"{A2}.ipynb", _notebook(cells))
    return copied


def main(learners: int = 1000) -> int:
    """Plant a class, time the similarity section and print the figures.

    Args:
        learners: How many submitted notebooks.

    Returns:
        0 when its CPU time is within the target and every planted copy was flagged, else 1.
    """
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        copied = plant(root, learners)
        start, cpu = time.perf_counter(), time.process_time()
        found = similarity.find_similarity(root, A2)
        similarity.write_csv(found, root / "similarity.csv")
        similarity.write_html(found, root / "similarity.html")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    flagged = {frozenset(pair.students) for pair in found.pairs if pair.cell == "build-model"}
    flagged |= {frozenset(pair) for group in found.groups if group.cell == "build-model"
                for pair in combinations(group.students, 2)}
    caught = sum(frozenset((copier, source)) in flagged for copier, source in copied.items())
    everyone = found.learners * (found.learners - 1) // 2 * len(found.cells)
    print(f"{found.learners} notebooks of {A2}: similarity in {seconds:.1f} s wall, "
          f"{cpu:.1f} s CPU (target {TARGET_SECONDS:.0f} s)")
    print(f"  copydetect compared {found.compared} of {everyone} pairs; {len(found.pairs)} "
          f"pairs flagged, {len(found.groups)} groups of identical code")
    print(f"  {caught} of {len(copied)} planted copies flagged in build-model")
    return 0 if cpu < TARGET_SECONDS and caught == len(copied) else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
