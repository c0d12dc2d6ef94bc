"""The learner's quiz API: ``quiz = autograder.load_quiz("01-keras-sequential-api")``.

``quiz.show()`` renders every question (widgets in JupyterLab, Markdown elsewhere),
``quiz.show(id)`` one; ``quiz.check(id, value)``, ``quiz.hint(id)``, ``quiz.solution(id)`` and
``quiz.score()`` work without widgets. Answers, hints taken and results are saved to a small JSON
file beside the notebook (``.<stem>.quiz-progress.json`` in the working directory) and restored
the next time the quiz is loaded, so a kernel restart does not lose a learner's work.

Each learner sees the choices of every question in an order of their own
(:mod:`autograder.render.shuffle`), derived from a seed saved in that file the first time, and
answers with the letters shown to them; the file keeps choices by their text, not their letter.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from autograder.checks.answers import check_answer
from autograder.loader import load_quiz_file
from autograder.progress import (
    PROGRESS_VERSION,
    QuestionProgress,
    choice_texts,
    jsonable,
    progress_file,
)
from autograder.render.shuffle import ChoiceOrder, learner_view, new_learner_seed
from autograder.render.text import Markdown, render_quiz
from autograder.result import CheckResult, Outcome, error, failed, not_attempted, passed
from autograder.schema import Quiz

QUIZZES_ENV = "AUTOGRADER_QUIZZES"


def quizzes_dir() -> Path:
    """The folder quizzes are read from.

    Returns:
        ``$AUTOGRADER_QUIZZES`` when set, else the repository's ``quizzes/`` folder.
    """
    override = os.environ.get(QUIZZES_ENV)
    if override:
        return Path(override)
    import autograder

    return Path(autograder.__file__).resolve().parent.parent / "quizzes"


def available_quizzes() -> list[str]:
    """Stems of the quizzes that can be loaded by name.

    Returns:
        Sorted stems, such as ``["01-keras-sequential-api", ...]``.
    """
    folder = quizzes_dir()
    return sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []


def quiz_path(stem_or_path: str | os.PathLike[str]) -> Path:
    """Find a quiz file from a lesson stem or a path.

    Args:
        stem_or_path: ``"01-keras-sequential-api"`` or a path to a ``.yaml`` file.

    Returns:
        The file's path.

    Raises:
        FileNotFoundError: Naming what was looked for and the quizzes that exist.
    """
    given = Path(stem_or_path)
    if given.suffix in (".yaml", ".yml") or given.is_file():
        if given.is_file():
            return given
        raise FileNotFoundError(f"Quiz file not found: {given}")
    path = quizzes_dir() / f"{given.name}.yaml"
    if path.is_file():
        return path
    known = ", ".join(available_quizzes()) or "none"
    raise FileNotFoundError(
        f"There is no quiz called {str(stem_or_path)!r} in {quizzes_dir()}. Available: {known}."
    )


class QuizSession:
    """One learner working through one quiz; made by :func:`load_quiz`.

    Attributes:
        quiz: The questions as defined (choices in the order of the quiz file).
        shown: The questions as this learner sees them (choices in the learner's order).
        seed: The learner's seed, which fixes that order.
        progress_path: The JSON file answers are saved to, or None to keep them in memory.
        notice: A message about the progress file (unreadable, unwritable), or "".

    Args:
        quiz: The loaded quiz.
        progress_path: Where to save and restore progress; None keeps it in memory.
        seed: The learner's seed; when None, the one saved in the progress file, else a new one
            (see :func:`autograder.render.shuffle.new_learner_seed`), saved at once.
    """

    def __init__(self, quiz: Quiz, progress_path: Path | None, seed: str | None = None):
        self.quiz = quiz
        self.progress_path = progress_path
        self.notice = ""
        self._progress: dict[str, QuestionProgress] = {
            q.id: QuestionProgress() for q in quiz.questions
        }
        saved_seed = self._restore()
        self.seed = seed or saved_seed or new_learner_seed()
        self.shown, self._orders = learner_view(quiz, self.seed)
        if saved_seed is None and not self.notice:
            # Saved at once (a new file, or one from version 1), so that the next kernel shows
            # the same order; a file that could not be read is replaced only by a check.
            self._save()

    def __repr__(self) -> str:
        return f"<Quiz {self.quiz.stem!r}: {len(self.quiz.questions)} questions>"

    # ------------------------------------------------------------ learner API

    def show(self, id: str | None = None) -> None:  # noqa: A002 - the documented learner keyword
        """Display the quiz (or one question): widgets in a notebook, Markdown elsewhere.

        Args:
            id: A question id; all questions when None.
        """
        ids = self._ids(id)
        if _in_widget_kernel():
            from IPython.display import display

            from autograder.render.widgets import QuizWidget

            display(QuizWidget(self, ids).root)
            return
        print(render_quiz(self.shown, None if id is None else ids))

    def widget(self, id: str | None = None) -> Any:
        """Build the widget for the quiz (or one question) without displaying it.

        Args:
            id: A question id; all questions when None.

        Returns:
            The :class:`~autograder.render.widgets.QuizWidget`; its ``root`` is displayable.
        """
        from autograder.render.widgets import QuizWidget

        return QuizWidget(self, self._ids(id))

    def check(self, id: str, value: Any) -> CheckResult:  # noqa: A002
        """Check an answer, remember it, and return the verdict with feedback.

        Args:
            id: The question id.
            value: The answer: a letter as shown (or the choice's text) for a choice, a list of
                them (or text like ``"A, C"``) for a multiple select, a number, a shape such as
                ``"(None, 3)"``, the text a snippet prints, or a model (or its code) for a
                fix-the-model question.

        Returns:
            A :class:`CheckResult` (shown as Markdown in a notebook).
        """
        question = self.quiz.question(id)
        order = self._orders.get(id)
        if order is None:
            result, saved = check_answer(question, value), jsonable(value)
        else:
            result, saved = order.judge(value)
            if result.outcome is Outcome.ERROR:
                result = error(id, f"quiz.check({id!r}, ...): {result.message}")
            saved = jsonable(saved)
        progress = self._progress[id]
        progress.value = saved
        progress.result = result
        self._save()
        return result

    def hint(self, id: str) -> Markdown:  # noqa: A002
        """The next hint on the ladder for a question (the last one again once all are shown).

        Args:
            id: The question id.

        Returns:
            The hint as :class:`Markdown`, numbered ``Hint k of n``.
        """
        question = self.quiz.question(id)
        progress = self._progress[id]
        progress.hints_shown = min(progress.hints_shown + 1, len(question.hints))
        self._save()
        return Markdown(self.hint_text(id, progress.hints_shown))

    def hint_text(self, id: str, number: int) -> str:  # noqa: A002
        """One rung of the hint ladder, without climbing it.

        Args:
            id: The question id.
            number: 1-based rung.

        Returns:
            ``"Hint k of n: ..."`` (with a note on the last rung).
        """
        hints = self.shown.question(id).hints
        last = " (the last one)" if number == len(hints) and len(hints) > 1 else ""
        return f"**Hint {number} of {len(hints)}{last}:** {hints[number - 1]}"

    def solution(self, id: str) -> Markdown:  # noqa: A002
        """The worked solution of a question; revealing it is remembered.

        Args:
            id: The question id.

        Returns:
            The step-by-step solution as :class:`Markdown`.
        """
        question = self.shown.question(id)
        self._progress[id].solution_shown = True
        self._save()
        return Markdown(question.solution)

    def score(self) -> CheckResult:
        """The quiz so far: how many questions are right, wrong and not attempted.

        Returns:
            A :class:`CheckResult` named after the quiz whose ``score`` is the fraction right.
        """
        total = len(self.quiz.questions)
        results = [self._progress[q.id].result for q in self.quiz.questions]
        right = sum(1 for r in results if r is not None and r.passed)
        tried = sum(1 for r in results if r is not None and r.outcome is not Outcome.NOT_ATTEMPTED)
        untried = total - tried
        wrong = tried - right
        summary = f"You have {right} of {total} questions right"
        if wrong:
            summary += f", {wrong} still wrong"
        if untried:
            summary += f" and {untried} not attempted yet"
        summary += "."
        if right == total:
            return passed(self.quiz.stem, f"{summary} Well done.", score=1.0)
        if tried == 0:
            return not_attempted(self.quiz.stem, f"{summary} Check an answer to start.")
        advice = " Ask for a hint on the ones you are unsure of." if wrong else ""
        return failed(self.quiz.stem, summary + advice, score=right / total)

    def progress(self, id: str) -> QuestionProgress:  # noqa: A002
        """What the learner has done on one question (read by renderers).

        Args:
            id: The question id.

        Returns:
            The :class:`QuestionProgress` (live; do not modify).
        """
        self.quiz.question(id)
        return self._progress[id]

    def choice_order(self, id: str) -> ChoiceOrder | None:  # noqa: A002
        """How a choice question is shown to this learner (read by renderers).

        Args:
            id: The question id.

        Returns:
            Its :class:`~autograder.render.shuffle.ChoiceOrder`, or None for other kinds.
        """
        self.quiz.question(id)
        return self._orders.get(id)

    def reset(self) -> None:
        """Forget every answer, hint and solution; the choices keep their order."""
        self._progress = {q.id: QuestionProgress() for q in self.quiz.questions}
        self._save()

    # ------------------------------------------------------------ progress file

    def _ids(self, id: str | None) -> tuple[str, ...]:  # noqa: A002
        if id is None:
            return self.quiz.ids
        return (self.quiz.question(id).id,)

    def _restore(self) -> str | None:
        """Read the progress file; returns the learner's seed saved in it, if any."""
        path = self.progress_path
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("questions"), dict):
                raise ValueError("it has no 'questions' mapping")
            restored = {
                qid: QuestionProgress.from_dict(entry)
                for qid, entry in data["questions"].items()
                if qid in self._progress  # questions removed from the bank are dropped
            }
            seed = data.get("learner_seed")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.notice = (
                f"Your saved quiz progress in {path} could not be read ({exc}), so the quiz starts "
                "afresh. The file will be replaced when you next check an answer."
            )
            print(self.notice)
            return None
        for qid, progress in restored.items():
            question = self.quiz.question(qid)
            progress.hints_shown = min(progress.hints_shown, len(question.hints))
            if data.get("progress_version", 1) < 2:
                progress.value = choice_texts(question, progress.value)
            self._progress[qid] = progress
        return seed if isinstance(seed, str) and seed else None

    def _save(self) -> None:
        path = self.progress_path
        if path is None:
            return
        data = {
            "progress_version": PROGRESS_VERSION,
            "quiz": self.quiz.stem,
            "learner_seed": self.seed,
            "questions": {qid: p.to_dict() for qid, p in self._progress.items()},
        }
        temporary = path.with_name(path.name + ".tmp")
        try:
            # Write then rename, so an interrupted save never leaves a half-written file.
            temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
            temporary.replace(path)
        except OSError as exc:
            if not self.notice:
                self.notice = (
                    f"Your quiz progress cannot be saved to {path} ({exc.strerror}); answers are "
                    "kept only until the kernel restarts."
                )
                print(self.notice)


def load_quiz(
    stem_or_path: str | os.PathLike[str],
    *,
    progress_dir: str | os.PathLike[str] | None = None,
    save: bool = True,
    seed: str | None = None,
) -> QuizSession:
    """Load a lesson's quiz, with the learner's saved progress.

    Args:
        stem_or_path: A lesson stem such as ``"01-keras-sequential-api"`` (read from the
            ``quizzes/`` folder, or ``$AUTOGRADER_QUIZZES``) or a path to a quiz file.
        progress_dir: Folder for the progress file; the working directory (the notebook's
            folder in JupyterLab) when None.
        save: False keeps progress in memory only.
        seed: Fixes the order of the choices; by default the learner's own (saved in the
            progress file the first time, from ``$AUTOGRADER_LEARNER`` or ``$JUPYTERHUB_USER``
            when set, else random).

    Returns:
        A :class:`QuizSession` with ``show``, ``check``, ``hint``, ``solution`` and ``score``.

    Raises:
        FileNotFoundError: When no such quiz exists (the message lists the ones that do).
        autograder.loader.QuizFormatError: When the quiz file is invalid (naming file and line).
    """
    quiz = load_quiz_file(quiz_path(stem_or_path))
    path = progress_file(quiz.stem, progress_dir) if save else None
    return QuizSession(quiz, path, seed)


def _in_widget_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
