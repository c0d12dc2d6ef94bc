"""Processes forked from a *preloader*, a sandboxed process that has already imported Keras.

Every submission is graded in a fresh kernel, and a fresh kernel spends most of its start-up
importing TensorFlow and Keras: about 6 s of CPU, more than a small assignment's training. So
each ``autograder grade`` worker starts one preloader that imports Keras and ipykernel once and
then only forks, and every kernel of that worker is a fork of it, started in milliseconds. The
grader keeps a second preloader of its own for verification, so no verification ever runs in a
process that a kernel descends from or can reach.

Why a fork is as good as a fresh kernel here:

- The preloader runs no TensorFlow op and starts no thread before it forks (TensorFlow creates
  its thread pools at the first op, in the kernel), so nothing a kernel needs is lost in the
  fork, and the kernel reads its own environment (thread counts, export folder) when it starts.
- The preloader holds no grader data: it never reads the course, and the verifier receives
  each submission's manifest and secret only in the fork that judges it. Memory is
  copy-on-write: whatever a kernel changes stays in that kernel.
- Each fork is confined before it runs anything else (:func:`autograder.grading.confine.spawn`):
  its own namespaces, its own PID 1, no capabilities. It gets the environment, working
  directory and command line jupyter_client gave it and a fresh random state, and it ends
  without tearing down TensorFlow's modules (:func:`_leave`).

The preloader itself is :mod:`autograder.grading.forkserver`; this module is its other end. The
protocol is one JSON line each way on the preloader's stdin and stdout, which forks do not
keep: first ``{"ready": true, "pid"}`` once the imports are done; then for each request,
``{"kernel": {"argv", "env", "cwd", "folder"}}`` or ``{"verify": {...}}``, each with an ``id``;
the fork answers ``{"pid"}`` once it is confined (or ``{"error"}``) and, for a verification,
``{"verdicts"}``, each with the request's ``id``.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from autograder.grading import sandbox
from autograder.grading.sandbox import Limits

# How long to wait for a fork to say it is confined and running.
_REPLY_SECONDS = 20.0
# How long a request waits for a preloader that is still importing.
_READY_SECONDS = 120.0
# How many times a preloader that died is replaced before requests fail for good.
_MAX_RESTARTS = 3
ROLES = ("kernels", "verify")


class ForkedProcess:
    """A process forked by a preloader (a kernel or a verification), seen from the grader.

    It offers the part of :class:`subprocess.Popen` that jupyter_client's provisioners use. The
    fork's own parent, not this process, reaps it, so the exit status is not known here: a
    process that has gone reports 0, or ``-signal`` when it was sent a fatal signal from here.

    Attributes:
        pid: The process id (for a kernel, also its process group and session id).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._last_signal = 0

    def poll(self) -> int | None:
        """Return None while the process runs, then its (approximate) exit status."""
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except (ProcessLookupError, PermissionError):
                self.returncode = -self._last_signal
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Block until the process has gone; return :meth:`poll`'s status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["fork", str(self.pid)], timeout or 0.0)
            time.sleep(0.05)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        """Send a signal to the process."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
            if signum in (signal.SIGKILL, signal.SIGTERM):
                self._last_signal = signum

    def kill(self) -> None:
        """Kill the process."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Ask the process to terminate."""
        self.send_signal(signal.SIGTERM)


