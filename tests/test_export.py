"""The kernel-side hand-over: what counts as plain data."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.grading import export


@pytest.mark.parametrize(("value", "plain"), [
    (np.array([0.25, 0.5, 0.75]), [0.25, 0.5, 0.75]),
    (np.array([[1, 2], [3, 4]], dtype=np.int32), [[1, 2], [3, 4]]),
    (np.array([True, False]), [True, False]),
    ([np.float64(0.1), np.array([2])], [0.1, [2]]),
])
def test_numpy_arrays_of_numbers_are_plain_data(value: object, plain: object) -> None:
    assert export.plain(value) == plain


@pytest.mark.parametrize("value", [
    np.array(["a", "b"]), np.array([object()], dtype=object), np.array([np.nan]),
    np.zeros((2,) * 9), np.zeros(200_000),
    type("Sneaky", (np.ndarray,), {})((2,)),
])
def test_arrays_that_are_not_plain_data_are_rejected(value: object) -> None:
    with pytest.raises(export.Rejected):
        export.plain(value)
