"""The grader's view of one worker process: start it, send it a submission, watch its limits.

The grader polls each worker's process tree while a submission runs: past the time limit (the
kernels' CPU time, with wall time as a backstop), when the kernels' own memory (pages not
shared with the preloader) exceeds the limit, or when the submission's files outgrow the disk
limit, the whole tree is killed and the reason returned. RLIMIT_AS is not used: TensorFlow
reserves far more virtual memory than it touches, so an address-space limit kills honest
notebooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from autograder.grading import staging
from autograder.grading.layout import CourseLayout
from autograder.grading.preload import read_messages
from autograder.grading.sandbox import Limits

# How often the grader reads the kernels' memory and disk use, and how often it looks for new
# processes under a worker (listing children scans every process on the machine).
_POLL_SECONDS = 0.2
_RESCAN_SECONDS = 1.0
# How often the kernels' private memory, the figure reported, is read.
_PRIVATE_SECONDS = 1.0
# Growth of the kernels' resident size that makes the watch read their private memory again.
_GROWTH_BYTES = 16 * 2**20
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_DISK_SECONDS = 1.0
# Thread-pool sizes that TensorFlow (intra- and inter-op) and OpenMP/oneDNN read at start-up.
THREAD_ENV_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")

# The time limit counts the CPU time of a submission's kernels, which does not grow when the
# machine is busy; wall time only backs it up (a notebook that sleeps uses no CPU), at this
# multiple of the limit.
WALL_BACKSTOP = 3.0
# How long a new worker may take to import nbgrader and ready its preloader: grader time, never
# charged to a submission.
STARTUP_TIMEOUT = 600.0


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


def resident_bytes(pid: int) -> int:
    """A process's resident set size in bytes (pages shared with a preloader included).

    Args:
        pid: The process.

    Returns:
        Its RSS; 0 when the process has gone.
    """
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


def private_if_over(pids: Iterable[int], limit: int, resident: int | None = None) -> int | None:
    """The processes' private memory, read only when their resident size passes ``limit``.

    Reading a process's private memory makes Linux walk its page tables, about 20 ms of CPU for
    a kernel with TensorFlow loaded, so a watcher polling several times a second would spend a
    good part of a core on it. Private memory never exceeds the resident size, which costs
    microseconds to read: the private sum is only read when the resident sum passes the limit.

    Args:
        pids: The processes.
        limit: Bytes.
        resident: Their resident sum when the caller has just read it.

    Returns:
        Their private memory in bytes, or None when their resident size is within the limit
        (then so is their private memory).
    """
    pids = list(pids)
    if resident is None:
        resident = sum(resident_bytes(pid) for pid in pids)
    if resident <= limit:
        return None
    return sum(private_bytes(pid) for pid in pids)


def over_memory(pids: Iterable[int], limit: int) -> bool:
    """Whether processes together own more than ``limit`` bytes of private memory.

    Args:
        pids: The processes.
        limit: Bytes.

    Returns:
        True when their private memory sums to more than ``limit`` (see
        :func:`private_if_over` for what it costs).
    """
    private = private_if_over(pids, limit)
    return private is not None and private > limit


class ProcessTree:
    """Memory and CPU time of a worker's descendants (its kernels), leaving out preloaders."""

    def __init__(self, root_pid: int):
        import psutil

        self.root = psutil.Process(root_pid)
        self.children: list[Any] = []
        self.scanned = 0.0
        # The descendants' private memory, when it was last read, and whose it was.
        self.private, self.measured, self.measured_resident = 0, 0.0, 0
        self.measured_pids: list[int] = []
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

    def memory(self, leave_out: set[int], limit: int | None = None) -> tuple[int, int, bool]:
        """Measure the worker and its descendants, preloaders left out (their memory is the
        grader's).

        The descendants' private memory, the figure reported, is costly to read (see
        :func:`private_if_over`): it is read when the set of descendants changes, when their
        resident size has grown by :data:`_GROWTH_BYTES` since the last reading (so the peak is
        not missed), and every :data:`_PRIVATE_SECONDS` otherwise. The limit is checked on every
        call; when checking it read their private memory, that reading is the figure returned.

        Args:
            leave_out: pids of preloaders.
            limit: The descendants' memory limit in bytes, or None.

        Returns:
            (the worker's RSS, the descendants' private memory as last read, whether they are
            over ``limit`` now).
        """
        import psutil

        now = time.monotonic()
        try:
            if now - self.scanned >= _RESCAN_SECONDS:
                self.children = self.root.children(recursive=True)
                self.scanned = now
            own = self.root.memory_info().rss
        except psutil.Error:
            return 0, 0, False
        pids = [child.pid for child in self.children if child.pid not in leave_out]
        resident = sum(resident_bytes(pid) for pid in pids)
        # The limit's own reading, when it was needed, is also the figure reported: a kernel
        # stopped for its memory is reported with the memory that passed the limit.
        private = None if limit is None else private_if_over(pids, limit, resident)
        if private is None and (
                pids != self.measured_pids or resident > self.measured_resident + _GROWTH_BYTES
                or now - self.measured >= _PRIVATE_SECONDS):
            private = sum(private_bytes(pid) for pid in pids)
        if private is not None:
            self.private = private
            self.measured, self.measured_pids, self.measured_resident = now, pids, resident
        return own, self.private, limit is not None and private is not None and private > limit


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
    wait_dead(procs, timeout=10)


def wait_dead(procs: Iterable[Any], timeout: float) -> list[Any]:
    """Wait until processes have exited: gone, or zombies.

    A zombie has already released its memory and files. Killed processes below a sandbox are
    orphans whose reaping is up to the machine's init, which may reap only every second or so;
    waiting for that (as :func:`psutil.wait_procs` does for processes that are not our
    children) would only add that delay to every stop.

    Args:
        procs: :class:`psutil.Process` objects.
        timeout: Seconds to wait at most.

    Returns:
        The processes still running after ``timeout``.
    """
    import psutil

    def running(proc: Any) -> bool:
        try:
            return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    alive = [proc for proc in procs if running(proc)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)
        alive = [proc for proc in alive if running(proc)]
    return alive


class WorkerProcess:
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
        tree = ProcessTree(self.proc.pid)
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
            own, kernels, over = tree.memory(self.preloaders, memory_bytes)
            peak_kernel, peak_worker = max(peak_kernel, kernels), max(peak_worker, own)
            if over:
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
