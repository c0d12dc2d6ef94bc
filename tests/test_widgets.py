"""The quiz API and its widgets, headless: set a control's value, click its button, read the
feedback; progress is saved beside the notebook and restored; hints climb a ladder; each learner
sees the choices in an order of their own and answers with the letters shown to them."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from autograder.quiz import QuizSession, load_quiz, progress_file
from autograder.render.shuffle import ChoiceOrder
from autograder.render.widgets import QuestionWidget, QuizWidget
from autograder.result import Outcome
from autograder.schema import (
    Choice,
    FixModel,
    MultipleSelect,
    Numeric,
    OutputShape,
    Quiz,
    SingleChoice,
)

STEM = "01-keras-sequential-api"


def _text(markup: str) -> str:
    """What a reader sees in an HTML widget: tags gone, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _plain(markdown: str) -> str:
    return " ".join(markdown.replace("`", "").split())


def _same_words(markdown: str, shown: str) -> bool:
    """Whether Markdown text appears in a widget's text, however the HTML spaced it."""
    return "".join(_plain(markdown).split()) in "".join(shown.split())


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> QuizSession:
    """A quiz whose progress file lives in a fresh folder, as if the notebook were there."""
    monkeypatch.chdir(tmp_path)
    return load_quiz(STEM)


def _first(session: QuizSession, kind: type) -> str:
    return next(q.id for q in session.quiz.questions if isinstance(q, kind))


def _option(view: QuestionWidget, right: bool) -> object:
    """The radio button value of the first right (or wrong) choice shown."""
    values = view.choice_values
    return next(v for v, c in zip(values, view.question.choices, strict=True) if c.correct is right)


def _shown_letter(session: QuizSession, qid: str, right: bool = True) -> str:
    choices = session.shown.question(qid).choices
    return "ABCDEFGH"[next(i for i, c in enumerate(choices) if c.correct is right)]


