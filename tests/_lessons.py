"""Run a lesson the way the lesson tests need it: fewer epochs, figures probed, no stderr."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from autograder.notebooks import ExecutedNotebook, execute, read_source

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute_lesson(stem: str, cwd: Path, epochs: int, probe: Sequence[str]) -> ExecutedNotebook:
    """Execute ``lessons/<stem>.md`` with ``COURSE_EPOCHS=epochs`` and fail on any stderr.

    Args:
        stem: Lesson file stem, such as ``"05-metric-pitfalls"``.
        cwd: Working directory of the kernel (files the lesson writes land here).
        epochs: Value of ``COURSE_EPOCHS``.
        probe: Python expressions evaluated in the kernel after the last cell.

    Returns:
        The executed notebook with the probed values.
    """
    run = execute(
        read_source(LESSONS / f"{stem}.md"), cwd=cwd, env={"COURSE_EPOCHS": str(epochs)},
        probe=list(probe),
    )
    # A learner would see any stderr text (TensorFlow log lines included) as an error.
    for number, cell in enumerate(run.notebook.cells):
        for output in cell.get("outputs", []):
            assert output.get("name") != "stderr", (
                f"{stem} cell {number} wrote to stderr: {output.get('text', '')[:300]}"
            )
    return run


def run_lesson(
    stem: str, cwd: Path, epochs: int, probe: dict[str, str], explorers: int | None = None
) -> dict[str, Any]:
    """Execute ``lessons/<stem>.md`` with ``COURSE_EPOCHS=epochs`` and probe it by short names.

    Args:
        stem: Lesson file stem.
        cwd: Working directory of the kernel (files the lesson writes land here).
        epochs: Value of ``COURSE_EPOCHS``.
        probe: Short name -> Python expression evaluated in the kernel after the last cell.
        explorers: When given, how many explorers the lesson must show, each with its static
            image (see :func:`assert_static_explorers`).

    Returns:
        The probed values by short name.
    """
    executed = execute_lesson(stem, cwd, epochs, list(probe.values()))
    if explorers is not None:
        assert_static_explorers(executed.notebook, explorers)
    return {name: executed.values[expr] for name, expr in probe.items()}


def as_floats(name: str) -> str:
    """Expression turning a dict of NumPy scalars in the kernel into plain floats."""
    return f"{{k: float(v) for k, v in {name}.items()}}"


def assert_static_explorers(notebook: nbformat.NotebookNode, count: int) -> None:
    """Assert that an executed lesson shows ``count`` explorers, each with a static figure.

    Run by nbclient there is no front end, so what a rendered page can show of an explorer is
    the PNG saved beside its widget view in the same output.

    Args:
        notebook: The executed notebook.
        count: How many explorers the lesson shows.
    """
    shown = [output["data"] for cell in notebook.cells for output in cell.get("outputs", [])
             if WIDGET_VIEW in output.get("data", {}) and "image/png" in output["data"]]
    assert len(shown) == count, f"{len(shown)} explorers with a static figure, not {count}"
    for data in shown:
        png = base64.b64decode(data["image/png"])
        assert png.startswith(b"\x89PNG") and len(png) > 5_000, len(png)
        assert data["text/plain"].strip(), "an explorer without its text readout"
