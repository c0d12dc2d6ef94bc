"""``autograder build-course DIR``: write an nbgrader course directory from ``solutions/``.

Layout of a built course (everything under ``DIR`` that this verb writes)::

    DIR/
      nbgrader_config.py            course id, gradebook URL, timeouts, feedback filters
      .keras-classroom-course       marker: JSON naming the builder and the assignments
      source/<assignment>/<assignment>.ipynb   one source notebook per assignment
      grader/<assignment>.json      grading manifest: how `autograder grade` re-checks each
                                    grade cell outside the kernel (holds expected answers)

Each assignment is one notebook with the same name as the assignment (``a1_shapes_and_compile``,
``a2_mnist_classifier``, ...), built from ``solutions/<assignment>.py`` by
:mod:`autograder.render.nbgrader_source`. nbgrader then adds its own folders as usual:
``release/<assignment>/`` (``nbgrader generate_assignment``), ``submitted/<student>/<assignment>/``
(collected work), ``autograded/<student>/<assignment>/`` (``nbgrader autograde``),
``feedback/<student>/<assignment>/`` (``nbgrader generate_feedback``), and the SQLite gradebook
``gradebook.db``. Rebuilding a course rewrites only ``nbgrader_config.py``, the marker,
``source/`` and the manifests in ``grader/``; submissions, grades and feedback are left alone.

Grade cells are the nbgrader cells whose metadata has ``grade: true``; their ``grade_id`` and
``points`` are in the notebook metadata and in the gradebook after ``generate_assignment``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import __version__

MARKER = ".keras-classroom-course"
CONFIG_NAME = "nbgrader_config.py"
COURSE_ID = "keras-classroom"
# Seconds nbgrader waits for one cell. The longest reference training cell takes a few seconds
# on a laptop core; this leaves room for a slow learner model and a machine grading in parallel
# (nbgrader's default, 30 s, fails training cells under load).
CELL_TIMEOUT = 600
# Seconds SQLite waits for a lock on the gradebook (the default of 5 fails when several graders
# write at once).
DB_LOCK_TIMEOUT = 60
# Stderr lines TensorFlow and Keras may still print; nbgrader drops stderr outputs matching it
# before grading, as a backstop for `autograder.silence()` and the silent checks.
STDERR_NOISE = (
    r"(tensorflow|TensorFlow|oneDNN|absl::|cuda|XLA|"
    r"^[IWE]\d{4} |WARNING: All log messages|keras/src/)"
)


@dataclass(frozen=True)
class CourseLayout:
    """Where a built course keeps its parts.

    Attributes:
        root: The course directory.
        config: Its ``nbgrader_config.py``.
        gradebook: The SQLite gradebook nbgrader creates on first use.
        notebooks: Source notebook of each assignment, by assignment name, in course order.
    """

    root: Path
    config: Path
    gradebook: Path
    notebooks: dict[str, Path]

    @property
    def assignments(self) -> list[str]:
        """Assignment names in course order."""
        return list(self.notebooks)

    def manifest(self, assignment: str) -> Path:
        """``grader/<assignment>.json``, the grading manifest of ``autograder grade``."""
        from autograder.manifest import manifest_path

        return manifest_path(self.root, assignment)

    def source(self, assignment: str) -> Path:
        """``source/<assignment>/`` of an assignment."""
        return self.root / "source" / assignment

    def release(self, assignment: str) -> Path:
        """``release/<assignment>/<assignment>.ipynb``, written by ``generate_assignment``."""
        return self.root / "release" / assignment / f"{assignment}.ipynb"

    def submitted(self, student: str, assignment: str) -> Path:
        """``submitted/<student>/<assignment>/<assignment>.ipynb``, where collected work goes."""
        return self.root / "submitted" / student / assignment / f"{assignment}.ipynb"

    def autograded(self, student: str, assignment: str) -> Path:
        """``autograded/<student>/<assignment>/<assignment>.ipynb``, written by ``autograde``."""
        return self.root / "autograded" / student / assignment / f"{assignment}.ipynb"

    def feedback(self, student: str, assignment: str) -> Path:
        """``feedback/<student>/<assignment>/<assignment>.html``, by ``generate_feedback``."""
        return self.root / "feedback" / student / assignment / f"{assignment}.html"


class CourseDirError(Exception):
    """The target directory cannot hold a course (it is someone else's, or not a directory)."""


def config_text(root: Path) -> str:
    """The ``nbgrader_config.py`` of a course.

    Args:
        root: Absolute course directory.

    Returns:
        The file's text.
    """
    gradebook = root / "gradebook.db"
    return f'''\
"""nbgrader configuration written by `autograder build-course`; rebuilding overwrites it."""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

from autograder.nbgrader_feedback import ShortGradeTracebacks

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = {COURSE_ID!r}
c.CourseDirectory.root = {str(root)!r}
# SQLite waits up to {DB_LOCK_TIMEOUT} s for a lock, so parallel graders do not fail.
c.CourseDirectory.db_url = {f"sqlite:///{gradebook}?timeout={DB_LOCK_TIMEOUT}"!r}

# Training cells need far more than nbgrader's 30 s default on a busy machine.
c.Execute.timeout = {CELL_TIMEOUT}

# A grade cell with any stderr output scores 0; drop what TensorFlow and Keras may still print.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = {STDERR_NOISE!r}

# Feedback goes to learners: strip hidden tests from grade cells and shorten their tracebacks
# (which would otherwise quote hidden lines) to the learner-facing message.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    ShortGradeTracebacks,
    CSSHTMLHeaderPreprocessor,
]
'''


def _check_target(root: Path, force: bool) -> None:
    if root.exists() and not root.is_dir():
        raise CourseDirError(f"{root} exists and is not a directory; choose another DIR.")
    if not root.exists() or not any(root.iterdir()) or (root / MARKER).is_file() or force:
        return
    raise CourseDirError(
        f"{root} is not empty and was not built by `autograder build-course` (no {MARKER} "
        "file). Choose an empty or new directory, or pass --force to write the course files "
        "into it anyway (existing files other than nbgrader_config.py and source/ are kept)."
    )


def build_course(root: str | Path, *, force: bool = False) -> CourseLayout:
    """Write the nbgrader course directory: config, marker and source notebooks.

    Args:
        root: The course directory; created when missing.
        force: Write into a non-empty directory that this verb did not build.

    Returns:
        The :class:`CourseLayout` of the course.

    Raises:
        CourseDirError: When ``root`` is a file, or a non-empty directory of something else
            and ``force`` is False.
    """
    from autograder.quiet import silence

    # The solutions import Keras; keep TensorFlow's start-up messages off the instructor's screen.
    silence()
    from autograder.manifest import manifest_for
    from autograder.render.nbgrader_source import render

    root = Path(root).expanduser().resolve()
    _check_target(root, force)
    assignments = _load_assignments()
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_NAME).write_text(config_text(root), encoding="utf-8")
    source_root = root / "source"
    if source_root.is_dir():
        # Rebuild from scratch: an assignment removed from solutions/ must not linger.
        shutil.rmtree(source_root)
    notebooks: dict[str, Path] = {}
    for assignment in assignments:
        target = source_root / assignment.name / f"{assignment.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(render(assignment), target)
        manifest_for(assignment).write(root)
        notebooks[assignment.name] = target
    marker = {
        "built_by": "autograder build-course",
        "version": __version__,
        "course_id": COURSE_ID,
        "assignments": list(notebooks),
        "points": {a.name: a.total_points for a in assignments},
    }
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return CourseLayout(root, root / CONFIG_NAME, root / "gradebook.db", notebooks)


