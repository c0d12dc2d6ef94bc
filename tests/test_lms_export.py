"""``autograder export``: the gradebook's totals joined to rosters as Canvas and Moodle export them.

The gradebook is a real nbgrader one, written through ``nbgrader.api.Gradebook`` (assignments,
notebooks, grade cells, submissions and scores, no kernels); the rosters under ``tests/data/lms``
are laid out as the LMSs export them; the command runs as a subprocess for exit codes and
messages.
"""

from __future__ import annotations

import codecs
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from autograder.errors import RosterError, UsageError
from autograder.lms.export import build, number
from autograder.lms.roster import read_canvas, read_moodle
from autograder.lms.scores import Submission, read_scores

DATA = Path(__file__).parent / "data" / "lms"
CANVAS = DATA / "canvas_gradebook.csv"
MOODLE = DATA / "moodle_grades.csv"
A1, A2 = "a1_shapes_and_compile", "a2_mnist_classifier"
# a1: one notebook, cells worth 3 and 5; a2: two notebooks, cells worth 4 and 2.
LAYOUT = {A1: {A1: {"q1": 3.0, "q2": 5.0}}, A2: {"part1": {"q1": 4.0}, "part2": {"q1": 2.0}}}
# learner -> assignment -> notebook -> cell -> (auto, manual); penalties per (learner, notebook).
SCORES = {
    # a1: the manual 4 replaces the automatic 2 -> 7; a2: 6 less a late penalty of 1 -> 5.
    "jdoe": {A1: {A1: {"q1": (3, None), "q2": (2, 4)}},
             A2: {"part1": {"q1": (4, None)}, "part2": {"q1": (2, None)}}},
    # a1: 7, what Canvas already has; no a2 submission.
    "alovelace": {A1: {A1: {"q1": (3, None), "q2": (4, None)}}},
    # a1: 8; a2: 6, but Canvas marks the learner excused.
    "aturing": {A1: {A1: {"q1": (3, None), "q2": (5, None)}},
                A2: {"part1": {"q1": (4, None)}, "part2": {"q1": (2, None)}}},
    # In the gradebook, not in any roster.
    "ghost": {A1: {A1: {"q1": (1, None), "q2": (1, None)}}},
    # a1 submitted, its cell waiting for manual grading (no score yet): counts 0.
    "enoether": {A1: {A1: {"q1": (3, None), "q2": (None, None)}}},
}
PENALTIES = {("jdoe", "part1"): 1.0}


def make_course(folder: Path) -> Path:
    """An nbgrader course folder whose gradebook holds :data:`SCORES`.

    Args:
        folder: Where to create it.

    Returns:
        The course folder.
    """
    import sqlalchemy.exc
    from nbgrader.api import Gradebook

    folder.mkdir(parents=True, exist_ok=True)
    due = datetime(2026, 11, 1, 12, 0)
    # nbgrader runs `alembic` from PATH when it creates a gradebook.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with mock.patch.dict(os.environ, {"PATH": path}), \
            Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        for assignment, notebooks in LAYOUT.items():
            gradebook.add_assignment(assignment, duedate=due)
            for notebook, cells in notebooks.items():
                gradebook.add_notebook(notebook, assignment)
                for cell, top in cells.items():
                    gradebook.add_grade_cell(cell, notebook, assignment, max_score=top,
                                             cell_type="code")
        for learner, assignments in SCORES.items():
            student = learner
            gradebook.add_student(student, first_name=learner, last_name="X")
            for assignment, notebooks in assignments.items():
                gradebook.add_submission(assignment, student, timestamp=due + timedelta(hours=1))
                for notebook, cells in notebooks.items():
                    for cell, (auto, manual) in cells.items():
                        grade = gradebook.find_grade(cell, notebook, assignment, student)
                        grade.auto_score = auto
                        grade.manual_score = manual
                        grade.needs_manual_grade = auto is None and manual is None
                    penalty = PENALTIES.get((learner, notebook))
                    if penalty is not None:
                        gradebook.find_submission_notebook(
                            notebook, assignment, student).late_submission_penalty = penalty
        gradebook.add_student("nosubmission")
        gradebook.db.commit()
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course, made once: nbgrader starts `alembic` to create a gradebook, which is slow."""
    return make_course(tmp_path_factory.mktemp("lms") / "course")


def copy_course(template: Path, folder: Path, student_id: Callable[[str], str] = str) -> Path:
    """A copy of the template course whose student ids are renamed.

    Args:
        template: The course made by :func:`make_course`.
        folder: Where to copy it.
        student_id: Learner name -> the nbgrader student id (the LMS key).

    Returns:
        The course folder.
    """
    folder.mkdir(parents=True)
    shutil.copy(template / "gradebook.db", folder / "gradebook.db")
    with closing(sqlite3.connect(folder / "gradebook.db")) as db, db:
        for learner in [*SCORES, "nosubmission"]:
            if student_id(learner) != learner:
                for table, column in (("student", "id"), ("submitted_assignment", "student_id")):
                    db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
                               (student_id(learner), learner))
    return folder


@pytest.fixture
def course(template: Path, tmp_path: Path) -> Path:
    """A course whose student ids are Canvas's SIS Login IDs."""
    return copy_course(template, tmp_path / "course")


