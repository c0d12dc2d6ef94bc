"""Learner ids are data: which ids the grader can grade under, and the file names it derives.

A learner id is the name of a folder under ``submitted/``, and learners often choose it (an LMS
login, a name typed into ``nbgrader submit``). nbgrader itself treats an id as a glob pattern
(``CourseDirectory.student_id`` is a "file glob", and its autograde converter globs the folder
it found once more), strips surrounding whitespace, and never sees a folder whose name starts
with a dot. The grader instead grades each folder as exactly the learner it names
(:mod:`autograder.grading.autograde`), and names its own files after a learner by
:func:`file_stem`, which stays short and plain whatever the id is.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

# An id used as a file name as it is: short, plain ASCII, not hidden, no option-like dash.
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,99}")
# Characters kept from an id that is not plain, ahead of its hash.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")
# A stem made from a hash contains "~", which no plain id does: no learner can choose an id
# whose stem is another learner's.
_HASH_MARK = "~"
MAX_ID_BYTES = 255
# Largest submitted notebook the grader reads: nbgrader parses a whole notebook in memory, at
# several times its size. A course's notebooks with their outputs are a few MB.
MAX_NOTEBOOK_BYTES = 100 * 2**20


def refusal(student: str) -> str | None:
    """Say why the grader cannot grade under an id, or None when it can.

    Any id that can name a folder and that nbgrader keeps as it is can be graded: glob
    characters, a leading dot or dash, spaces inside, any Unicode letters, up to 255 bytes.

    Args:
        student: The learner id (a folder name under ``submitted/``).

    Returns:
        The reason, in words an instructor can act on; None when the id can be used.
    """
    if not student or student in (".", ".."):
        return "an empty id, '.' or '..' names no learner"
    try:
        encoded = student.encode("utf-8")
    except UnicodeEncodeError:
        return ("the id is not valid UTF-8 (the folder name holds bytes that are not text); "
                "rename the folder")
    if len(encoded) > MAX_ID_BYTES:
        return f"the id is {len(encoded)} bytes long; a folder name holds at most {MAX_ID_BYTES}"
    if "/" in student or "\0" in student:
        return "the id contains '/' or a NUL byte, which no folder name can"
    if student != student.strip():
        return ("the id starts or ends with whitespace, which nbgrader strips (it would grade "
                f"{student.strip()!r} instead); rename the folder")
    if any(unicodedata.category(char) == "Cc" for char in student):
        return ("the id contains a control character (such as a newline or a tab), which "
                "nbgrader cannot match; rename the folder")
    return None


def shown(student: str) -> str:
    """An id as it can be printed: control characters and stray bytes escaped, nothing lost.

    Args:
        student: The learner id.

    Returns:
        The id with each control character, and each byte that is not UTF-8, as a
        backslash escape (``\\n``, ``\\udcff``).
    """
    escaped = "".join(char.encode("unicode_escape").decode("ascii")
                      if unicodedata.category(char) in ("Cc", "Cs") else char
                      for char in student)
    return escaped


def file_stem(student: str) -> str:
    """A short, plain file-name stem for a learner's files (results, logs, stage folders).

    Plain ids (ASCII letters, digits and ``_.@+-``, not starting with a dot or dash, at most
    100 characters) are their own stem, so ``grader/results/a1/alice.json`` stays readable.
    Any other id gets a readable prefix and a hash of the whole id, so two learners never share
    a stem and no stem is hidden, option-like or too long for a folder name.

    Args:
        student: The learner id.

    Returns:
        At most 100 characters from ``[A-Za-z0-9_.@+~-]``.
    """
    if _PLAIN.fullmatch(student):
        return student
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    prefix = _UNSAFE.sub("_", student).lstrip(".-")[:40]
    return f"{prefix}{_HASH_MARK}{digest}"


def oversized_notebook(folder: Path) -> str | None:
    """Say which submitted notebook is too large for the grader to read, if any.

    Args:
        folder: ``submitted/<student>/<assignment>``.

    Returns:
        The reason, naming the notebook; None when every notebook fits.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        return f"{folder.name} cannot be read ({exc.strerror})"
    for entry in sorted(entries, key=lambda entry: entry.name):
        if not entry.name.endswith(".ipynb") or not entry.is_file(follow_symlinks=False):
            continue
        size = entry.stat(follow_symlinks=False).st_size
        if size > MAX_NOTEBOOK_BYTES:
            return (f"{entry.name} is {size / 2**20:.0f} MB; the grader reads notebooks of at "
                    f"most {MAX_NOTEBOOK_BYTES // 2**20} MB (clear its outputs and submit again)")
    return None


def notebooks_in(folder: str, notebook_id: str) -> list[str]:
    """The notebooks nbgrader's glob of ``<folder>/<notebook_id>.ipynb`` would find, found
    without globbing the folder (whose name may hold glob characters).

    Args:
        folder: A learner's submitted folder.
        notebook_id: nbgrader's notebook pattern (``*`` for every notebook).

    Returns:
        Their paths, sorted; hidden files excluded, as nbgrader's glob excludes them.
    """
    import fnmatch

    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, name) for name in names
            if not name.startswith(".") and fnmatch.fnmatchcase(name, notebook_id + ".ipynb")
            and os.path.isfile(os.path.join(folder, name))]


def exact_ids() -> None:
    """Make nbgrader's own autograde converter take learner ids as names, not as globs.

    For plain ``nbgrader autograde`` and the formgrader (a course config calls this): ``--student
    ID`` means the folder named ``ID`` (``--student '*'``, or none, means every learner), every
    learner folder is found, a leading dot included, and each folder's notebooks are found
    without globbing its name again, so an id such as ``[A]_x`` is graded as itself and never as
    ``A_x``. An id :func:`refusal` refuses is logged and skipped. Calling this again changes
    nothing.
    """
    import glob

    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException

    if getattr(Autograde, "_exact_ids", False):
        return

    def init_notebooks(self: object) -> None:
        coursedir = self.coursedir  # type: ignore[attr-defined]
        log = self.log  # type: ignore[attr-defined]
        student = coursedir.student_id
        marks = ("\0assignment\0", "\0student\0")
        path = glob.escape(self._format_source(*marks))  # type: ignore[attr-defined]
        pattern = (path.replace(marks[0], coursedir.assignment_id)
                   .replace(marks[1], "*" if student == "*" else glob.escape(student)))
        regexp = self._format_source("(?P<assignment_id>.*)",  # type: ignore[attr-defined]
                                     "(?P<student_id>.*)", escape=True)
        self.assignments = {}  # type: ignore[attr-defined]
        self.notebooks = []  # type: ignore[attr-defined]
        for folder in sorted(glob.glob(pattern, include_hidden=True)):
            found = re.fullmatch(regexp, folder)
            why = refusal(found["student_id"]) if found else "its folder is not a learner's"
            if why is not None:
                log.error("Skipping %r: %s", folder, why)
                continue
            notebooks = notebooks_in(folder, coursedir.notebook_id)
            if notebooks:
                self.assignments[folder] = notebooks  # type: ignore[attr-defined]
        if not self.assignments:  # type: ignore[attr-defined]
            message = f"No notebooks were matched by '{pattern}'"
            log.error(message)
            raise NbGraderException(message)

    Autograde.init_notebooks = init_notebooks
    Autograde._exact_ids = True
