"""The learner's quiz API: ``quiz = autograder.load_quiz("01-keras-sequential-api")``.

``quiz.show()`` renders every question (widgets in JupyterLab, Markdown elsewhere),
``quiz.show(id)`` one; ``quiz.check(id, value)``, ``quiz.hint(id)``, ``quiz.solution(id)`` and
``quiz.score()`` work without widgets. Answers, hints taken and results are saved to a small JSON
file beside the notebook (``.<stem>.quiz-progress.json`` in the working directory) and restored
the next time the quiz is loaded, so a kernel restart does not lose a learner's work.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.checks.answers import check_answer
from autograder.loader import load_quiz_file
from autograder.render.text import Markdown, render_quiz
from autograder.result import CheckResult, Outcome, failed, not_attempted, passed
from autograder.schema import Quiz

PROGRESS_VERSION = 1
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


@dataclass
class QuestionProgress:
    """What a learner has done on one question.

    Attributes:
        value: The last answer checked, when it can be saved as JSON.
        result: The result of that check.
        hints_shown: How far up the hint ladder the learner has climbed.
        solution_shown: Whether the worked solution was revealed.
    """

    value: Any = None
    result: CheckResult | None = None
    hints_shown: int = 0
    solution_shown: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the progress file."""
        return {
            "value": self.value,
            "result": self.result.to_dict() if self.result is not None else None,
            "hints_shown": self.hints_shown,
            "solution_shown": self.solution_shown,
        }

    @classmethod
    def from_dict(cls, data: Any) -> QuestionProgress:
        """Rebuild from the progress file.

        Args:
            data: One entry of the file's ``questions`` mapping.

        Returns:
            The progress.

        Raises:
            ValueError: When the entry is malformed.
        """
        if not isinstance(data, dict):
            raise ValueError("a question entry is not a mapping")
        try:
            result = CheckResult.from_dict(data["result"]) if data.get("result") else None
            hints = int(data.get("hints_shown", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a question entry is malformed ({exc})") from None
        return cls(data.get("value"), result, max(hints, 0), bool(data.get("solution_shown")))


def _jsonable(value: Any) -> Any:
    """The answer if it survives a JSON round trip, else None (a model object, say)."""
    if isinstance(value, tuple | set | frozenset):
        value = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


class QuizSession:
    """One learner working through one quiz; made by :func:`load_quiz`.

    Attributes:
        quiz: The questions.
        progress_path: The JSON file answers are saved to, or None to keep them in memory.
        notice: A message about the progress file (unreadable, unwritable), or "".

    Args:
        quiz: The loaded quiz.
        progress_path: Where to save and restore progress; None keeps it in memory.
    """

    def __init__(self, quiz: Quiz, progress_path: Path | None):
        self.quiz = quiz
        self.progress_path = progress_path
        self.notice = ""
        self._progress: dict[str, QuestionProgress] = {
            q.id: QuestionProgress() for q in quiz.questions
        }
        self._restore()

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
        print(render_quiz(self.quiz, None if id is None else ids))

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
            value: The answer: a letter for a choice, a list of letters for a multiple select,
                a number, a shape such as ``"(None, 3)"``, the text a snippet prints, or a model
                (or its code) for a fix-the-model question.

        Returns:
            A :class:`CheckResult` (shown as Markdown in a notebook).
        """
        question = self.quiz.question(id)
        result = check_answer(question, value)
        progress = self._progress[id]
        progress.value = _jsonable(value)
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
        hints = self.quiz.question(id).hints
        last = " (the last one)" if number == len(hints) and len(hints) > 1 else ""
        return f"**Hint {number} of {len(hints)}{last}:** {hints[number - 1]}"

    def solution(self, id: str) -> Markdown:  # noqa: A002
        """The worked solution of a question; revealing it is remembered.

        Args:
            id: The question id.

        Returns:
            The step-by-step solution as :class:`Markdown`.
        """
        question = self.quiz.question(id)
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

    def reset(self) -> None:
        """Forget every answer, hint and solution, and delete the progress file."""
        self._progress = {q.id: QuestionProgress() for q in self.quiz.questions}
        if self.progress_path is not None and self.progress_path.exists():
            self.progress_path.unlink()

    # ------------------------------------------------------------ progress file

    def _ids(self, id: str | None) -> tuple[str, ...]:  # noqa: A002
        if id is None:
            return self.quiz.ids
        return (self.quiz.question(id).id,)

    def _restore(self) -> None:
        path = self.progress_path
        if path is None or not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("questions"), dict):
                raise ValueError("it has no 'questions' mapping")
            restored = {
                qid: QuestionProgress.from_dict(entry)
                for qid, entry in data["questions"].items()
                if qid in self._progress  # questions removed from the bank are dropped
            }
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.notice = (
                f"Your saved quiz progress in {path} could not be read ({exc}), so the quiz starts "
                "afresh. The file will be replaced when you next check an answer."
            )
            print(self.notice)
            return
        for qid, progress in restored.items():
            progress.hints_shown = min(progress.hints_shown, len(self.quiz.question(qid).hints))
            self._progress[qid] = progress

    def _save(self) -> None:
        path = self.progress_path
        if path is None:
            return
        data = {
            "progress_version": PROGRESS_VERSION,
            "quiz": self.quiz.stem,
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


def progress_file(stem: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """Where a quiz's progress is saved: ``.<stem>.quiz-progress.json`` beside the notebook.

    Args:
        stem: The quiz stem.
        folder: The notebook's folder; the working directory when None.

    Returns:
        The path (it may not exist yet).
    """
    return Path(folder if folder is not None else Path.cwd()) / f".{stem}.quiz-progress.json"


def load_quiz(
    stem_or_path: str | os.PathLike[str],
    *,
    progress_dir: str | os.PathLike[str] | None = None,
    save: bool = True,
) -> QuizSession:
    """Load a lesson's quiz, with the learner's saved progress.

    Args:
        stem_or_path: A lesson stem such as ``"01-keras-sequential-api"`` (read from the
            ``quizzes/`` folder, or ``$AUTOGRADER_QUIZZES``) or a path to a quiz file.
        progress_dir: Folder for the progress file; the working directory (the notebook's
            folder in JupyterLab) when None.
        save: False keeps progress in memory only.

    Returns:
        A :class:`QuizSession` with ``show``, ``check``, ``hint``, ``solution`` and ``score``.

    Raises:
        FileNotFoundError: When no such quiz exists (the message lists the ones that do).
        autograder.loader.QuizFormatError: When the quiz file is invalid (naming file and line).
    """
    quiz = load_quiz_file(quiz_path(stem_or_path))
    path = progress_file(quiz.stem, progress_dir) if save else None
    return QuizSession(quiz, path)


def _in_widget_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
