"""One batch of hostile learners, planted into the small grading course and graded once.

Three kinds of attack share the batch (each batch costs a minute on two cores):

- **ids**: learner ids with glob characters, a leading dot or dash, spaces, Unicode, 250 bytes,
  and ids the grader cannot use (surrounding whitespace, a tab, bytes that are not UTF-8);
- **output**: a gigabyte printed, one 100 MB message sent on the kernel's own socket, 300 MB
  written to the descriptor ipykernel captures, a JSON answer and a message nested 100,000
  deep;
- **edits**: raised points, duplicated grade ids, a grade cell turned into Markdown, pre-filled
  outputs, an unlocked and rewritten cell, another kernelspec, extra notebooks, a notebook that
  is JSON but not a notebook, and one of 200 MB.

Each learner's honest part is known (:data:`HONEST`): what it scores is checked against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from _grading_course import (
    ALWAYS_EQUAL,
    ASSIGNMENT,
    LOSS,
    MEMORY_MB,
    NOTEBOOK,
    REFERENCE,
    SHAPE,
    TIMEOUT,
    build_course,
    course_env,
    plant,
    release_notebook,
)

WRONG_LOSS = 'loss_choice = "mse"'

# 1 GiB printed in flushed 1 MiB writes: each reaches the worker as its own message.
GIGABYTE_PRINT = SHAPE + """
import sys
chunk = "x" * 2**20
for _ in range(1024):
    sys.stdout.write(chunk)
    sys.stdout.flush()
"""

# One 100 MB message on the kernel's own IOPub socket, past anything ipykernel would do.
BIG_MESSAGE = SHAPE + """
kernel = get_ipython().kernel
kernel.session.send(kernel.iopub_socket, "stream",
                    {"name": "stdout", "text": "y" * 100_000_000}, parent=kernel.get_parent())
"""

# 300 MB written past ipykernel's capture, to the descriptor the kernel inherited (the
# worker's stderr): more than the kernels' file-size limit, were it a file.
RAW_FLOOD = SHAPE + """
import os, sys
chunk = b"r" * 2**20
for _ in range(300):
    os.write(sys.stderr._original_stdstream_copy, chunk)
"""

# The shape answer's export, overwritten by JSON nested 100,000 deep.
DEEP_ANSWER = LOSS + """
import os
with open(os.path.join(os.environ["AUTOGRADER_EXPORT_DIR"], "answer-output_shape.json"),
          "w") as handle:
    handle.write('{"value": ' + "[" * 100_000 + "]" * 100_000 + "}")
"""

# A display message whose JSON is nested 100,000 deep, sent as raw bytes (json.dumps in the
# kernel would refuse it): it is the worker that parses it.
DEEP_MESSAGE = SHAPE + """
kernel = get_ipython().kernel
deep = b"[" * 100_000 + b"]" * 100_000
kernel.session.send(kernel.iopub_socket, "display_data",
                    b'{"data": {"application/json": ' + deep + b'}, "metadata": {}}',
                    parent=kernel.get_parent())
