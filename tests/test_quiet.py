"""no_stderr() really keeps everything off stderr, and restores it afterwards."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from _loud import NOISE, everything_to_stderr, make_noise

from autograder.quiet import no_stderr, silence


def test_noise_reaches_stderr_without_the_guard(capfd):
    # Proves the noise is real, so that an empty stderr below means something.
    with everything_to_stderr():
        capfd.readouterr()
        make_noise()
        err = capfd.readouterr().err
    for text in NOISE:
        assert text in err


def test_nothing_reaches_stderr_inside_the_guard(capfd):
    with everything_to_stderr():
        capfd.readouterr()
        with no_stderr():
            make_noise()
        assert capfd.readouterr().err == ""


def test_stderr_works_again_after_the_guard_even_when_it_raised(capfd):
    saved = sys.stderr
    with everything_to_stderr():
        with pytest.raises(RuntimeError), no_stderr():
            raise RuntimeError("inside")
        assert sys.stderr is saved
        assert logging.root.manager.disable == logging.NOTSET
        capfd.readouterr()
        make_noise()
        err = capfd.readouterr().err
    for text in NOISE:
        assert text in err


def test_child_processes_inherit_the_silence(capfd):
    capfd.readouterr()
    with no_stderr():
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child')"],
                       check=True)
    assert capfd.readouterr().err == ""


def test_silence_sets_backend_and_log_level_without_overriding(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    silence("tensorflow")
    assert os.environ["KERAS_BACKEND"] == "jax"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert logging.getLogger("tensorflow").level == logging.ERROR


@pytest.mark.slow
def test_silence_holds_inside_a_jupyter_kernel(tmp_path) -> None:
    # TensorFlow resets its logger to INFO the first time it is used in an interactive shell;
    # silence() must win over that, or retracing warnings reach a grade cell's stderr.
    import nbformat

    from autograder.notebooks import execute

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import autograder\nautograder.silence()\nimport keras"),
        nbformat.v4.new_code_cell(
            "import tensorflow as tf\n"
            "tf.get_logger().warning('retracing would be printed here')"
        ),
    ]
    run = execute(nb, cwd=tmp_path, timeout=120, probe=["tf.get_logger().getEffectiveLevel()"])
    assert run.values["tf.get_logger().getEffectiveLevel()"] == logging.ERROR
    outputs = [out for cell in run.notebook.cells for out in cell.get("outputs", [])]
    assert not any("retracing" in out.get("text", "") for out in outputs), outputs
