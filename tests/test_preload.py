"""Grading kernels: forked from a confined preloader, or started by bubblewrap directly.

Real processes throughout: a real sandboxed preloader, real ipykernel kernels started by nbclient
through jupyter_client's provisioner machinery (:mod:`autograder.grading.provisioner`), real
exports collected from the stage and verified in a confined fork.
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

from autograder import export
from autograder.grading import provisioner, staging
from autograder.grading.manifest import Manifest, answer_task
from autograder.grading.preload import Preloader
from autograder.grading.verify import verify_submission

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("preload")]

PROBE = """\
import json, os, sys
import helper_module  # a module next to the notebook, as learners write them
print(json.dumps({
    "pid": os.getpid(),
    "keras_preloaded": "keras" in sys.modules,
    "cwd": os.getcwd(),
    "files": sorted(os.listdir(".")),
    "env": os.environ.get("PRELOAD_PROBE"),
    "threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
    "home": os.environ.get("HOME"),
    "group_leader": os.getpgid(0) == os.getpid(),
    "helper": helper_module.VALUE,
}))"""
TRAIN = """\
import keras, numpy as np
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(np.zeros((32, 4)), np.zeros(32), epochs=2, verbose=0)
print(model.output_shape)"""
KERNEL_MANAGER = "autograder.grading.provisioner.GradingKernelManager"


@pytest.fixture()
def staging_folder() -> Iterator[Path]:
    folder = staging.new_folder(None, "test-staging-")
    yield folder
    staging.remove(folder)


@pytest.fixture()
def preloader(staging_folder: Path) -> Iterator[Preloader]:
    started = Preloader("kernels", writable=[staging_folder])
    started.start()
    assert started.alive(wait=180), "the preloader did not finish its imports"
    provisioner.use(started, staging_folder, confined=True)
    yield started
    started.stop()
    provisioner.use(None, None, confined=True)


def _run(folder: Path, *sources: str, timeout: int = 180) -> list[str]:
    """Execute code cells in a grading kernel started by nbclient; return each cell's stdout."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(notebook, kernel_name="python3", timeout=timeout,
                   kernel_manager_class=KERNEL_MANAGER,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return ["".join(out.get("text", "") for out in cell.outputs) for cell in notebook.cells]


def test_kernels_are_confined_forks_that_look_like_fresh_kernels(
        preloader: Preloader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 42\n")
    monkeypatch.setenv("PRELOAD_PROBE", "seen")
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    probe, trained = _run(tmp_path, PROBE, TRAIN)
    facts = json.loads(probe)
    assert facts["pid"] == 1  # PID 1 of its own namespace: everything it starts dies with it
    assert facts["keras_preloaded"]  # forked, not launched
    # It works in a copy of the notebook's folder, not in the folder itself.
    assert facts["cwd"] != str(tmp_path) and facts["cwd"].endswith("/work")
    assert facts["files"] == ["helper_module.py"] and facts["helper"] == 42
    # Its environment is made from an allow-list: the thread share reaches it, a variable of
    # the grader's own shell does not.
    assert facts["env"] is None and facts["threads"] == "1"
    assert facts["home"] == "/tmp/home"
    assert facts["group_leader"]  # interrupts and kills reach the kernel's own group
    assert trained.strip() == "(None, 3)"


def test_a_stuck_confined_kernel_is_interrupted(preloader: Preloader, tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 0\n")
    with pytest.raises(CellTimeoutError):
        _run(tmp_path, "import time\ntime.sleep(60)", timeout=5)
    # The same preloader still serves the next kernel.
    assert json.loads(_run(tmp_path, PROBE)[0])["keras_preloaded"]


def test_exports_reach_the_grader_and_the_stage_is_removed(
        preloader: Preloader, staging_folder: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 0\n")
    destination = staging.new_folder(None, "test-exports-")
    monkeypatch.setenv(provisioner.EXPORT_ENV, str(destination))
    try:
        _run(tmp_path, "import autograder.export\nautograder.export.answer('shape', (None, 10))")
        assert sorted(os.listdir(destination)) == ["answer-shape.json"]
        assert list(staging_folder.iterdir()) == []
        assert not (tmp_path / "answer-shape.json").exists()
    finally:
        staging.remove(destination)


def test_verification_in_a_confined_fork_matches_this_process(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    folder = staging.new_folder(None, "test-verify-")
    monkeypatch.setenv(export.ENV_VAR, str(folder))
    manifest = Manifest("a1", (answer_task("nb", "shape", "shape", 2, (None, 10)),
                               answer_task("nb", "loss", "loss", 1, "mse")))
    export.answer("shape", (None, 10))
    export.answer("loss", "binary_crossentropy")
    verifier = Preloader("verify", readable=[folder])
    verifier.start()
    try:
        job = {"manifest": manifest.to_dict(), "secret": "s", "exports": str(folder)}
        found = verifier.verify(job, timeout=120)
        # A verifier forks verifications only: a kernel request is refused.
        assert verifier.fork_kernel([], {}, "/", None) is None
    finally:
        verifier.stop()
        staging.remove(folder)
    expected = [v.to_dict() for v in verify_submission(manifest, tmp_path / "none")]
    assert [v["score"] for v in found] == [2.0, 0.0]
    assert [v["grade_id"] for v in found] == [v["grade_id"] for v in expected]


def test_without_a_preloader_bubblewrap_starts_the_kernel_confined(tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 1\n")
    provisioner.use(None, None, confined=True)
    facts = json.loads(_run(tmp_path, PROBE)[0])
    assert facts["pid"] == 1 and not facts["keras_preloaded"]
    assert facts["files"] == ["helper_module.py"]


def test_a_killed_preloader_is_replaced(preloader: Preloader, tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text("VALUE = 2\n")
    first = preloader.own_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert preloader.proc is not None
    preloader.proc.wait()
    # Meanwhile a kernel still starts, confined, by bubblewrap ...
    facts = json.loads(_run(tmp_path, PROBE)[0])
    assert facts["pid"] == 1 and not facts["keras_preloaded"]
    # ... and once the replacement is ready, kernels fork from it again.
    assert preloader.alive(wait=180) and preloader.own_pid not in (None, first)
    assert json.loads(_run(tmp_path, PROBE)[0])["keras_preloaded"]


def test_only_this_interpreters_ipykernel_can_be_confined() -> None:
    arguments = provisioner._ipykernel_arguments
    env = dict(os.environ)
    assert arguments(["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "c.json"],
                     env) is None
    assert arguments(["R", "--slave", "-e", "IRkernel::main()"], env) is None
    ours = [sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]
    assert arguments(ours, env) == ["-f", "c.json"]
