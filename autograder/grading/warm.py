"""Warm Dask workers: what grading needs, imported and started when a worker starts.

A cold worker pays, inside its first batch, for imports (nbgrader, its gradebook's SQLAlchemy,
nbformat: seconds of CPU on the worker process), for the confinement check, and for its
verifier's preloader importing TensorFlow while the first kernels start beside it. A warm
worker has done all of that before its first task, so a batch on a warm cluster starts as
local grading does.

Two ways to warm a worker, both through :class:`WarmGrading` (a
:class:`distributed.WorkerPlugin`):

- ``dask worker ADDRESS --preload autograder.grading.warm``: :func:`dask_setup` runs before the
  worker joins the scheduler and waits until the verifier has imported, so the worker joins
  warm. When the warm-up fails (no confinement, a stage root too deep, a broken install),
  the worker's log names the cause; Dask starts a worker whose preload failed all the same,
  and the client's registration below then finds it.
- ``autograder grade --scheduler`` registers the plugin with the scheduler at every batch (once
  per scheduler: it is idempotent), so a worker started without the preload warms up on its
  first batch, and one that joins later warms up as it joins. A worker whose warm-up fails
  stops the batch before any submission is sent, with the worker and the cause in the message.

What is started ahead holds no grader data: the spare verifier is a preloader that imported
Keras and never read a course; the first course on the worker adopts it (with its run
folder) and warms it with that course's secret. When a batch ends the client releases its
course copies (:func:`autograder.grading.remote.release`) and a fresh spare is started for the
next batch, so no course's rows outlive its batch in a verifier.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from distributed import WorkerPlugin

from autograder.errors import ClusterError, SandboxUnavailable
from autograder.grading.sandbox import Limits
from autograder.grading.session import PreparedRun, prepare_run

PLUGIN_NAME = "autograder-warm"
# What a grading task imports in the worker process itself: the grading session, nbgrader's
# gradebook (SQLAlchemy) and course directory, nbformat for the autograded notebooks. The
# kernels' and the verifier's imports happen in their preloaders, not here.
MODULES = ("autograder.grading.remote", "autograder.grading.session",
           "autograder.grading.verify", "autograder.grading.feedback", "nbgrader.api",
           "nbgrader.coursedir", "nbgrader.apps", "nbformat", "sqlalchemy")
# How long a preloaded worker waits for its verifier's imports before it joins anyway.
READY_SECONDS = 300.0


class WarmupFailed(ClusterError):
    """A Dask worker could not prepare for grading; the message names the worker and why."""


@dataclass
class _Spare:
    """A started verifier and the one thread that may touch it.

    Bubblewrap ties a sandbox's life to the thread that started it, so the verifier is
    started in ``keeper`` and the course that adopts it keeps using that thread.
    """

    keeper: ThreadPoolExecutor
    prepared: PreparedRun


_LOCK = threading.Lock()
_SPARE: _Spare | None = None
# The settings of the last warm-up, for the spare started after a batch.
_SETTINGS: tuple[bool, Limits] | None = None
_REPORT: dict[str, Any] = {"modules": {}, "seconds": None, "spare_pid": None, "taken": []}


def warm_up(*, sandboxed: bool = True, limits: Limits | None = None,
            wait: float = 0.0) -> dict[str, Any]:
    """Import what grading needs and start a spare verifier, once per process.

    Args:
        sandboxed: Confine the spare verifier (as ``autograder grade`` does unless
            ``--no-sandbox``).
        limits: The limits of its forks; the defaults when None.
        wait: Seconds to wait for the verifier's imports to finish; 0 returns as soon as it
            is started.

    Returns:
        What :func:`report` returns.

    Raises:
        SandboxUnavailable: ``sandboxed`` and this machine cannot confine kernels.
        ImportError: A module grading needs cannot be imported.
        OSError: No stage root can be written.
    """
    global _SETTINGS
    started = time.monotonic()
    limits = limits or Limits()
    with _LOCK:
        for name in MODULES:
            importlib.import_module(name)
        _SETTINGS = (sandboxed, limits)
        spare = _SPARE if _SPARE is not None else _start_spare(sandboxed, limits)
        _REPORT["modules"] = {name: name in sys.modules for name in MODULES}
    if wait > 0:
        spare.keeper.submit(spare.prepared.verifier.preloader.alive, wait).result()
    with _LOCK:
        _REPORT["spare_pid"] = spare.prepared.verifier.preloader.own_pid
        if _REPORT["seconds"] is None:
            _REPORT["seconds"] = round(time.monotonic() - started, 3)
    return report()


def _start_spare(sandboxed: bool, limits: Limits) -> _Spare:
    """Start a spare verifier in a thread of its own (called with the lock held)."""
    global _SPARE
    keeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verifier")
    try:
        prepared = keeper.submit(prepare_run, confined=sandboxed, limits=limits).result()
    except BaseException:
        keeper.shutdown()
        raise
    _SPARE = _Spare(keeper, prepared)
    return _SPARE


def take(sandboxed: bool, limits: Limits) -> _Spare | None:
    """Hand the spare verifier to a course, when it was started with these settings.

    Args:
        sandboxed: The batch's confinement.
        limits: The batch's limits.

    Returns:
        The spare (the caller owns it now), or None: the course starts its own.
    """
    global _SPARE
    with _LOCK:
        spare = _SPARE
        if spare is None or (spare.prepared.confined, spare.prepared.limits) != (sandboxed,
                                                                                 limits):
            return None
        _SPARE = None
        _REPORT["taken"].append(spare.prepared.verifier.preloader.own_pid)
        return spare


def rearm() -> None:
    """Start a new spare verifier after a batch, when this worker was warmed and has none."""
    with _LOCK:
        if _SETTINGS is None or _SPARE is not None:
            return
        with contextlib.suppress(Exception):  # the next batch then starts its own
            _start_spare(*_SETTINGS)
            _REPORT["spare_pid"] = None


def report() -> dict[str, Any]:
    """What the warm-up did in this process (run it on workers with ``client.run``).

    Returns:
        ``modules`` (each of :data:`MODULES`: imported when the warm-up ended), ``seconds``
        (how long the first warm-up took), ``spare_pid`` (the spare verifier's process once it
        was ready, else None), ``spare`` (whether one waits now) and ``taken`` (the process
        of each spare a course adopted, in order).
    """
    with _LOCK:
        return {**_REPORT, "modules": dict(_REPORT["modules"]), "taken": list(_REPORT["taken"]),
                "spare": _SPARE is not None}


@atexit.register
def _stop_spare() -> None:
    global _SPARE
    with _LOCK:
        spare, _SPARE = _SPARE, None
    if spare is not None:
        with contextlib.suppress(Exception):
            spare.keeper.submit(spare.prepared.close).result(timeout=30)
        spare.keeper.shutdown(wait=False)


class WarmGrading(WorkerPlugin):
    """A worker plugin that runs :func:`warm_up` on every worker, now and as they join.

    Args:
        sandboxed: Confine the spare verifier.
        limits: The limits of its forks (:meth:`Limits.to_dict`); the defaults when None.
        wait: Seconds :meth:`setup` waits for the verifier's imports (0: only started).
    """

    # Registered once per scheduler; a worker's warm-up itself happens once per process.
    idempotent = True
    name = PLUGIN_NAME

    def __init__(self, sandboxed: bool = True, limits: dict[str, Any] | None = None,
                 wait: float = 0.0):
        self.sandboxed, self.limits, self.wait = sandboxed, dict(limits or {}), wait

    async def setup(self, worker: Any) -> None:
        """Warm this worker up, off its event loop (which keeps answering the scheduler).

        Args:
            worker: The :class:`distributed.Worker`.

        Raises:
            SandboxUnavailable: The worker cannot confine kernels (the message names it).
            WarmupFailed: Anything else that stopped the warm-up, named.
        """
        where = f"Dask worker {worker.name} ({worker.address})"
        try:
            await asyncio.to_thread(warm_up, sandboxed=self.sandboxed,
                                    limits=Limits(**self.limits), wait=self.wait)
        except SandboxUnavailable as exc:
            raise SandboxUnavailable(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any cause is reported, by name
            raise WarmupFailed(f"{where} could not prepare for grading: "
                               f"{type(exc).__name__}: {exc}") from None

    def teardown(self, worker: Any) -> None:
        """Leave the warm processes to the worker's exit: a plugin registered again (the
        client's, over a preloaded worker's) must not throw away what it started.

        Args:
            worker: The :class:`distributed.Worker`.
        """


async def dask_setup(worker: Any) -> None:
    """The ``--preload`` hook: warm the worker before it joins the scheduler.

    Args:
        worker: The :class:`distributed.Worker` being started.

    Raises:
        SandboxUnavailable: The worker cannot confine kernels.
        WarmupFailed: The warm-up failed otherwise. Either is logged by Dask, which starts the
            worker all the same; ``autograder grade`` then refuses the cluster, naming it.
    """
    await worker.plugin_add(WarmGrading(wait=READY_SECONDS), name=PLUGIN_NAME,
                            catch_errors=False)
