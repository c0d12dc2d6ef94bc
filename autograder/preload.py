"""Kernels forked from a process that has already imported Keras.

Every submission is graded in a fresh kernel, and a fresh kernel spends most of its start-up
importing TensorFlow and Keras: about 5 s of CPU per kernel, more than a small assignment's
training. So each ``autograder grade`` worker starts one *preloader*, a process that imports
Keras and ipykernel once and then does nothing but fork, and every kernel of that worker is a
fork of it, started in milliseconds.

Why a fork is as good as a fresh kernel here:

- The preloader runs no TensorFlow op and starts no thread before it forks (TensorFlow creates
  its thread pools at the first op, in the kernel), so nothing a kernel needs is lost in the
  fork, and the kernel reads its own environment (thread counts, export folder) when it starts.
- The preloader holds no grader data. Memory is copy-on-write: whatever a kernel changes, from
  ``sys.modules`` to Keras itself, stays in that kernel.
- Each fork gets a new session and process group, the environment, working directory and
  command line jupyter_client gave it, a fresh random state, and its parent's pid to watch
  (ipykernel exits when the preloader is gone). It ends like any process, exit handlers and
  flushed streams included, but skips tearing down TensorFlow's modules (:func:`_leave`).

Jupyter starts kernels through a provisioner. :class:`PreloadedProvisioner` (registered as
``autograder-preloaded`` in the package's entry points) asks the preloader for a fork and
starts the kernel the normal way when it cannot: a kernel command that is not this
interpreter's ipykernel, a preloader that is still importing, or one that is gone (a learner's
code can kill it, which only costs the next kernels their head start).

The worker verifies each submission in a fork too (:meth:`Preloader.verify`), so it never
imports Keras itself; it verifies in its own process when the preloader is gone.

The protocol is one JSON line each way on the preloader's stdin and stdout, which kernels do
not inherit: first ``{"ready": true}`` once the imports are done; then for each request,
``{"argv", "env", "cwd"}`` (a kernel) or ``{"verify": {...}}``, the reply ``{"pid"}`` (or
``{"error"}``), and from a verifying fork, ``{"verdicts"}``.
"""

from __future__ import annotations

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
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from jupyter_client.provisioning import LocalProvisioner

PROVISIONER_NAME = "autograder-preloaded"
# How long to wait for the preloader's answer to a fork request before starting the kernel
# the normal way; the answer comes right after the fork, so only a stuck preloader waits.
_REPLY_SECONDS = 10.0
# How long a kernel request waits for a preloader that is still importing.
_READY_SECONDS = 60.0
# How many times a preloader that died is replaced before kernels start the normal way for good.
_MAX_RESTARTS = 3


