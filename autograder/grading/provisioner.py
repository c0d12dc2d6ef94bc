"""How jupyter_client starts a grading kernel: staged, confined, and forked when it can be.

nbgrader executes notebooks through nbclient, which asks a kernel manager for a kernel, which
asks a *provisioner* to start it. The course config (and ``autograder grade``) set
``Execute.kernel_manager_class`` to :class:`GradingKernelManager`, so every kernel nbgrader
starts for grading is launched by :class:`GradingProvisioner`:

1. a fresh stage (:mod:`autograder.grading.staging`) receives a copy of the notebook's folder,
   the connection file, and an empty ``exports/``;
2. the kernel talks to its client over ZeroMQ's ``ipc`` transport (Unix sockets in the stage),
   since it has no network at all;
3. it is forked from the worker's preloader when there is one (``autograder grade``), or started
   by bubblewrap directly (plain ``nbgrader autograde``, formgrader), confined either way;
4. when it has gone, its exports are copied to the folder named by ``AUTOGRADER_EXPORT_DIR`` in
   the grader's environment (refusing links and oversized files), and the stage is deleted.

``autograder grade --no-sandbox`` keeps the staging and the forks but not the confinement.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

from autograder.grading import sandbox, staging
from autograder.grading.preload import ForkedProcess, Preloader

PROVISIONER_NAME = "autograder-grading"
EXPORT_ENV = "AUTOGRADER_EXPORT_DIR"
# Seconds a kernel started directly by bubblewrap may take to say it is confined.
_START_SECONDS = 60.0


class _Settings:
    """What the process that grades (a worker, or nbgrader itself) told its kernels' launcher.

    Attributes:
        preloader: Where kernels fork from; None starts each one with bubblewrap directly.
        staging: Where stages go; None for :func:`~autograder.grading.staging.stage_root`.
        confined: Confine kernels (False only for ``--no-sandbox``).
        lazy: Start a preloader of this process's own at its first kernel (plain
            ``nbgrader autograde``, the formgrader), so that every later kernel forks.
    """

    preloader: Preloader | None = None
    staging: Path | None = None
    confined: bool = True
    lazy: bool = True


SETTINGS = _Settings()


def use(preloader: Preloader | None, staging_folder: Path | None, *, confined: bool,
        lazy: bool = False) -> None:
    """Set how this process's grading kernels start.

    Args:
        preloader: The worker's preloader of role ``kernels``; None starts each kernel fresh
            (or from a preloader of this process's own, when ``lazy``).
        staging_folder: Where stages go (one worker's folder); None for :func:`stage_root`.
        confined: Confine kernels (False only for ``--no-sandbox``).
        lazy: Start a preloader at the first kernel when ``preloader`` is None.
    """
    SETTINGS.preloader, SETTINGS.staging, SETTINGS.confined, SETTINGS.lazy = (
        preloader, staging_folder, confined, lazy)


def _own_preloader() -> Preloader | None:
    """The preloader of a process that grades without a worker (plain ``nbgrader``).

    Started at the first confined kernel; that kernel starts with bubblewrap directly while the
    preloader imports, and every later kernel forks from it. It dies with this process.
    """
    if SETTINGS.preloader is None and SETTINGS.lazy and SETTINGS.confined:
        import atexit

        folder = staging.new_folder(None, "autograder-nbgrader-")
        started = Preloader("kernels", writable=[folder])
        started.start()
        SETTINGS.preloader, SETTINGS.staging, SETTINGS.lazy = started, folder, False

        def tidy() -> None:
            started.stop()
            staging.remove(folder)

        atexit.register(tidy)
        return None
    return SETTINGS.preloader


def kernel_environment(env: dict[str, str], stage: Path) -> dict[str, str]:
    """A kernel's environment, made from an allow-list: nothing of the grader's shell but the
    locale and the settings grading reads (:func:`sandbox.environment`), a private home and
    caches, exports into its stage.

    Args:
        env: The environment jupyter_client prepared (the grader's, and the kernel spec's).
        stage: The kernel's stage.

    Returns:
        The environment to start the kernel with.
    """
    # No bytecode caches: a kernel started afresh (no preloader) would write them into its
    # folder, as a forked one (whose preloader was started so) does not.
    made = sandbox.environment(env, **{EXPORT_ENV: str(stage / "exports")},
                               PYTHONDONTWRITEBYTECODE="1")
    made.setdefault("KERAS_BACKEND", "tensorflow")
    made.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "JPY_PARENT_PID" in env:
        made["JPY_PARENT_PID"] = env["JPY_PARENT_PID"]
    if SETTINGS.confined:
        home = "/tmp/home"
        made.update(HOME=home, TMPDIR="/tmp", IPYTHONDIR=f"{home}/.ipython",
                    MPLCONFIGDIR=f"{home}/.config/matplotlib",
                    XDG_CACHE_HOME=f"{home}/.cache", XDG_CONFIG_HOME=f"{home}/.config",
                    JUPYTER_CONFIG_DIR=f"{home}/.jupyter",
                    JUPYTER_DATA_DIR=f"{home}/.local/share/jupyter")
    elif "HOME" in env:
        # Unconfined (--no-sandbox), the kernel is the grading user, in that user's home.
        made["HOME"] = env["HOME"]
    return made


class GradingKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start through :class:`GradingProvisioner`."""

    @default("transport")
    def _default_transport(self) -> str:
        # The kernel has its own network namespace: 127.0.0.1 there is not the client's.
        return "ipc"

    @property
    def kernel_spec(self) -> Any:
        """The kernel spec, naming the grading provisioner."""
        spec = super().kernel_spec
        if spec is not None:
            spec.metadata["kernel_provisioner"] = {"provisioner_name": PROVISIONER_NAME,
                                                   "config": {}}
        return spec


class GradingProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Stage, confine and start one grading kernel; collect its exports when it is gone."""

    stage: Path | None = None
    destination: str | None = None
    launcher: subprocess.Popen[bytes] | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Create the stage and put the connection file and sockets in it.

        Args:
            **kwargs: Launch options from jupyter_client.

        Returns:
            The launch options, as :class:`LocalProvisioner` prepares them.
        """
        self.stage = staging.new_folder(SETTINGS.staging, "k-")
        exports = self.stage / "exports"
        exports.mkdir()
        sandbox.own_for_sandbox(exports)
        km = self.parent
        km.transport = "ipc"
        km.connection_file = str(self.stage / "kernel.json")
        km.ip = str(self.stage / "ipc")
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Start the kernel in its stage.

        Args:
            cmd: The kernel command, ``[python, -m, ipykernel_launcher, -f, FILE, ...]``.
            **kwargs: Launch options from jupyter_client (``env``, ``cwd`` ...).

        Returns:
            The kernel's connection info.

        Raises:
            RuntimeError: The kernel cannot be started confined (not this Python's ipykernel,
                or the sandbox failed).
        """
        assert self.stage is not None
        env = dict(kwargs.get("env") or os.environ)
        self.destination = env.pop(EXPORT_ENV, None)
        work = self.stage / "work"
        staging.copy_submission(Path(kwargs.get("cwd") or os.getcwd()), work)
        sandbox.own_for_sandbox(self.stage / "kernel.json")
        env = kernel_environment(env, self.stage)
        argv = _ipykernel_arguments(cmd, env)
        kernel = None
        preloader = _own_preloader() if argv is not None else None
        if preloader is not None:
            kernel = await asyncio.to_thread(preloader.fork_kernel, argv, env, str(work),
                                             str(self.stage))
        if kernel is None and SETTINGS.confined:
            if argv is None:
                raise RuntimeError(f"only {sys.executable}'s ipykernel can grade confined, not "
                                   f"{cmd[0]!r}; change the notebook's kernel to python3")
            kernel = await asyncio.to_thread(self._launch_confined, argv, env, str(work))
        if kernel is None:
            return await super().launch_kernel(cmd, **{**kwargs, "env": env, "cwd": str(work)})
        self.process = kernel
        self.pid = self.pgid = kernel.pid  # the kernel made itself a session and group leader
        self.cwd = str(work)
        return self.connection_info

    def _launch_confined(self, argv: list[str], env: dict[str, str],
                         cwd: str) -> ForkedProcess:
        """Start a confined kernel with bubblewrap (no preloader: it imports Keras itself)."""
        assert self.stage is not None
        # Not `python -P`: IPython honours it and would keep the kernel's folder off sys.path.
        command = sandbox.command([sys.executable, "-m", "autograder.grading.confine",
                                   "--kernel"], writable=[self.stage])
        # bubblewrap and the process it starts get the kernel's own made environment: what a
        # process was started with stays readable in its /proc/self/environ.
        self.launcher = subprocess.Popen(command, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, start_new_session=True,
                                         env=env)
        assert self.launcher.stdin is not None and self.launcher.stdout is not None
        request = {"argv": argv, "env": env, "cwd": cwd, "folder": str(self.stage)}
        self.launcher.stdin.write(json.dumps(request).encode() + b"\n")
        self.launcher.stdin.close()
        line = self.launcher.stdout.readline()
        try:
            pid = int(json.loads(line)["pid"])
        except (ValueError, KeyError, TypeError):
            self.launcher.kill()
            raise RuntimeError("the grading sandbox could not start the kernel: "
                               f"{sandbox.probe() or 'see the log above'}") from None
        return ForkedProcess(pid)

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the connection files, collect the exports and delete the stage.

        Args:
            restart: True when the kernel is being restarted (the stage stays).
        """
        await super().cleanup(restart=restart)
        if restart or self.stage is None:
            return
        if self.launcher is not None:
            self.launcher.kill()
            self.launcher.wait()
            self.launcher = None
        if self.destination:
            staging.collect_exports(self.stage / "exports", Path(self.destination))
        staging.remove(self.stage)
        self.stage = None


def _ipykernel_arguments(cmd: list[str], env: dict[str, str]) -> list[str] | None:
    """The ipykernel arguments of ``cmd`` when it runs this interpreter's ipykernel, else None."""
    if len(cmd) < 3 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    interpreter = cmd[0] if os.sep in cmd[0] else shutil.which(cmd[0], path=env.get("PATH"))
    if interpreter is None or os.path.abspath(interpreter) != os.path.abspath(sys.executable):
        return None
    return list(cmd[3:])
