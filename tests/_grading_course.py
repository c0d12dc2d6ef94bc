"""A small nbgrader course for the grading tests, built with the real nbgrader CLI.

One assignment ``a1`` with one notebook: a header cell, a shape answer, a multiple-choice loss
answer and a small digits model, each followed by a locked grade cell that exports the graded
value (:mod:`autograder.export`) and then runs a plain kernel-side test, the kind nbgrader alone
would trust. Submissions are planted by replacing solution cells (by ``grade_id``) of the
release notebook and, for tampering variants, by editing or deleting grade cells.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.grading.manifest import CheckSpec, Manifest, answer_task, checks_task

ASSIGNMENT = "a1"
NOTEBOOK = "a1"
CHOICES = ["mse", "sparse_categorical_crossentropy", "binary_crossentropy"]

HEADER = """\
import autograder
autograder.silence()
import keras
import numpy as np
keras.utils.set_random_seed(0)
data = autograder.data.load("digits")"""

SHAPE = "output_shape = (None, 10)"
LOSS = 'loss_choice = "sparse_categorical_crossentropy"'
MODEL = """\
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(data.x_train, data.y_train, epochs=8, batch_size=64, verbose=0)"""

SHAPE_TEST = """\
import autograder.export
autograder.export.answer("output_shape", output_shape)
### BEGIN HIDDEN TESTS
assert output_shape == (None, 10)
### END HIDDEN TESTS"""

LOSS_TEST = """\
import autograder.export
autograder.export.answer("loss_choice", loss_choice)
### BEGIN HIDDEN TESTS
assert loss_choice == "sparse_categorical_crossentropy"
### END HIDDEN TESTS"""

MODEL_TEST = """\
import autograder.export
autograder.export.model("model", model)
### BEGIN HIDDEN TESTS
assert model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"] >= 0.8
### END HIDDEN TESTS"""

POINTS = {"shape_test": 1.0, "loss_test": 1.0, "model_test": 2.0}


def _meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
          points: float = 0.0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _solution(grade_id: str, answer: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION",
                                     metadata=_meta(grade_id, solution=True))


def _test(grade_id: str, source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata=_meta(
        grade_id, grade=True, locked=True, points=POINTS[grade_id]))


def source_notebook() -> nbformat.NotebookNode:
    """Return the instructor's source notebook of ``a1``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(HEADER, metadata=_meta("header", locked=True)),
        nbformat.v4.new_markdown_cell("What shape does `Dense(10)` give a batch of 64 features?",
                                      metadata=_meta("shape_prompt", locked=True)),
        _solution("shape_answer", SHAPE),
        _test("shape_test", SHAPE_TEST),
        nbformat.v4.new_markdown_cell(f"Which loss fits integer labels? One of {CHOICES}.",
                                      metadata=_meta("loss_prompt", locked=True)),
        _solution("loss_answer", LOSS),
        _test("loss_test", LOSS_TEST),
        _solution("model_answer", MODEL),
        _test("model_test", MODEL_TEST),
    ]
    return nb


def manifest() -> Manifest:
    """Return the grading manifest of ``a1``."""
    return Manifest(ASSIGNMENT, (
        answer_task(NOTEBOOK, "shape_test", "output_shape", 1, (None, 10)),
        answer_task(NOTEBOOK, "loss_test", "loss_choice", 1, "sparse_categorical_crossentropy",
                    choices=CHOICES),
        checks_task(NOTEBOOK, "model_test", "model", 2, [
            CheckSpec("check_model", ("@model",), {"input_shape": [8, 8, 1], "num_classes": 10}),
            CheckSpec("check_metrics", ("@model", "@holdout:digits.x", "@holdout:digits.y"),
                      {"min_accuracy": 0.8}),
        ]),
    ))


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real nbgrader CLI in a course directory."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, check=check,
                          capture_output=True, text=True, env=course_env())


def course_env() -> dict[str, str]:
    """Environment for nbgrader: it runs ``alembic`` from PATH when it creates a gradebook."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


