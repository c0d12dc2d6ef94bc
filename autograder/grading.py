"""``autograder grade DIR ASSIGNMENT``: parallel grading, verified outside the learner's kernel.

How a batch runs, and why:

- **Long-lived workers, one submission at a time each.** ``--workers N`` clean worker processes
  (``python -m autograder.grading --serve``) each run nbgrader's own autograde (its Python API,
  so sanitising, restoring locked and grade cells from the gradebook, execution and
  ``SaveAutoGrades`` behave exactly as ``nbgrader autograde``) for one student, then verify.
  Starting ``nbgrader`` costs about 3 s of imports; a worker pays that once, not per student,
  which keeps the per-submission overhead close to bare notebook execution. The learner's code
  only ever runs in the kernel, a descendant of the worker.
- **Kernels that start with Keras imported.** Importing TensorFlow is most of a small
  notebook's CPU time, so each worker's kernels are forked from a preloader that has imported
  it once (:mod:`autograder.preload`), and so are its verifications. With more than one worker,
  each kernel's TensorFlow gets its share of the cores (:func:`thread_env`).
- **Limits watched from outside.** The parent polls each worker's process tree: past the wall
  time limit, or when the kernels' resident memory (RSS, read with psutil) exceeds the limit,
  the whole tree is killed (kernels run in their own sessions, so the tree is walked rather than
  one process group signalled). RLIMIT_AS is not used: TensorFlow reserves far more *virtual*
  memory than it touches (measured on TF 2.x / Keras 3.15: a process that imports Keras and fits
  a tiny model has 650 MB resident but 2.3 GB of address space, and under a 1.5 GB RLIMIT_AS it
  dies with SIGSEGV), so an address-space limit kills honest notebooks. A fresh worker then
  verifies whatever the kernel exported before it was stopped, so a notebook that hangs or blows
  up after some tasks keeps the credit of those tasks, with the reason recorded.
- **Verified scores.** Grade cells export plain data (:mod:`autograder.export`); the worker
  re-judges it with :func:`autograder.verify.verify_submission` and writes the verified score
  into the gradebook's ``auto_score``. The kernel's own score is kept next to it in
  ``DIR/grader/results/<assignment>/<student>.json`` and ``autograder report`` flags any
  disagreement.
- **A shared gradebook.** SQLite URLs get ``?timeout=60`` (nbgrader's default 5 s lock wait fails
  with parallel writers); any other database URL from the course config is used as it is.

Limits of the design: kernels run as the grading user, so a determined learner's code could
still read files of that user (``source/``, the manifest) or write to the gradebook while it
runs; the verified scores are written after the kernel is gone. Running kernels under a separate
account or container closes that; the verification here does not depend on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from autograder import preload
from autograder.export import ENV_VAR
from autograder.manifest import GRADER_DIR, Manifest, ManifestError
from autograder.manifest import load as load_manifest
from autograder.verify import Verdict

DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY_MB = 4096
VERIFY_TIMEOUT = 180.0
# Longest text kept per output of an autograded notebook: nbgrader's LimitOutput counts lines,
# so one line of many megabytes would otherwise reach the feedback HTML.
MAX_OUTPUT_CHARS = 64_000
# How often the parent reads the kernels' memory, and how often it looks for new processes
# under a worker (listing children scans every process on the machine, so less often).
_POLL_SECONDS = 0.2
_RESCAN_SECONDS = 1.0
# Thread-pool sizes that TensorFlow (intra- and inter-op) and OpenMP/oneDNN read at start-up.
THREAD_ENV_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def thread_env(workers: int, cores: int | None = None) -> dict[str, str]:
    """Thread-pool settings that share the cores between parallel kernels.

    Every TensorFlow process sizes its thread pools to all the cores. Two kernels on two cores
    then run four busy pools that preempt each other, which costs more CPU than it saves, so
    each kernel gets its share of the cores instead.

    Args:
        workers: Kernels that run at the same time.
        cores: Cores to share; ``os.cpu_count()`` when None.

    Returns:
        Variable -> value for :data:`THREAD_ENV_VARS`; empty for a single worker, which keeps
        TensorFlow's own defaults.
    """
    if workers <= 1:
        return {}
    share = str(max(1, (cores or os.cpu_count() or 1) // workers))
    return dict.fromkeys(THREAD_ENV_VARS, share)


@dataclass
class SubmissionResult:
    """What grading one submission found.

    Attributes:
        student: Student id.
        reason: Why the run did not complete normally (``timeout``, ``memory``,
            ``kernel died``, ``crashed``, ``verification failed``), or None.
        notes: Other observations (a cell timed out, output was truncated, sys.exit was called).
        seconds: Wall time of the whole submission.
        peak_kernel_mb: Highest resident memory of the submission's kernels.
        peak_worker_mb: Highest resident memory of the worker process itself.
        tasks: One dict per task: the verdict fields plus ``kernel_score`` and ``disagrees``.
    """

    student: str
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_kernel_mb: float = 0.0
    peak_worker_mb: float = 0.0
    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Verified points earned."""
        return sum(task["score"] for task in self.tasks)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(task["max_score"] for task in self.tasks)

    @property
    def disagreements(self) -> list[str]:
        """Grade ids where the kernel's score differs from the verified one."""
        return [task["grade_id"] for task in self.tasks if task["disagrees"]]

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            The fields plus ``score`` and ``max_score``.
        """
        return {**self.__dict__, "score": self.score, "max_score": self.max_score}


# --------------------------------------------------------------------------- course plumbing


def course_config(course_dir: str | Path) -> Any:
    """Load the course's ``nbgrader_config.py`` (an empty config when there is none).

    Args:
        course_dir: The nbgrader course directory.

    Returns:
        A traitlets ``Config``.
    """
    from traitlets.config.loader import Config, PyFileConfigLoader

    path = Path(course_dir) / "nbgrader_config.py"
    if not path.exists():
        return Config()
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def gradebook_url(course_dir: str | Path) -> str:
    """Return the course's gradebook URL, with a 60 s lock wait for SQLite.

    Args:
        course_dir: The nbgrader course directory.

    Returns:
        The database URL from the course config (nbgrader's default when unset).
    """
    from nbgrader.coursedir import CourseDirectory

    config = course_config(course_dir)
    config.CourseDirectory.root = str(Path(course_dir).resolve())
    url = CourseDirectory(config=config).db_url
    if url.startswith("sqlite") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + "timeout=60"
    return url


def course_id(course_dir: str | Path) -> str:
    """Return the course id nbgrader uses for the gradebook.

    Args:
        course_dir: The nbgrader course directory.

    Returns:
        ``CourseDirectory.course_id`` from the config, or nbgrader's default.
    """
    config = course_config(course_dir)
    value = config.CourseDirectory.get("course_id") if "CourseDirectory" in config else None
    return str(value) if value else "default_course"


def submitted_students(course_dir: str | Path, assignment: str) -> list[str]:
    """List the students with a submission of an assignment.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        Student ids, sorted.
    """
    root = Path(course_dir) / "submitted"
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir() if (path / assignment).is_dir())


def grader_path(course_dir: str | Path, *parts: str) -> Path:
    """Return a path under the course's grader-only folder ``DIR/grader``.

    Args:
        course_dir: The nbgrader course directory.
        *parts: Path components below it.

    Returns:
        The path (not created).
    """
    return Path(course_dir).resolve().joinpath(GRADER_DIR, *parts)


def record_grades(db_url: str, assignment: str, student: str, verdicts: Sequence[Verdict], *,
                  course: str = "default_course", read_kernel: bool = True,
                  attempts: int = 8) -> dict[str, float | None]:
    """Write verified scores into the gradebook and return the kernel's scores they replace.

    Creates the student and submission when nbgrader never got that far (a worker killed while
    starting), so every submission ends up with a grade for every verified cell.

    Args:
        db_url: Gradebook URL.
        assignment: Assignment name.
        student: Student id.
        verdicts: The verified verdicts.
        course: nbgrader course id.
        read_kernel: Read the current ``auto_score`` as the kernel's score (only meaningful
            right after a successful autograde).
        attempts: Retries when the database is locked beyond its own timeout.

    Returns:
        ``"notebook/grade_id"`` -> kernel score (None when not read or not recorded).
    """
    import sqlalchemy.exc
    from nbgrader.api import Gradebook, MissingEntry

    for attempt in range(attempts):
        try:
            with Gradebook(db_url, course) as gradebook:
                try:
                    gradebook.find_submission(assignment, student)
                except MissingEntry:
                    gradebook.update_or_create_student(student)
                    gradebook.add_submission(assignment, student)
                kernel: dict[str, float | None] = {}
                for verdict in verdicts:
                    key = f"{verdict.notebook}/{verdict.grade_id}"
                    try:
                        grade = gradebook.find_grade(verdict.grade_id, verdict.notebook,
                                                     assignment, student)
                    except MissingEntry:
                        kernel[key] = None
                        continue
                    kernel[key] = grade.auto_score if read_kernel else None
                    grade.auto_score = verdict.score
                    grade.needs_manual_grade = False
                gradebook.db.commit()
                return kernel
        except sqlalchemy.exc.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- the worker process


def _serve(course_dir: Path, assignment: str, db_url: str) -> int:
    """Worker loop: read one JSON request per line, grade, reply one JSON line.

    The reply channel is a private copy of stdout; descriptors 0 and 1 are pointed away so the
    kernels this process starts can neither read requests nor write fake replies on them.
    """
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr

    # Kernels fork from a process that has imported Keras; the parent leaves its own memory
    # out of the kernels' (it is the grader's, and every fork shares it).
    def announce(pid: int) -> None:
        replies.write(json.dumps({"preloader": pid}) + "\n")
        replies.flush()

    preloader = preload.start(announce)
    manifest = load_manifest(course_dir, assignment)
    api = _nbgrader_api(course_dir, db_url)
    course = course_id(course_dir)
    for line in requests:
        request = json.loads(line)
        reply = _grade_one(api, manifest, course_dir, db_url, course, request["student"],
                           autograde=bool(request.get("autograde", True)), preloader=preloader)
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


def _nbgrader_api(course_dir: Path, db_url: str) -> Any:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = course_config(course_dir)
    config.CourseDirectory.root = str(course_dir)
    config.CourseDirectory.db_url = db_url
    # Put back grade cells a learner deleted, so their tests (and exports) still run.
    config.OverwriteCells.add_missing_cells = True
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _grade_one(api: Any, manifest: Manifest, course_dir: Path, db_url: str, course: str,
               student: str, *, autograde: bool,
               preloader: preload.Preloader) -> dict[str, Any]:
    from autograder.verify import Verdict, verify_submission

    started = time.monotonic()
    assignment = manifest.assignment
    exports = grader_path(course_dir, "exports", assignment, student)
    reason: str | None = None
    notes: list[str] = []
    succeeded = False
    if autograde:
        shutil.rmtree(exports, ignore_errors=True)
        exports.mkdir(parents=True, exist_ok=True)
        os.environ[ENV_VAR] = str(exports)
        try:
            outcome = api.autograde(assignment, student, force=True, create=True)
        finally:
            os.environ.pop(ENV_VAR, None)
        log = str(outcome.get("log") or "") + str(outcome.get("error") or "")
        log_path = grader_path(course_dir, "logs", assignment, f"{student}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(log[-200_000:], encoding="utf-8")
        succeeded = bool(outcome.get("success"))
        if not succeeded:
            reason = _failure_reason(log)
        notes = _tidy_autograded(course_dir, assignment, student)
    # Verify in a fork of the preloader, which has Keras imported; in this process otherwise
    # (the worker itself imports neither TensorFlow nor Keras until then).
    found = preloader.verify(course_dir, assignment, exports, VERIFY_TIMEOUT)
    if found is not None:
        verdicts = [Verdict(**verdict) for verdict in found]
    else:
        from autograder.quiet import silence

        silence()
        verdicts = verify_submission(manifest, exports)
    kernel = record_grades(db_url, assignment, student, verdicts, course=course,
                           read_kernel=succeeded)
    return {"student": student, "reason": reason, "notes": notes,
            "verdicts": [verdict.to_dict() for verdict in verdicts], "kernel": kernel,
            "seconds": time.monotonic() - started}


def _failure_reason(log: str) -> str:
    if "DeadKernelError" in log or "Kernel died" in log:
        return "kernel died"
    if "UnresponsiveKernelError" in log:
        return "kernel unresponsive"
    return "crashed"


def _tidy_autograded(course_dir: Path, assignment: str, student: str) -> list[str]:
    """Cap huge outputs in the autograded notebooks and note timeouts and exits."""
    import nbformat

    notes: set[str] = set()
    folder = Path(course_dir) / "autograded" / student / assignment
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    if output.get("ename") == "CellTimeoutError":
                        notes.add("a cell ran past the cell time limit and was interrupted")
                    elif output.get("ename") == "SystemExit":
                        notes.add("the notebook called sys.exit")
                text = output.get("text")
                if isinstance(text, str) and len(text) > MAX_OUTPUT_CHARS:
                    output["text"] = text[:MAX_OUTPUT_CHARS] + "\n... output truncated ...\n"
                    changed = True
                    notes.add("output longer than the limit was truncated")
        if changed:
            nbformat.write(notebook, path)
    return sorted(notes)


# --------------------------------------------------------------------------- the parent side


class _Worker:
    """One worker process, watched from the grader."""

    def __init__(self, course_dir: Path, assignment: str, db_url: str, log: IO[bytes],
                 threads: dict[str, str] | None = None):
        self.course_dir, self.assignment, self.db_url, self.log = (
            course_dir, assignment, db_url, log)
        self.threads = threads or {}
        self.preloader: int | None = None  # pid of the worker's preloader, once it says so
        self.proc: subprocess.Popen[bytes] | None = None
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def start(self) -> None:
        self.preloader = None
        env = dict(os.environ)
        env.pop(ENV_VAR, None)
        env.setdefault("KERAS_BACKEND", "tensorflow")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # The kernels inherit this environment; settings the caller made win.
        for name, value in self.threads.items():
            env.setdefault(name, value)
        # nbgrader runs the `alembic` script from PATH when it creates or checks a gradebook.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        # -P: never import modules from the course directory (the working directory).
        command = [sys.executable, "-P", "-m", "autograder.grading", "--serve",
                   str(self.course_dir), self.assignment, "--db-url", self.db_url]
        self.proc = subprocess.Popen(command, cwd=self.course_dir, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)
        self.messages = queue.Queue()
        threading.Thread(target=preload.read_messages, args=(self.proc.stdout, self.messages),
                         daemon=True).start()

    def request(self, payload: dict[str, Any], timeout: float,
                memory_bytes: int | None) -> tuple[dict[str, Any] | None, str | None, int, int]:
        """Send one request and watch the tree until the reply, a limit, or the worker's death.

        Returns:
            (reply or None, reason when None, peak kernel RSS, peak worker RSS) in bytes.
        """
        import psutil

        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        peak_kernel = peak_worker = 0
        tree = _Tree(psutil.Process(self.proc.pid))
        while True:
            try:
                message = self.messages.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                pass
            else:
                if message is None:
                    self.stop()
                    return None, "crashed", peak_kernel, peak_worker
                if "preloader" not in message:
                    return message, None, peak_kernel, peak_worker
                self.preloader = message["preloader"]
            own, kernels = tree.rss(leave_out=self.preloader)
            peak_kernel, peak_worker = max(peak_kernel, kernels), max(peak_worker, own)
            if memory_bytes is not None and kernels > memory_bytes:
                self.stop()
                return None, "memory", peak_kernel, peak_worker
            if time.monotonic() > deadline:
                self.stop()
                return None, "timeout", peak_kernel, peak_worker

    def stop(self) -> None:
        """Kill the worker and every process below it."""
        if self.proc is None:
            return
        _kill_tree(self.proc.pid)
        self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Let the worker finish its loop, killing it if it does not."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.stop()


class _Tree:
    """Resident memory of a worker and of the processes below it (its kernels)."""

    def __init__(self, worker: Any):
        self.worker = worker
        self.children: list[Any] = []
        self.scanned = 0.0

    def rss(self, leave_out: int | None = None) -> tuple[int, int]:
        """Return (worker RSS, sum of its descendants' RSS) in bytes.

        Args:
            leave_out: pid of a descendant whose own RSS is not counted (the preloader).
        """
        import psutil

        now = time.monotonic()
        try:
            if now - self.scanned >= _RESCAN_SECONDS:
                self.children = self.worker.children(recursive=True)
                self.scanned = now
            own = self.worker.memory_info().rss
        except psutil.Error:
            return 0, 0
        total = 0
        for child in self.children:
            if child.pid == leave_out:
                continue
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return own, total


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        procs = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


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


def grade(course_dir: str | Path, assignment: str, *, workers: int | None = None,
          timeout: float = DEFAULT_TIMEOUT, memory_mb: float | None = DEFAULT_MEMORY_MB,
          students: Iterable[str] | None = None,
          progress: IO[str] | None = sys.stderr) -> list[SubmissionResult]:
    """Grade every submission of an assignment in parallel and verify each outside the kernel.

    Args:
        course_dir: The nbgrader course directory (after ``nbgrader generate_assignment``).
        assignment: Assignment name.
        workers: Parallel workers; ``os.cpu_count()`` when None.
        timeout: Wall-time limit per submission, in seconds.
        memory_mb: Limit on a submission's kernel memory (RSS) in MB; None for no limit.
        students: Grade only these students (default: every submission).
        progress: Stream for the progress bar; None for silence.

    Returns:
        One result per student, sorted by student id. Every submission gets one, whatever its
        notebook did.

    Raises:
        ManifestError: The assignment has no manifest.
    """
    course = Path(course_dir).resolve()
    manifest = load_manifest(course, assignment)
    db_url = gradebook_url(course)
    todo = sorted(students) if students is not None else submitted_students(course, assignment)
    count = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    pending: queue.Queue[str] = queue.Queue()
    for student in todo:
        pending.put(student)
    results: dict[str, SubmissionResult] = {}
    bar = _Progress(len(todo), progress)
    logs = grader_path(course, "logs", assignment)
    logs.mkdir(parents=True, exist_ok=True)
    limit = int(memory_mb * 1024 * 1024) if memory_mb else None
    thread_share = thread_env(count)

    def run_slot(index: int) -> None:
        with open(logs / f"worker-{index}.log", "ab") as log:
            worker = _Worker(course, assignment, db_url, log, thread_share)
            try:
                while True:
                    try:
                        student = pending.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        result = _grade_student(worker, manifest, course, db_url, student,
                                                timeout, limit)
                    except Exception as exc:  # noqa: BLE001 - the batch must always complete
                        worker.stop()
                        result = SubmissionResult(student, f"grader error: {exc!r}"[:300])
                    _write_result(course, assignment, result)
                    results[student] = result
                    bar.update(result)
            finally:
                worker.close()

    slots = [threading.Thread(target=run_slot, args=(index,)) for index in range(count)]
    for slot in slots:
        slot.start()
    for slot in slots:
        slot.join()
    return [results[student] for student in todo]


def _grade_student(worker: _Worker, manifest: Manifest, course: Path, db_url: str,
                   student: str, timeout: float, limit: int | None) -> SubmissionResult:
    started = time.monotonic()
    reply, reason, peak_kernel, peak_worker = worker.request(
        {"student": student, "autograde": True}, timeout, limit)
    if reply is None:
        # The kernel (or the worker) was stopped: verify what it exported, in a fresh worker.
        reply, problem, _, own = worker.request(
            {"student": student, "autograde": False}, VERIFY_TIMEOUT, None)
        peak_worker = max(peak_worker, own)
        if reply is None:
            reply = _zero_reply(manifest, course, db_url, student,
                                f"verification failed ({problem})")
        reply["reason"] = reason
    result = SubmissionResult(student, reply["reason"], list(reply["notes"]),
                              time.monotonic() - started, peak_kernel / 2**20, peak_worker / 2**20)
    for verdict in reply["verdicts"]:
        kernel_score = reply["kernel"].get(f"{verdict['notebook']}/{verdict['grade_id']}")
        disagrees = kernel_score is not None and abs(kernel_score - verdict["score"]) > 1e-6
        result.tasks.append({**verdict, "kernel_score": kernel_score, "disagrees": disagrees})
    return result


def _zero_reply(manifest: Manifest, course: Path, db_url: str, student: str,
                message: str) -> dict[str, Any]:
    verdicts = [Verdict(task.notebook, task.grade_id, task.name, task.points, 0.0, "error",
                        message) for task in manifest.tasks]
    record_grades(db_url, manifest.assignment, student, verdicts, course=course_id(course),
                  read_kernel=False)
    return {"notes": [message], "verdicts": [verdict.to_dict() for verdict in verdicts],
            "kernel": {}}


def _write_result(course: Path, assignment: str, result: SubmissionResult) -> None:
    path = grader_path(course, "results", assignment, f"{result.student}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")


def load_results(course_dir: str | Path, assignment: str) -> list[dict[str, Any]]:
    """Read the per-student results the last ``autograder grade`` wrote.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        One dict per student (see :meth:`SubmissionResult.to_dict`), sorted by student.
    """
    folder = grader_path(course_dir, "results", assignment)
    return [json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``grade`` verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("course_dir", metavar="DIR", type=Path, help="nbgrader course directory")
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="assignment name")
    parser.add_argument("--workers", "-j", type=int, default=None,
                        help="parallel submissions (default: number of cores)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"wall-time limit per submission in seconds "
                             f"(default {DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"kernel memory limit per submission in MB "
                             f"(default {DEFAULT_MEMORY_MB}; 0 for none)")
    parser.add_argument("--student", action="append", default=None,
                        help="grade only this student (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Grade an assignment and print a summary.

    Args:
        args: Parsed arguments from :func:`add_arguments`.

    Returns:
        0 when every submission was graded (whatever their scores), 2 on bad input.
    """
    course: Path = args.course_dir
    if not (course / "source" / args.assignment).is_dir():
        print(f"error: {course / 'source' / args.assignment} does not exist: DIR must be an "
              f"nbgrader course directory with that assignment.", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be at least 1.", file=sys.stderr)
        return 2
    if not submitted_students(course, args.assignment) and not args.student:
        print(f"No submissions of {args.assignment} in {course / 'submitted'}.", file=sys.stderr)
        return 0
    try:
        results = grade(course, args.assignment, workers=args.workers, timeout=args.timeout,
                        memory_mb=args.memory_limit or None, students=args.student)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_summary(results, print)
    return 0


def _print_summary(results: Sequence[SubmissionResult], emit: Callable[[str], Any]) -> None:
    width = max([len("student"), *(len(result.student) for result in results)])
    emit(f"{'student':<{width}}  verified  kernel  note")
    for result in results:
        kernel = [task["kernel_score"] for task in result.tasks]
        kernel_text = (f"{sum(k for k in kernel if k is not None):6.1f}"
                       if any(k is not None for k in kernel) else "     -")
        note = result.reason or ""
        if result.disagreements:
            note = (note + "; " if note else "") + "kernel and verified scores differ"
        emit(f"{result.student:<{width}}  {result.score:5.1f}/{result.max_score:<3.0f}"
             f"{kernel_text}  {note}")


def _serve_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.grading")
    parser.add_argument("--serve", action="store_true", required=True)
    parser.add_argument("course_dir", type=Path)
    parser.add_argument("assignment")
    parser.add_argument("--db-url", required=True)
    args = parser.parse_args(argv)
    return _serve(args.course_dir.resolve(), args.assignment, args.db_url)


if __name__ == "__main__":
    sys.exit(_serve_main(sys.argv[1:]))