"""

FAKE_HEADER = ALWAYS_EQUAL + """
import sys, types
import numpy as np
fake = types.ModuleType("autograder")
fake.export = types.SimpleNamespace(answer=lambda *a, **k: None, model=lambda *a, **k: None)
sys.modules["autograder"] = fake
sys.modules["autograder.export"] = fake.export
"""

# Learner ids nbgrader accepts, each of which must be graded as that learner and no other.
GLOB_ID = "[A]_tamper"
GLOB_TARGET = "A_tamper"
IDS = [GLOB_ID, "*", ".hidden", "a b c", "ünï-漢字", "é" * 125, "-dash"]
# Ids the grader cannot use (the last is a folder name that is not UTF-8).
REFUSED_IDS = ["bob ", "tab\tid", os.fsdecode(b"bad-\xff")]
# A notebook this large is refused before any process reads it.
HUGE_MB = 200


def _edited(course: Path, edit: object) -> nbformat.NotebookNode:
    """The release notebook with the shape answer right and ``edit(notebook)`` applied."""
    nb = release_notebook(course)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "shape_answer":
            cell.source = SHAPE
    edit(nb)  # type: ignore[operator]
    return nb


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells
                if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _raise_points(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.nbgrader["points"] = 100.0


def _duplicate_ids(nb: nbformat.NotebookNode) -> None:
    # A copy of the shape test that always passes, placed after it: nbgrader keeps the last
    # cell of an id as the grade cell (and puts its locked source back).
    real = _cell(nb, "shape_test")
    fake = nbformat.from_dict(json.loads(json.dumps(real)))
    fake.source = "print('ok')"
    fake.id = uuid.uuid4().hex[:8]
    nb.cells.insert(nb.cells.index(real) + 1, fake)
    twin = nbformat.from_dict(json.loads(json.dumps(_cell(nb, "model_test"))))
    twin.id = uuid.uuid4().hex[:8]
    nb.cells.append(twin)


def _markdown_grade(nb: nbformat.NotebookNode) -> None:
    _cell(nb, "loss_answer").source = WRONG_LOSS
    test = _cell(nb, "loss_test")
    test.cell_type = "markdown"
    test.pop("outputs", None)
    test.pop("execution_count", None)


def _prefill(nb: nbformat.NotebookNode) -> None:
    _cell(nb, "loss_answer").source = WRONG_LOSS
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output(
                "execute_result", data={"text/plain": "True"}, execution_count=1)]


def _unlock(nb: nbformat.NotebookNode) -> None:
    header = _cell(nb, "header")
    header.metadata.nbgrader["locked"] = False
    header.source = FAKE_HEADER
    test = _cell(nb, "loss_test")
    test.metadata.nbgrader["locked"] = False
    test.source = "pass"


def _kernelspec(nb: nbformat.NotebookNode) -> None:
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "Evil", "language": "python"}


EDITS = {"raised_points": _raise_points, "duplicate_ids": _duplicate_ids,
         "markdown_grade": _markdown_grade, "prefilled": _prefill, "unlocked": _unlock,
         "kernelspec": _kernelspec}

# student -> the verified score its honest part earns.
HONEST: dict[str, float] = {
    "ref": 4.0, GLOB_TARGET: 0.0, GLOB_ID: 1.0, "*": 2.0, ".hidden": 1.0, "a b c": 1.0,
    "ünï-漢字": 1.0, "é" * 125: 1.0, "-dash": 1.0,
    "loud": 2.0, "big_message": 2.0, "raw_flood": 2.0, "deep_answer": 1.0, "deep_message": 1.0,
    **dict.fromkeys(EDITS, 1.0), "extra_notebooks": 0.0, "not_a_notebook": 0.0, "huge": 0.0,
}


@dataclass
class HostileBatch:
    """The hostile batch, graded once by ``autograder grade``.

    Attributes:
        path: The course directory.
        output: What the command printed.
        peak_grader_mb: Highest resident memory of the ``autograder grade`` process itself.
        marker: A file the ``evil`` kernelspec would create if anything started it.
        returncode: The command's exit status.
    """

    path: Path
    output: str
    peak_grader_mb: float
    marker: Path
    returncode: int = 0
    students: list[str] = field(default_factory=list)


def _plant_ids(course: Path) -> None:
    plant(course, "ref", REFERENCE)
    plant(course, GLOB_TARGET, {"shape_answer": ALWAYS_EQUAL + "output_shape = AlwaysEqual()",
                                "loss_answer": "loss_choice = AlwaysEqual()"})
    for student in IDS:
        plant(course, student, {"shape_answer": SHAPE,
                                "loss_answer": LOSS if student == "*" else WRONG_LOSS})
    for student in REFUSED_IDS:
        plant(course, student, REFERENCE)


def _plant_output(course: Path) -> None:
    plant(course, "loud", {"shape_answer": GIGABYTE_PRINT, "loss_answer": LOSS})
    plant(course, "big_message", {"shape_answer": BIG_MESSAGE, "loss_answer": LOSS})
    plant(course, "raw_flood", {"shape_answer": RAW_FLOOD, "loss_answer": LOSS})
    plant(course, "deep_answer", {"shape_answer": SHAPE, "loss_answer": DEEP_ANSWER})
    plant(course, "deep_message", {"shape_answer": DEEP_MESSAGE, "loss_answer": WRONG_LOSS})


def _write(course: Path, student: str, nb: nbformat.NotebookNode | str,
           name: str = NOTEBOOK) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, path)
    return path


def _plant_edits(course: Path) -> None:
    for student, edit in EDITS.items():
        _write(course, student, _edited(course, edit))
    plant(course, "extra_notebooks", {})
    reference = release_notebook(course)
    for cell in reference.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in REFERENCE:
            cell.source = REFERENCE[grade_id]
    _write(course, "extra_notebooks", reference, "a1-copy")
    _write(course, "extra_notebooks", reference, ".a1")
    _write(course, "not_a_notebook", json.dumps({"cells": 5, "nbformat": 4}))
    huge = _edited(course, lambda nb: None)
    huge.cells.append(nbformat.v4.new_markdown_cell("@HUGE@"))
    head, tail = nbformat.writes(huge).split("@HUGE@")
    path = _write(course, "huge", "")
    with path.open("w", encoding="utf-8") as handle:
        handle.write(head)
        for _ in range(HUGE_MB):
            handle.write("z" * 2**20)
        handle.write(tail)


def _evil_kernelspec(root: Path, marker: Path) -> Path:
    """A kernelspec named ``evil`` that leaves ``marker`` behind if anything starts it."""
    spec = root / "kernels" / "evil"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c",
                 f"open({str(marker)!r}, 'w').write('started'); import time; time.sleep(5)"],
        "display_name": "Evil", "language": "python"}), encoding="utf-8")
    return root


class PeakMemory:
    """Samples one process's resident memory in a thread; the highest reading is kept."""

    def __init__(self, pid: int):
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stopped.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except Exception:  # noqa: BLE001 - the process ended
                return
            time.sleep(0.1)

    def stop(self) -> float:
        """Stop sampling; return the peak in MB."""
        self.stopped.set()
        self.thread.join()
        return self.peak / 2**20


