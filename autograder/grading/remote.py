"""The worker side of cluster grading: what travels with a task, and how a Dask worker grades it.

A cluster shares no file system with the grader. Each task carries one submission's folder; the
assignment's grading inputs travel once per worker as a *course bundle*: the course config, the
assignment's source, a snapshot of the gradebook, the manifest, the reference timing and the
course secret. A worker process unpacks a bundle once into a private course copy under its
stage root, keeps one :class:`~autograder.grading.session.GradingSession` for it (the confined
verifier, warm grading workers), and grades each submission exactly as local grading does:
same confinement, limits and verification. It returns the verified result and the autograded
notebook folder; the grader's client alone writes the course's gradebook.

The copy belongs to the worker's own account and mode 0700, like every grader folder: kernels
never see it (they see only their stage), so the secret it holds never reaches learner code.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import queue
import shutil
import sqlite3
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.grading import staging, warm
from autograder.grading.layout import CONFIG_NAME, CourseLayout
from autograder.grading.manifest import manifest_path
from autograder.grading.sandbox import Limits
from autograder.grading.session import GradingSession
from autograder.grading.watch import thread_env

GRADEBOOK_NAME = "gradebook.db"
# A worker forgets a course copy it has not used for this long, once another course arrives.
IDLE_SECONDS = 900.0


def pack_folder(folder: Path, arcname: str = ".") -> bytes:
    """A folder as gzip-compressed tar bytes (regular files and folders; links left out).

    Args:
        folder: The folder.
        arcname: Its name inside the archive.

    Returns:
        The archive.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=arcname, filter=_plain_member)
    return buffer.getvalue()


def _plain_member(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return member if member.isfile() or member.isdir() else None


def unpack(data: bytes, target: Path) -> None:
    """Extract :func:`pack_folder` bytes into ``target`` (created), refusing unsafe members.

    Args:
        data: The archive.
        target: Where its ``.`` goes.
    """
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        # The "data" filter refuses absolute paths, "..", links out of the folder and devices.
        archive.extractall(target, filter="data")


@dataclass(frozen=True)
class CourseBundle:
    """An assignment's grading inputs as bytes, and the digest that names them on workers.

    Attributes:
        assignment: Assignment name.
        data: The archive (see :func:`pack_course`).
        digest: SHA-256 of ``data``.
    """

    assignment: str
    data: bytes
    digest: str


def pack_course(layout: CourseLayout, assignment: str) -> CourseBundle:
    """Pack what a worker needs to grade an assignment of this course, and nothing else.

    Args:
        layout: The course layout.
        assignment: Assignment name.

    Returns:
        The bundle.

    Raises:
        ValueError: The gradebook is not a SQLite file (only such a gradebook can travel).
    """
    url = layout.db_url
    if not url.startswith("sqlite:///"):
        raise ValueError(f"cluster grading copies the gradebook to the workers, and only a "
                         f"SQLite gradebook can be copied; this course uses {url}.")
    database = url[len("sqlite:///"):].split("?", 1)[0]
    with tempfile.TemporaryDirectory(prefix="autograder-bundle-") as scratch:
        root = Path(scratch)
        shutil.copyfile(layout.root / CONFIG_NAME, root / CONFIG_NAME)
        shutil.copytree(layout.source(assignment), root / "source" / assignment,
                        symlinks=False)
        (root / "grader").mkdir()
        for path in (manifest_path(layout.root, assignment),
                     layout.grader(f"{assignment}.timing.json"), layout.secret):
            if path.is_file():
                shutil.copyfile(path, root / "grader" / path.name)
        # The online backup API: a consistent snapshot even while nbgrader writes.
        with sqlite3.connect(database) as live, sqlite3.connect(root / GRADEBOOK_NAME) as copy:
            live.backup(copy)
        data = pack_folder(root)
    return CourseBundle(assignment, data, hashlib.sha256(data).hexdigest())


def _local_config(root: Path) -> str:
    """Lines appended to a course copy's config: its own folder and gradebook, never the
    grader's (whose paths the shipped config names)."""
    url = f"sqlite:///{root / GRADEBOOK_NAME}"
    return (f"\n# Course copy on a grading worker.\nc.CourseDirectory.root = {str(root)!r}\n"
            f"c.CourseDirectory.db_url = {url!r}\n")


class WorkerCourse:
    """One course copy on a worker process, its grading session and its grading workers.

    Args:
        bundle: The course bundle.
        options: ``sandboxed``, ``limits`` (dict), ``timeout``, ``memory_mb``.
        slots: How many submissions this process grades at once (its Dask threads).
    """

    def __init__(self, bundle: CourseBundle, options: dict[str, Any], slots: int):
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-cluster-",
                                            dir=staging.stage_root()))
        root = self.folder / "course"
        unpack(bundle.data, root)
        with open(root / CONFIG_NAME, "a", encoding="utf-8") as config:
            config.write(_local_config(root))
        self.layout = CourseLayout(root)
        sandboxed = bool(options.get("sandboxed", True))
        limits = Limits(**options.get("limits", {}))
        # A warm worker's spare verifier has imported already (see autograder.grading.warm).
        spare = warm.take(sandboxed, limits)
        # One long-lived thread owns the verifier: bubblewrap ties a sandbox's life to the
        # thread that started it, and Dask's own task threads come and go (secede, rejoin).
        self.keeper = (spare.keeper if spare is not None
                       else ThreadPoolExecutor(max_workers=1, thread_name_prefix="verifier"))
        try:
            self.session = self.keeper.submit(
                GradingSession, self.layout, bundle.assignment, sandboxed=sandboxed,
                limits=limits, timeout=options.get("timeout"),
                memory_mb=options.get("memory_mb"),
                prepared=spare.prepared if spare is not None else None).result()
        except BaseException:
            if spare is not None:
                self.keeper.submit(spare.prepared.close).result()
            self.keeper.shutdown()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.threads = thread_env(max(1, slots))
        self.idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self.workers = contextlib.ExitStack()
        self.made = 0
        self.lock = threading.Lock()
        self.used = time.monotonic()

    @contextlib.contextmanager
    def _worker(self) -> Any:
        try:
            worker = self.idle.get_nowait()
        except queue.Empty:
            with self.lock:
                self.made += 1
                index = self.made
            worker = self.workers.enter_context(self.session.worker(index, self.threads))
        try:
            yield worker
        finally:
            self.idle.put(worker)

    def grade(self, student: str, submission: bytes) -> dict[str, Any]:
        """Grade one submission of the bundle's assignment.

        Args:
            student: Student id.
            submission: The student's submitted folder (:func:`pack_folder`).

        Returns:
            ``result`` (:meth:`SubmissionResult.to_dict`), ``autograded`` (the autograded
            folder as :func:`pack_folder` bytes, or None) and ``host``.
        """
        self.used = time.monotonic()
        assignment = self.session.assignment
        submitted = self.layout.step("submitted", student, assignment)
        autograded = self.layout.step("autograded", student, assignment)
        for folder in (submitted, autograded):
            staging.remove(folder)
        unpack(submission, submitted)
        try:
            with self._worker() as worker:
                graded = self.session.run_submission(worker, student, threading.Event())
            # The worker is free for the next task while this one is verified.
            with _seceded():
                result = self.keeper.submit(self.session.finish, graded).result()
            packed = pack_folder(autograded) if autograded.is_dir() else None
        finally:
            for folder in (submitted, autograded):
                staging.remove(folder)
        return {"result": result.to_dict(), "autograded": packed, "host": os.uname().nodename}

    def close(self) -> None:
        """Stop the grading workers and the session; delete the course copy."""
        try:
            self.workers.close()
            self.keeper.submit(self.session.close).result()
            self.keeper.shutdown()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def _seceded() -> Any:
    """Run a block outside the Dask worker's thread count (it waits on the verifier)."""
    try:
        from distributed import rejoin, secede

        secede()
    except ValueError:  # not running in a Dask task
        yield
        return
    try:
        yield
    finally:
        rejoin()


