"""Kernels forked from the preloader: they behave like fresh kernels, and grading falls back.

Real processes throughout: a real preloader, real ipykernel kernels started by nbclient through
jupyter_client's provisioner machinery, real exports verified in a fork.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

from autograder import export, preload
from autograder.manifest import Manifest, answer_task
from autograder.verify import verify_submission

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("preload")]

PROBE = """\
import json, os, sys
import helper_module  # a module next to the notebook, as learners write them
print(json.dumps({
    "ppid": os.getppid(),
    "keras_preloaded": "keras" in sys.modules,
    "cwd": os.getcwd(),
    "env": os.environ.get("PRELOAD_PROBE"),
    "threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
    "group_leader": os.getpgid(0) == os.getpid(),
    "helper": helper_module.VALUE,
}))"""
TRAIN = """\
import keras, numpy as np
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(np.zeros((32, 4)), np.zeros(32), epochs=2, verbose=0)
print(model.output_shape)"""


@pytest.fixture()
def preloader() -> Iterator[preload.Preloader]:
    started = preload.start()
    assert started.alive(wait=120), "the preloader did not finish its imports"
    yield started
    preload.stop()


def _run(folder: Path, *sources: str, timeout: int = 120) -> list[str]:
    """Execute code cells in a kernel started by nbclient; return each cell's stdout."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(notebook, kernel_name="python3", timeout=timeout,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return ["".join(out.get("text", "") for out in cell.outputs) for cell in notebook.cells]


def test_kernels_are_forks_that_look_like_fresh_kernels(
        preloader: preload.Preloader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 42\n")
    monkeypatch.setenv("PRELOAD_PROBE", "seen")
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    probe, trained = _run(tmp_path, PROBE, TRAIN)
    facts = json.loads(probe)
    assert facts["ppid"] == preloader.pid  # forked, not launched
    assert facts["keras_preloaded"]
    assert facts["cwd"] == str(tmp_path)
    assert facts["env"] == "seen" and facts["threads"] == "1"
    assert facts["group_leader"]  # interrupts and kills reach the kernel's own group
    assert facts["helper"] == 42
    assert trained.strip() == "(None, 3)"


def test_a_stuck_forked_kernel_is_interrupted(preloader: preload.Preloader,
                                              tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 0\n")
    with pytest.raises(CellTimeoutError):
        _run(tmp_path, "import time\ntime.sleep(60)", timeout=3)
    # The same preloader still serves the next kernel.
    assert json.loads(_run(tmp_path, PROBE)[0])["ppid"] == preloader.pid


def test_verification_in_a_fork_matches_this_process(
        preloader: preload.Preloader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "exports"
    monkeypatch.setenv(export.ENV_VAR, str(folder))
    manifest = Manifest("a1", (answer_task("nb", "shape", "shape", 2, (None, 10)),
                               answer_task("nb", "loss", "loss", 1, "mse")))
    manifest.write(tmp_path)
    export.answer("shape", (None, 10))
    export.answer("loss", "binary_crossentropy")
    found = preloader.verify(tmp_path, "a1", folder, timeout=60)
    assert found == [v.to_dict() for v in verify_submission(manifest, folder)]
    assert [v["score"] for v in found] == [2.0, 0.0]


def test_without_a_preloader_kernels_start_the_normal_way(
        preloader: preload.Preloader, tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 1\n")
    preloader.stop()  # as when a learner's code kills it
    facts = json.loads(_run(tmp_path, PROBE)[0])
    assert facts["ppid"] == os.getpid() and not facts["keras_preloaded"]
    assert preloader.verify(tmp_path, "a1", tmp_path, timeout=10) is None


def test_a_killed_preloader_is_replaced(preloader: preload.Preloader, tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 2\n")
    first = preloader.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    preloader.proc.wait()
    # Meanwhile kernels start the normal way ...
    assert json.loads(_run(tmp_path, PROBE)[0])["ppid"] == os.getpid()
    # ... and once the new preloader is ready, they fork from it again.
    assert preloader.alive(wait=120) and preloader.pid != first
    assert json.loads(_run(tmp_path, PROBE)[0])["ppid"] == preloader.pid


def test_only_this_interpreters_ipykernel_is_forked(preloader: preload.Preloader) -> None:
    fork = preload.PreloadedProvisioner._fork
    other_python = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "c.json"]
    assert fork(other_python, {"env": dict(os.environ)}) is None
    assert fork(["R", "--slave", "-e", "IRkernel::main()"], {}) is None
    # A kernel whose output goes somewhere of its own cannot be handed to a fork.
    ours = [sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]
    assert fork(ours, {"env": dict(os.environ), "stdout": 1}) is None


def test_unregistered_provisioner_leaves_kernels_to_start_normally(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from jupyter_client.provisioning import KernelProvisionerFactory

    monkeypatch.setattr(preload, "entry_points", lambda **selection: [])
    try:
        preload.start()
        assert KernelProvisionerFactory.instance().default_provisioner_name == "local-provisioner"
        assert "pip install -e ." in capsys.readouterr().err
    finally:
        preload.stop()
