"""A submitted folder holds regular files and folders only; anything else refuses it.

nbgrader reads and copies a submission as the grader, unconfined: its copy from ``submitted/``
to ``autograded/`` and its read of each notebook follow symbolic links. A learner who submits a
notebook that is a link to ``source/<assignment>/<assignment>.ipynb`` would be graded on the
reference solution, and a file that links to ``grader/secret`` or the expected answers would be
copied into the learner's autograded folder, where the kernel prints it into the feedback. A
device or a FIFO can hang the copy. So before nbgrader touches a submission, every entry of the
folder (the notebook included, the folder itself and the student's folder too) is looked at with
``lstat``, which never follows a link, and anything that is not a regular file or a folder
refuses the **whole submission**: it is graded zero on every task, with a reason naming each
offending file. Dropping only the offending file would grade a notebook written to rely on it,
and a notebook that is a link must never be graded as its target.

Two places check, so that neither grader can be talked past it:

- ``autograder grade`` checks in :meth:`~autograder.grading.session.GradingSession.run_submission`,
  before a worker is asked to grade, and records ``refused: ...`` as the submission's reason;
- nbgrader's own autograde converter (plain ``nbgrader autograde``, the formgrader, and the
  workers of ``autograder grade``) checks again in :func:`guard_autograde`, installed by the
  course config, before its copy and after it (a file swapped for a link meanwhile is caught), and
  once more as it opens each notebook.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from autograder.errors import AutograderError

REFUSED = "refused: "
# A refusal names at most this many files; a folder of thousands of links needs no list.
_MAX_NAMED = 5
# Walking stops past this many entries: a submission is a notebook and a few files.
_MAX_ENTRIES = 20_000


class SubmissionRefused(AutograderError):
    """A submitted folder holds something other than regular files and folders."""


def _kind(mode: int) -> str | None:
    """What an entry is when it may not be in a submission, else None."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def problems(folder: Path) -> list[str]:
    """Every entry of a submitted folder that is not a regular file or a folder.

    Nothing is followed: the folder and every entry below it are read with ``lstat``, and
    folders are listed through descriptors opened with ``O_NOFOLLOW``.

    Args:
        folder: ``submitted/<student>/<assignment>``.

    Returns:
        One sentence per offending entry, naming it relative to the student's folder; empty
        when the folder is plain.
    """
    found: list[str] = []
    for path in (folder.parent, folder):
        try:
            mode = os.lstat(path).st_mode
        except OSError as exc:
            return [f"{path.name} cannot be read ({exc.strerror})"]
        if not stat.S_ISDIR(mode):
            return [f"the folder {path.name} is {_kind(mode) or 'not a folder'}"]
    _walk(folder, Path(folder.name), found, [0])
    return found


def _walk(folder: Path, shown: Path, found: list[str], seen: list[int]) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        found.append(f"{shown} cannot be read ({exc.strerror})")
        return
    try:
        with os.scandir(fd) as entries:
            listed = sorted((entry.name, entry.stat(follow_symlinks=False).st_mode)
                            for entry in entries)
    finally:
        os.close(fd)
    for name, mode in listed:
        seen[0] += 1
        if seen[0] > _MAX_ENTRIES:
            found.append(f"{shown} holds more than {_MAX_ENTRIES} files")
            return
        kind = _kind(mode)
        if kind is not None:
            target = ""
            if stat.S_ISLNK(mode):
                try:
                    target = f" (to {os.readlink(folder / name)})"
                except OSError:
                    target = ""
            found.append(f"{shown / name} is {kind}{target}")
        elif stat.S_ISDIR(mode):
            _walk(folder / name, shown / name, found, seen)


def refusal(found: list[str]) -> str:
    """The reason recorded for a refused submission.

    Args:
        found: What :func:`problems` returned (not empty).

    Returns:
        ``refused: ...``, naming the first few offending files.
    """
    named = "; ".join(found[:_MAX_NAMED])
    more = f"; and {len(found) - _MAX_NAMED} more" if len(found) > _MAX_NAMED else ""
    return (f"{REFUSED}{named}{more}: a submission may hold only regular files and folders, "
            f"so nothing of it was graded")


