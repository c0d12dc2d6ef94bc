"""Say "not attempted" in the course's voice when a grade cell's inputs do not exist yet.

A grade cell such as ``autograder.check_split(x_train, x_test, scaler=scaler)`` raises a bare
``NameError`` when the learner has not written the cell that defines ``x_train``. Grade cells
therefore call :func:`require` first (in their hidden part, so that a learner's notebook shows
only the check they know): it raises :class:`autograder.result.CheckFailed` with a
``not attempted`` result that names the cell to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autograder.result import CheckFailed, failed, not_attempted


def missing(namespace: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    """Return the names that are not defined yet, or still hold the ``...`` placeholder.

    Args:
        namespace: The notebook's globals.
        names: Each name the cell needs -> what the learner writes to define it.

    Returns:
        The missing names, in the order given.
    """
    return [name for name in names if namespace.get(name, Ellipsis) is Ellipsis]


def require(namespace: Mapping[str, Any], check: str, names: Mapping[str, str]) -> None:
    """Raise a ``not attempted`` result unless every name a grade cell needs is defined.

    Args:
        namespace: The notebook's globals (``globals()`` in the grade cell).
        check: The check the cell runs, such as ``"check_split"``; names the result.
        names: Each name the cell needs -> what defines it, such as
            ``{"x_train": "split_and_scale"}``.

    Raises:
        CheckFailed: With a ``not attempted`` result naming what to write first, or, when the
            function that defines the missing names is written, a failure saying that the cell
            using it did not run through.
    """
    absent = missing(namespace, names)
    if not absent:
        return
    first = names[absent[0]]
    listed = ", ".join(f"`{name}`" for name in absent)
    verb = "is" if len(absent) == 1 else "are"
    if first.isidentifier() and callable(namespace.get(first)):
        # The learner wrote the function; the cell that calls it stopped before assigning.
        raise CheckFailed(failed(
            check, f"{listed} {verb} not defined: `{first}` is written, but the cell that uses "
                   f"it did not run through to assign {'it' if verb == 'is' else 'them'}. Run "
                   "that cell, fix any error it shows, then run this one again."))
    # A function or variable name is quoted as code; a phrase ("the cell that trains") is not.
    first = f"`{first}`" if first.isidentifier() else first
    raise CheckFailed(not_attempted(
        check, f"Write {first} first: {listed} {verb} not defined yet, so there is nothing "
               f"to grade here."))