def test_single_choice_wrong_then_right_shows_each_feedback(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    qid = _first(session, SingleChoice)
    question = session.shown.question(qid)
    view = widget.questions[qid]
    assert view.question == question  # the widget shows the learner's order
    wrong = next(c for c in question.choices if not c.correct)
    right = next(c for c in question.choices if c.correct)

    view.set_value(_option(view, right=False))
    view.check()
    shown = _text(view.feedback)
    assert shown.startswith("✗ Not yet:")
    assert _same_words(wrong.feedback, shown)
    # What the page shows is the same, and the outcome names its border colour.
    assert widget.root.state[qid]["feedback_html"] == view.feedback
    assert widget.root.state[qid]["outcome"] == "failed"

    view.set_value(_option(view, right=True))
    view.check()
    shown = _text(view.feedback)
    assert shown.startswith("✓ Correct:")
    assert _same_words(right.feedback, shown)
    total = len(session.quiz.questions)
    assert f"1 of {total} questions right" in _text(widget.summary)
    assert widget.root.state[qid]["checks"] == 2  # the page announces every verdict


def test_multiple_select_and_free_text_controls(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    multi = session.shown.question(_first(session, MultipleSelect))
    view = widget.questions[multi.id]
    for label, choice in zip(view.labels, multi.choices, strict=True):
        assert label.endswith(choice.text)
    right = [v for v, c in zip(view.choice_values, multi.choices, strict=True) if c.correct]
    view.set_value(right)
    view.check()
    assert _text(view.feedback).startswith("✓ Correct:")

    shape = session.quiz.question(_first(session, OutputShape))
    view = widget.questions[shape.id]
    view.set_value("none,3")
    view.check()
    assert _text(view.feedback).startswith("✓")
    view.set_value("(10, 3)")
    view.check()
    assert "batch size" in _text(view.feedback)

    number = session.quiz.question(_first(session, Numeric))
    view = widget.questions[number.id]
    view.set_value("many")
    view.check()
    assert _text(view.feedback).startswith("⚠ Could not check this answer:")
    assert "is not a number" in _text(view.feedback)


def test_empty_answer_is_not_attempted(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    view = widget.questions[_first(session, Numeric)]
    view.check()
    assert _text(view.feedback).startswith("○ Not attempted:")
    assert f"0 of {len(session.quiz.questions)} questions right" in _text(widget.summary)


def test_hint_button_climbs_the_ladder_then_stops(session: QuizSession) -> None:
    question = next(q for q in session.quiz.questions if len(q.hints) >= 2)
    view = QuizWidget(session, (question.id,)).questions[question.id]
    assert view.hints == "" and view.hint_label == "Hint"
    view.hint()
    assert f"Hint 1 of {len(question.hints)}" in _text(view.hints)
    assert f"Hint 2 of {len(question.hints)}" not in _text(view.hints)
    assert view.hint_label == f"Next hint (2 of {len(question.hints)})"
    for _ in question.hints[1:]:
        view.hint()
    shown = _text(view.hints)
    for number, hint in enumerate(question.hints, start=1):
        assert f"Hint {number} of {len(question.hints)}" in shown
        assert _plain(hint).split()[0] in shown
    assert view.state()["hints_done"] and view.hint_label == "No more hints"
    view.hint()  # a press on the exhausted button climbs no further
    assert session.progress(question.id).hints_shown == len(question.hints)


def test_solution_button_reveals_and_hides(session: QuizSession) -> None:
    qid = _first(session, SingleChoice)
    view = QuizWidget(session, (qid,)).questions[qid]
    view.toggle_solution()
    assert "Solution" in _text(view.solution) and view.solution_open
    assert view.solution_label == "Hide solution"
    assert session.progress(qid).solution_shown
    view.toggle_solution()
    assert not view.solution_open and view.solution_label == "Show solution"


def test_progress_is_saved_beside_the_notebook_and_restored(session: QuizSession) -> None:
    single = session.quiz.question(_first(session, SingleChoice))
    shape = session.quiz.question(_first(session, OutputShape))
    multi = session.quiz.question(_first(session, MultipleSelect))
    widget = QuizWidget(session, session.quiz.ids)
    chosen = widget.questions[single.id].choice_values[1]
    widget.questions[single.id].check(chosen)
    widget.questions[shape.id].check("(None, 7)")
    widget.questions[shape.id].hint()
    widget.questions[multi.id].check([widget.questions[multi.id].choice_values[0]])

    path = progress_file(STEM)
    assert path == Path.cwd() / f".{STEM}.quiz-progress.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["questions"][shape.id]["value"] == "(None, 7)"
    assert saved["questions"][shape.id]["hints_shown"] == 1
    # Choices are kept by their text, never by the letter this learner saw.
    assert saved["questions"][single.id]["value"] == chosen
    assert chosen in [c.text for c in single.choices]
    first_shown = session.shown.question(multi.id).choices[0].text
    assert saved["questions"][multi.id]["value"] == [first_shown]
    assert saved["learner_seed"] == session.seed

    again = load_quiz(STEM)  # a new kernel: everything comes back from the file
    assert again.seed == session.seed and again.shown == session.shown
    restored = QuizWidget(again, again.quiz.ids)
    assert restored.questions[single.id].value() == chosen
    assert restored.questions[single.id].labels == widget.questions[single.id].labels
    assert restored.questions[shape.id].value() == "(None, 7)"
    assert "Hint 1 of" in _text(restored.questions[shape.id].hints)
    assert restored.questions[multi.id].value() == [restored.questions[multi.id].choice_values[0]]
    before = _text(widget.questions[shape.id].feedback)
    assert _text(restored.questions[shape.id].feedback) == before
    assert _text(restored.summary) == _text(widget.summary)
    # The page is handed the same: answers to put back, the verdict, the hints shown.
    page = restored.root.state
    assert page[single.id]["value"] == chosen and page[shape.id]["value"] == "(None, 7)"
    assert page[shape.id]["feedback_html"] == widget.questions[shape.id].feedback
    assert len(page[shape.id]["hints_html"]) == 1


def test_a_corrupt_progress_file_is_ignored_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    progress_file(STEM).write_text("{ this is not json", encoding="utf-8")
    quiz = load_quiz(STEM)
    message = capsys.readouterr().out
    assert "could not be read" in message and "starts afresh" in message
    assert quiz.score().outcome is Outcome.NOT_ATTEMPTED
    assert "could not be read" in _text(QuizWidget(quiz, quiz.quiz.ids).notice)
    # The next check replaces the broken file with a valid one.
    quiz.check(quiz.quiz.ids[0], "A")
    assert json.loads(progress_file(STEM).read_text(encoding="utf-8"))["quiz"] == STEM

    entry = json.dumps({"questions": {quiz.quiz.ids[0]: "A"}})  # an entry must be a mapping
    progress_file(STEM).write_text(entry, encoding="utf-8")
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
    spec = widget.root.spec
    assert spec["title"] == session.quiz.title
    total = len(session.quiz.questions)
    for number, (view, shown) in enumerate(
        zip(widget.questions.values(), spec["questions"], strict=True), start=1
    ):
        # The heading and prompt name the choices' group; each choice and field has a label.
        assert shown["heading"] == f"Question {number} of {total}"
        assert _text(shown["prompt_html"])
        if isinstance(view.question, SingleChoice | MultipleSelect):
            assert shown["kind"] == ("single" if isinstance(view.question, SingleChoice)
                                     else "multiple")
            labels = [_text(c["label_html"]) for c in shown["choices"]]
            assert labels == [_plain(label) for label in view.labels]
            assert [c["value"] for c in shown["choices"]] == view.choice_values
        else:
            assert shown["kind"] in ("text", "textarea", "code")
            assert shown["input_label"].startswith("Your ")


def test_the_front_end_declares_its_roles() -> None:
    """The page's controls are native and carry the ARIA the quiz needs (checked in a real
    browser by tests/test_quiz_accessibility.py)."""
    from autograder.render import accessible

    script = (accessible._STATIC / "quiz.js").read_text(encoding="utf-8")
    for needed in ('"radiogroup"', '"fieldset"', '"checkbox"', '"aria-labelledby"',
                   'role: "status"', '"aria-live": "polite"', '"aria-expanded"',
                   '"aria-controls"', '"label"', "data-lm-suppress-shortcuts"):
        assert needed in script, needed
    style = (accessible._STATIC / "quiz.css").read_text(encoding="utf-8")
    assert ":focus-visible" in style and "--jp-content-font-color1" in style


def test_messages_from_the_page_are_handed_to_the_session(session: QuizSession) -> None:
    widget = QuizWidget(session, session.quiz.ids)
    qid = _first(session, SingleChoice)
    view = widget.questions[qid]
    widget.root.send_event("check", qid, _option(view, right=True))
    assert session.progress(qid).result.passed
    assert widget.root.state[qid]["outcome"] == "passed"
    assert "1 of" in _text(widget.root.summary_html)
    widget.root.send_event("hint", qid)
    assert len(widget.root.state[qid]["hints_html"]) == 1
    widget.root.send_event("solution", qid)
    assert widget.root.state[qid]["solution_open"] and widget.root.state[qid]["solution_html"]
    before = dict(widget.root.state)
    # Malformed or unknown messages change nothing.
    for content in ("check", {"event": "delete", "id": qid}, {"event": "check", "id": 3},
                    {"event": "check", "id": "no-such-question", "value": "A"}):
        widget.root._on_message(widget.root, content, [])
    assert widget.root.state == before
    # A choice the question does not have is read as no answer, never as a letter.
    widget.root.send_event("check", qid, "not one of the choices")
    assert session.progress(qid).result.outcome is Outcome.NOT_ATTEMPTED


@pytest.mark.slow
def test_fix_model_code_box_runs_the_model_check(session: QuizSession) -> None:
    question = session.quiz.question(_first(session, FixModel))
    view = QuizWidget(session, (question.id,)).questions[question.id]
    assert view.value() == question.starter
    view.check()
    assert _text(view.feedback).startswith("✗ Not yet:")
    assert "Flatten" in _text(view.feedback)
    view.check(question.reference)
    assert _text(view.feedback).startswith("✓ Correct:")


# ---------------------------------------------------------------- each learner's own order


def test_check_takes_the_letter_shown_or_the_choice_text(session: QuizSession) -> None:
    qid = _first(session, SingleChoice)
    shown = session.shown.question(qid)
    right = next(c for c in shown.choices if c.correct)
    letter = _shown_letter(session, qid)
    assert session.check(qid, letter).passed
    assert session.check(qid, f" {letter.lower()} ").passed
    assert session.check(qid, "  " + right.text.upper().replace(" ", "   ") + " ").passed
    assert session.progress(qid).value == right.text  # saved by identity
    wrong = _shown_letter(session, qid, right=False)
    assert session.check(qid, wrong).outcome is Outcome.FAILED
    for bad in ("Z", "not a choice at all", 2.5, {"letter": "A"}, True):
        result = session.check(qid, bad)
        assert result.outcome is Outcome.ERROR, bad
        assert f"quiz.check({qid!r}" in result.message
        assert "is not one of the choices" in result.message
        assert f"letter from A to {'ABCDEFGH'[len(shown.choices) - 1]}" in result.message

    mid = _first(session, MultipleSelect)
    multi = session.shown.question(mid)
    letters = [L for L, c in zip("ABCDEFGH", multi.choices, strict=False) if c.correct]
    texts = [c.text for c in multi.choices if c.correct]
    for answer in (letters, ", ".join(letters), "".join(letters), [t.lower() for t in texts]):
        assert session.check(mid, answer).passed, answer
    assert session.check(mid, [letters[0], texts[-1], *texts[1:-1]]).passed
    assert sorted(session.progress(mid).value) == sorted(texts)
    assert session.check(mid, letters[:-1]).outcome is Outcome.FAILED
    assert session.check(mid, ["A", "Q"]).outcome is Outcome.ERROR


def test_one_learner_keeps_an_order_and_learners_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOGRADER_LEARNER", raising=False)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    for name in ("one", "two", "three", "four", "five"):
        (tmp_path / name).mkdir()
    first = load_quiz(STEM, progress_dir=tmp_path / "one")
    # The seed is saved the first time, before any answer, so a restart shows the same order.
    assert json.loads(first.progress_path.read_text(encoding="utf-8"))["learner_seed"] == first.seed
    assert load_quiz(STEM, progress_dir=tmp_path / "one").shown == first.shown
    other = load_quiz(STEM, progress_dir=tmp_path / "two")
    assert other.seed != first.seed and other.shown != first.shown
    first.check(first.quiz.ids[0], "A")
    first.reset()  # starting over forgets the answers, not the order
    again = load_quiz(STEM, progress_dir=tmp_path / "one")
    assert again.seed == first.seed and again.progress(first.quiz.ids[0]).result is None

    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    on_hub = load_quiz(STEM, progress_dir=tmp_path / "three")
    assert on_hub.seed == "ada"
    assert load_quiz(STEM, progress_dir=tmp_path / "four").shown == on_hub.shown
    monkeypatch.setenv("AUTOGRADER_LEARNER", "grace")
    assert load_quiz(STEM, progress_dir=tmp_path / "five").seed == "grace"
    assert load_quiz(STEM, progress_dir=tmp_path / "three").seed == "ada"  # saved seed wins


def test_a_saved_answer_follows_its_choice_not_its_letter(tmp_path: Path) -> None:
    mine = load_quiz(STEM, progress_dir=tmp_path, seed="learner-1")
    qid = next(
        q.id
        for q in mine.quiz.questions
        if isinstance(q, SingleChoice)
        and _shown_letter(mine, q.id) != _shown_letter(load_quiz(STEM, save=False, seed="x"), q.id)
    )
    mine.check(qid, _shown_letter(mine, qid))
    # The same file read with another seed (the order changed) still restores the right choice.
    moved = load_quiz(STEM, progress_dir=tmp_path, seed="x")
    view = QuizWidget(moved, (qid,)).questions[qid]
    right = next(c for c in moved.shown.question(qid).choices if c.correct)
    assert view.value() == right.text
    shown_at = view.choice_values.index(view.value())
    assert view.labels[shown_at].startswith(f"{_shown_letter(moved, qid)}. ")


def test_a_version_1_progress_file_keeps_its_answers(tmp_path: Path) -> None:
    quiz = load_quiz(STEM, save=False).quiz
    single = next(q for q in quiz.questions if isinstance(q, SingleChoice))
    multi = next(q for q in quiz.questions if isinstance(q, MultipleSelect))
    # Version 1 saved indices and letters of the order in the quiz file.
    entries = {single.id: {"value": 1}, multi.id: {"value": [0, "C"]}}
    progress_file(STEM, tmp_path).write_text(
        json.dumps({"progress_version": 1, "quiz": STEM, "questions": entries}), encoding="utf-8"
    )
    session = load_quiz(STEM, progress_dir=tmp_path)
    # Rewritten as version 2 at once, with the seed, so the next kernel shows the same order.
    rewritten = json.loads(progress_file(STEM, tmp_path).read_text(encoding="utf-8"))
    assert rewritten["progress_version"] == 2 and rewritten["learner_seed"] == session.seed
    assert rewritten["questions"][single.id]["value"] == single.choices[1].text
    assert load_quiz(STEM, progress_dir=tmp_path).shown == session.shown
    assert session.progress(single.id).value == single.choices[1].text
    assert session.progress(multi.id).value == [multi.choices[0].text, multi.choices[2].text]
    view = QuizWidget(session, (multi.id,)).questions[multi.id]
    ticked = set(view.value())
    assert ticked == {multi.choices[0].text, multi.choices[2].text}


def _lettered_quiz() -> Quiz:
    choices = (
        Choice("sigmoid", "Right: one independent probability per label.", correct=True),
        Choice("softmax", "Softmax makes the labels compete; compare it with choice A."),
        Choice("relu", "Not a probability."),
        Choice("linear", "Unbounded scores, like (C)."),
    )
    question = SingleChoice(
        id="lettered",
        prompt="Which activation? Choice D is a trap.",
        hints=("Options B and C sum or clip; think of choice A.",),
        solution="The first option is right: choice A. The last option, (D), is unbounded. "
        "A higher threshold would not help, and P(B) is a probability.",
        choices=choices,
    )
    return Quiz("lettered", "Letters", (question,))


@pytest.mark.parametrize("seed", ["learner-1", "learner-2", "learner-3"])
def test_letters_in_every_text_are_the_learners_own(seed: str) -> None:
    session = QuizSession(_lettered_quiz(), None, seed=seed)
    order = session.choice_order("lettered")
    assert isinstance(order, ChoiceOrder)
    a, c, d = order.letter(0), order.letter(2), order.letter(3)
    assert session.shown.question("lettered").choices[order.order.index(0)].text == "sigmoid"
    assert session.shown.question("lettered").prompt == f"Which activation? Choice {d} is a trap."
    assert session.solution("lettered") == (
        f"Option {a} is right: choice {a}. Option {d}, ({d}), is unbounded. "
        "A higher threshold would not help, and P(B) is a probability."
    )
    assert f"Options {order.letter(1)} and {c} sum or clip; think of choice {a}." in (
        session.hint("lettered")
    )
    wrong = session.check("lettered", order.letter(1))
    assert wrong.outcome is Outcome.FAILED and f"compare it with choice {a}." in wrong.message
    assert f"like ({c})" in session.check("lettered", "linear").message
    assert session.check("lettered", a).passed
    session.show("lettered")


def test_the_text_view_lists_the_learners_order(
    session: QuizSession, capsys: pytest.CaptureFixture[str]
) -> None:
    qid = _first(session, SingleChoice)
    session.show(qid)
    printed = capsys.readouterr().out
    right = next(c for c in session.shown.question(qid).choices if c.correct)
    assert f"- {_shown_letter(session, qid)}. {right.text}" in printed
    assert "as shown here" in printed


def test_a_check_that_raises_leaves_no_busy_message(
    session: QuizSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = session.quiz.question(_first(session, FixModel))
    widget = QuizWidget(session, (question.id,))

    def broken(*_args: object) -> None:
        raise RuntimeError("the kernel ran out of memory")

    monkeypatch.setattr(session, "check", broken)
    with pytest.raises(RuntimeError):
        widget.root.send_event("check", question.id, question.reference)
    state = widget.root.state[question.id]
    assert not state["busy"] and "Checking" not in state["feedback_html"]
