"""The course layout comes from nbgrader's own CourseDirectory, so any layout grades."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _grading_course import ASSIGNMENT, NOTEBOOK, REFERENCE, build_course, course_env, plant

from autograder.grading.layout import CourseLayout

CUSTOM = 'c.CourseDirectory.directory_structure = "{nbgrader_step}/{assignment_id}/{student_id}"\n'


def test_default_layout_paths(tmp_path: Path) -> None:
    layout = CourseLayout(tmp_path)
    assert layout.submitted("ann", "a1") == tmp_path / "submitted" / "ann" / "a1" / "a1.ipynb"
    assert layout.source("a1") == tmp_path / "source" / "a1"
    assert layout.manifest("a1") == tmp_path / "grader" / "a1.json"
    assert layout.db_url.endswith("gradebook.db?timeout=60")


def test_custom_directory_structure_is_followed(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n" + CUSTOM)
    for student in ("ann", "bob"):
        (tmp_path / "submitted" / "a1" / student).mkdir(parents=True)
    (tmp_path / "submitted" / "a2" / "cid").mkdir(parents=True)
    layout = CourseLayout(tmp_path)
    assert layout.students("a1") == ["ann", "bob"]
    assert layout.autograded("ann", "a1") == tmp_path / "autograded" / "a1" / "ann" / "a1.ipynb"


@pytest.mark.nbgrader
@pytest.mark.slow
def test_a_course_with_a_custom_layout_is_graded(tmp_path: Path) -> None:
    course = build_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(CUSTOM)
    submitted = plant(course, "ref", REFERENCE)
    moved = course / "submitted" / ASSIGNMENT / "ref" / f"{NOTEBOOK}.ipynb"
    moved.parent.mkdir(parents=True)
    submitted.rename(moved)
    done = subprocess.run([str(Path(sys.executable).parent / "autograder"), "grade",
                           str(course), ASSIGNMENT, "--workers", "1"], capture_output=True,
                          text=True, env={**course_env(), "COURSE_EPOCHS": "8"}, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4.0/4" in done.stdout
    graded = course / "autograded" / ASSIGNMENT / "ref" / f"{NOTEBOOK}.ipynb"
    assert nbformat.read(graded, as_version=4).cells


def test_grading_processes_import_nbformat_without_the_iri_grammars(tmp_path: Path) -> None:
    # jsonschema compiles Lark grammars for IRI formats at import when rfc3987-syntax is
    # installed; a process that builds a CourseLayout first goes without them, and notebooks
    # still validate.
    probe = (
        "import sys\n"
        "from autograder.grading.layout import CourseLayout\n"
        f"CourseLayout({str(tmp_path)!r}).coursedir\n"
        "import nbformat\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'), 'lark' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["None", "False"]
