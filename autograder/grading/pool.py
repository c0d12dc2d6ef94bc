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
import json
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from autograder.errors import GradingInterrupted, SandboxUnavailable
from autograder.grading import sandbox, staging
from autograder.grading.gradebook import record_grades
from autograder.grading.layout import CourseLayout
from autograder.grading.preload import Preloader
from autograder.grading.results import SubmissionResult, TaskResult, write_result
from autograder.grading.sandbox import Limits
from autograder.grading.watch import WorkerProcess, private_bytes, thread_env

# Used when the course has no measured reference time (built before timing, or --skip-timing).
DEFAULT_TIMEOUT = 600.0
# The default limit is this many times the reference solution's run time, and at least the floor.
TIMEOUT_FACTOR = 5.0
TIMEOUT_FLOOR = 120.0
DEFAULT_MEMORY_MB = 4096
VERIFY_TIMEOUT = 180.0


def default_timeout(layout: CourseLayout, assignment: str) -> float:
    """The wall-time limit per submission: a multiple of the reference run time, with a floor.

    Args:
        layout: The course layout.
        assignment: Assignment name.

    Returns:
        Seconds; :data:`DEFAULT_TIMEOUT` when build-course measured no reference time.
    """
    path = layout.grader(f"{assignment}.timing.json")
    try:
        seconds = float(json.loads(path.read_text(encoding="utf-8"))["reference_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_TIMEOUT
    return max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * seconds)


def read_secret(layout: CourseLayout) -> str:
    """Read the course secret, creating it for a course built before it existed.

    Args:
        layout: The course layout.

    Returns:
        The secret from which grader-only rows are derived.
    """
    from autograder.holdout import new_secret

    path = layout.secret
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_secret() + "\n")
    return path.read_text(encoding="utf-8").strip()


class _Progress:
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
                detail = f" ({result.reason})" if result.reason else ""
                self.stream.write(f"{status}  {result.student}{detail}\n")
            self.stream.flush()


class _Verifier:
    """The grader's own confined verifier, shared by every worker of a batch."""

    def __init__(self, exports_root: Path, *, confined: bool, limits: Limits,
                 memory_bytes: int | None, log: IO[bytes]):
        self.memory_bytes = memory_bytes
        self.preloader = Preloader("verify", confined=confined, limits=limits,
                                   readable=[exports_root] if confined else [], stderr=log)
        self.preloader.start()

    def warm(self, manifest: Any, secret: str) -> None:
        """Derive the grader-only rows the manifest refers to, in the verifier, once."""
        datasets = sorted(set(re.findall(r"@holdout:([A-Za-z_]+)",
                                         json.dumps(manifest.to_dict()))))
        self.preloader.warm(datasets, secret)

    def verify(self, manifest: Any, secret: str, exports: Path) -> list[Any] | None:
        from autograder.grading.verify import Verdict

        job = {"manifest": manifest.to_dict(), "secret": secret, "exports": str(exports)}
        found = self.preloader.verify(job, VERIFY_TIMEOUT, watch=self._within_memory)
        return None if found is None else [Verdict(**verdict) for verdict in found]

    def _within_memory(self, pid: int) -> bool:
        return self.memory_bytes is None or private_bytes(pid) <= self.memory_bytes

    def stop(self) -> None:
        self.preloader.stop()


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
    from autograder.grading.manifest import load as load_manifest

    layout = CourseLayout(course_dir)
    manifest = load_manifest(layout.root, assignment)
    secret = read_secret(layout)
    if sandboxed and (problem := sandbox.probe()) is not None:
        raise SandboxUnavailable(f"kernels cannot be confined on this machine: {problem} "
                                 "Pass --no-sandbox to grade unconfined (not safe against "
                                 "learners' code).")
    limits = limits or Limits()
    if timeout is None:
        timeout = default_timeout(layout, assignment)
    todo = sorted(students) if students is not None else layout.students(assignment)
    count = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    logs = layout.logs(assignment)
    logs.mkdir(parents=True, exist_ok=True)
    limit = int(memory_mb * 2**20) if memory_mb else None
    run = staging.new_folder(None, "autograder-run-")
    exports_root = run / "exports"
    exports_root.mkdir()
    sandbox.own_for_sandbox(exports_root)
    stopping = threading.Event()
    with open(logs / "verifier.log", "ab") as verifier_log:
        verifier = _Verifier(exports_root, confined=sandboxed, limits=limits,
                             memory_bytes=limit, log=verifier_log)
        # In a thread: the workers start meanwhile, and the first verification waits for it.
        threading.Thread(target=verifier.warm, args=(manifest, secret), daemon=True).start()
        try:
            with _stop_on_signals(stopping):
                results = _run_slots(layout, manifest, secret, todo, count, run, verifier,
                                     stopping, progress=progress, timeout=timeout,
                                     limit=limit, confined=sandboxed, limits=limits)
        finally:
            verifier.stop()
            staging.remove(run)
    if stopping.is_set():
        raise GradingInterrupted(f"grading stopped: {len(results)} of {len(todo)} submissions "
                                 "were graded and recorded; run the command again for the rest.")
    return [results[student] for student in todo]