class ForkedProcess:
    """A process forked by the preloader (a kernel or a verification), seen from the worker.

    It offers the part of :class:`subprocess.Popen` that :class:`LocalProvisioner` uses, which
    keeps it as a kernel's handle. The preloader, not this process, is the parent and reaps it,
    so the exit status is not known here: a process that has gone reports 0, or ``-signal``
    when it was sent a fatal signal from here.

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
            except ProcessLookupError:
                self.returncode = -self._last_signal
            except PermissionError:  # pragma: no cover - the pid was reused by another user
                self.returncode = -self._last_signal
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Block until the process has gone; return :meth:`poll`'s status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["kernel", str(self.pid)], timeout or 0.0)
            time.sleep(0.05)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        """Send a signal to the process."""
        if self.poll() is None:
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
    """The preloader process of this worker, seen from the worker."""

    def __init__(self, on_start: Callable[[int], None] | None = None):
        """Prepare a preloader; :meth:`start` starts it.

        Args:
            on_start: Called with the pid of every preloader process started, the first one
                and those that replace one that died.
        """
        self.on_start = on_start
        self.proc: subprocess.Popen[bytes] | None = None
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.ready = False
        self.restarts = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the preloader; it imports in the background while the worker goes on."""
        import autograder

        # The preloader's own sys.path[0] is its working directory: make that the folder the
        # package came from, so nothing else can be imported in its place.
        home = Path(autograder.__file__).resolve().parent.parent
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.preload"], cwd=home, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, start_new_session=True)
        self.ready = False
        self.replies = queue.Queue()
        threading.Thread(target=read_messages, args=(self.proc.stdout, self.replies),
                         daemon=True).start()
        if self.on_start is not None:
            self.on_start(self.proc.pid)

    @property
    def pid(self) -> int | None:
        """The preloader's process id, None when not started."""
        return self.proc.pid if self.proc is not None else None

    def alive(self, wait: float = 0.0) -> bool:
        """Whether the preloader runs and has finished its imports.

        Args:
            wait: Seconds to wait for the imports to finish.
        """
        if self.proc is None:
            return False
        if self.proc.poll() is not None:
            # Killed (a learner's code can): start another for the next request, a few times.
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
        return self.ready

    def fork(self, argv: list[str], env: dict[str, str], cwd: str) -> ForkedProcess | None:
        """Ask for a kernel; None when the preloader cannot give one (start it normally).

        Args:
            argv: ipykernel arguments (``-f CONNECTION_FILE`` ...), without the interpreter.
            env: The kernel's environment.
            cwd: The kernel's working directory.

        Returns:
            The kernel's handle, or None.
        """
        with self.lock:
            if not self._send({"argv": argv, "env": env, "cwd": cwd}):
                return None
            try:
                reply = self.replies.get(timeout=_REPLY_SECONDS)
            except queue.Empty:
                self.stop()
                return None
            if not reply or "pid" not in reply:
                return None
            return ForkedProcess(int(reply["pid"]))

    def verify(self, course_dir: Path, assignment: str, exports: Path,
               timeout: float) -> list[dict[str, Any]] | None:
        """Verify a submission's exports in a fork, which has Keras imported already.

        The fork reports on the preloader's reply channel, which no kernel holds, so nothing a
        learner's code left running can forge the verdicts.

        Args:
            course_dir: The course directory (for the manifest).
            assignment: Assignment name.
            exports: The submission's export folder.
            timeout: Seconds the verification may take.

        Returns:
            The verdicts as dicts (:meth:`autograder.verify.Verdict.to_dict`), or None when the
            preloader could not verify (verify in this process instead).
        """
        job = {"course": str(course_dir), "assignment": assignment, "exports": str(exports)}
        with self.lock:
            if not self._send({"verify": job}):
                return None
            deadline = time.monotonic() + timeout
            child: ForkedProcess | None = None
            while time.monotonic() < deadline:
                try:
                    # The fork's pid comes first, its verdicts when it is done.
                    message = self.replies.get(timeout=0.5)
                except queue.Empty:
                    if child is None or child.poll() is None:
                        continue
                    # Gone: its verdicts reach the queue within a moment, or never.
                    message = _next_or_none(self.replies, timeout=1.0)
                if message is None or "error" in message:
                    return None
                if "verdicts" in message:
                    return list(message["verdicts"])
                child = ForkedProcess(int(message["pid"]))
            if child is not None:
                child.kill()
            return None

    def _send(self, request: dict[str, Any]) -> bool:
        """Send a request once the preloader is ready; False when it cannot take one."""
        # A kernel started the normal way would spend as long importing Keras as the
        # preloader has left to go, and compete with it for the cores: wait instead.
        if not self.alive(wait=_READY_SECONDS) or self.proc is None or self.proc.stdin is None:
            return False
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.stop()
            return False
        return True

    def stop(self) -> None:
        """Stop the preloader for good (kernels it forked notice and exit)."""
        self.restarts = _MAX_RESTARTS
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.ready = False


def read_messages(stream: IO[bytes], messages: queue.Queue[dict[str, Any] | None]) -> None:
    """Put each JSON line of a child's stdout on a queue, then None when the stream ends.

    Args:
        stream: The child's stdout.
        messages: Where the decoded lines go; lines that are not JSON are skipped.
    """
    for line in stream:
        try:
            messages.put(json.loads(line))
        except ValueError:
            continue
    messages.put(None)


def _next_or_none(messages: queue.Queue[dict[str, Any] | None],
                  timeout: float) -> dict[str, Any] | None:
    try:
        return messages.get(timeout=timeout)
    except queue.Empty:
        return None


_PRELOADER: Preloader | None = None


def start(on_start: Callable[[int], None] | None = None) -> Preloader:
    """Start this process's preloader and make jupyter_client fork kernels from it.

    The preloader writes to this process's stderr, and so do the kernels, as usual.

    Args:
        on_start: Called with the pid of every preloader process started.

    Returns:
        The preloader.
    """
    from jupyter_client.provisioning import KernelProvisionerFactory

    global _PRELOADER
    _PRELOADER = Preloader(on_start)
    _PRELOADER.start()
    if entry_points(group=KernelProvisionerFactory.GROUP_NAME, name=PROVISIONER_NAME):
        KernelProvisionerFactory.instance().default_provisioner_name = PROVISIONER_NAME
    else:
        # A source tree used without reinstalling: jupyter_client would refuse every kernel.
        print(f"autograder: the {PROVISIONER_NAME!r} kernel provisioner is not registered "
              "(run `pip install -e .` again); kernels start the normal way.", file=sys.stderr)
    return _PRELOADER


