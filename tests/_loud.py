"""Test tools that write to stderr in every way a model, a library or a learner can.

Used to prove that the checks leave stderr empty: nbgrader scores a grade cell with any stderr
output as 0. Keras is imported only by :func:`loud_model`, so tests without models stay light.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any


def make_noise() -> None:
    """Write to stderr through warnings, logging, ``sys.stderr`` and file descriptor 2."""
    warnings.warn("a Python warning", UserWarning, stacklevel=1)
    logging.getLogger("keras").debug("a debug record")
    logging.getLogger().error("an error record")
    print("a print to sys.stderr", file=sys.stderr)
    os.write(2, b"a raw write to fd 2\n")


NOISE = ("a Python warning", "a debug record", "an error record", "a print to sys.stderr",
         "a raw write to fd 2")


def _show_on_stderr(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class _CurrentStderr:
    """A stream that always writes to whatever ``sys.stderr`` is at the time."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def everything_to_stderr() -> Iterator[None]:
    """Turn on what a learner might: every warning shown, DEBUG logging to stderr."""
    root = logging.getLogger()
    # silence() may have raised the framework loggers in this process; a learner can lower them.
    keras_logger = logging.getLogger("keras")
    handler = logging.StreamHandler(_CurrentStderr())
    old_level, old_keras_level = root.level, keras_logger.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    keras_logger.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # pytest records warnings instead of printing them; print them as Python does.
            warnings.showwarning = _show_on_stderr
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        keras_logger.setLevel(old_keras_level)


def loud_model(units: int = 10, activation: str = "softmax") -> Any:
    """A working Keras classifier whose every call makes all the noise of :func:`make_noise`.

    Args:
        units: Output units.
        activation: Output activation.

    Returns:
        An unbuilt subclassed ``keras.Model`` (Flatten, then one Dense layer).
    """
    import keras

    class LoudModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.flatten = keras.layers.Flatten()
            self.dense = keras.layers.Dense(units, activation=activation)

        def call(self, inputs):
            make_noise()
            return self.dense(self.flatten(inputs))

    return LoudModel()