@pytest.fixture
def email_course(template: Path, tmp_path: Path) -> Path:
    """A course whose student ids are Moodle's email addresses."""
    return copy_course(template, tmp_path / "course", lambda learner: f"{learner}@example.edu")


def autograder(*args: str | Path) -> subprocess.CompletedProcess:
    """Run ``autograder`` from this venv as a subprocess."""
    return subprocess.run([str(Path(sys.executable).parent / "autograder"), *map(str, args)],
                          capture_output=True, text=True, env={**os.environ}, check=False,
                          timeout=120)


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def by_first(rows: list[list[str]], column: int = 3) -> dict[str, list[str]]:
    return {row[column]: row for row in rows}


# --- scores ------------------------------------------------------------------------------


def test_scores_are_nbgrader_totals_manual_first_less_late_penalty(course: Path) -> None:
    from nbgrader.api import Gradebook

    scores = read_scores(course)
    assert scores.assignments == {A1: 8.0, A2: 6.0}
    assert scores.submissions[("jdoe", A1)].score == 7.0
    assert scores.submissions[("jdoe", A2)] == Submission(6.0, 1.0, 0)
    assert scores.submissions[("jdoe", A2)].score == 5.0
    assert scores.submissions[("enoether", A1)].ungraded == 1
    assert ("alovelace", A2) not in scores.submissions
    assert "nosubmission" in scores.students
    # The same totals as nbgrader's own ORM computes them, one submission at a time.
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for (student, assignment), submission in scores.submissions.items():
            found = gradebook.find_submission(assignment, student)
            assert submission.score == max(0.0, found.score - found.late_submission_penalty)


def test_a_penalty_larger_than_the_score_gives_zero() -> None:
    assert Submission(raw=2.0, penalty=5.0, ungraded=0).score == 0.0


def test_numbers_have_at_most_two_decimals() -> None:
    assert [number(value) for value in (8.0, 7.5, 2 / 3, 0.0, -0.001)] == [
        "8", "7.5", "0.67", "0", "0"]


# --- Canvas ------------------------------------------------------------------------------


def test_canvas_roster_is_read_as_canvas_exports_it() -> None:
    roster = read_canvas(CANVAS)
    assert [learner.key for learner in roster.learners] == [
        "jdoe", "alovelace", "aturing", "ghopper", "enoether"]
    assert roster.learners[0].cells["Student"] == "Doe, Jane"
    assert roster.learners[0].line == 3
    # The test student has no SIS Login ID: not matchable, reported.
    assert [learner.cells["Student"] for learner in roster.unkeyed] == ["Student, Test"]
    assert roster.points["a1_shapes_and_compile (1001)"] == "8.00"
    assert roster.grade_columns() == ["a1_shapes_and_compile (1001)",
                                      "Lesson 2 lab: MNIST (1002)", "Reading quiz (1003)"]
    assert roster.find_column("Lesson 2 lab: MNIST") == ["Lesson 2 lab: MNIST (1002)"]
    assert roster.find_column("Lesson 2 lab: MNIST (1002)") == ["Lesson 2 lab: MNIST (1002)"]