def stop() -> None:
    """Stop this process's preloader; kernels start the normal way again."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    global _PRELOADER
    if _PRELOADER is not None:
        _PRELOADER.stop()
        _PRELOADER = None
    KernelProvisionerFactory.instance().default_provisioner_name = "local-provisioner"


class PreloadedProvisioner(LocalProvisioner):  # type: ignore[misc]
    """A local provisioner that forks ipykernel kernels from the preloader when it can."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Fork the kernel from the preloader, or launch it like :class:`LocalProvisioner`.

        Args:
            cmd: The kernel command, ``[python, -m, ipykernel_launcher, -f, FILE, ...]``.
            **kwargs: Launch options from jupyter_client (``env``, ``cwd`` ...).

        Returns:
            The kernel's connection info.
        """
        kernel = self._fork(cmd, kwargs)
        if kernel is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = kernel
        self.pid = self.pgid = kernel.pid  # the fork made itself a session and group leader
        self.cwd = kwargs.get("cwd") or str(Path.cwd())
        return self.connection_info

    @staticmethod
    def _fork(cmd: list[str], kwargs: dict[str, Any]) -> ForkedProcess | None:
        if _PRELOADER is None or len(cmd) < 3 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
            return None
        # Streams other than the inherited ones cannot be handed to a fork.
        if any(kwargs.get(name) is not None for name in ("stdin", "stdout", "stderr")):
            return None
        env = dict(kwargs.get("env") or os.environ)
        interpreter = _which(cmd[0], env)
        if interpreter is None or os.path.abspath(interpreter) != os.path.abspath(sys.executable):
            return None
        cwd = str(kwargs.get("cwd") or Path.cwd())
        return _PRELOADER.fork(list(cmd[3:]), env, cwd)


def _which(command: str, env: dict[str, str]) -> str | None:
    if os.sep in command:
        return command
    return shutil.which(command, path=env.get("PATH"))


# --------------------------------------------------------------------------- the preloader


def _serve() -> int:
    """Import Keras and ipykernel, then fork one kernel per request until stdin closes."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Kernels get /dev/null as stdin and the log (stderr) as stdout, like a normal launch.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # Reap children here, so their CPU time adds up in this process's accounting.
    signal.signal(signal.SIGCHLD, _reap)

    import numpy  # noqa: F401

    from autograder.quiet import silence

    silence()
    import keras  # noqa: F401
    import sklearn.metrics  # noqa: F401 - the grader's metric checks use it
    from ipykernel import kernelapp  # noqa: F401

    import autograder.verify  # noqa: F401

    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in requests:
        try:
            request = json.loads(line)
            pid = os.fork()
        except (ValueError, OSError) as exc:
            replies.write(json.dumps({"error": repr(exc)}) + "\n")
            replies.flush()
            continue
        if pid == 0:
            requests.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if "verify" in request:
                _leave(_run_verification(request["verify"], replies))
            replies.close()
            _leave(_run_kernel(request))
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
    return 0


def _leave(code: int) -> None:
    """End a fork: exit handlers and flushed streams, as at any exit, then ``os._exit``.

    A normal interpreter exit would then tear down every module, which for a process with
    TensorFlow loaded costs about 2 s of CPU for nothing; forks skip it, as multiprocessing's
    forked children do. Files a learner left open and unflushed are the only thing it loses.
    """
    import atexit

    try:
        atexit._run_exitfuncs()  # the handlers a normal exit runs first
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _reap(signum: int, frame: Any) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _run_verification(job: dict[str, str], replies: IO[str]) -> int:
    """In a fork: verify one submission's exports and write the verdicts to the worker."""
    try:
        from autograder.manifest import load
        from autograder.verify import verify_submission

        manifest = load(Path(job["course"]), job["assignment"])
        verdicts = verify_submission(manifest, job["exports"])
        replies.write(json.dumps({"verdicts": [v.to_dict() for v in verdicts]}) + "\n")
        replies.flush()
        return 0
    except BaseException:  # noqa: BLE001 - the worker verifies itself when no verdicts come
        import traceback

        traceback.print_exc()
        return 1


def _run_kernel(request: dict[str, Any]) -> int:
    """In the fork: become the kernel jupyter_client asked for; return its exit status."""
    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(os.getppid())
        import random

        import numpy as np

        random.seed()
        np.random.seed()
        from ipykernel import kernelapp

        argv = [*request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.argv = ["ipykernel_launcher", *argv]
        kernelapp.launch_new_instance(argv=argv)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then leave whatever happened
        import traceback

        traceback.print_exc()
        return 1


if __name__ == "__main__":
    # Started as `python -m autograder.preload` from the package's own folder: drop that
    # folder, so kernels see the path a normal kernel sees (IPython adds '' for the notebook).
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    sys.exit(_serve())