def build_course(course: Path, *, cell_timeout: int = 120) -> Path:
    """Write the course, run ``generate_assignment`` and write the manifest."""
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'grading-test'\n"
        f"c.Execute.timeout = {cell_timeout}\n"
    )
    nbformat.write(source_notebook(), course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    manifest().write(course)
    return course


def release_notebook(course: Path) -> nbformat.NotebookNode:
    """Return the learner's copy of the notebook."""
    return nbformat.read(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)


def plant(course: Path, student: str, answers: Mapping[str, str] | None = None, *,
          grade_cells: Mapping[str, str | None] | None = None,
          extra_cells: Mapping[str, str] | None = None) -> Path:
    """Plant a submission: release notebook with solution cells (by grade_id) replaced.

    Args:
        course: The course directory.
        student: Student id.
        answers: grade_id of a solution cell -> its new source.
        grade_cells: grade_id of a grade cell -> new source, or None to delete the cell.
        extra_cells: grade_id of any cell -> source of an unlocked cell inserted before it.

    Returns:
        The submitted notebook's path.
    """
    nb = release_notebook(course)
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if extra_cells and grade_id in extra_cells:
            cells.append(nbformat.v4.new_code_cell(extra_cells[grade_id]))
        if answers and grade_id in answers:
            cell.source = answers[grade_id]
        if grade_cells and grade_id in grade_cells:
            if grade_cells[grade_id] is None:
                continue
            cell.source = grade_cells[grade_id]
        cells.append(cell)
    nb.cells = cells
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    return path


REFERENCE = {"shape_answer": SHAPE, "loss_answer": LOSS, "model_answer": MODEL}


def gradebook_scores(course: Path) -> dict[str, dict[str, float]]:
    """Read every student's auto_score per grade cell from the gradebook."""
    from nbgrader.api import Gradebook

    from autograder.grading import gradebook_url

    scores: dict[str, dict[str, float]] = {}
    with Gradebook(gradebook_url(course), "grading-test") as gradebook:
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            notebook = submission.notebooks[0]
            scores[submission.student.id] = {
                grade.name: float(grade.auto_score or 0.0) for grade in notebook.grades}
    return scores


# --------------------------------------------------------------------------- planted submissions

ALWAYS_EQUAL = """\
class AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    __le__ = __gt__ = __ge__ = __lt__
    __hash__ = object.__hash__
    def evaluate(self, *args, **kwargs): return {"accuracy": 1.0, "loss": 0.0}
    def predict(self, *args, **kwargs): return np.zeros((1, 10))
"""

FAKE_MODULES = ALWAYS_EQUAL + """\
import sys, types
fake = types.ModuleType("autograder")
fake.export = types.ModuleType("autograder.export")
for name in ("answer", "model", "arrays", "scaler"):
    setattr(fake.export, name, lambda *args, **kwargs: None)
sys.modules["autograder"] = fake
sys.modules["autograder.export"] = fake.export
output_shape = AlwaysEqual()
"""

IMPORT_HOOK = """\
import builtins, types
_real_import = builtins.__import__
_fake = types.ModuleType("autograder")
_fake.export = types.SimpleNamespace(answer=lambda *a, **k: None, model=lambda *a, **k: None)
def _hooked(name, *args, **kwargs):
    if name.startswith("autograder"):
        return _fake
    return _real_import(name, *args, **kwargs)
builtins.__import__ = _hooked
output_shape = (None, 10)
"""

PATCH_KERAS = """\
import numpy as np
keras.Model.evaluate = lambda self, *args, **kwargs: {"accuracy": 1.0, "loss": 0.0}
keras.Model.predict = lambda self, x, *args, **kwargs: np.eye(10)[np.zeros(len(x), dtype=int)]
model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(loss="sparse_categorical_crossentropy")
"""

IGNORES_INTERRUPT = """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""

MEMORY_BOMB = """\
blocks = []
while True:
    blocks.append(np.ones(25_000_000))
"""

FLOOD = """\
print("x" * 3_000_000)
for line in range(50_000):
    print(line)
output_shape = (None, 10)
"""

NOISE = """\
import logging, sys, warnings
warnings.simplefilter("always")
logging.basicConfig(level=logging.DEBUG)
logging.getLogger().setLevel(logging.DEBUG)
print("noise on stderr", file=sys.stderr)
warnings.warn("a learner warning")
"""

# Confinement: each of these tries what a determined learner would; none may gain anything,
# touch anything outside its own folder, or leave anything running. @COURSE@, @HOME@, @PORT@,
# @VENV@ and @MARKER@ are filled in when the submissions are planted.
SNOOP = """\
import json, os, socket
course = "@COURSE@"
readable = {}
for name, path in {
    "manifest": course + "/grader/a1.json", "secret": course + "/grader/secret",
    "source": course + "/source/a1/a1.ipynb", "gradebook": course + "/gradebook.db",
    "config": course + "/nbgrader_config.py",
    "other_submission": course + "/submitted/ref/a1/a1.ipynb",
    "other_results": course + "/grader/results/a1/ref.json",
    "grader_home": "@HOME@",
}.items():
    try:
        if os.path.isdir(path):
            readable[name] = sorted(os.listdir(path))
        else:
            with open(path, "rb") as handle:
                readable[name] = len(handle.read())
    except OSError as exc:
        readable[name] = None
writable = {}
for name, path in {
    "gradebook": course + "/gradebook.db", "config": course + "/nbgrader_config.py",
    "manifest": course + "/grader/a1.json", "course": course + "/planted.txt",
    "venv": "@VENV@/planted.pth", "ipython": "@HOME@/.ipython/profile_default/startup/00.py",
    "system": "/etc/planted",
}.items():
    try:
        with open(path, "a") as handle:
            handle.write("x")
        writable[name] = True
    except OSError:
        writable[name] = False
processes = [pid for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != os.getpid()]
# Its own threads have ids too (kill() reaches a thread's process); anything else is another's.
own = {int(task) for task in os.listdir("/proc/self/task")}
signalled = []
for pid in set(range(2, 4096)) - own:
    try:
        os.kill(pid, 0)
        signalled.append(pid)
    except OSError:
        pass
probe = socket.socket()
probe.settimeout(2)
try:
    probe.connect(("127.0.0.1", @PORT@))
    network = True
except OSError:
    network = False
print("SNOOP " + json.dumps({"readable": readable, "writable": writable,
                             "processes": processes, "signalled": signalled,
                             "network": network}))
output_shape = (None, 3)
"""

DAEMON = """\
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)", "@MARKER@"],
                 start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(900)",
                                  "@MARKER@"])
    os._exit(0)
