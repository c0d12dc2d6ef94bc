"""How quickly does a quiz answer a click? Prints click-to-feedback times per question kind.

Run with ``.venv/bin/python benchmarks/quiz_speed.py``. For every question of every bank file
except fix-the-model ones, it sends the quiz widget the message its page sends on Check (first
with a wrong, then with the right answer) and times until the state synced back to the page
holds the verdict. This is the kernel's share of the delay a learner feels (the browser adds a
few milliseconds of messaging; ``tests/test_quiz_accessibility.py`` prints the times measured
in the page). The target is at
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
    values = view.choice_values
    if isinstance(question, SingleChoice):
        right = next(i for i, c in enumerate(question.choices) if c.correct)
        return [values[(right + 1) % len(values)], values[right]]
    if isinstance(question, MultipleSelect):
        return [[], [v for v, c in zip(values, question.choices, strict=True) if c.correct]]
    if isinstance(question, Numeric):
        return ["12345", str(question.answer)]
    if isinstance(question, OutputShape):
        return ["(None, 99999)", str(question.answer)]
    return ["something else", question.answer]  # predict-the-output


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
        qid = view.question.id
        for value in _answers(view):
            checks = widget.root.state[qid]["checks"]
            start = time.perf_counter()
            widget.root.send_event("check", qid, value)
            times[view.question.kind.value].append((time.perf_counter() - start) * 1000)
            state = widget.root.state[qid]
            assert state["checks"] == checks + 1 and state["feedback_html"], "no feedback"
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
            start = time.perf_counter()
            widget.root.send_event("check", view.question.id, view.question.reference)
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
