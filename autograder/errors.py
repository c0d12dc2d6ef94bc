"""The errors the ``autograder`` command reports to its user, and the exit status of each.

Every error a verb lets reach the command line derives from :class:`AutograderError`;
:func:`autograder.cli.main` prints its message (which names the file, folder or argument at
fault) and exits with its :attr:`~AutograderError.exit_code`.
"""

from __future__ import annotations


class AutograderError(Exception):
    """Base of the errors shown to the user; the message says what to do."""

    exit_code = 1


class UsageError(AutograderError):
    """An argument or a folder given on the command line cannot be used."""

    exit_code = 2


class SandboxUnavailable(AutograderError, RuntimeError):
    """Confinement cannot be set up on this machine; the message says what is missing."""

    exit_code = 3


class ClusterError(AutograderError):
    """The Dask scheduler cannot be reached or was lost; recorded submissions keep their grades."""

    exit_code = 4


class GradingInterrupted(AutograderError):
    """Grading was stopped by Ctrl-C or SIGTERM; finished submissions keep their grades."""

    exit_code = 130


class RosterError(AutograderError):
    """A roster exported from the LMS cannot be used; the message names its file, line, column."""

    exit_code = 5