def test_canvas_export_holds_identity_and_exported_columns_only(course: Path) -> None:
    export = build(course, "canvas", roster=CANVAS,
                   lms_names={A2: "Lesson 2 lab: MNIST"})
    assert export.header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                             "a1_shapes_and_compile (1001)", "Lesson 2 lab: MNIST (1002)"]
    # The Points Possible row right after the header, as Canvas writes it.
    assert export.rows[0] == ["    Points Possible", "", "", "", "", "8", "6"]
    rows = by_first(export.rows[1:])
    assert rows["jdoe"] == ["Doe, Jane", "5001", "S1001", "jdoe", "Section A", "7", "5"]
    # Same score as Canvas: kept in the column (Canvas skips unchanged values); no a2
    # submission and no Canvas score: an empty cell, not 0.
    assert rows["alovelace"][5:] == ["7", ""]
    # Excused in Canvas: EX stays.
    assert rows["aturing"][5:] == ["8", "EX"]
    # Not in the gradebook: Canvas's own score is kept, an empty cell stays empty.
    assert rows["ghopper"][5:] == ["3.00", ""]
    # Submitted, but a cell still needs manual grading: it counts 0, and a warning says so.
    assert rows["enoether"][5:] == ["3", ""]
    assert any("waiting for manual grading" in warning for warning in export.warnings)
    assert len(export.rows) == 1 + 5
    a1, a2 = export.columns
    assert dict(a1.counts) == {"new": 2, "unchanged": 2, "kept": 1}
    assert dict(a2.counts) == {"new": 1, "excused": 1, "empty": 3}
    assert export.gradebook_only == ["ghost", "nosubmission"]
    assert export.roster_only == ["ghopper"]
    assert export.unkeyed == ["line 8 (Student, Test)"]


def test_canvas_changed_unchanged_and_new_are_counted(course: Path) -> None:
    export = build(course, "canvas", roster=CANVAS, assignments=[A1])
    counts = export.columns[0].counts
    # jdoe and enoether had no a1 score in Canvas; alovelace's 7 is unchanged; aturing's 8
    # too; ghopper has no submission and keeps Canvas's 3.
    assert (counts["new"], counts["unchanged"], counts["changed"], counts["kept"]) == (
        2, 2, 0, 1)


def test_canvas_missing_zero_fills_zero_but_keeps_excused(course: Path) -> None:
    export = build(course, "canvas", roster=CANVAS, missing="zero",
                   lms_names={A2: "Lesson 2 lab: MNIST"})
    rows = by_first(export.rows[1:])
    assert rows["alovelace"][5:] == ["7", "0"]
    assert rows["ghopper"][5:] == ["0", "0"]
    assert rows["aturing"][6] == "EX"


def test_canvas_assignment_without_a_column_becomes_a_new_column(course: Path) -> None:
    export = build(course, "canvas", roster=CANVAS)
    assert export.header[-1] == A2
    assert export.columns[1].new
    assert any("Canvas will offer to create it as a new assignment" in warning
               and f"--lms-name {A2}=NAME" in warning for warning in export.warnings)


def test_canvas_points_possible_that_differ_are_reported(course: Path, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS.read_text(encoding="utf-8").replace(",8.00,6.00,", ",100.00,6.00,"),
                      encoding="utf-8")
    export = build(course, "canvas", roster=roster, assignments=[A1])
    assert any("worth 100 points, the gradebook's a1_shapes_and_compile 8" in warning
               for warning in export.warnings)


