"""Models with classes of their own, graded end to end with the real ``autograder grade``.

A subclassed model and a model with a custom layer cannot be loaded with ``safe_mode=True``;
the grader runs each in a confined evaluator of its own (:mod:`autograder.grading.evaluate`) and
scores its predictions, so both earn every point of a2. A custom layer that behaves in the
learner's kernel but, in the grader, tries to read and write files, reach the network and then
stalls, earns nothing for its model's tasks, and the batch goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from corpus import Case, reference_answers, run_cli
from test_corpus import _points, _scores, plant

from autograder.course import CourseLayout

BIN = Path(sys.executable).parent
A2 = "a2_mnist_classifier"
pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("custom-models")]

SUBCLASSED = '''\
class DigitNet(keras.Model):
    """A subclassed MLP: its layers are attributes, its forward pass is `call`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(128, activation="relu")
        self.head = keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.head(self.hidden(self.flatten(x)))


def build_model():
    model = DigitNet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
'''

CUSTOM_LAYER = '''\
class Scale(keras.layers.Layer):
    """Multiplies its input by a constant factor."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        Scale(1.0),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
'''

# Honest in the learner's kernel (where AUTOGRADER_EXPORT_DIR is set while grading); in the
# grader's evaluator it tries everything, then never answers.
HOSTILE = CUSTOM_LAYER.replace('''    def call(self, x):
        return x * self.factor
''', '''    def call(self, x):
        import os
        if "AUTOGRADER_EXPORT_DIR" not in os.environ:
            import glob, socket
            for pattern in ("/**/grader/secret", "/var/tmp/ag-*/exports/*/*", "/tmp/*"):
                for path in glob.glob(pattern, recursive=True)[:50]:
                    try:
                        open(path, "rb").read(100)
                    except OSError:
                        pass
            for path in ("/var/tmp/pwned", "/tmp/../pwned"):
                try:
                    open(path, "w").write("x")
                except OSError:
                    pass
            try:
                socket.create_connection(("1.1.1.1", 80), timeout=2)
            except OSError:
                pass
            while True:
                pass
        return x * self.factor
''')

# Honest only where it finds nothing of the grader: no other learner's exports, no course
# secret, no other process, no network. Its full marks show that the evaluator inside the
# grader's own sandbox sees none of them.
PEEKING = CUSTOM_LAYER.replace('''    def call(self, x):
        return x * self.factor
''', '''    def call(self, x):
        import os
        if "AUTOGRADER_EXPORT_DIR" not in os.environ:
            import glob, socket
            found = glob.glob("/var/tmp/ag-*/exports/*/*") + glob.glob("/tmp/**/secret",
                                                                        recursive=True)
            found += [name for name in os.listdir("/proc") if name.isdigit() and name != "1"]
            try:
                socket.create_connection(("1.1.1.1", 80), timeout=2).close()
                found.append("network")
            except OSError:
                pass
            if found:
                return x * 0.0
        return x * self.factor
''')

CASES = (
    Case("subclassed", lambda a: {"build-model": SUBCLASSED}, why="a subclassed keras.Model"),
    Case("custom-layer", lambda a: {"build-model": CUSTOM_LAYER}, why="a custom Layer"),
    Case("hostile-layer", lambda a: {"build-model": HOSTILE},
         lost={"build-model-test": (), "test-accuracy": (), "unseen-accuracy": ()},
         why="a custom layer that attacks the grader and stalls"),
    Case("peeking-layer", lambda a: {"build-model": PEEKING},
         why="a custom layer that is honest only where it sees nothing of the grader"),
    Case("plain", lambda a: {}, why="the reference"),
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[CourseLayout, str]:
    """a2 built, released, planted with :data:`CASES` and graded once."""
    root = tmp_path_factory.mktemp("custom") / "course"
    run_cli(root.parent, str(BIN / "autograder"), "build-course", str(root), "--skip-timing")
    layout = CourseLayout(root, root / "nbgrader_config.py", root / "gradebook.db",
                          {A2: root / "source" / A2 / f"{A2}.ipynb"})
    run_cli(root, str(BIN / "nbgrader"), "generate_assignment", A2, "--force")
    reference = reference_answers(nbformat.read(layout.notebooks[A2], as_version=4))
    for case in CASES:
        plant(layout, A2, case, reference)
    output = run_cli(root, str(BIN / "autograder"), "grade", str(root), A2, "--workers", "2")
    return layout, output


@pytest.mark.parametrize("case", CASES, ids=[case.student for case in CASES])
def test_a_model_with_classes_of_its_own_earns_what_its_predictions_earn(
        graded: tuple[CourseLayout, str], case: Case) -> None:
    from autograder.grading import load_results

    layout, output = graded
    points = _points(layout, A2)
    expected = {cell: 0.0 if cell in case.lost else value for cell, value in points.items()}
    scores = _scores(layout, A2, case.student)
    results = {result["student"]: result for result in load_results(layout.root, A2)}
    assert scores == pytest.approx(expected), (case.why, scores, results[case.student],
                                               output[-2000:])
    if case.lost:
        messages = " ".join(task["message"] for task in results[case.student]["tasks"])
        assert "separate process" in messages and "in time" in messages, messages
        assert not Path("/var/tmp/pwned").exists()
