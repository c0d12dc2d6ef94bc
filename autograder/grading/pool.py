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
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from autograder.errors import GradingInterrupted, SandboxUnavailable
from autograder.grading import sandbox, staging
from autograder.grading.gradebook import record_grades
from autograder.grading.layout import CourseLayout
from autograder.grading.preload import Preloader, read_messages
from autograder.grading.results import SubmissionResult, TaskResult, write_result
from autograder.grading.sandbox import Limits

# Used when the course has no measured reference time (built before timing, or --skip-timing).
DEFAULT_TIMEOUT = 600.0
# The default limit is this many times the reference solution's run time, and at least the floor.
TIMEOUT_FACTOR = 5.0
TIMEOUT_FLOOR = 120.0
DEFAULT_MEMORY_MB = 4096
VERIFY_TIMEOUT = 180.0
# The time limit counts the CPU time of a submission's kernels, which does not grow when the
# machine is busy; wall time only backs it up (a notebook that sleeps uses no CPU), at this
# multiple of the limit.
WALL_BACKSTOP = 3.0
# How long a new worker may take to import nbgrader and ready its preloader: grader time, never
# charged to a submission.
STARTUP_TIMEOUT = 600.0
# How often the grader reads the kernels' memory and disk use, and how often it looks for new
# processes under a worker (listing children scans every process on the machine).
_POLL_SECONDS = 0.2
_RESCAN_SECONDS = 1.0
_DISK_SECONDS = 1.0
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