def check(folder: Path) -> None:
    """Refuse a submitted folder that holds anything but regular files and folders.

    Args:
        folder: ``submitted/<student>/<assignment>``.

    Raises:
        SubmissionRefused: It does; the message is :func:`refusal`'s.
    """
    found = problems(folder)
    if found:
        raise SubmissionRefused(refusal(found))


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(device, inode, mode) of every entry below ``folder``, links not followed."""
    seen: dict[str, tuple[int, int, int]] = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            info = os.lstat(os.path.join(root, name))
            seen[os.path.relpath(os.path.join(root, name), folder)] = (
                info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode))
    return seen


def check_notebook(path: str | Path) -> None:
    """Refuse a notebook nbgrader is about to read unless it is a regular file (not a link).

    Args:
        path: The notebook's path.

    Raises:
        SubmissionRefused: It is a link, a device, a FIFO or missing.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SubmissionRefused(f"{REFUSED}{Path(path).name} is a link or cannot be opened "
                                f"({exc.strerror}): nothing of it was graded") from None
    try:
        kind = _kind(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    if kind is not None:
        raise SubmissionRefused(f"{REFUSED}{Path(path).name} is {kind}: nothing of it was "
                                f"graded")


def guard_autograde() -> None:
    """Make nbgrader's autograde converter refuse submissions that are not plain files.

    nbgrader offers no setting that runs before its copy (its ``pre_convert_hook`` swallows
    errors), so its :class:`~nbgrader.converters.Autograde` gets the check around its own
    ``init_assignment`` (the copy from ``submitted/``) and ``convert_single_notebook`` (the read
    of each notebook). A refusal gives the submission zero on every grade cell in the gradebook
    and raises nbgrader's ``NbGraderException``: nbgrader logs the message, removes that
    submission's autograded folder and goes on with the next one. Calling this again changes
    nothing.
    """
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException

    if getattr(Autograde, "_autograder_guarded", False):
        return
    copy, convert = Autograde.init_assignment, Autograde.convert_single_notebook

    def refuse(self: Any, assignment_id: str, student_id: str, found: list[str]) -> None:
        self.log.error("%s", refusal(found))
        _record_zero(self.coursedir, assignment_id, student_id)
        raise NbGraderException(refusal(found))

    def init_assignment(self: Any, assignment_id: str, student_id: str) -> None:
        source = Path(self._format_source(assignment_id, student_id))
        found = problems(source)
        if found:
            refuse(self, assignment_id, student_id, found)
        before = _snapshot(source)
        copy(self, assignment_id, student_id)
        # Whatever changed during the copy (an entry swapped for a link) refuses it too.
        found = problems(source)
        if not found and _snapshot(source) != before:
            found = [f"{source.name} changed while it was copied"]
        copied = Path(self._format_dest(assignment_id, student_id))
        # nbgrader makes the copy's folder only when the source folder holds files to copy.
        if copied.exists():
            found += [f"the copy of {name}" for name in problems(copied)]
        if found:
            refuse(self, assignment_id, student_id, found)

    def convert_single_notebook(self: Any, notebook_filename: str) -> None:
        # Called with the submitted notebook, which nbgrader is about to read as the grader.
        try:
            check_notebook(notebook_filename)
        except SubmissionRefused as exc:
            self.log.error("%s", exc)
            raise NbGraderException(str(exc)) from None
        convert(self, notebook_filename)

    Autograde.init_assignment = init_assignment
    Autograde.convert_single_notebook = convert_single_notebook
    Autograde._autograder_guarded = True


def _record_zero(coursedir: Any, assignment_id: str, student_id: str) -> None:
    """Give a refused submission zero on every grade cell in the gradebook.

    Whatever an earlier autograde of the learner's previous submission scored must not stand
    for a submission that was refused. Scores entered by hand stay, as for any autograde.
    """
    from nbgrader.api import Gradebook

    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        gradebook.update_or_create_student(student_id)
        found = gradebook.update_or_create_submission(assignment_id, student_id)
        for notebook in found.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gradebook.db.commit()