def _load_assignments() -> list:
    """Import ``solutions`` (from the installed package or the repository next to it)."""
    try:
        import solutions
    except ImportError:
        # An editable install exposes `autograder` only; solutions/ sits beside it in the repo.
        repo = Path(__file__).resolve().parent.parent
        if not (repo / "solutions" / "__init__.py").is_file():
            raise
        sys.path.insert(0, str(repo))
        import solutions
    return solutions.assignments()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("dir", type=Path, help="course directory to create or rebuild")
    parser.add_argument(
        "--force", action="store_true",
        help="write into a non-empty directory that build-course did not create",
    )


def run(args: argparse.Namespace) -> int:
    """Build the course and say what to run next.

    Args:
        args: Parsed arguments with ``dir`` and ``force``.

    Returns:
        0 on success, 2 when the directory cannot be used.
    """
    try:
        layout = build_course(args.dir, force=args.force)
    except CourseDirError as exc:
        print(f"autograder build-course: {exc}", file=sys.stderr)
        return 2
    for name, path in layout.notebooks.items():
        print(f"wrote {path.relative_to(layout.root)}  ({name})")
    print(f"wrote {layout.config}")
    print(
        f"Next: cd {layout.root} && nbgrader generate_assignment {layout.assignments[0]}"
    )
    return 0
