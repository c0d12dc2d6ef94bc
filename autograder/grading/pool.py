"""``autograder grade``: parallel, confined grading, verified by the grader alone.

How a batch runs, and why:

- **Inputs read once.** The grader reads the manifest (expected answers), the course config and
  the course secret before any learner code runs, and never again during the batch.
- **Long-lived workers, one submission at a time each** (:mod:`autograder.grading.worker`).
  Their kernels are confined forks of a preloader (:mod:`autograder.grading.sandbox`), and
  export plain data into a folder the grader created for this run, outside the course.
- **Limits watched from outside.** The grader polls each worker's process tree: past the time
  limit, when the kernels' own memory (pages not shared with the preloader) exceeds the limit,
  or when the submission's files outgrow the disk limit, the whole tree is killed and the reason
  recorded. The time limit counts the kernels' CPU time, which a busy machine does not inflate,
  with wall time as a backstop; a worker's own start-up is never counted, so a grade does not
  depend on how busy the machine is. RLIMIT_AS is not used: TensorFlow reserves far more virtual
  memory than it touches, so an address-space limit kills honest notebooks. Whatever the kernel
  exported before it was stopped is still verified, so work done before a hang keeps its credit.
- **Verified scores.** A confined verifier (a preloader of the grader's own, which no kernel
  descends from) re-judges each submission's exports against the manifest, on grader-only rows
  derived from the course secret; the grader writes that score into the gradebook's
  ``auto_score``, and keeps the kernel's own claim beside it in ``grader/results/``.
- **Stopping.** Ctrl-C or SIGTERM kills every worker, preloader and kernel and returns; the
  gradebook holds the verified scores of the submissions that finished.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from autograder.errors import GradingInterrupted
from autograder.grading import learners
from autograder.grading.layout import CourseLayout
from autograder.grading.results import SubmissionResult, TaskResult, write_result
from autograder.grading.sandbox import Limits
from autograder.grading.session import (  # noqa: F401 - part of this module's interface
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    TIMEOUT_FACTOR,
    TIMEOUT_FLOOR,
    Graded,
    GradingSession,
    default_timeout,
    read_secret,
    zero_verdicts,
)
from autograder.grading.watch import thread_env


class Progress:
    """A one-line progress bar on the grader's stderr (one line per student when not a TTY)."""

    def __init__(self, total: int, stream: IO[str] | None):
        self.total, self.stream, self.done, self.failed = total, stream, 0, 0
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.tty = bool(stream is not None and stream.isatty())

    def update(self, result: SubmissionResult) -> None:
        with self.lock:
            self.done += 1
            self.failed += result.reason is not None
            if self.stream is None:
                return
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            elapsed = time.monotonic() - self.started
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
            status = f"{bar}  {self.failed} with problems  {elapsed:5.0f} s"
            if self.tty:
                self.stream.write("\r" + status + ("\n" if self.done == self.total else ""))
            else:
                detail = f" ({learners.shown(result.reason)})" if result.reason else ""
                self.stream.write(f"{status}  {learners.shown(result.student)}{detail}\n")
            self.stream.flush()


def grade(course_dir: str | Path, assignment: str, *, workers: int | None = None,
          timeout: float | None = None, memory_mb: float | None = DEFAULT_MEMORY_MB,
          students: Iterable[str] | None = None, progress: IO[str] | None = sys.stderr,
          sandboxed: bool = True, limits: Limits | None = None) -> list[SubmissionResult]:
    """Grade every submission of an assignment in parallel, confined, verified by the grader.

    Args:
        course_dir: The nbgrader course directory (after ``nbgrader generate_assignment``).
        assignment: Assignment name.
        workers: Parallel workers; ``os.cpu_count()`` when None.
        timeout: Time limit per submission in seconds (CPU time of its kernels per core they
            were given, wall time at :data:`WALL_BACKSTOP` times it); None for
            :func:`default_timeout`.
        memory_mb: Limit on a submission's kernel memory in MB; None for no limit.
        students: Grade only these students (default: every submission).
        progress: Stream for the progress bar; None for silence.
        sandboxed: Confine kernels and verification; False grades unconfined (every result
            says so).
        limits: The kernels' limits (scratch, disk, file size, processes).

    Returns:
        One result per student, sorted by student id. Every submission gets one, whatever its
        notebook did.

    Raises:
        ManifestError: The assignment has no manifest.
        SandboxUnavailable: ``sandboxed`` is True and this machine cannot confine kernels.
        GradingInterrupted: Ctrl-C or SIGTERM; the finished submissions keep their grades.
    """
    layout = CourseLayout(course_dir)
    session = GradingSession(layout, assignment, sandboxed=sandboxed, limits=limits,
                             timeout=timeout, memory_mb=memory_mb)
    todo = sorted(set(students)) if students is not None else layout.students(assignment)
    count = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    stopping = threading.Event()
    try:
        with stop_on_signals(stopping):
            results = _run_slots(session, todo, count, stopping, progress=progress)
    finally:
        session.close()
    if stopping.is_set():
        raise GradingInterrupted(f"grading stopped: {len(results)} of {len(todo)} submissions "
                                 "were graded and recorded; run the command again for the rest.")
    # A submission whose slot ended without a result (its worker could not start) is still
    # recorded, and the batch reports every learner.
    for student in todo:
        if student not in results:
            results[student] = refused_result(session, student, "grader error: not graded "
                                              "(its worker stopped); run the command again")
    return [results[student] for student in todo]


