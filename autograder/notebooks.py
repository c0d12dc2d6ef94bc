"""Build notebooks from jupytext sources and execute them headless.

Lessons live as MyST Markdown (``lessons/NN-title.md``) with no outputs in git; this module turns
them into ``.ipynb`` files and runs notebooks with nbclient, for ``make lab``, the tests and the
benchmarks alike.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

PROBE_MARKER = "__autograder_probe__"


def read_source(path: str | Path) -> nbformat.NotebookNode:
    """Read a jupytext MyST Markdown file (or an ``.ipynb``) as a notebook.

    Args:
        path: The ``.md`` or ``.ipynb`` file.

    Returns:
        The notebook, with a Python 3 kernelspec.

    Raises:
        FileNotFoundError: When the file does not exist, naming it.
    """
    import jupytext

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Notebook source not found: {path}")
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }
    nb.metadata.pop("jupytext", None)
    return nb


def build(sources: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Write each source as ``out_dir/<stem>.ipynb``, outputs empty.

    Args:
        sources: Paths of ``.md`` sources.
        out_dir: Folder for the notebooks; created when missing.

    Returns:
        The paths written, in the order given.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        nb = read_source(source)
        target = out_dir / f"{Path(source).stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
    return written


@dataclass
class ExecutedNotebook:
    """A notebook after execution.

    Attributes:
        notebook: The notebook with its outputs.
        seconds: Wall time of the execution, kernel start included.
        values: The probed expressions, by expression, as JSON values.
    """

    notebook: nbformat.NotebookNode
    seconds: float
    values: dict[str, Any] = field(default_factory=dict)

    def text_output(self) -> str:
        """All stream and plain-text outputs of the notebook, joined."""
        parts: list[str] = []
        for cell in self.notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    parts.append(output.get("text", ""))
                elif "data" in output:
                    parts.append(output["data"].get("text/plain", ""))
        return "".join(parts)


def execute(
    nb: nbformat.NotebookNode,
    *,
    cwd: str | Path,
    timeout: int = 600,
    env: Mapping[str, str] | None = None,
    probe: Sequence[str] = (),
) -> ExecutedNotebook:
    """Execute a notebook in a fresh kernel and optionally read values out of it.

    Args:
        nb: The notebook; it is not modified.
        cwd: Working directory of the kernel.
        timeout: Seconds allowed for each cell.
        env: Extra environment variables for the kernel (on top of this process's).
        probe: Python expressions evaluated in the kernel after the last cell; each must give a
            JSON-serialisable value (``float(...)`` a NumPy scalar first).

    Returns:
        An :class:`ExecutedNotebook`.

    Raises:
        nbclient.exceptions.CellExecutionError: When a cell raises; the message names the cell.
    """
    from nbclient import NotebookClient

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    if probe:
        code = (
            "import json as _json\n"
            f"print({PROBE_MARKER!r} + _json.dumps({{_e: eval(_e) for _e in {list(probe)!r}}}))"
        )
        nb.cells.append(nbformat.v4.new_code_cell(code))
    kernel_env = {**os.environ, **(env or {})}
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    start = time.perf_counter()
    client.execute(env=kernel_env, cwd=str(cwd))
    seconds = time.perf_counter() - start
    values: dict[str, Any] = {}
    if probe:
        probe_cell = nb.cells.pop()
        for output in probe_cell.get("outputs", []):
            text = output.get("text", "")
            if PROBE_MARKER in text:
                values = json.loads(text.split(PROBE_MARKER, 1)[1])
    return ExecutedNotebook(nb, seconds, values)
