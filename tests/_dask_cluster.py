"""A real Dask cluster on 127.0.0.1: the ``dask scheduler`` and ``dask worker`` commands an
instructor starts, as subprocesses of the test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START_SECONDS = 120


class DaskCluster:
    """A scheduler and some workers, each a real process started by the ``dask`` command.

    Args:
        folder: Where the scheduler file and the workers' folders go.
        env: Extra environment for every process (Dask configuration variables).
    """

    def __init__(self, folder: Path, env: dict[str, str] | None = None):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **(env or {})}
        self.scheduler_file = folder / "scheduler.json"
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def dask(self) -> str:
        return str(Path(sys.executable).parent / "dask")

    def start_scheduler(self) -> str:
        """Start the scheduler on a free port; return its address."""
        self.scheduler_file.unlink(missing_ok=True)
        log = open(self.folder / "scheduler.log", "ab")  # noqa: SIM115 - kept by the process
        self.scheduler = subprocess.Popen(
            [self.dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(self.scheduler_file)],
            stdout=log, stderr=log, env=self.env, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                return str(json.loads(self.scheduler_file.read_text())["address"])
            time.sleep(0.2)
        raise RuntimeError("the Dask scheduler did not start")

    @property
    def address(self) -> str:
        return str(json.loads(self.scheduler_file.read_text())["address"])

    def start_worker(self, name: str, *, nanny: bool = False, threads: int = 1,
                     preload: str | None = None) -> None:
        """Start one worker process (under a nanny that restarts it, when ``nanny``; with
        ``--preload MODULE``, when ``preload``)."""
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - kept by the process
        extra = ["--preload", preload] if preload else []
        self.workers[name] = subprocess.Popen(
            [self.dask, "worker", self.address, "--name", name, "--nthreads", str(threads),
             "--nworkers", "1", "--nanny" if nanny else "--no-nanny", "--no-dashboard",
             "--memory-limit", "0", "--host", "127.0.0.1",
             "--local-directory", str(self.folder / name), *extra],
            stdout=log, stderr=log, env=self.env, start_new_session=True)

    def client(self) -> Any:
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=START_SECONDS)

    def worker_pid(self, client: Any, address: str) -> int:
        """The pid of the worker process (not its nanny) at ``address``."""
        return int(client.run(os.getpid, workers=[address])[address])

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            _kill_group(self.scheduler)
            self.scheduler = None

    def close(self) -> None:
        for process in self.workers.values():
            _kill_group(process)
        self.stop_scheduler()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


@contextlib.contextmanager
def running(folder: Path, workers: int, *, nanny: bool = False, threads: int = 1,
            env: dict[str, str] | None = None,
            preload: str | None = None) -> Iterator[DaskCluster]:
    """A started cluster with ``workers`` workers of ``threads`` threads (each started with
    ``--preload`` when given), stopped afterwards."""
    cluster = DaskCluster(folder, env)
    try:
        cluster.start_scheduler()
        for index in range(workers):
            cluster.start_worker(f"w{index}", nanny=nanny, threads=threads, preload=preload)
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        cluster.close()