def grade_hostile(course: Path) -> HostileBatch:
    """Plant every hostile learner and grade them all with ``autograder grade``."""
    _plant_ids(course)
    _plant_output(course)
    _plant_edits(course)
    marker = course.parent / f"evil-{uuid.uuid4().hex}"
    jupyter = _evil_kernelspec(course.parent / "jupyter", marker)
    stages = course.parent / "stages"
    stages.mkdir()
    env = {**course_env(), "COURSE_EPOCHS": "8", "AUTOGRADER_STAGE_ROOT": str(stages),
           "JUPYTER_PATH": str(jupyter)}
    command = [str(Path(sys.executable).parent / "autograder"), "grade", str(course),
               ASSIGNMENT, "--workers", "2", "--timeout", str(TIMEOUT),
               "--memory-limit", str(MEMORY_MB)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as grader:
        memory = PeakMemory(grader.pid)
        out, err = grader.communicate(timeout=1800)
    return HostileBatch(course, out + err, memory.stop(), marker, grader.returncode)


_SHARED: dict[str, HostileBatch] = {}


def on_batch(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that reads the hostile batch (slow, nbgrader, the grading process)."""
    for mark in (pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("grading")):
        test = mark(test)
    return test


def shared_hostile_batch(tmp_path_factory: pytest.TempPathFactory) -> HostileBatch:
    """Build the course and grade the hostile batch once per test process."""
    if "batch" not in _SHARED:
        course = build_course(tmp_path_factory.mktemp("hostile") / "course")
        _SHARED["batch"] = grade_hostile(course)
    return _SHARED["batch"]

