"""How quickly does a quiz answer a click? Prints click-to-feedback times per question kind.

Run with ``.venv/bin/python benchmarks/quiz_speed.py``. For every question of every bank file
except fix-the-model ones, it sets a wrong and then the right answer in the question's widget,
clicks Check and times until the feedback widget holds the verdict. This is the kernel's share of
the delay a learner feels (the browser adds a few milliseconds of messaging). The target is at
most 50 ms per click; fix-the-model questions build a Keras model and are timed separately.

Also printed: the time to load each quiz and to build its widgets. Nothing is asserted, because
timings depend on the machine and its load.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from autograder.quiz import QuizSession, available_quizzes, load_quiz
from autograder.render.widgets import QuestionWidget, QuizWidget
from autograder.schema import FixModel, MultipleSelect, Numeric, OutputShape, SingleChoice

TARGET_MS = 50.0


def _answers(view: QuestionWidget) -> list[object]:
    """A wrong answer and the right one, as the control would hold them."""
    question = view.question  # as this learner sees it: choices in the learner's order
    if isinstance(question, SingleChoice):
        values = [value for _, value in view.answer.options]
        right = next(i for i, c in enumerate(question.choices) if c.correct)
        return [values[(right + 1) % len(values)], values[right]]
    if isinstance(question, MultipleSelect):
        return [[], [i for i, c in enumerate(question.choices) if c.correct]]
    if isinstance(question, Numeric):
        return ["12345", str(question.answer)]
    if isinstance(question, OutputShape):
        return ["(None, 99999)", str(question.answer)]
    return ["something else", question.answer]  # predict-the-output


def _set(view: QuestionWidget, value: object) -> None:
    if isinstance(view.question, MultipleSelect):
        chosen = set(value)  # type: ignore[arg-type]
        for index, box in enumerate(view.boxes):
            box.value = index in chosen
    else:
        view.answer.value = value


def time_clicks(session: QuizSession) -> dict[str, list[float]]:
    """Click Check with a wrong and a right answer on each non-model question.

    Args:
        session: A loaded quiz.

    Returns:
        Milliseconds per click, by question kind.
    """
    widget = QuizWidget(session, session.quiz.ids)
    times: dict[str, list[float]] = defaultdict(list)
    for view in widget.questions.values():
        if isinstance(view.question, FixModel):
            continue
        for value in _answers(view):
            _set(view, value)
            start = time.perf_counter()
            view.check_button.click()
            times[view.question.kind.value].append((time.perf_counter() - start) * 1000)
            assert view.feedback.value, "the click produced no feedback"
        result = session.progress(view.question.id).result
        assert result is not None and result.passed, f"{view.question.id}: the right answer failed"
    return times


def time_fix_model(session: QuizSession) -> list[float]:
    """Click Check on each fix-the-model question with its reference code.

    Args:
        session: A loaded quiz.

    Returns:
        Seconds per click (the first one includes importing Keras).
    """
    seconds = []
    widget = QuizWidget(session, session.quiz.ids)
    for view in widget.questions.values():
        if isinstance(view.question, FixModel) and view.question.check == "model":
            view.answer.value = view.question.reference
            start = time.perf_counter()
            view.check_button.click()
            seconds.append(time.perf_counter() - start)
    return seconds


def main() -> int:
    """Print the timings.

    Returns:
        0.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    all_times: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        for stem in available_quizzes():
            start = time.perf_counter()
            session = load_quiz(stem, progress_dir=Path(folder))
            loaded = time.perf_counter() - start
            start = time.perf_counter()
            QuizWidget(session, session.quiz.ids)
            built = time.perf_counter() - start
            print(f"{stem}: load {loaded * 1000:.0f} ms, widgets {built * 1000:.0f} ms")
            for kind, values in time_clicks(session).items():
                all_times[kind].extend(values)
        print(f"\nclick -> feedback (target <= {TARGET_MS:.0f} ms):")
        worst = 0.0
        for kind, values in sorted(all_times.items()):
            worst = max(worst, max(values))
            print(
                f"  {kind:16s} n={len(values):3d}  median {statistics.median(values):6.2f} ms"
                f"  max {max(values):6.2f} ms"
            )
        verdict = "within" if worst <= TARGET_MS else "OVER"
        print(f"  slowest click {worst:.2f} ms: {verdict} the target")
        fix = time_fix_model(load_quiz(available_quizzes()[0], progress_dir=Path(folder)))
        if fix:
            print(
                "\nfix-the-model click (first includes the Keras import): "
                + ", ".join(f"{s:.2f} s" for s in fix)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