def test_canvas_key_can_be_sis_user_id_or_canvas_id(template: Path, tmp_path: Path) -> None:
    sis = {"jdoe": "S1001", "alovelace": "S1002", "aturing": "S1003", "ghost": "S9999",
           "enoether": "S1005", "nosubmission": "S0000"}
    course = copy_course(template, tmp_path / "sis", sis.__getitem__)
    export = build(course, "canvas", roster=CANVAS, canvas_key="SIS User ID",
                   assignments=[A1])
    rows = by_first(export.rows[1:], column=2)
    assert rows["S1001"][5] == "7"
    # The test student has no SIS User ID either; with ID it is matchable.
    ids = build(course, "canvas", roster=CANVAS, canvas_key="ID", assignments=[A1])
    assert ids.unkeyed == [] and "5099" in ids.roster_only


def test_canvas_manual_posting_row_integration_id_and_bom(course: Path, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(codecs.BOM_UTF8 + (DATA / "canvas_manual_posting.csv").read_bytes())
    export = build(course, "canvas", roster=roster, assignments=[A1])
    assert export.header[:6] == ["Student", "ID", "SIS User ID", "SIS Login ID",
                                 "Integration ID", "Section"]
    assert export.rows[1] == ["Doe, Jane", "5001", "S1001", "jdoe", "INT-1", "Section A", "7"]


def test_canvas_learner_without_a_name_is_still_a_learner(tmp_path: Path) -> None:
    roster = _mutated(tmp_path, CANVAS,
                      lambda lines: [*lines[:2], lines[2].replace('"Doe, Jane"', ""), *lines[3:]])
    learners = read_canvas(roster).learners
    assert learners[0].key == "jdoe" and learners[0].line == 3


# --- Moodle ------------------------------------------------------------------------------


def test_moodle_roster_is_read_as_moodle_exports_it() -> None:
    roster = read_moodle(MOODLE)
    assert [learner.key for learner in roster.learners][:2] == [
        "jdoe@example.edu", "alovelace@example.edu"]
    # Percentage columns, the course total's is "(Real)" but matches no assignment.
    assert roster.find_column(A1) == ["Assignment: a1_shapes_and_compile (Real)"]
    assert roster.find_column("Reading quiz") == ["Quiz: Reading quiz (Real)"]
    assert "Last downloaded from this course" not in roster.grade_columns()


def test_moodle_export_is_the_id_column_and_one_column_per_item(email_course: Path) -> None:
    export = build(email_course, "moodle", roster=MOODLE, lms_names={A2: "Lesson 2 lab"})
    assert export.header == ["Email address", "Assignment: a1_shapes_and_compile (Real)",
                             "Assignment: Lesson 2 lab (Real)"]
    rows = {row[0]: row[1:] for row in export.rows}
    assert rows == {
        "jdoe@example.edu": ["7", "5"],
        "alovelace@example.edu": ["7", ""],
        "aturing@example.edu": ["8", "6"],
        # Moodle imports an empty cell as "no grade": its own 3 is written back.
        "ghopper@example.edu": ["3.00", ""],
        "enoether@example.edu": ["3", ""],
    }
    assert export.roster_only == ["ghopper@example.edu"]
    assert export.gradebook_only == ["ghost@example.edu", "nosubmission@example.edu"]


def test_moodle_id_number_and_semicolons_with_decimal_commas(template: Path,
                                                             tmp_path: Path) -> None:
    ids = {"jdoe": "S1001", "alovelace": "S1002"}
    course = copy_course(template, tmp_path / "idnumber", lambda learner: ids.get(learner, learner))
    export = build(course, "moodle", roster=DATA / "moodle_grades_semicolon.csv",
                   moodle_id="ID number", assignments=[A1])
    assert export.header == ["ID number", "Assignment: a1_shapes_and_compile (Real)"]
    assert export.rows == [["S1001", "7"], ["S1002", "7"]]
    assert export.columns[0].counts["unchanged"] == 1


# --- plain CSV ---------------------------------------------------------------------------


def test_plain_csv_lists_every_student_with_score_and_max(course: Path) -> None:
    export = build(course, "csv")
    assert export.header == ["student_id", A1, f"{A1} max_score", A2, f"{A2} max_score"]
    rows = {row[0]: row[1:] for row in export.rows}
    assert rows["jdoe"] == ["7", "8", "5", "6"]
    assert rows["alovelace"] == ["7", "8", "", "6"]
    assert rows["nosubmission"] == ["", "8", "", "6"]
    zero = {row[0]: row[1:] for row in build(course, "csv", missing="zero").rows}
    assert zero["nosubmission"] == ["0", "8", "0", "6"]


# --- malformed rosters -------------------------------------------------------------------


def _mutated(tmp_path: Path, source: Path, change: Callable[[list[str]], list[str]]) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines()
    path = tmp_path / f"bad_{source.name}"
    path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")
    return path


def test_missing_column_names_file_and_line(tmp_path: Path) -> None:
    roster = _mutated(tmp_path, CANVAS,
                      lambda lines: [lines[0].replace("SIS Login ID", "Login"), *lines[1:]])
    with pytest.raises(RosterError, match=r"bad_canvas_gradebook.csv, line 1: no column "
                                          r"'SIS Login ID'"):
        read_canvas(roster)


def test_row_with_too_few_or_too_many_fields(tmp_path: Path) -> None:
    short = _mutated(tmp_path, CANVAS,
                     lambda lines: [*lines[:3], lines[3].rsplit(",", 2)[0], *lines[4:]])
    with pytest.raises(RosterError, match=r"line 4, column 21: 20 fields where the header "
                                          r"has 22"):
        read_canvas(short)
    # An unquoted comma in a name splits it in two: one field too many.
    long = _mutated(tmp_path, CANVAS,
                    lambda lines: [*lines[:2], lines[2].replace('"Doe, Jane"', "Doe, Jane"),
                                   *lines[3:]])
    with pytest.raises(RosterError, match=r"line 3, column 23: 23 fields where the header "
                                          r"has 22.*double quotes"):
        read_canvas(long)


def test_trailing_empty_fields_from_spreadsheets_are_accepted(tmp_path: Path) -> None:
    padded = _mutated(tmp_path, MOODLE, lambda lines: [line + ",," for line in lines])
    assert len(read_moodle(padded).learners) == 5


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    roster = _mutated(tmp_path, MOODLE, lambda lines: [*lines, lines[2]])
    with pytest.raises(RosterError, match=r"line 7, column 6 \(Email address\): "
                                          r"'alovelace@example.edu' is also on line 3"):
        read_moodle(roster)


def test_bad_encoding_names_line_and_character(tmp_path: Path) -> None:
    roster = tmp_path / "latin1.csv"
    roster.write_bytes(CANVAS.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(RosterError, match=r"latin1.csv, line 7, character 11: byte 0xc9 is "
                                          r"not UTF-8.*CSV UTF-8"):
        read_canvas(roster)


def test_utf16_from_excel_is_read(tmp_path: Path) -> None:
    roster = tmp_path / "utf16.csv"
    roster.write_bytes(MOODLE.read_text(encoding="utf-8").encode("utf-16"))
    assert read_moodle(roster).learners[4].cells["First name"] == "Émilie"


def test_two_columns_for_one_assignment_is_ambiguous(course: Path, tmp_path: Path) -> None:
    roster = _mutated(tmp_path, CANVAS, lambda lines: [
        lines[0].replace("Reading quiz (1003)", "a1_shapes_and_compile (1004)"), *lines[1:]])
    with pytest.raises(RosterError, match=r"columns 6 \('a1_shapes_and_compile \(1001\)'\), "
                                          r"8 .*--lms-name"):
        build(course, "canvas", roster=roster, assignments=[A1])


def test_unknown_assignment_and_missing_roster_are_usage_errors(course: Path) -> None:
    with pytest.raises(UsageError, match="no assignment 'a9'"):
        build(course, "csv", assignments=["a9"])
    with pytest.raises(UsageError, match="needs --roster"):
        build(course, "canvas")
    with pytest.raises(UsageError, match="takes no --roster"):
        build(course, "csv", roster=CANVAS)
    with pytest.raises(UsageError, match=r"--roster .*nowhere.csv: cannot read it"):
        build(course, "canvas", roster=DATA / "nowhere.csv")


# --- the command -------------------------------------------------------------------------


def test_cli_canvas_writes_the_import_and_lists_unmatched_learners(course: Path,
                                                                    tmp_path: Path) -> None:
    output = tmp_path / "canvas_import.csv"
    done = autograder("export", course, "--to", "canvas", "--roster", CANVAS,
                      "--output", output, "--lms-name", f"{A2}=Lesson 2 lab: MNIST")
    assert done.returncode == 0, done.stderr
    rows = read_rows(output)
    assert rows[0][-2:] == ["a1_shapes_and_compile (1001)", "Lesson 2 lab: MNIST (1002)"]
    assert rows[1][0] == "    Points Possible"
    # The import is itself laid out as a Canvas export: it reads back as one.
    again = read_canvas(output)
    assert again.by_key["jdoe"].cells["Lesson 2 lab: MNIST (1002)"] == "5"
    assert again.points["a1_shapes_and_compile (1001)"] == "8"
    assert "warning: 2 learners in the gradebook but not in the roster" in done.stderr
    assert "  ghost\n" in done.stderr and "  nosubmission\n" in done.stderr
    assert "warning: 1 learner in the roster but not in the gradebook" in done.stderr
    assert "  ghopper\n" in done.stderr
    assert "line 8 (Student, Test)" in done.stderr
    assert f"wrote {output}: 5 learners, 2 assignments, for Canvas." in done.stdout
    assert "a1_shapes_and_compile -> 'a1_shapes_and_compile (1001)': 2 new" in done.stdout
    assert "2 learners in the gradebook but not in the roster: ghost, nosubmission" in done.stdout
    assert "does --canvas-key name the column" in done.stderr


def test_cli_moodle_default_output_in_the_grader_folder(email_course: Path) -> None:
    done = autograder("export", email_course, "--to", "moodle", "--roster", MOODLE,
                      "--assignment", A1)
    assert done.returncode == 0, done.stderr
    rows = read_rows(email_course / "grader" / "exports" / "moodle.csv")
    assert rows[0] == ["Email address", "Assignment: a1_shapes_and_compile (Real)"]
    assert ["jdoe@example.edu", "7"] in rows


def test_cli_malformed_roster_fails_and_writes_nothing(course: Path, tmp_path: Path) -> None:
    roster = _mutated(tmp_path, CANVAS, lambda lines: [*lines, lines[2]])
    output = tmp_path / "out.csv"
    done = autograder("export", course, "--to", "canvas", "--roster", roster,
                      "--output", output)
    assert done.returncode == 5
    assert "autograder export: error:" in done.stderr
    assert "line 9, column 4 (SIS Login ID): 'jdoe' is also on line 3" in done.stderr
    assert not output.exists()
    assert list(tmp_path.glob(".out.csv.*")) == []


def test_cli_usage_errors_exit_2_and_keep_an_existing_output(course: Path,
                                                             tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    output.write_text("before\n")
    done = autograder("export", course, "--to", "csv", "--assignment", "a9",
                      "--output", output)
    assert done.returncode == 2
    assert "no assignment 'a9'" in done.stderr
    assert output.read_text() == "before\n"
    missing = autograder("export", tmp_path / "nowhere", "--to", "csv")
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nogradebook = autograder("export", empty, "--to", "csv")
    assert nogradebook.returncode == 2 and "gradebook.db does not exist" in nogradebook.stderr
    assert not (empty / "gradebook.db").exists()
    same = autograder("export", course, "--to", "canvas", "--roster", CANVAS,
                      "--output", CANVAS)
    assert same.returncode == 2 and "is the roster itself" in same.stderr
