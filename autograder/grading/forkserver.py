"""The preloader's own side: import Keras once, then fork confined kernels or verifications.

Runs as ``python -m autograder.grading.forkserver ROLE LIMITS [--confined]``, inside the sandbox
when confined; :class:`autograder.grading.preload.Preloader` starts it and speaks its protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from autograder.grading.sandbox import Limits


def _serve(role: str, limits: Limits, confined: bool) -> int:
    """Import Keras, then fork one kernel or verification per request until stdin closes."""
    from autograder.grading import confine

    if confined:
        confine.leave_root()
        # Neither the grader's keys nor any key a fork adds are shared through this process.
        confine.new_session_keyring()
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Forks get /dev/null as stdin and the log (stderr) as stdout, like a normal launch.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    signal.signal(signal.SIGCHLD, _reap)

    import numpy  # noqa: F401

    from autograder.quiet import silence

    silence()
    import keras  # noqa: F401
    import sklearn.metrics  # noqa: F401 - the grader's metric checks use it

    if role == "kernels":
        from ipykernel import kernelapp  # noqa: F401
    else:
        import autograder.grading.verify  # noqa: F401

    def say(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    say({"ready": True, "pid": os.getpid()})
    for line in requests:
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)

            number = request.get("id")

            # Every answer to a request carries its id, so a late one is never taken for the
            # answer to the next request.
            def answer(message: dict[str, Any], number: Any = number) -> None:
                say({**message, "id": number})

            if role == "verify" and "warm" in request:
                _warm(request["warm"])
                answer({"warmed": True})
                continue
            job = request[role if role == "verify" else "kernel"]
            pid = os.fork()
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            say({"error": repr(exc)[:300],
                 "id": request.get("id") if isinstance(request, dict) else None})
            continue
        if pid == 0:
            requests.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _child(role, job, limits, confined, answer, replies.fileno())
    return 0


def _child(role: str, job: dict[str, Any], limits: Limits, confined: bool,
           say: Callable[[dict[str, Any]], None], reply_fd: int) -> None:
    """In a fresh fork: become the confined kernel or verification; never returns."""
    from autograder.grading import confine

    if role == "verify":
        def run() -> int:
            return _run_verification(job, say, limits, confined)
        keep: tuple[int, ...] = (reply_fd,)
        # Its exports must stay visible when they lie below /tmp, which it gets fresh.
        folder = job.get("exports")
    else:
        def run() -> int:
            return run_kernel(job, confined=confined)
        keep = ()
        folder = job.get("folder")

    def report(pid: int) -> None:
        say({"pid": pid} if pid else {"error": "the fork could not be confined"})

    if not confined:
        pid = os.getpid()
        report(pid)
        _leave(run())
    # A kernel sees only its own stage of the worker's staging folder.
    hide = os.path.dirname(folder) if folder and role == "kernels" else None
    confine.spawn(run, limits=limits, report=report, folder=folder, hide=hide, keep=keep)


def _warm(job: dict[str, Any]) -> None:
    """In the verifier: derive the batch's grader-only rows once, so every fork inherits them."""
    from autograder.holdout import derive

    for name in job.get("datasets", []):
        derive(name, job["secret"])


def _leave(code: int) -> None:
    """End a fork: exit handlers and flushed streams, as at any exit, then ``os._exit``.

    A normal interpreter exit would then tear down every module, which for a process with
    TensorFlow loaded costs about 2 s of CPU for nothing; forks skip it, as multiprocessing's
    forked children do.
    """
    import atexit

    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _reap(signum: int, frame: Any) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _run_verification(job: dict[str, Any], say: Callable[[dict[str, Any]], None],
                      limits: Limits, confined: bool) -> int:
    """Confined: judge one submission's exports and send the verdicts."""
    try:
        from autograder.grading.evaluate import Settings
        from autograder.grading.manifest import from_dict
        from autograder.grading.verify import verify_submission

        manifest = from_dict(job["manifest"], source="the grader's manifest")
        # A model that needs its own classes runs in an evaluator with the kernels' limits.
        memory = job.get("memory_bytes", Settings.memory_bytes)
        evaluation = Settings(limits=limits.to_dict(),
                              memory_bytes=memory if isinstance(memory, int) else None,
                              confinement="namespaces" if confined else "none")
        verdicts = verify_submission(manifest, job["exports"], secret=job.get("secret"),
                                     evaluation=evaluation)
        say({"verdicts": [verdict.to_dict() for verdict in verdicts]})
        return 0
    except BaseException:  # noqa: BLE001 - no verdicts means the grader records an error
        import traceback

        traceback.print_exc()
        return 1


def run_kernel(request: dict[str, Any], *, confined: bool) -> int:
    """Become the kernel jupyter_client asked for; return its exit status.

    Args:
        request: ``{"argv", "env", "cwd"}`` from the provisioner.
        confined: The process is confined: it has no parent to watch (it dies with it).

    Returns:
        The kernel's exit status.
    """
    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        argv = list(request["argv"])
        if confined:
            os.environ.pop("JPY_PARENT_PID", None)
        else:
            os.environ["JPY_PARENT_PID"] = str(os.getppid())
            argv.append(f"--IPKernelApp.parent_handle={os.getppid()}")
        import random

        import numpy as np

        random.seed()
        np.random.seed()
        from ipykernel import kernelapp

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
    # Started as `python -m autograder.grading.forkserver ROLE LIMITS [--confined]`: drop the
    # start-up folder from sys.path, so kernels see the path a normal kernel sees.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    role_arg, limits_arg = sys.argv[1], Limits(**json.loads(sys.argv[2]))
    sys.exit(_serve(role_arg, limits_arg, "--confined" in sys.argv[3:]))