_COURSES: dict[str, WorkerCourse] = {}
_COURSES_LOCK = threading.Lock()


def _course(bundle: CourseBundle, options: dict[str, Any]) -> WorkerCourse:
    key = f"{bundle.digest}:{sorted(options.items())!r}"
    with _COURSES_LOCK:
        course = _COURSES.get(key)
        if course is None:
            now = time.monotonic()
            for old_key, old in list(_COURSES.items()):
                if now - old.used > IDLE_SECONDS:
                    _COURSES.pop(old_key).close()
            course = WorkerCourse(bundle, options, _dask_threads())
            _COURSES[key] = course
        return course


def _dask_threads() -> int:
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


def release(digest: str) -> int:
    """Close this worker's copies of a bundle once its batch is over (the client asks).

    The course copy (and the secret in it) is deleted now rather than after
    :data:`IDLE_SECONDS`, and a warm worker starts a fresh spare verifier for the next batch.
    Closing waits for the grading workers to end, so it runs in a thread of its own: the
    client's call returns at once. Not a daemon thread: a worker that exits meanwhile still
    deletes the copies it no longer lists.

    Args:
        digest: The bundle's digest.

    Returns:
        How many course copies are being closed.
    """
    with _COURSES_LOCK:
        done = [_COURSES.pop(key) for key in list(_COURSES) if key.startswith(f"{digest}:")]

    def close_all() -> None:
        for course in done:
            with contextlib.suppress(Exception):
                course.close()
        warm.rearm()

    threading.Thread(target=close_all, name="release", daemon=False).start()
    return len(done)


@atexit.register
def _close_courses() -> None:
    with _COURSES_LOCK:
        for course in _COURSES.values():
            with contextlib.suppress(Exception):
                course.close()
        _COURSES.clear()


def bundle_task(bundle: CourseBundle) -> CourseBundle:
    """The task that holds a bundle on the cluster (the scheduler can recompute it when the
    worker holding it is lost, which a scattered value could not be).

    Args:
        bundle: The bundle.

    Returns:
        The same bundle.
    """
    return bundle


def grade_task(bundle: CourseBundle, student: str, submission: bytes,
               options: dict[str, Any]) -> dict[str, Any]:
    """The task a Dask worker runs for one submission.

    Args:
        bundle: The assignment's course bundle (from :func:`bundle_task`).
        student: Student id.
        submission: The student's submitted folder (:func:`pack_folder`).
        options: Grading options (see :class:`WorkerCourse`).

    Returns:
        What :meth:`WorkerCourse.grade` returns.
    """
    return _course(bundle, options).grade(student, submission)