def _run_slots(session: GradingSession, todo: list[str], count: int,
               stopping: threading.Event, *, progress: IO[str] | None
               ) -> dict[str, SubmissionResult]:
    """Grade ``todo`` on ``count`` workers; verify and record each submission as it finishes.

    Verification runs beside the workers (one thread, the verifier's forks), so a worker moves
    on to its next submission while the previous one is judged.
    """
    pending: queue.Queue[str] = queue.Queue()
    for student in todo:
        pending.put(student)
    results: dict[str, SubmissionResult] = {}
    bar = Progress(len(todo), progress)
    thread_share = thread_env(count)

    def record(graded: Graded) -> None:
        if stopping.is_set():
            return
        result = session.finish(graded)
        results[graded.student] = result
        bar.update(result)

    def refuse(student: str, why: str) -> None:
        if stopping.is_set():
            return
        result = refused_result(session, student, why)
        results[student] = result
        bar.update(result)

    def run_slot(index: int, verifications: ThreadPoolExecutor) -> None:
        with session.worker(index, thread_share) as worker:
            while not stopping.is_set():
                try:
                    student = pending.get_nowait()
                except queue.Empty:
                    return
                why = preflight(session.layout, session.assignment, student)
                if why is not None:
                    verifications.submit(refuse, student, why)
                    continue
                try:
                    graded = session.run_submission(worker, student, stopping)
                except Exception as exc:  # noqa: BLE001 - one learner must not stop the batch
                    verifications.submit(refuse, student, f"grader error: {exc!r}"[:300])
                    continue
                if graded.reply.get("reason") == "interrupted":
                    return
                verifications.submit(record, graded)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") as verifications:
        slots = [threading.Thread(target=run_slot, args=(index, verifications))
                 for index in range(count)]
        for slot in slots:
            slot.start()
        for slot in slots:
            while slot.is_alive():
                slot.join(timeout=0.2)
    return results


def preflight(layout: CourseLayout, assignment: str, student: str) -> str | None:
    """Say why a submission cannot be graded at all, before any process reads it.

    Args:
        layout: The course layout.
        assignment: Assignment name.
        student: Student id.

    Returns:
        ``refused: <why>``, naming the learner's problem; None when it can be graded.
    """
    why = learners.refusal(student)
    if why is None:
        folder = layout.step("submitted", student, assignment)
        if not folder.is_dir():
            why = f"there is no submission of {assignment} in {folder}"
        else:
            why = learners.oversized_notebook(folder)
    return None if why is None else f"refused: {why}"


def refused_result(session: GradingSession, student: str, why: str) -> SubmissionResult:
    """Record a submission that was not graded: zero on every task, the reason in its result.

    The gradebook is left alone: an id the grader cannot use may not be one SQLite can store,
    and nothing of the submission was judged.

    Args:
        session: The batch's session.
        student: Student id.
        why: The reason recorded.

    Returns:
        The result written to ``grader/results/``.
    """
    result = SubmissionResult(student, why, confined=session.confined)
    result.tasks = [TaskResult(**verdict.to_dict())
                    for verdict in zero_verdicts(session.manifest, why)]
    try:
        write_result(session.layout.results(session.assignment), result)
    except OSError as exc:
        result.notes.append(f"result not written: {exc.strerror}")
    return result


@contextlib.contextmanager
def stop_on_signals(stopping: threading.Event) -> Any:
    """Turn Ctrl-C and SIGTERM into ``stopping`` while a batch runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def print_summary(results: Iterable[SubmissionResult], emit: Callable[[str], Any]) -> None:
    """Print one line per submission: verified score, the kernel's claim and any problem.

    Args:
        results: The batch's results.
        emit: Where each line goes (``print``).
    """
    results = list(results)
    names = {result.student: learners.shown(result.student) for result in results}
    width = max([len("student"), *(len(name) for name in names.values())])
    emit(f"{'student':<{width}}  verified  kernel  note")
    for result in results:
        kernel = [task.kernel_score for task in result.tasks]
        kernel_text = (f"{sum(k for k in kernel if k is not None):6.1f}"
                       if any(k is not None for k in kernel) else "     -")
        note = result.reason or ""
        if result.disagreements:
            note = (note + "; " if note else "") + "kernel and verified scores differ"
        if not result.confined:
            note = (note + "; " if note else "") + "graded unconfined (--no-sandbox)"
        unseen = [task.grade_id for task in result.tasks if task.flag]
        if unseen:
            note = (note + "; " if note else "") + (
                f"{', '.join(unseen)}: far better on grader-only rows than on its own test "
                f"split (see the report)")
        emit(f"{names[result.student]:<{width}}  {result.score:5.1f}/{result.max_score:<3.0f}"
             f"{kernel_text}  {learners.shown(note)}")
