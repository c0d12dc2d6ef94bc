"""Keep TensorFlow and Keras off stderr.

nbgrader gives 0 points to a grade cell that writes anything to stderr, even when it passes.
TensorFlow's C++ runtime writes to file descriptor 2 directly, Keras emits Python warnings, and a
learner may have turned on DEBUG logging or ``warnings.simplefilter("always")``. ``silence()``
configures the process once (header cells, lessons); ``no_stderr()`` guards a single check.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator

_NOISY_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "matplotlib")


def silence(backend: str = "tensorflow") -> None:
    """Choose the Keras backend and silence framework logs for this process.

    Call it before ``import keras``: both settings are read at import time.

    Args:
        backend: Keras backend name; an existing ``KERAS_BACKEND`` takes precedence.
    """
    os.environ.setdefault("KERAS_BACKEND", backend)
    # 3 hides INFO, WARNING and ERROR from TensorFlow's C++ core (read when TF loads).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN prints a notice at import; results differ from it only in the last bits.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if os.environ["KERAS_BACKEND"] == "tensorflow" and importlib.util.find_spec("tensorflow"):
        # TensorFlow configures its logger the first time it is asked for it, and in an
        # interactive shell (a Jupyter kernel) it sets INFO then, undoing any level set before.
        # Let that happen now, then lower it; `import keras` imports TensorFlow anyway.
        import tensorflow as tf

        tf.get_logger()
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(keras|tensorflow|absl|h5py)(\.|$)")


@contextlib.contextmanager
def no_stderr() -> Iterator[None]:
    """Run a block with nothing reaching stderr, whatever the caller configured.

    Python warnings are ignored, logging is disabled, ``sys.stderr`` is swapped for a buffer and
    file descriptor 2 points at the null device, so C++ logs are dropped too. Everything is
    restored on exit, including when the block raises.
    """
    previous_disable = logging.root.manager.disable
    saved_stderr = sys.stderr
    saved_fd = _dup_stderr_fd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.CRITICAL)
        sys.stderr = io.StringIO()
        try:
            if saved_fd is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            yield
        finally:
            if saved_fd is not None:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
            sys.stderr = saved_stderr
            logging.disable(previous_disable)


def _dup_stderr_fd() -> int | None:
    # Some embedders run without a descriptor 2; then there is nothing to redirect.
    try:
        return os.dup(2)
    except OSError:
        return None