time.sleep(1)
output_shape = (None, 10)
"""

BAD_EXPORTS = """\
import os
folder = os.environ["AUTOGRADER_EXPORT_DIR"]
# The loss answer's export file is a link to a system file; the model's is 210 MB.
os.symlink("/etc/passwd", os.path.join(folder, "answer-loss_choice.json"))
with open(os.path.join(folder, "model-model.keras"), "wb") as handle:
    handle.write(bytes(210 * 2**20))
output_shape = (None, 10)
"""

# student -> (solution answers, grade cell edits)
THREAD_SHARE = """\\
import os
share = str(max(1, os.cpu_count() // 2))
threads = [os.environ.get(name) for name in
           ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")]
output_shape = (None, 10) if threads == [share] * 3 else (None, 0)"""

SUBMISSIONS: dict[str, tuple[dict[str, str], dict[str, str | None]]] = {
    "ref": (REFERENCE, {}),
    "empty": ({}, {}),
    "half": ({"shape_answer": SHAPE, "loss_answer": 'loss_choice = "mse"'}, {}),
    # Tampering: none of these may score more than "empty".
    "fake_module": ({"shape_answer": FAKE_MODULES,
                     "loss_answer": "loss_choice = AlwaysEqual()"}, {}),
    "import_hook": ({"shape_answer": IMPORT_HOOK, "loss_answer": LOSS}, {}),
    "always_equal": ({"shape_answer": ALWAYS_EQUAL + "output_shape = AlwaysEqual()",
                      "loss_answer": "loss_choice = AlwaysEqual()",
                      "model_answer": "model = AlwaysEqual()"}, {}),
    "patch_keras": ({"shape_answer": 'output_shape = "(None, 10)"',
                     "loss_answer": 'loss_choice = "mse"', "model_answer": PATCH_KERAS}, {}),
    "edit_grade_cells": ({"shape_answer": "output_shape = (None, 3)",
                          "loss_answer": 'loss_choice = "binary_crossentropy"'},
                         {"shape_test": "print('ok')", "loss_test": None, "model_test": "pass"}),
    # Misbehaving notebooks: each graded on what it exported, none stops the batch.
    "os_exit": ({"shape_answer": SHAPE, "loss_answer": "import os\nos._exit(1)"}, {}),
    # ipykernel turns sys.exit into an error in that cell; the cells after it still run.
    "sys_exit": ({"shape_answer": SHAPE, "loss_answer": "import sys\nsys.exit(0)",
                  "model_answer": MODEL}, {}),
    "endless": ({"shape_answer": SHAPE, "loss_answer": IGNORES_INTERRUPT}, {}),
    "memory_bomb": ({"shape_answer": SHAPE, "loss_answer": MEMORY_BOMB}, {}),
    "flood": ({"shape_answer": FLOOD, "loss_answer": LOSS}, {}),
    "noise": ({"shape_answer": NOISE + SHAPE, "loss_answer": LOSS, "model_answer": MODEL}, {}),
    # Tries to kill the process its kernel was forked from: that process is outside its PID
    # namespace (getppid() is 0), so kill(0) ends only the kernel's own process group.
    "kill_parent": ({"shape_answer": SHAPE,
                     "loss_answer": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"},
                    {}),
    # Right only when the kernel was given its share of the cores (2 workers).
    "threads": ({"shape_answer": THREAD_SHARE}, {}),
    "snoop": ({"shape_answer": SNOOP, "loss_answer": LOSS}, {}),
    "daemon": ({"shape_answer": DAEMON}, {}),
    "bad_exports": ({"shape_answer": BAD_EXPORTS}, {}),
}
# Not a notebook at all: the batch records it and goes on.
BROKEN = "broken"
TAMPERING = ("fake_module", "import_hook", "always_equal", "patch_keras", "edit_grade_cells")
# Test limits: the endless loop (deaf to the cell timeout's interrupt, and the cell timeout
# is longer) meets the wall-time limit, the bomb the memory limit.
TIMEOUT = 90
MEMORY_MB = 1500


@dataclass
class GradedCourse:
    """A course whose submissions were graded once by ``autograder grade``.

    Attributes:
        path: The course directory.
        output: What the command printed.
        seconds: How long it took.
        connections: Connections the kernels made to a server listening on the grader's
            127.0.0.1 while they ran.
        marker: The argument the ``daemon`` submission gave the processes it left behind.
        stages: Where the batch put its staging folders.
    """

    path: Path
    output: str
    seconds: float
    connections: int = 0
    marker: str = ""
    stages: Path | None = None


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it receives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> int:
        """Stop listening; return the number of connections received."""
        self.stopped.set()
        self.thread.join()
        self.server.close()
        return self.connections


def fill_in(source: str, course: Path, port: int, marker: str) -> str:
    """Put the course's paths, the listener's port and the marker into an attack's source."""
    return (source.replace("@COURSE@", str(course)).replace("@HOME@", str(Path.home()))
            .replace("@PORT@", str(port)).replace("@VENV@", sys.prefix)
            .replace("@MARKER@", marker))


def grade_all(course: Path) -> GradedCourse:
    """Plant every submission and grade them with the real ``autograder grade`` command."""
    listener = Listener()
    marker = f"left-behind-{uuid.uuid4().hex}"
    for student, (answers, grade_cells) in SUBMISSIONS.items():
        answers = {key: fill_in(value, course, listener.port, marker)
                   for key, value in answers.items()}
        plant(course, student, answers, grade_cells=grade_cells)
    broken = course / "submitted" / BROKEN / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / f"{NOTEBOOK}.ipynb").write_text("{ this is not a notebook", encoding="utf-8")
    # Stages of this batch only, below the system's temporary folder (where each kernel gets a
    # /tmp of its own): what is left there afterwards was left by this batch.
    stages = course.parent / "stages"
    stages.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "autograder"), "grade", str(course), ASSIGNMENT,
         "--workers", "2", "--timeout", str(TIMEOUT), "--memory-limit", str(MEMORY_MB)],
        capture_output=True, text=True,
        env={**course_env(), "COURSE_EPOCHS": "8", "AUTOGRADER_STAGE_ROOT": str(stages)},
        timeout=1800, check=False)
    connections = listener.close()
    assert done.returncode == 0, done.stderr[-3000:]
    return GradedCourse(course, done.stdout + done.stderr, time.monotonic() - started,
                        connections, marker, stages)


_SHARED: dict[str, GradedCourse] = {}


def shared_graded_course(tmp_path_factory: pytest.TempPathFactory) -> GradedCourse:
    """Build and grade the fixture course once per test process (modules share it).

    The grading test modules are in one xdist group, so they run in the same process.
    """
    if "course" not in _SHARED:
        course = build_course(tmp_path_factory.mktemp("grading") / "course")
        _SHARED["course"] = grade_all(course)
    return _SHARED["course"]


def results(course: Path) -> dict[str, dict]:
    """The per-student results written by the last ``autograder grade``."""
    from autograder.grading import load_results

    return {result["student"]: result for result in load_results(course, ASSIGNMENT)}
