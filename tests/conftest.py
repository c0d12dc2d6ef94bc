"""Shared test settings: quiet TensorFlow, a fixed backend, and the repository paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports keras: the backend and TF's log level are read at import.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# Matplotlib must not try to open a window in a test.
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO
