"""One owner of a course's layout: where every part of an nbgrader course lives.

nbgrader decides where submissions, autograded notebooks and feedback go, through
``CourseDirectory.directory_structure`` and its ``*_directory`` names; a course may change them
in ``nbgrader_config.py``. :class:`CourseLayout` reads that config once and asks nbgrader's own
:meth:`~nbgrader.coursedir.CourseDirectory.format_path` for every path, so grading, reports and
build-course agree with nbgrader on any layout. The grader's own files live under ``grader/``,
outside every folder nbgrader hands to learners.
"""

from __future__ import annotations

import glob
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

GRADER_DIR = "grader"
CONFIG_NAME = "nbgrader_config.py"
# Seconds SQLite waits for a lock on the gradebook: nbgrader's default of 5 fails when several
# graders write at once.
DB_LOCK_TIMEOUT = 60


def skip_iri_syntax_checker() -> None:
    """Let jsonschema load without its optional IRI syntax checker, in this process.

    nbformat imports jsonschema, and jsonschema compiles some forty Lark grammars at import when
    the optional ``rfc3987-syntax`` package is installed (JupyterLab's ``jupyter-events`` brings
    it): about 1.4 s of CPU in every grading process, on the critical path of a batch. Notebook
    validation uses no ``iri`` formats, so nothing grading checks changes. A process that has
    already imported jsonschema keeps it as it is.
    """
    if "jsonschema" not in sys.modules:
        # A None entry makes ``import rfc3987_syntax`` raise ImportError, which jsonschema treats
        # as "not installed".
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def load_config(course_dir: str | Path) -> Any:
    """Load a course's ``nbgrader_config.py`` (an empty config when there is none).

    Args:
        course_dir: The nbgrader course directory.

    Returns:
        A traitlets ``Config``.
    """
    from traitlets.config.loader import Config, PyFileConfigLoader

    path = Path(course_dir) / CONFIG_NAME
    if not path.exists():
        return Config()
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


class CourseLayout:
    """The paths of one nbgrader course, as nbgrader itself computes them.

    Attributes:
        root: The course directory (absolute).
        nbgrader_config: The course's traitlets config, read once.
    """

    def __init__(self, root: str | Path, config: Any | None = None):
        """Read a course's layout.

        Args:
            root: The course directory.
            config: Its config; read from ``root/nbgrader_config.py`` when None.
        """
        skip_iri_syntax_checker()
        self.root = Path(root).expanduser().resolve()
        self.nbgrader_config = load_config(self.root) if config is None else config

    @cached_property
    def coursedir(self) -> Any:
        """nbgrader's ``CourseDirectory`` for this course."""
        from nbgrader.coursedir import CourseDirectory

        self.nbgrader_config.CourseDirectory.root = str(self.root)
        return CourseDirectory(config=self.nbgrader_config)

    @property
    def course_id(self) -> str:
        """The course id nbgrader uses in the gradebook."""
        return str(self.coursedir.course_id or "default_course")

    @property
    def db_url(self) -> str:
        """The gradebook URL, with a lock wait that parallel writers need for SQLite."""
        url = str(self.coursedir.db_url)
        if url.startswith("sqlite") and "timeout=" not in url:
            url += ("&" if "?" in url else "?") + f"timeout={DB_LOCK_TIMEOUT}"
        return url

    @property
    def config_file(self) -> Path:
        """``nbgrader_config.py`` of the course."""
        return self.root / CONFIG_NAME

    def step(self, step: str, student: str, assignment: str) -> Path:
        """Folder of one nbgrader step for a student's assignment.

        Args:
            step: ``"source"``, ``"release"``, ``"submitted"``, ``"autograded"`` or
                ``"feedback"``.
            student: Student id (``"."`` for steps without students).
            assignment: Assignment name.

        Returns:
            The folder nbgrader uses.
        """
        name = getattr(self.coursedir, f"{step}_directory")
        return Path(os.path.normpath(self.coursedir.format_path(name, student, assignment)))

    def source(self, assignment: str) -> Path:
        """``source/<assignment>/`` (or the course's own layout)."""
        return self.step("source", ".", assignment)

    def release(self, assignment: str) -> Path:
        """The released notebook of an assignment."""
        return self.step("release", ".", assignment) / f"{assignment}.ipynb"

    def submitted(self, student: str, assignment: str) -> Path:
        """The submitted notebook of a student (one notebook per assignment)."""
        return self.step("submitted", student, assignment) / f"{assignment}.ipynb"

    def autograded(self, student: str, assignment: str) -> Path:
        """The autograded notebook of a student."""
        return self.step("autograded", student, assignment) / f"{assignment}.ipynb"

    def feedback(self, student: str, assignment: str) -> Path:
        """The feedback HTML of a student."""
        return self.step("feedback", student, assignment) / f"{assignment}.html"

    def students(self, assignment: str) -> list[str]:
        """Students with a submission of an assignment.

        Args:
            assignment: Assignment name.

        Returns:
            Student ids, sorted.
        """
        marker = "\0student\0"
        path = self.coursedir.format_path(self.coursedir.submitted_directory, marker, assignment)
        # The student id is the path component where the marker stood. Every other component
        # is matched literally (a course folder named "[x]" must not become a pattern), and
        # ids starting with a dot are learners too.
        parts = Path(path).parts
        index = parts.index(marker)
        pattern = os.path.join(*(("*" if part == marker else glob.escape(part))
                                 for part in parts))
        found = {Path(folder).parts[index]
                 for folder in glob.glob(pattern, include_hidden=True) if os.path.isdir(folder)}
        return sorted(found)

    def grader(self, *parts: str) -> Path:
        """A path under the grader-only folder ``grader/`` (not created).

        Args:
            *parts: Path components below it.

        Returns:
            The path.
        """
        return self.root.joinpath(GRADER_DIR, *parts)

    def manifest(self, assignment: str) -> Path:
        """``grader/<assignment>.json``, the grading manifest."""
        return self.grader(f"{assignment}.json")

    @property
    def secret(self) -> Path:
        """``grader/secret``, from which the grader derives its grader-only rows."""
        return self.grader("secret")

    def results(self, assignment: str) -> Path:
        """``grader/results/<assignment>/``: one JSON result per student."""
        return self.grader("results", assignment)

    def logs(self, assignment: str) -> Path:
        """``grader/logs/<assignment>/``: worker and per-student logs."""
        return self.grader("logs", assignment)

    def runs(self) -> Path:
        """``grader/runs/``: per-batch folders the grader creates and removes."""
        return self.grader("runs")
