"""The ``autograder`` command line: verbs, their help, and ``build-lessons``."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.cli import VERBS, main


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_has_help_with_its_own_arguments(verb: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: autograder {verb}")
    # Every verb takes at least one positional argument of its own.
    assert "positional arguments" in usage


def test_grade_help_lists_limits(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    usage = capsys.readouterr().out
    for option in ("--workers", "--timeout", "--memory-limit", "--student"):
        assert option in usage


def test_unknown_verb_names_the_choices(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bogus"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_build_lessons_writes_one_notebook_per_lesson_without_outputs(
    repo: Path, tmp_path: Path
) -> None:
    assert main(["build-lessons", str(repo / "lessons"), str(tmp_path)]) == 0
    sources = sorted(p.stem for p in (repo / "lessons").glob("[0-9][0-9]-*.md"))
    built = sorted(p.stem for p in tmp_path.glob("*.ipynb"))
    assert built == sources and len(built) >= 8
    for path in tmp_path.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def test_build_lessons_on_a_folder_without_lessons_says_so(tmp_path: Path, capsys) -> None:
    assert main(["build-lessons", str(tmp_path), str(tmp_path / "out")]) == 2
    assert f"no NN-title.md lesson in {tmp_path}" in capsys.readouterr().out