def private_bytes(pid: int) -> int:
    """Memory a process does not share with any other (its unique set size), in bytes.

    A kernel forked from a preloader shares the preloader's pages (Keras, TensorFlow) until it
    writes to them; only the pages it owns alone are its own use. Linux sums them in
    ``/proc/PID/smaps_rollup`` cheaply.

    Args:
        pid: The process.

    Returns:
        Private clean + private dirty + swapped bytes; 0 when the process has gone.
    """
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith(("Private_Clean:", "Private_Dirty:", "Swap:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


class _Tree:
    """Memory and CPU time of a worker's descendants (its kernels), leaving out preloaders."""

    def __init__(self, root_pid: int):
        import psutil

        self.root = psutil.Process(root_pid)
        self.children: list[Any] = []
        self.scanned = 0.0
        # pid -> CPU seconds when last seen: a process that has ended keeps its share.
        self.cpu_seen: dict[int, float] = {}

    def cpu(self, leave_out: set[int]) -> float:
        """CPU seconds the descendants have used since this tree was made.

        Args:
            leave_out: pids of preloaders (their time is the grader's).

        Returns:
            User plus system seconds, summed over every descendant seen.
        """
        import psutil

        for child in self.children:
            if child.pid in leave_out:
                continue
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                self.cpu_seen[child.pid] = times.user + times.system
        return sum(self.cpu_seen.values())

    def memory(self, leave_out: set[int]) -> tuple[int, int]:
        """Return (the worker's RSS, its descendants' private memory) in bytes.

        Preloaders themselves are left out (their memory is the grader's).

        Args:
            leave_out: pids of preloaders.
        """
        import psutil

        now = time.monotonic()
        try:
            if now - self.scanned >= _RESCAN_SECONDS:
                self.children = self.root.children(recursive=True)
                self.scanned = now
            own = self.root.memory_info().rss
        except psutil.Error:
            return 0, 0
        total = sum(private_bytes(child.pid) for child in self.children
                    if child.pid not in leave_out)
        return own, total


def kill_tree(pid: int) -> None:
    """Kill a process and every process below it.

    Args:
        pid: The root of the tree.
    """
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


class _Worker:
    """One worker process, watched from the grader."""

    def __init__(self, layout: CourseLayout, assignment: str, staging_folder: Path,
                 log: IO[bytes], *, confined: bool, limits: Limits,
                 threads: dict[str, str] | None = None):
        self.layout, self.assignment, self.log = layout, assignment, log
        self.staging, self.confined, self.limits = staging_folder, confined, limits
        self.threads = threads or {}
        self.preloaders: set[int] = set()
        self.proc: subprocess.Popen[bytes] | None = None
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def start(self) -> None:
        env = dict(os.environ)
        env.pop("AUTOGRADER_EXPORT_DIR", None)
        env.setdefault("KERAS_BACKEND", "tensorflow")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # The kernels inherit this environment; settings the caller made win.
        for name, value in self.threads.items():
            env.setdefault(name, value)
        # nbgrader runs the `alembic` script from PATH when it creates or checks a gradebook.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        # -P: never import modules from the working directory.
        command = [sys.executable, "-P", "-m", "autograder.grading", "--serve",
                   str(self.layout.root), self.assignment, "--db-url", self.layout.db_url,
                   "--staging", str(self.staging), "--limits",
                   json.dumps(self.limits.to_dict())]
        if not self.confined:
            command.append("--no-sandbox")
        self.preloaders = set()
        self.ready = False
        self.proc = subprocess.Popen(command, cwd=self.staging, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)
        self.messages = queue.Queue()
        threading.Thread(target=read_messages, args=(self.proc.stdout, self.messages),
                         daemon=True).start()

    def wait_ready(self, stopping: threading.Event) -> str | None:
        """Start the worker if needed and wait, on no submission's clock, until it is ready.

        A new worker imports nbgrader and waits for its preloader to import Keras: tens of
        seconds on a busy machine, which must never count against a learner's time limit.

        Args:
            stopping: Set when the batch is being stopped.

        Returns:
            None when ready, else why not (the submission records it).
        """
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.ready:
            if stopping.is_set():
                self.stop()
                return "interrupted"
            if time.monotonic() > deadline:
                self.stop()
                return "grader error: the grading worker did not start"
            try:
                message = self.messages.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if message is None:
                self.stop()
                return "grader error: the grading worker stopped while starting"
            if "preloader" in message:
                self.preloaders.add(int(message["preloader"]))
            self.ready = self.ready or "ready" in message
        return None

    def request(self, payload: dict[str, Any], timeout: float, memory_bytes: int | None,
                stopping: threading.Event) -> tuple[dict[str, Any] | None, str | None, int, int]:
        """Send one request and watch the tree until the reply, a limit, or the worker's death.

        Args:
            payload: The request.
            timeout: CPU seconds the submission's kernels may use per core they were given;
                wall time past :data:`WALL_BACKSTOP` times that stops them too.
            memory_bytes: The kernels' memory limit, or None.
            stopping: Set when the batch is being stopped.

        Returns:
            (reply or None, reason when None, peak kernel memory, peak worker RSS) in bytes.
        """
        problem = self.wait_ready(stopping)
        if problem is not None:
            return None, problem, 0, 0
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.stdin.flush()
        cores = max(1, int(self.threads.get("TF_NUM_INTRAOP_THREADS") or os.cpu_count() or 1))
        cpu_limit = timeout * cores
        deadline = time.monotonic() + WALL_BACKSTOP * timeout
        disk_limit = self.limits.disk_mb * 2**20
        peak_kernel = peak_worker = 0
        tree = _Tree(self.proc.pid)
        disk_checked = 0.0
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
                self.preloaders.add(int(message["preloader"]))
            if stopping.is_set():
                self.stop()
                return None, "interrupted", peak_kernel, peak_worker
            own, kernels = tree.memory(self.preloaders)
            peak_kernel, peak_worker = max(peak_kernel, kernels), max(peak_worker, own)
            if memory_bytes is not None and kernels > memory_bytes:
                self.stop()
                return None, "memory", peak_kernel, peak_worker
            now = time.monotonic()
            if now - disk_checked >= _DISK_SECONDS:
                disk_checked = now
                if staging.folder_size(self.staging) > disk_limit:
                    self.stop()
                    return None, "disk", peak_kernel, peak_worker
            if now > deadline or tree.cpu(self.preloaders) > cpu_limit:
                self.stop()
                return None, "timeout", peak_kernel, peak_worker

    def salvage(self, exports: Path) -> None:
        """After the worker was stopped: collect what its kernels exported, empty the staging.

        Args:
            exports: The submission's export folder.
        """
        for stage in sorted(self.staging.glob("k-*")):
            staging.collect_exports(stage / "exports", exports)
            staging.remove(stage)

    def stop(self) -> None:
        """Kill the worker and every process below it."""
        if self.proc is None:
            return
        kill_tree(self.proc.pid)
        self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Let the worker finish its loop, killing it if it does not."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        self.stop()


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
        from autograder.verify import Verdict

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
    from autograder.manifest import load as load_manifest

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
    pending: queue.Queue[str] = queue.Queue()
    for student in todo:
        pending.put(student)
    results: dict[str, SubmissionResult] = {}
    bar = _Progress(len(todo), progress)
    thread_share = thread_env(count)

    def run_slot(index: int) -> None:
        folder = staging.new_folder(run, f"w{index}-")
        with open(layout.logs(manifest.assignment) / f"worker-{index}.log", "ab") as log:
            worker = _Worker(layout, manifest.assignment, folder, log, confined=confined,
                             limits=limits, threads=thread_share)
            try:
                while not stopping.is_set():
                    try:
                        student = pending.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        result = _grade_student(worker, verifier, layout, manifest, secret,
                                                student, run, timeout, limit, stopping)
                    except Exception as exc:  # noqa: BLE001 - the batch must always complete
                        worker.stop()
                        result = SubmissionResult(student, f"grader error: {exc!r}"[:300],
                                                  confined=confined)
                    if result.reason == "interrupted":
                        return
                    write_result(layout.results(manifest.assignment), result)
                    results[student] = result
                    bar.update(result)
            finally:
                worker.close()

    slots = [threading.Thread(target=run_slot, args=(index,)) for index in range(count)]
    for slot in slots:
        slot.start()
    for slot in slots:
        while slot.is_alive():
            slot.join(timeout=0.2)
    return results


def _grade_student(worker: _Worker, verifier: _Verifier, layout: CourseLayout, manifest: Any,
                   secret: str, student: str, run: Path, timeout: float, limit: int | None,
                   stopping: threading.Event) -> SubmissionResult:
    started = time.monotonic()
    exports = staging.new_folder(run / "exports", f"{student}-")
    try:
        reply, reason, peak_kernel, peak_worker = worker.request(
            {"student": student, "exports": str(exports)}, timeout, limit, stopping)
        if reply is None:
            if reason == "interrupted":
                return SubmissionResult(student, reason)
            # The kernel (or the worker) was stopped: verify what it exported before that.
            worker.salvage(exports)
            reply = {"reason": reason, "notes": []}
        notes = list(reply.get("notes") or [])
        notes += [f"export refused: {refusal}" for refusal in staging.refusals(exports)]
        verdicts = verifier.verify(manifest, secret, exports)
        if verdicts is None:
            verdicts = _zero_verdicts(manifest, "the grader could not verify this submission "
                                                "(the verification crashed, overran or used "
                                                "too much memory)")
            notes.append("verification failed")
        kernel = record_grades(layout.db_url, manifest.assignment, student, verdicts,
                               course=layout.course_id, read_kernel=reply.get("reason") is None)
    finally:
        staging.remove(exports)
    result = SubmissionResult(student, reply.get("reason"), notes, time.monotonic() - started,
                              peak_kernel / 2**20, peak_worker / 2**20,
                              confined=worker.confined)
    for verdict in verdicts:
        key = f"{verdict.notebook}/{verdict.grade_id}"
        result.tasks.append(TaskResult(**verdict.to_dict(), kernel_score=kernel.get(key)))
    return result


def _zero_verdicts(manifest: Any, message: str) -> list[Any]:
    from autograder.verify import Verdict

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
