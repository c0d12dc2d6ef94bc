"""``autograder build-course DIR``: write an nbgrader course directory from ``solutions/``.

Layout of a built course (everything under ``DIR`` that this verb writes)::

    DIR/
      nbgrader_config.py            course id, gradebook URL, timeouts, feedback filters
      .keras-classroom-course       marker: JSON naming the builder and the assignments
      source/<assignment>/<assignment>.ipynb   one source notebook per assignment
      grader/<assignment>.json      grading manifest: how `autograder grade` re-checks each
                                    grade cell outside the kernel (holds expected answers)
      grader/<assignment>.timing.json   the reference solution's run time (default time limit)
      grader/secret                 from which the grader derives its grader-only rows; created
                                    once and kept on rebuilds

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
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from autograder import __version__
from autograder.grading import layout

MARKER = ".keras-classroom-course"
CONFIG_NAME = layout.CONFIG_NAME
COURSE_ID = "keras-classroom"
# Seconds nbgrader waits for one cell. The longest reference training cell takes a few seconds
# on a laptop core; this leaves room for a slow learner model and a machine grading in parallel
# (nbgrader's default, 30 s, fails training cells under load).
CELL_TIMEOUT = 600
DB_LOCK_TIMEOUT = layout.DB_LOCK_TIMEOUT
# Every kernel nbgrader starts to grade this course (autograde, formgrader) runs staged and
# confined: see autograder.grading.provisioner.
KERNEL_MANAGER = "autograder.grading.provisioner.GradingKernelManager"
# Stderr lines TensorFlow and Keras may still print; nbgrader drops stderr outputs matching it
# before grading, as a backstop for `autograder.silence()` and the silent checks.
STDERR_NOISE = (
    r"(tensorflow|TensorFlow|oneDNN|absl::|cuda|XLA|"
    r"^[IWE]\d{4} |WARNING: All log messages|keras/src/)"
)


class CourseLayout(layout.CourseLayout):
    """A course written by :func:`build_course`: nbgrader's layout plus what was built.

    Attributes:
        root: The course directory.
        config: Its ``nbgrader_config.py``.
        gradebook: The SQLite gradebook nbgrader creates on first use.
        notebooks: Source notebook of each assignment, by assignment name, in course order.
    """

    def __init__(self, root: Path, config: Path | None = None, gradebook: Path | None = None,
                 notebooks: dict[str, Path] | None = None):
        """Describe a built course.

        Args:
            root: The course directory.
            config: Its config file (``root/nbgrader_config.py`` when None).
            gradebook: Its gradebook file (``root/gradebook.db`` when None).
            notebooks: Assignment name -> source notebook, in course order.
        """
        super().__init__(root)
        self.config = config or self.config_file
        self.gradebook = gradebook or self.root / "gradebook.db"
        self.notebooks = dict(notebooks or {})

    @property
    def assignments(self) -> list[str]:
        """Assignment names in course order."""
        return list(self.notebooks)

    def source(self, assignment: str) -> Path:
        """``source/<assignment>/`` of an assignment."""
        return self.step("source", ".", assignment)


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

from autograder.grading.learners import exact_ids
from autograder.grading.nbgrader_verify import configure_autograde
from autograder.grading.submission import guard_autograde
from autograder.nbgrader_feedback import ShortGradeTracebacks

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = {COURSE_ID!r}
c.CourseDirectory.root = {str(root)!r}
# SQLite waits up to {DB_LOCK_TIMEOUT} s for a lock, so parallel graders do not fail.
c.CourseDirectory.db_url = {f"sqlite:///{gradebook}?timeout={DB_LOCK_TIMEOUT}"!r}

# Training cells need far more than nbgrader's 30 s default on a busy machine.
c.Execute.timeout = {CELL_TIMEOUT}

# Learners' code runs confined: its own namespaces, only its own folder, no network, limits.
c.Execute.kernel_manager_class = {KERNEL_MANAGER!r}
# nbgrader copies and reads a submission as the grader, following links: a submitted folder
# holding anything but regular files and folders is refused (and logged) before that copy.
guard_autograde()
# Learner ids are names, not globs: `[A]_x` is graded as itself, never as `A_x`.
exact_ids()
# nbgrader autograde and the formgrader record the grader's verified scores, never the kernel's
# claim: hidden judgements stay out of learners' kernels, the exports are verified confined, and
# each grade cell shows the grader's verdict in the feedback.
configure_autograde(c, verify=True)

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


def build_course(root: str | Path, *, force: bool = False, timing: bool = False,
                 progress: Any = None) -> CourseLayout:
    """Write the nbgrader course directory: config, marker, secret and source notebooks.

    Args:
        root: The course directory; created when missing.
        force: Write into a non-empty directory that this verb did not build.
        timing: Run each reference notebook once and record its time, from which
            ``autograder grade`` derives its default time limit (the command line does; it
            takes a minute or two).
        progress: Called with a line of text per timed assignment (``print``), or None.

    Returns:
        The :class:`CourseLayout` of the course.

    Raises:
        CourseDirError: When ``root`` is a file, or a non-empty directory of something else
            and ``force`` is False.
    """
    from autograder.quiet import silence

    # The solutions import Keras; keep TensorFlow's start-up messages off the instructor's screen.
    silence()
    from autograder.grading.manifest import manifest_for
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
    built = CourseLayout(root, root / CONFIG_NAME, root / "gradebook.db", notebooks)
    _write_secret(built)
    if timing:
        for name, notebook in notebooks.items():
            seconds = time_reference(notebook)
            if progress is not None:
                progress(f"timed {name}: " + (f"{seconds:.0f} s" if seconds else "failed"))
            if seconds is not None:
                built.grader(f"{name}.timing.json").write_text(
                    json.dumps({"reference_seconds": round(seconds, 1)}) + "\n",
                    encoding="utf-8")
    return built


def _write_secret(built: CourseLayout) -> None:
    """Create ``grader/secret`` once; rebuilding keeps it, so grader-only rows stay the same."""
    from autograder.holdout import new_secret

    path = built.secret
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(new_secret() + "\n")


def time_reference(notebook: Path) -> float | None:
    """Run a source notebook (the reference solution) once, as a grading kernel would.

    Args:
        notebook: The source notebook.

    Returns:
        Wall seconds, or None when it did not run through.
    """
    import tempfile

    from nbclient import NotebookClient

    source = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="autograder-timing-") as folder:
        started = time.monotonic()
        try:
            NotebookClient(source, timeout=CELL_TIMEOUT, kernel_name="python3",
                           resources={"metadata": {"path": folder}}).execute()
        except Exception:  # noqa: BLE001 - an untimed course grades with the default limit
            return None
        return time.monotonic() - started


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
    parser.add_argument(
        "--skip-timing", action="store_true",
        help="do not run the reference notebooks to time them (grading then defaults to a "
             "600 s limit per submission)",
    )


def run(args: argparse.Namespace) -> int:
    """Build the course and say what to run next.

    Args:
        args: Parsed arguments with ``dir`` and ``force``.

    Returns:
        0 on success, 2 when the directory cannot be used.
    """
    try:
        layout = build_course(args.dir, force=args.force, timing=not args.skip_timing,
                              progress=print)
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
