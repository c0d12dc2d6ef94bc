"""The quiz API and its widgets, headless: set a control's value, click its button, read the
feedback; progress is saved beside the notebook and restored; hints climb a ladder."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from autograder.quiz import QuizSession, load_quiz, progress_file
from autograder.render.widgets import QuizWidget
from autograder.result import Outcome
from autograder.schema import FixModel, MultipleSelect, Numeric, OutputShape, SingleChoice

STEM = "01-keras-sequential-api"


def _text(markup: str) -> str:
    """What a reader sees in an HTML widget: tags gone, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _plain(markdown: str) -> str:
    return " ".join(markdown.replace("`", "").split())


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> QuizSession:
    """A quiz whose progress file lives in a fresh folder, as if the notebook were there."""
    monkeypatch.chdir(tmp_path)
    return load_quiz(STEM)


def _first(session: QuizSession, kind: type) -> str:
    return next(q.id for q in session.quiz.questions if isinstance(q, kind))


def test_single_choice_wrong_then_right_shows_each_feedback(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    qid = _first(session, SingleChoice)
    question = session.quiz.question(qid)
    view = widget.questions[qid]
    wrong = next(i for i, c in enumerate(question.choices) if not c.correct)
    right = next(i for i, c in enumerate(question.choices) if c.correct)

    view.answer.value = wrong
    view.check_button.click()
    shown = _text(view.feedback.value)
    assert shown.startswith("✗ Not yet.")
    assert _plain(question.choices[wrong].feedback) in shown
    assert 'aria-live="polite"' in view.feedback.value

    view.answer.value = right
    view.check_button.click()
    shown = _text(view.feedback.value)
    assert shown.startswith("✓ Correct.")
    assert _plain(question.choices[right].feedback) in shown
    assert "1 of 14 questions right" in _text(widget.summary.value)


def test_multiple_select_and_free_text_controls(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    multi = session.quiz.question(_first(session, MultipleSelect))
    view = widget.questions[multi.id]
    for box, choice in zip(view.boxes, multi.choices, strict=True):
        box.value = choice.correct
    view.check_button.click()
    assert _text(view.feedback.value).startswith("✓ Correct.")

    shape = session.quiz.question(_first(session, OutputShape))
    view = widget.questions[shape.id]
    view.answer.value = "none,3"
    view.check_button.click()
    assert _text(view.feedback.value).startswith("✓")
    view.answer.value = "(10, 3)"
    view.check_button.click()
    assert "batch size" in _text(view.feedback.value)

    number = session.quiz.question(_first(session, Numeric))
    view = widget.questions[number.id]
    view.answer.value = "many"
    view.check_button.click()
    assert _text(view.feedback.value).startswith("⚠ Could not check this answer.")
    assert "is not a number" in _text(view.feedback.value)


def test_empty_answer_is_not_attempted(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    view = widget.questions[_first(session, Numeric)]
    view.check_button.click()
    assert _text(view.feedback.value).startswith("○ Not attempted.")
    assert "0 of 14 questions right" in _text(widget.summary.value)


def test_hint_button_climbs_the_ladder_then_stops(session: QuizSession) -> None:
    question = next(q for q in session.quiz.questions if len(q.hints) >= 2)
    view = QuizWidget(session, (question.id,)).questions[question.id]
    assert view.hints.value == ""
    view.hint_button.click()
    assert f"Hint 1 of {len(question.hints)}" in _text(view.hints.value)
    assert f"Hint 2 of {len(question.hints)}" not in _text(view.hints.value)
    for _ in question.hints[1:]:
        view.hint_button.click()
    shown = _text(view.hints.value)
    for number, hint in enumerate(question.hints, start=1):
        assert f"Hint {number} of {len(question.hints)}" in shown
        assert _plain(hint).split()[0] in shown
    assert view.hint_button.disabled and view.hint_button.description == "No more hints"


def test_solution_button_reveals_and_hides(session: QuizSession) -> None:
    qid = _first(session, SingleChoice)
    view = QuizWidget(session, (qid,)).questions[qid]
    view.solution_button.click()
    assert "Solution" in _text(view.solution.value)
    assert view.solution_button.description == "Hide solution"
    assert session.progress(qid).solution_shown
    view.solution_button.click()
    assert view.solution.value == "" and view.solution_button.description == "Show solution"


def test_progress_is_saved_beside_the_notebook_and_restored(session: QuizSession) -> None:
    single = session.quiz.question(_first(session, SingleChoice))
    shape = session.quiz.question(_first(session, OutputShape))
    multi = session.quiz.question(_first(session, MultipleSelect))
    widget = QuizWidget(session, session.quiz.ids)
    widget.questions[single.id].answer.value = 1
    widget.questions[single.id].check_button.click()
    widget.questions[shape.id].answer.value = "(None, 7)"
    widget.questions[shape.id].check_button.click()
    widget.questions[shape.id].hint_button.click()
    widget.questions[multi.id].boxes[0].value = True
    widget.questions[multi.id].check_button.click()

    path = progress_file(STEM)
    assert path == Path.cwd() / f".{STEM}.quiz-progress.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["questions"][shape.id]["value"] == "(None, 7)"
    assert saved["questions"][shape.id]["hints_shown"] == 1

    again = load_quiz(STEM)  # a new kernel: everything comes back from the file
    restored = QuizWidget(again, again.quiz.ids)
    assert restored.questions[single.id].answer.value == 1
    assert restored.questions[shape.id].answer.value == "(None, 7)"
    assert "Hint 1 of" in _text(restored.questions[shape.id].hints.value)
    assert [b.value for b in restored.questions[multi.id].boxes][0] is True
    before = _text(widget.questions[shape.id].feedback.value)
    assert _text(restored.questions[shape.id].feedback.value) == before
    assert _text(restored.summary.value) == _text(widget.summary.value)


def test_a_corrupt_progress_file_is_ignored_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    progress_file(STEM).write_text("{ this is not json", encoding="utf-8")
    quiz = load_quiz(STEM)
    message = capsys.readouterr().out
    assert "could not be read" in message and "starts afresh" in message
    assert quiz.score().outcome is Outcome.NOT_ATTEMPTED
    assert "could not be read" in _text(QuizWidget(quiz, quiz.quiz.ids).root.children[1].value)
    # The next check replaces the broken file with a valid one.
    quiz.check(quiz.quiz.ids[0], "A")
    assert json.loads(progress_file(STEM).read_text(encoding="utf-8"))["quiz"] == STEM

    progress_file(STEM).write_text('{"questions": {"what-keras-is": "A"}}', encoding="utf-8")
    load_quiz(STEM)
    assert "could not be read" in capsys.readouterr().out


def test_api_without_widgets(session: QuizSession, capsys: pytest.CaptureFixture[str]) -> None:
    qid = _first(session, Numeric)
    question = session.quiz.question(qid)
    first = session.hint(qid)
    assert first.startswith(f"**Hint 1 of {len(question.hints)}")
    assert first._repr_markdown_() == str(first)
    for _ in range(len(question.hints) + 2):
        last = session.hint(qid)
    assert last.startswith(f"**Hint {len(question.hints)} of {len(question.hints)}")
    assert session.solution(qid) == question.solution
    assert session.check(qid, question.answer).passed
    assert session.check(qid, ...).outcome is Outcome.NOT_ATTEMPTED
    score = session.score()
    # The last check of the only answered question was blank, so nothing counts as tried.
    assert score.outcome is Outcome.NOT_ATTEMPTED and score.fraction == 0
    session.check(qid, question.answer)
    assert session.score().fraction == pytest.approx(1 / len(session.quiz.questions))
    with pytest.raises(KeyError, match="has no question 'nope'"):
        session.check("nope", 1)

    session.show(qid)  # outside a kernel: Markdown text
    printed = capsys.readouterr().out
    assert f"`{qid}`" in printed and question.prompt.strip().splitlines()[0] in printed


def test_unknown_quiz_lists_the_available_ones(session: QuizSession) -> None:
    with pytest.raises(FileNotFoundError, match="01-keras-sequential-api"):
        load_quiz("99-no-such-lesson")


def test_quizzes_folder_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bank"
    folder.mkdir()
    source = Path(load_quiz(STEM, save=False).quiz.path)
    (folder / "42-own-quiz.yaml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("AUTOGRADER_QUIZZES", str(folder))
    quiz = load_quiz("42-own-quiz", save=False)
    assert quiz.quiz.stem == "42-own-quiz" and quiz.progress_path is None


def test_every_control_is_labelled(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    for view in widget.questions.values():
        controls = [view.check_button, view.hint_button, view.solution_button]
        controls += view.boxes if isinstance(view.question, MultipleSelect) else [view.answer]
        for control in controls:
            assert control.description.strip(), control
            assert control.tooltip and control.tooltip.strip(), control


@pytest.mark.slow
def test_fix_model_code_box_runs_the_model_check(session: QuizSession) -> None:
    question = session.quiz.question(_first(session, FixModel))
    view = QuizWidget(session, (question.id,)).questions[question.id]
    assert view.answer.value == question.starter
    view.check_button.click()
    assert _text(view.feedback.value).startswith("✗ Not yet.")
    assert "Flatten" in _text(view.feedback.value)
    view.answer.value = question.reference
    view.check_button.click()
    assert _text(view.feedback.value).startswith("✓ Correct.")
