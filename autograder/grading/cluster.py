"""``autograder grade --scheduler``: the same grading, spread over a Dask distributed cluster.

The client (this module) reads the manifest and the secret once, packs the assignment's grading
inputs into one bundle, sends each submission as one task, and writes every verified result
into the course: the gradebook, ``autograded/`` and ``grader/results/``. Workers
(:mod:`autograder.grading.remote`) grade with the same confinement, limits and verification as
``autograder grade`` on one machine, and share no file system with the client.

Faults, and why each is safe:

- **A worker lost mid-task** (its machine gone): the scheduler runs the task again on another
  worker. Grading a submission twice gives the same verified result, and the client records a
  submission only when its task completes, once.
- **A submission that keeps killing workers**: after the scheduler's ``allowed-failures``
  (``distributed.scheduler.allowed-failures``, 3 unless configured) it gives up on that task;
  the client records zero with the reason and goes on.
- **The scheduler lost or restarted**: the submissions recorded so far stay recorded; the
  client stops with :class:`~autograder.errors.ClusterError`, which says how many were graded.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from autograder.errors import ClusterError, GradingInterrupted, SandboxUnavailable
from autograder.grading import remote, submission
from autograder.grading.gradebook import record_grades
from autograder.grading.layout import CourseLayout
from autograder.grading.pool import Progress
from autograder.grading.results import SubmissionResult, TaskResult, write_result
from autograder.grading.sandbox import Limits
from autograder.grading.session import (
    DEFAULT_MEMORY_MB,
    default_timeout,
    read_secret,
    zero_verdicts,
)

# Submissions in flight at once: enough to keep a large cluster busy, few enough that the
# client and the scheduler never hold a whole class's notebooks.
IN_FLIGHT_PER_WORKER = 4
IN_FLIGHT_MIN = 16
CONNECT_SECONDS = 30
RELEASE_SECONDS = 10


def grade_on_cluster(course_dir: str | Path, assignment: str, scheduler: str, *,
                     timeout: float | None = None,
                     memory_mb: float | None = DEFAULT_MEMORY_MB,
                     students: Iterable[str] | None = None,
                     progress: IO[str] | None = sys.stderr, sandboxed: bool = True,
                     limits: Limits | None = None) -> list[SubmissionResult]:
    """Grade every submission of an assignment on a running Dask cluster.

    Args:
        course_dir: The nbgrader course directory (after ``nbgrader generate_assignment``).
        assignment: Assignment name.
        scheduler: The scheduler's address, such as ``tcp://10.0.0.5:8786``.
        timeout: Time limit per submission (as for local grading); None for the course's
            default.
        memory_mb: Kernel memory limit per submission in MB; None for none.
        students: Grade only these students (default: every submission).
        progress: Stream for the progress bar; None for silence.
        sandboxed: Confine kernels on the workers; False grades unconfined.
        limits: The kernels' limits.

    Returns:
        One result per student, sorted by student id.

    Raises:
        ManifestError: The assignment has no manifest.
        ClusterError: The scheduler cannot be reached, or was lost during the batch.
        SandboxUnavailable: A worker cannot confine kernels (the message names it).
        GradingInterrupted: Ctrl-C; the submissions recorded so far keep their grades.
    """
    from autograder.grading.manifest import load as load_manifest

    layout = CourseLayout(course_dir)
    manifest = load_manifest(layout.root, assignment)
    read_secret(layout)  # created now if missing, so that it travels in the bundle
    todo = sorted(students) if students is not None else layout.students(assignment)
    try:
        bundle = remote.pack_course(layout, assignment)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None
    options = {"sandboxed": sandboxed, "limits": (limits or Limits()).to_dict(),
               "timeout": timeout if timeout is not None else default_timeout(layout, assignment),
               "memory_mb": memory_mb}
    results: dict[str, SubmissionResult] = {}
    bar = Progress(len(todo), progress)
    with _connect(scheduler) as client:
        _warm_workers(client, options)
        try:
            # A folder holding links, devices, FIFOs or sockets is refused here, by name, as
            # local grading refuses it: packing would silently leave those entries out.
            sent = []
            for student in todo:
                found = submission.problems(layout.step("submitted", student, assignment))
                if found:
                    results[student] = _record(layout, manifest, student,
                                               _Refused(submission.refusal(found)))
                    bar.update(results[student])
                else:
                    sent.append(student)
            for student, outcome in _run_tasks(client, bundle, sent, options, layout):
                result = _record(layout, manifest, student, outcome)
                results[student] = result
                bar.update(result)
            # The workers drop their copy of the course (and its secret) now, and a warm
            # worker starts a fresh spare verifier for the next batch.
            with contextlib.suppress(Exception):
                client.run(remote.release, bundle.digest, on_error="ignore",
                           callback_timeout=RELEASE_SECONDS)
        except KeyboardInterrupt:
            raise GradingInterrupted(f"grading stopped: {len(results)} of {len(todo)} "
                                     "submissions were graded and recorded; run the command "
                                     "again for the rest.") from None
        except _SchedulerLost as exc:
            raise ClusterError(f"lost the Dask scheduler at {scheduler} ({exc}): "
                               f"{len(results)} of {len(todo)} submissions were graded and "
                               "recorded. Start the scheduler (and its workers) again and run "
                               "the command again: grading a submission again gives the same "
                               "result.") from None
    return [results[student] for student in todo]


class _SchedulerLost(Exception):
    """The client's connection to the scheduler ended, or the scheduler forgot the tasks."""