class Preloader:
    """One preloader process, seen from the process that started it."""

    def __init__(self, role: str, *, confined: bool = True, limits: Limits | None = None,
                 writable: Sequence[str | Path] = (), readable: Sequence[str | Path] = (),
                 on_start: Callable[[int], None] | None = None,
                 stderr: IO[bytes] | int | None = None):
        """Prepare a preloader; :meth:`start` starts it.

        Args:
            role: ``"kernels"`` (forks kernels) or ``"verify"`` (forks verifications); a
                preloader refuses the other kind of request.
            confined: Run it in the sandbox (:mod:`autograder.grading.sandbox`).
            limits: Limits of every fork.
            writable: Host folders its forks may write (a worker's staging folder).
            readable: Host folders its forks may read (the run's export folder).
            on_start: Called with the pid of every preloader process once it is ready (the
                grader leaves its memory out of the submissions').
            stderr: Where the preloader and its forks write their messages.
        """
        if role not in ROLES:
            raise ValueError(f"`role` must be one of {ROLES}, not {role!r}")
        self.role, self.confined = role, confined
        self.limits = limits or Limits()
        self.writable, self.readable = list(writable), list(readable)
        self.on_start, self.stderr = on_start, stderr
        self.proc: subprocess.Popen[bytes] | None = None
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.ready = False
        self.own_pid: int | None = None
        # Number of the last request sent; answers carry it.
        self.sequence = 0
        self.restarts = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the preloader; it imports in the background while the caller goes on."""
        # Not `python -P`: IPython honours that flag and would not put a kernel's own folder on
        # sys.path; the preloader drops its start-up folder itself (see __main__ below).
        argv = [sys.executable, "-m", "autograder.grading.forkserver", self.role,
                json.dumps(self.limits.to_dict())]
        if self.confined:
            argv.append("--confined")
            argv = sandbox.command(argv, writable=self.writable, readable=self.readable)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, start_new_session=True,
                                     env=_preloader_env(self.confined))
        self.ready = False
        self.replies = queue.Queue()
        threading.Thread(target=read_messages, args=(self.proc.stdout, self.replies),
                         daemon=True).start()

    def alive(self, wait: float = 0.0) -> bool:
        """Whether the preloader runs and has finished its imports.

        Args:
            wait: Seconds to wait for the imports to finish.
        """
        if self.proc is None:
            return False
        if self.proc.poll() is not None:
            if self.restarts < _MAX_RESTARTS:
                self.restarts += 1
                self.start()
            return False
        if not self.ready:
            try:
                reply = self.replies.get(timeout=wait) if wait > 0 else self.replies.get_nowait()
            except queue.Empty:
                return False
            self.ready = bool(reply and reply.get("ready"))
            if self.ready:
                self.own_pid = int(reply["pid"])
                if self.on_start is not None:
                    self.on_start(self.own_pid)
        return self.ready

    def fork_kernel(self, argv: list[str], env: dict[str, str], cwd: str,
                    folder: str | None) -> ForkedProcess | None:
        """Ask for a kernel; None when the preloader cannot give one.

        Args:
            argv: ipykernel arguments (``-f CONNECTION_FILE`` ...), without the interpreter.
            env: The kernel's environment.
            cwd: The kernel's working directory.
            folder: The kernel's own folder in the staging folder (the only part it sees).

        Returns:
            The kernel's handle, or None.
        """
        request = {"kernel": {"argv": argv, "env": env, "cwd": cwd, "folder": folder}}
        with self.lock:
            if not self._send(request):
                return None
            reply = self._reply(_REPLY_SECONDS)
            if not reply or not reply.get("pid"):
                return None
            return ForkedProcess(int(reply["pid"]))

    def verify(self, job: dict[str, Any], timeout: float,
               watch: Callable[[int], bool] | None = None) -> list[dict[str, Any]] | None:
        """Judge one submission's exports in a confined fork.

        Args:
            job: ``{"manifest", "secret", "exports"}``: the manifest as data, the course
                secret, and the folder of validated exports.
            timeout: Seconds the verification may take.
            watch: Called with the fork's pid while it runs; returning False stops it (the
                grader's memory limit).

        Returns:
            The verdicts as dicts, or None when the fork failed, overran or was stopped.
        """
        with self.lock:
            if not self._send({"verify": job}):
                return None
            deadline = time.monotonic() + timeout
            child: ForkedProcess | None = None
            while time.monotonic() < deadline:
                message = self._reply(0.2)
                if message is None:
                    if self.proc is None or self.proc.poll() is not None:
                        return None
                    if child is not None and (child.poll() is not None or
                                              (watch is not None and not watch(child.pid))):
                        # Gone or stopped: its verdicts reach the queue within a moment, or never.
                        child.kill()
                        message = self._reply(1.0)
                        if message is None or "verdicts" not in message:
                            return None
                    else:
                        continue
                if "error" in message:
                    return None
                if "verdicts" in message:
                    return list(message["verdicts"])
                if message.get("pid"):
                    child = ForkedProcess(int(message["pid"]))
            if child is not None:
                child.kill()
            # Whatever the fork says late belongs to no request: drop it with the preloader.
            self.restart()
            return None

    def warm(self, datasets: Sequence[str], secret: str, timeout: float = _READY_SECONDS) -> bool:
        """Have a verifier derive the grader-only rows of ``datasets`` before any verification.

        Deriving them costs seconds per dataset; done once here, every verification fork has
        them already.

        Args:
            datasets: Dataset names the manifest refers to with ``@holdout:``.
            secret: The course secret.
            timeout: Seconds to wait.

        Returns:
            True once they are derived.
        """
        with self.lock:
            if not datasets or not self._send({"warm": {"datasets": list(datasets),
                                                         "secret": secret}}):
                return False
            reply = self._reply(timeout)
            return bool(reply and reply.get("warmed"))

    def _send(self, request: dict[str, Any]) -> bool:
        if not self.alive(wait=_READY_SECONDS) or self.proc is None or self.proc.stdin is None:
            return False
        self.sequence += 1
        try:
            self.proc.stdin.write((json.dumps({**request, "id": self.sequence}) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.stop()
            return False
        return True

    def _reply(self, timeout: float) -> dict[str, Any] | None:
        """The next message answering the last request, or None after ``timeout`` seconds.

        Messages about earlier requests (a fork that reported after its request was given up)
        are dropped.
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = _next_or_none(self.replies, left)
            if message is None:
                return None
            if message.get("id") == self.sequence:
                return message
        return None

    def restart(self) -> None:
        """Replace the preloader with a fresh one (it imports again)."""
        self._kill()
        self.start()

    def stop(self) -> None:
        """Stop the preloader for good."""
        self.restarts = _MAX_RESTARTS
        self._kill()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            from autograder.grading.watch import kill_tree

            # The sandboxed process runs in a session of its own below bubblewrap.
            kill_tree(self.proc.pid)
            self.proc.wait()
        self.ready = False


def _preloader_env(confined: bool) -> dict[str, str]:
    """A preloader's environment: the allow-list of :func:`sandbox.environment`, no more.

    Its forks (kernels, verifications) keep the memory of this environment whatever they set
    later, and a kernel can read it back from ``/proc/self/environ``: nothing of the grader's
    own environment but the allowed variables may be in it.
    """
    env = sandbox.environment(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not confined and "HOME" in os.environ:
        # Unconfined (--no-sandbox) it is the grading user, with that user's home.
        env["HOME"] = os.environ["HOME"]
    return env


def read_messages(stream: IO[bytes], messages: queue.Queue[dict[str, Any] | None]) -> None:
    """Put each JSON line of a child's stdout on a queue, then None when the stream ends.

    Args:
        stream: The child's stdout.
        messages: Where the decoded lines go; lines that are not JSON objects are skipped.
    """
    for line in stream:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.put(message)
    messages.put(None)


def _next_or_none(messages: queue.Queue[dict[str, Any] | None],
                  timeout: float) -> dict[str, Any] | None:
    try:
        return messages.get(timeout=timeout)
    except queue.Empty:
        return None
