"""Reference answers of the graded assignments, one module per assignment.

Each module ``aN_title`` defines the reference functions and answer constants, and ``ASSIGNMENT``:
the assignment as data (:class:`autograder.render.nbgrader_source.Assignment`), from which
``autograder build-course`` writes the nbgrader source notebook. The solution regions of that
notebook are the source code of the functions here, so what the tests of this package run is
what the graders' reference notebooks contain.

This package is for instructors: it holds the answers. Do not hand it to learners.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from autograder.render.nbgrader_source import Assignment

# In course order; each name is also the nbgrader assignment name and the notebook name.
MODULES = (
    "a1_shapes_and_compile",
    "a2_mnist_classifier",
    "a3_imbalanced_fraud",
    "a4_leaky_pipeline",
    "a5_thresholds",
    "a6_multiclass_cnn",
    "a7_custom_metric_callback",
    "a8_multilabel",
    "a9_overfitting_curves",
)


def assignments() -> list[Assignment]:
    """Import every assignment module.

    Returns:
        The ``ASSIGNMENT`` of each module in :data:`MODULES`, in course order.
    """
    return [importlib.import_module(f"{__name__}.{name}").ASSIGNMENT for name in MODULES]