class _Refused(Exception):
    """A submission refused before it was sent: the message is the recorded reason."""


@contextlib.contextmanager
def _connect(scheduler: str) -> Iterator[Any]:
    from distributed import Client

    try:
        client = Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} ({exc}). Start "
                           "one with `dask scheduler` and workers with `dask worker "
                           "<address>`, then pass its address to --scheduler.") from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=10)


def _warm_workers(client: Any, options: dict[str, Any]) -> None:
    """Register the warm-up plugin (once per scheduler), so every worker, now or joining
    later, has imported and started what grading needs (see :mod:`autograder.grading.warm`).

    Raises:
        SandboxUnavailable: A worker cannot confine kernels (the message names the worker).
        ClusterError: A worker's warm-up failed; the message names the worker and the cause.
    """
    from autograder.grading.warm import PLUGIN_NAME, WarmGrading

    try:
        client.register_plugin(WarmGrading(sandboxed=options["sandboxed"],
                                           limits=options["limits"]))
    except Exception as exc:
        # The scheduler keeps a plugin that failed; forgetting it makes the next batch check
        # again, on every worker, instead of trusting a warm-up that never happened.
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(PLUGIN_NAME)
        if isinstance(exc, (SandboxUnavailable, ClusterError)):
            raise
        raise ClusterError(f"the Dask workers could not prepare for grading: "
                           f"{type(exc).__name__}: {exc}") from None


def _run_tasks(client: Any, bundle: remote.CourseBundle, todo: list[str],
               options: dict[str, Any], layout: CourseLayout
               ) -> Iterator[tuple[str, dict[str, Any] | BaseException]]:
    """Submit one task per student, a bounded number at a time; yield each outcome once."""
    from distributed import as_completed

    batch = uuid.uuid4().hex[:8]
    holder = client.submit(remote.bundle_task, bundle, key=f"course-{bundle.digest[:16]}-{batch}",
                           pure=False)
    pending = iter(todo)
    students: dict[Any, str] = {}

    def submit_next() -> Any | None:
        student = next(pending, None)
        if student is None:
            return None
        submission = remote.pack_folder(layout.step("submitted", student, bundle.assignment))
        future = client.submit(remote.grade_task, holder, student, submission, options,
                               key=f"grade-{bundle.assignment}-{student}-{batch}", pure=False)
        students[future] = student
        return future

    width = max(IN_FLIGHT_MIN, IN_FLIGHT_PER_WORKER * max(1, len(client.nthreads())))
    first = [future for future in (submit_next() for _ in range(width)) if future is not None]
    flow = as_completed(first, loop=client.loop)
    try:
        for future in flow:
            student = students.pop(future)
            yield student, _outcome(future)
            following = submit_next()
            if following is not None:
                flow.add(following)
    finally:
        for future in [*students, holder]:
            with contextlib.suppress(Exception):
                future.cancel()


def _outcome(future: Any) -> dict[str, Any] | BaseException:
    """A task's reply, or the exception that ended it; raise when the scheduler is gone."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    try:
        return future.result()
    except KilledWorker as exc:
        return exc
    except SandboxUnavailable:
        raise
    except (CancelledError, CommClosedError) as exc:
        # A scheduler that restarted has forgotten the task; one that is gone closed the comm.
        raise _SchedulerLost(type(exc).__name__) from None
    except Exception as exc:  # noqa: BLE001 - the task itself failed: recorded with it
        if future.status == "cancelled":
            raise _SchedulerLost("the task was cancelled") from None
        return exc


def _record(layout: CourseLayout, manifest: Any, student: str,
            outcome: dict[str, Any] | BaseException) -> SubmissionResult:
    """Write one submission's outcome into the course: gradebook, autograded folder, result."""
    from distributed import KilledWorker

    submitted = layout.step("submitted", student, manifest.assignment)
    timestamp = layout.coursedir.get_existing_timestamp(str(submitted))
    if isinstance(outcome, BaseException):
        if isinstance(outcome, KilledWorker):
            reason = ("lost: every worker that ran it died (the scheduler's "
                      "allowed-failures); it was not graded")
        elif isinstance(outcome, _Refused):
            reason = str(outcome)
        else:
            reason = f"grader error: {outcome!r}"[:300]
        verdicts = zero_verdicts(manifest, f"this submission could not be graded ({reason})")
        record_grades(layout.db_url, manifest.assignment, student, verdicts,
                      course=layout.course_id, read_kernel=False, timestamp=timestamp)
        result = SubmissionResult(student, reason)
        result.tasks = [TaskResult(**verdict.to_dict()) for verdict in verdicts]
    else:
        result = SubmissionResult.from_dict(outcome["result"])
        _replace_autograded(layout.step("autograded", student, manifest.assignment),
                            outcome.get("autograded"))
        record_grades(layout.db_url, manifest.assignment, student, result.tasks,
                      course=layout.course_id, read_kernel=False, timestamp=timestamp)
    write_result(layout.results(manifest.assignment), result)
    return result


def _replace_autograded(folder: Path, packed: bytes | None) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    if packed is not None:
        remote.unpack(packed, folder)
