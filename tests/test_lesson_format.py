"""Every lesson follows the course's shape: a cheap, static check of each ``lessons/*.md``.

The shape is what learners and the test suite rely on: a "What you will learn" section, a first
code cell that picks the backend, silences logs, seeds and checks versions, an ``EPOCHS`` that
tests can lower through ``COURSE_EPOCHS``, nothing that downloads, and the lesson's quiz last.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from autograder.notebooks import read_source

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("*.md"))

# Anything that fetches data over the network; lessons must run offline.
DOWNLOADS = re.compile(
    r"keras\.datasets|tf\.keras\.datasets|get_file\(|urlretrieve|urlopen|requests\.|"
    r"fetch_openml|https?://"
)
# `from tensorflow import keras` binding the name `keras` (an alias for a demonstration is fine).
TF_KERAS_IMPORT = re.compile(r"^\s*from\s+tensorflow\s+import\s+keras\s*$", re.MULTILINE)
LAYER_INPUT_SHAPE = re.compile(r"layers\.\w+\((?:[^()]|\([^()]*\))*\binput_shape\s*=")
# Keyword arguments only Keras's fit() takes; scikit-learn's fit() has none of them.
KERAS_FIT_KEYWORDS = {"epochs", "batch_size", "validation_split", "validation_data", "callbacks"}


def _code_cells(path: Path) -> list[str]:
    return [cell.source for cell in read_source(path).cells if cell.cell_type == "code"]


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def test_lessons_exist() -> None:
    assert LESSONS, f"no lesson sources found in {LESSONS_DIR}"
    assert not list(LESSONS_DIR.glob("*.ipynb")), "lessons/ must hold .md sources only"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_file_name_is_numbered_kebab_case(path: Path) -> None:
    assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*\.md", path.name), path.name


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_starts_with_title_and_what_you_will_learn(path: Path) -> None:
    cells = read_source(path).cells
    first_code = next(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    intro = "\n".join(cell.source for cell in cells[:first_code] if cell.cell_type == "markdown")
    assert intro.lstrip().startswith("# "), f"{path.name}: the lesson must open with a # title"
    assert re.search(r"^##\s+What you will learn\s*$", intro, re.MULTILINE), (
        f"{path.name}: a '## What you will learn' section must come before the first code cell"
    )
    section = intro.split("What you will learn", 1)[1]
    assert re.search(r"^- ", section, re.MULTILINE), f"{path.name}: list what is learned"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_first_code_cell_sets_up_the_session(path: Path) -> None:
    setup = _code_cells(path)[0]
    for needed in ("KERAS_BACKEND", "autograder.silence()", "keras.utils.set_random_seed(",
                   "keras.__version__"):
        assert needed in setup, f"{path.name}: the first code cell must contain {needed!r}"
    import_keras = re.search(r"^import keras\b", setup, re.MULTILINE)
    assert import_keras, f"{path.name}: the first code cell must `import keras`"
    # The backend and TF log level are read when keras is imported.
    assert setup.index("autograder.silence()") < import_keras.start(), (
        f"{path.name}: call autograder.silence() before `import keras`"
    )
    assert re.search(r"^EPOCHS\s*=.*COURSE_EPOCHS", setup, re.MULTILINE), (
        f"{path.name}: define EPOCHS from the COURSE_EPOCHS environment variable"
    )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_code_is_keras_3_and_offline(path: Path) -> None:
    code = "\n".join(_code_cells(path))
    assert "keras.Input(" in code, f"{path.name}: declare inputs with keras.Input(shape=...)"
    assert not TF_KERAS_IMPORT.search(code), f"{path.name}: use `import keras`"
    found = DOWNLOADS.search(code)
    assert not found, f"{path.name}: downloads are not allowed offline ({found.group(0)!r})"
    for cell in _code_cells(path):
        if LAYER_INPUT_SHAPE.search(cell):
            assert "catch_warnings" in cell, (
                f"{path.name}: `input_shape=` on a layer only inside a cell that records its "
                "warning"
            )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_code_cells_parse_and_training_is_quiet(path: Path) -> None:
    for number, source in enumerate(_code_cells(path), start=1):
        # IPython magics are not Python; lessons do not need them.
        tree = ast.parse(source, filename=f"{path.name} code cell {number}")
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            keywords = {kw.arg: kw.value for kw in node.keywords}
            if node.func.attr != "fit" or not KERAS_FIT_KEYWORDS & keywords.keys():
                continue
            verbose = keywords.get("verbose")
            assert isinstance(verbose, ast.Constant) and verbose.value in (0, 2), (
                f"{path.name} code cell {number}, line {node.lineno}: pass verbose=0 or 2 to "
                "fit() so no progress bar floods the notebook"
            )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_no_outputs_in_source(path: Path) -> None:
    for cell in read_source(path).cells:
        assert not cell.get("outputs"), f"{path.name}: sources carry no outputs"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_ends_with_its_quiz(path: Path, repo: Path) -> None:
    last = read_source(path).cells[-1]
    assert last.cell_type == "code", f"{path.name}: the last cell must be the quiz cell"
    assert f'quiz = autograder.load_quiz("{path.stem}")' in last.source, path.name
    assert "quiz.show()" in last.source, path.name
    assert (repo / "quizzes" / f"{path.stem}.yaml").is_file(), (
        f"{path.name}: quizzes/{path.stem}.yaml is missing"
    )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_quiz_has_at_least_ten_questions(path: Path, repo: Path) -> None:
    from autograder.loader import load_quiz_file

    quiz = load_quiz_file(repo / "quizzes" / f"{path.stem}.yaml")
    assert len(quiz.questions) >= 10, (
        f"quizzes/{path.stem}.yaml has {len(quiz.questions)} questions; a lesson needs at least 10"
    )