def _run_slots(layout: CourseLayout, manifest: Any, secret: str, todo: list[str], count: int,
               run: Path, verifier: _Verifier, stopping: threading.Event, *,
               progress: IO[str] | None, timeout: float, limit: int | None, confined: bool,
               limits: Limits) -> dict[str, SubmissionResult]:
    """Grade ``todo`` on ``count`` workers; verify and record each submission as it finishes.

    Verification runs beside the workers (one thread, the verifier's forks), so a worker moves
    on to its next submission while the previous one is judged.
    """
    pending: queue.Queue[str] = queue.Queue()
    for student in todo:
        pending.put(student)
    results: dict[str, SubmissionResult] = {}
    bar = _Progress(len(todo), progress)
    thread_share = thread_env(count)

    def record(graded: _Graded) -> None:
        if stopping.is_set():
            staging.remove(graded.exports)
            return
        try:
            result = _finish(graded, verifier, layout, manifest, secret)
        except Exception as exc:  # noqa: BLE001 - the batch must always complete
            result = SubmissionResult(graded.student, f"grader error: {exc!r}"[:300],
                                      confined=confined)
        write_result(layout.results(manifest.assignment), result)
        results[graded.student] = result
        bar.update(result)

    def run_slot(index: int, verifications: ThreadPoolExecutor) -> None:
        folder = staging.new_folder(run, f"w{index}-")
        with open(layout.logs(manifest.assignment) / f"worker-{index}.log", "ab") as log:
            worker = WorkerProcess(layout, manifest.assignment, folder, log, confined=confined,
                             limits=limits, threads=thread_share)
            try:
                while not stopping.is_set():
                    try:
                        student = pending.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        graded = _run_submission(worker, student, run, timeout, limit,
                                                 stopping)
                    except Exception as exc:  # noqa: BLE001 - the batch must always complete
                        worker.stop()
                        graded = _Graded(student, {"reason": f"grader error: {exc!r}"[:300]},
                                         staging.new_folder(run / "exports", f"{student}-"),
                                         time.monotonic(), 0, 0, confined)
                    if graded.reply.get("reason") == "interrupted":
                        staging.remove(graded.exports)
                        return
                    verifications.submit(record, graded)
            finally:
                worker.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") as verifications:
        slots = [threading.Thread(target=run_slot, args=(index, verifications))
                 for index in range(count)]
        for slot in slots:
            slot.start()
        for slot in slots:
            while slot.is_alive():
                slot.join(timeout=0.2)
    return results


@dataclass
class _Graded:
    """A submission its worker is done with, waiting to be verified and recorded."""

    student: str
    reply: dict[str, Any]
    exports: Path
    started: float
    peak_kernel: int
    peak_worker: int
    confined: bool


def _run_submission(worker: WorkerProcess, student: str, run: Path, timeout: float,
                    limit: int | None, stopping: threading.Event) -> _Graded:
    """Autograde one submission on a worker; collect its exports even when it was stopped."""
    started = time.monotonic()
    exports = staging.new_folder(run / "exports", f"{student}-")
    reply, reason, peak_kernel, peak_worker = worker.request(
        {"student": student, "exports": str(exports)}, timeout, limit, stopping)
    if reply is None:
        if reason != "interrupted":
            # The kernel (or the worker) was stopped: verify what it exported before that.
            worker.salvage(exports)
        reply = {"reason": reason, "notes": []}
    return _Graded(student, reply, exports, started, peak_kernel, peak_worker, worker.confined)


def _finish(graded: _Graded, verifier: _Verifier, layout: CourseLayout, manifest: Any,
            secret: str) -> SubmissionResult:
    """Verify a graded submission's exports, record the verified scores, build its result."""
    reply = graded.reply
    try:
        notes = list(reply.get("notes") or [])
        notes += [f"export refused: {refusal}" for refusal in staging.refusals(graded.exports)]
        verdicts = verifier.verify(manifest, secret, graded.exports)
        if verdicts is None:
            verdicts = _zero_verdicts(manifest, "the grader could not verify this submission "
                                                "(the verification crashed, overran or used "
                                                "too much memory)")
            notes.append("verification failed")
        kernel = record_grades(layout.db_url, manifest.assignment, graded.student, verdicts,
                               course=layout.course_id, read_kernel=reply.get("reason") is None)
    finally:
        staging.remove(graded.exports)
    result = SubmissionResult(graded.student, reply.get("reason"), notes,
                              time.monotonic() - graded.started, graded.peak_kernel / 2**20,
                              graded.peak_worker / 2**20, confined=graded.confined)
    for verdict in verdicts:
        key = f"{verdict.notebook}/{verdict.grade_id}"
        result.tasks.append(TaskResult(**verdict.to_dict(), kernel_score=kernel.get(key)))
    return result


def _zero_verdicts(manifest: Any, message: str) -> list[Any]:
    from autograder.grading.verify import Verdict

    return [Verdict(task.notebook, task.grade_id, task.name, task.points, 0.0, "error", message)
            for task in manifest.tasks]


@contextlib.contextmanager
def _stop_on_signals(stopping: threading.Event) -> Any:
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
    width = max([len("student"), *(len(result.student) for result in results)])
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
        emit(f"{result.student:<{width}}  {result.score:5.1f}/{result.max_score:<3.0f}"
             f"{kernel_text}  {note}")
