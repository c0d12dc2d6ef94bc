"""Learner ids are data: any id nbgrader accepts is graded as that learner and no other.

Fast tests check the id rules, the file names derived from ids, the submission list and
``--student``; the course tests grade the hostile batch (:mod:`_hostile_course`) once with the
real ``autograder grade`` and read what it recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from _grading_course import ASSIGNMENT, NOTEBOOK, gradebook_scores, results
from _hostile_course import (
    GLOB_ID,
    GLOB_TARGET,
    HONEST,
    IDS,
    REFUSED_IDS,
    HostileBatch,
    on_batch,
    shared_hostile_batch,
)

from autograder.cli import main
from autograder.grading.layout import CourseLayout
from autograder.grading.learners import exact_ids, file_stem, refusal, shown

# --------------------------------------------------------------------------- the id rules


@pytest.mark.parametrize("student", IDS)
def test_ids_nbgrader_accepts_can_be_graded(student: str) -> None:
    assert refusal(student) is None


@pytest.mark.parametrize(("student", "why"), [
    ("bob ", "whitespace"), (" bob", "whitespace"), ("tab\tid", "control character"),
    ("line\nbreak", "control character"), (os.fsdecode(b"bad-\xff"), "not valid UTF-8"),
    ("", "names no learner"), ("..", "names no learner"), ("a/b", "'/'"),
    ("é" * 128, "256 bytes long"),
])
def test_ids_the_grader_cannot_use_are_refused_with_a_reason(student: str, why: str) -> None:
    reason = refusal(student)
    assert reason is not None and why in reason


@pytest.mark.parametrize("student", [*IDS, *REFUSED_IDS, "x" * 255, "ref", "A_tamper"])
def test_file_stems_are_short_plain_and_never_hidden(student: str) -> None:
    stem = file_stem(student)
    assert 0 < len(stem.encode()) <= 100
    assert not stem.startswith((".", "-"))
    assert all(char.isascii() and (char.isalnum() or char in "_.@+~-") for char in stem)


def test_file_stems_of_different_ids_differ() -> None:
    ids = [*IDS, *REFUSED_IDS, GLOB_TARGET, "x" * 250, "x" * 251, "a_b_c", "a b_c"]
    stems = [file_stem(student) for student in ids]
    assert len(set(stems)) == len(ids)
    # A plain id can never be the hashed stem of another id: no learner takes another's file.
    # A learner who names their folder after another's stem gets a stem of their own.
    assert "~" in file_stem(GLOB_ID)
    assert file_stem(file_stem(GLOB_ID)) != file_stem(GLOB_ID)


def test_shown_escapes_what_a_terminal_would_misread() -> None:
    assert shown("tab\tid") == "tab\\tid"
    assert shown(os.fsdecode(b"bad-\xff")) == "bad-\\udcff"
    assert shown("ünï-漢字") == "ünï-漢字"


def _bare_course(root: Path, students: list[str]) -> Path:
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    for student in students:
        (root / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
    return root


def test_students_include_hidden_and_glob_ids_in_a_glob_named_course(tmp_path: Path) -> None:
    # The course folder's own name holds glob characters: it must be matched literally.
    ids = [*IDS, GLOB_TARGET, "x" * 250]
    course = _bare_course(tmp_path / "[c]ourse*", ids)
    (course / "submitted" / "stray-file").write_text("not a learner", encoding="utf-8")
    assert CourseLayout(course).students(ASSIGNMENT) == sorted(ids)


def test_student_option_takes_exact_names_not_patterns(tmp_path: Path, capsys) -> None:
    course = _bare_course(tmp_path / "course", [GLOB_TARGET, "ref"])
    assert main(["grade", str(course), ASSIGNMENT, "--student", "*"]) == 2
    err = capsys.readouterr().err
    assert "no submission of a1 for --student '*'" in err and "not a pattern" in err
    assert main(["grade", str(course), ASSIGNMENT, f"--student={GLOB_ID}"]) == 2
    assert repr(GLOB_ID) in capsys.readouterr().err


def test_plain_nbgrader_autograde_can_take_ids_as_names(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    # Undone after the test: exact_ids changes nbgrader's converter for the whole process.
    monkeypatch.setattr(Autograde, "init_notebooks", Autograde.init_notebooks)
    monkeypatch.setattr(Autograde, "_exact_ids", False, raising=False)
    exact_ids()
    ids = [GLOB_ID, GLOB_TARGET, ".hidden", "tab\tid"]
    course = _bare_course(tmp_path / "course", ids)
    for student in ids:
        (course / "submitted" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb").write_text("{}")

    def matched(student: str) -> list[str]:
        coursedir = CourseDirectory(root=str(course), assignment_id=ASSIGNMENT,
                                    student_id=student)
        converter = Autograde(coursedir=coursedir)
        converter.init_notebooks()
        return sorted(Path(folder).parent.name for folder in converter.assignments)

    assert matched(GLOB_ID) == [GLOB_ID]
    # Every learner, a hidden one too; the id the grader cannot use is skipped.
    assert matched("*") == sorted([GLOB_ID, GLOB_TARGET, ".hidden"])


# --------------------------------------------------------------------------- graded end to end

@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> HostileBatch:
    """The hostile batch, graded once by `autograder grade`."""
    return shared_hostile_batch(tmp_path_factory)


@on_batch
@pytest.mark.parametrize("student", ["ref", *IDS])
def test_every_id_is_graded_as_that_learner(batch: HostileBatch, student: str) -> None:
    result = results(batch.path)[student]
    assert result["reason"] is None, result
    assert result["score"] == HONEST[student]
    assert sum(gradebook_scores(batch.path)[student].values()) == HONEST[student]
    autograded = batch.path / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert autograded.is_file()


@on_batch
def test_a_glob_id_grades_its_own_notebook_not_the_one_it_matches(batch: HostileBatch) -> None:
    scores = gradebook_scores(batch.path)
    # The tampering learner the glob matches keeps the verified 0, not the kernel's claim.
    assert sum(scores[GLOB_TARGET].values()) == 0.0
    target = results(batch.path)[GLOB_TARGET]
    assert any(task["disagrees"] for task in target["tasks"])
    # The glob id's autograded notebook is its own (a wrong loss), not the target's.
    path = batch.path / "autograded" / GLOB_ID / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    sources = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert 'loss_choice = "mse"' in sources and "AlwaysEqual" not in sources
    tasks = {task["grade_id"]: task for task in results(batch.path)[GLOB_ID]["tasks"]}
    assert tasks["loss_test"]["answer"] == "mse"


@on_batch
def test_unusable_ids_are_refused_alone_with_their_reason(batch: HostileBatch) -> None:
    found = results(batch.path)
    for student in REFUSED_IDS:
        result = found[student]
        assert result["reason"].startswith("refused: "), result
        assert result["score"] == 0.0 and result["max_score"] == 4.0
        assert student not in gradebook_scores(batch.path)
    assert "whitespace, which nbgrader strips" in found["bob "]["reason"]
    assert "control character" in found["tab\tid"]["reason"]
    # The summary names each, printably, and the batch went on.
    assert "tab\\tid" in batch.output and "bad-\\udcff" in batch.output
    assert batch.returncode == 0
    assert sum(gradebook_scores(batch.path)["ref"].values()) == 4.0


@on_batch
def test_result_files_have_short_plain_names(batch: HostileBatch) -> None:
    folder = CourseLayout(batch.path).results(ASSIGNMENT)
    names = sorted(path.name for path in folder.iterdir())
    assert len(names) == len(results(batch.path)) == len(HONEST) + len(REFUSED_IDS)
    assert all(len(name.encode()) <= 105 and not name.startswith(".") for name in names)
