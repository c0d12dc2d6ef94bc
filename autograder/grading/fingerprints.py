"""Fingerprints of exported models, so that a handed-in copy of a trained model can be found.

A learner who copies another's saved model hands in the same weights. The grader fingerprints
each model it reads (the arrays of the ``.keras`` archive's weights file, read with h5py as the
safe loader reads them: nothing is executed or unpickled for it), records the fingerprint with
the task's verdict, and the report's similarity section groups learners whose fingerprints are
equal. Two independent trainings do not end at the same float32 weights unless they share the
code, the data and the seed, and identical code is shown by the code groups anyway.

Exported arrays are not fingerprinted: the course exports data splits, and independent learners
who pass the same ``random_state`` to ``train_test_split`` hand in the same arrays honestly.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

# The member of a ``.keras`` archive that holds the weights. Neither the archive nor this HDF5
# file is the same bytes for the same weights (metadata.json holds the save time, and HDF5 its
# own object headers: two saves of one model differ in 12 bytes of it, measured on Keras 3.15),
# so the fingerprint is taken over the arrays themselves.
WEIGHTS_MEMBER = "model.weights.h5"
# Read at most this much of the weights member (the grader's limit on a model file).
MAX_WEIGHTS_BYTES = 200 * 1024 * 1024
# The optimizer's first variable is its step count (``iterations``).
STEPS = "optimizer/vars/0"


def model_digest(path: str | Path) -> str:
    """The fingerprint of a saved, trained model's layer weights.

    A model that was never trained holds the weights its seed gave it, which every learner who
    seeds alike and builds the same layers shares honestly (assignment 1 grades such a model),
    so only a model whose optimizer took a step gets a fingerprint.

    Args:
        path: A ``.keras`` file.

    Returns:
        A hex SHA-256 over the name, dtype, shape and values of every layer weight, or ``""``
        when the model was never trained or its weights cannot be read (nothing is then
        grouped).
    """
    import h5py
    import numpy as np

    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(WEIGHTS_MEMBER)
            if info.file_size > MAX_WEIGHTS_BYTES:
                return ""
            data = archive.read(info)
        with h5py.File(io.BytesIO(data), "r") as weights:
            steps = weights.get(STEPS)
            if not isinstance(steps, h5py.Dataset) or steps.shape != () or int(steps[()]) <= 0:
                return ""
            found: list[tuple[str, h5py.Dataset]] = []
            layers = weights.get("layers")
            if isinstance(layers, h5py.Group):
                layers.visititems(lambda name, item: found.append((name, item))
                                  if isinstance(item, h5py.Dataset) else None)
            digest = hashlib.sha256()
            for name, item in sorted(found, key=lambda pair: pair[0]):
                array = np.ascontiguousarray(item[()])
                digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
                digest.update(array.tobytes())
            return digest.hexdigest() if found else ""
    except (OSError, KeyError, zipfile.BadZipFile, ValueError, TypeError, RuntimeError):
        return ""
