"""What a batch shares, on one machine or on each cluster worker: inputs read once, the run
folder, the confined verifier, and the steps that grade, verify and record one submission.

:func:`autograder.grading.pool.grade` drives a session from threads on this machine;
:mod:`autograder.grading.remote` keeps one per Dask worker process, so that a cluster grades
each submission with the same confinement, limits and verification as local grading.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from autograder.errors import SandboxUnavailable
from autograder.grading import feedback, sandbox, staging, submission
from autograder.grading.gradebook import record_grades
from autograder.grading.layout import CourseLayout
from autograder.grading.learners import file_stem
from autograder.grading.logcap import CappedLog
from autograder.grading.preload import Preloader
from autograder.grading.results import SubmissionResult, TaskResult, write_result
from autograder.grading.sandbox import Limits
from autograder.grading.watch import WorkerProcess, over_memory

# Used when the course has no measured reference time (built before timing, or --skip-timing).
DEFAULT_TIMEOUT = 600.0
# The default limit is this many times the reference solution's run time, and at least the floor.
TIMEOUT_FACTOR = 5.0
TIMEOUT_FLOOR = 120.0
DEFAULT_MEMORY_MB = 4096
# Longer than an evaluator's own wall-time budget (evaluate.TOTAL_SECONDS x WALL_FACTOR), so a
# model that stalls in its evaluator costs only its own tasks.
VERIFY_TIMEOUT = 420.0


def default_timeout(layout: CourseLayout, assignment: str) -> float:
    """The wall-time limit per submission: a multiple of the reference run time, with a floor.

    Args:
        layout: The course layout.
        assignment: Assignment name.

    Returns:
        Seconds; :data:`DEFAULT_TIMEOUT` when build-course measured no reference time.
    """
    path = layout.grader(f"{assignment}.timing.json")
    try:
        seconds = float(json.loads(path.read_text(encoding="utf-8"))["reference_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_TIMEOUT
    return max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * seconds)


def read_secret(layout: CourseLayout) -> str:
    """Read the course secret, creating it for a course built before it existed.

    Args:
        layout: The course layout.

    Returns:
        The secret from which grader-only rows are derived.
    """
    from autograder.holdout import new_secret

    path = layout.secret
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_secret() + "\n")
    return path.read_text(encoding="utf-8").strip()


def check_sandbox(sandboxed: bool) -> None:
    """Stop before any learner code runs when confinement was asked for and is impossible.

    Args:
        sandboxed: Whether the kernels are to be confined.

    Raises:
        SandboxUnavailable: This machine cannot confine kernels; the message says why.
    """
    if sandboxed and (problem := sandbox.probe()) is not None:
        raise SandboxUnavailable(f"kernels cannot be confined on this machine: {problem} "
                                 "Pass --no-sandbox to grade unconfined (not safe against "
                                 "learners' code).")


@dataclass
class PreparedRun:
    """A batch's run folder and its verifier, started before the batch's inputs are known.

    Nothing in it depends on the course: the verifier holds no grader data until a session
    warms it with the course secret, so it can be started ahead, when a Dask worker starts
    (:mod:`autograder.grading.warm`), and adopted by the first session that matches it.

    Attributes:
        run: The run folder (private, under the stage root).
        exports_root: Where submissions' exports go; the only folder the verifier reads.
        verifier: The verifier, started (its preloader may still be importing).
        log: The verifier's log, open for appending.
        confined: Whether the verifier is confined.
        limits: The limits of its forks.
    """

    run: Path
    exports_root: Path
    verifier: _Verifier
    log: IO[bytes]
    confined: bool
    limits: Limits

    def close(self) -> None:
        """Stop the verifier and delete the run folder."""
        try:
            self.verifier.stop()
        finally:
            self.log.close()
            staging.remove(self.run)


def prepare_run(*, confined: bool, limits: Limits, log_path: Path | None = None
                ) -> PreparedRun:
    """Check confinement, make a run folder and start its verifier (which imports meanwhile).

    Args:
        confined: Confine the verifier (and so the batch's kernels: the check is the same).
        limits: The limits of the verifier's forks.
        log_path: The verifier's log; ``verifier.log`` in the run folder when None.

    Returns:
        The prepared run.

    Raises:
        SandboxUnavailable: ``confined`` and this machine cannot confine kernels.
        UsageError: The stage root is too deep for a kernel's sockets.
        OSError: No stage root can be written.
    """
    check_sandbox(confined)
    staging.check_socket_room(staging.stage_root())
    run = staging.new_folder(None, staging.RUN_PREFIX)
    try:
        exports_root = run / "exports"
        exports_root.mkdir()
        sandbox.own_for_sandbox(exports_root)
        log = open(log_path or run / "verifier.log", "ab")  # noqa: SIM115 - closed by close()
    except BaseException:
        staging.remove(run)
        raise
    verifier = _Verifier(exports_root, confined=confined, limits=limits, memory_bytes=None,
                         log=log)
    return PreparedRun(run, exports_root, verifier, log, confined, limits)


class _Verifier:
    """The grader's own confined verifier, shared by every worker of a batch."""

    def __init__(self, exports_root: Path, *, confined: bool, limits: Limits,
                 memory_bytes: int | None, log: IO[bytes]):
        self.memory_bytes = memory_bytes
        self.preloader = Preloader("verify", confined=confined, limits=limits,
                                   readable=[exports_root] if confined else [], stderr=log)
        self.preloader.start()

    def warm(self, manifest: Any, secret: str) -> None:
        """Derive the grader-only rows the manifest refers to, in the verifier, once."""
        datasets = sorted(set(re.findall(r"@holdout:([A-Za-z_]+)",
                                         json.dumps(manifest.to_dict()))))
        self.preloader.warm(datasets, secret)

    def verify(self, manifest: Any, secret: str, exports: Path) -> list[Any] | None:
        from autograder.grading.verify import Verdict

        job = {"manifest": manifest.to_dict(), "secret": secret, "exports": str(exports),
               "memory_bytes": self.memory_bytes}
        found = self.preloader.verify(job, VERIFY_TIMEOUT, watch=self._within_memory)
        return None if found is None else [Verdict(**verdict) for verdict in found]

    def _within_memory(self, pid: int) -> bool:
        return self.memory_bytes is None or not over_memory([pid], self.memory_bytes)

    def stop(self) -> None:
        self.preloader.stop()


@dataclass
class Graded:
    """A submission its worker is done with, waiting to be verified and recorded."""

    student: str
    reply: dict[str, Any]
    exports: Path
    started: float
    peak_kernel: int
    peak_worker: int
    confined: bool


class GradingSession:
    """One assignment's grading inputs, read once before any learner code runs, and the confined
    verifier that judges every submission of the batch.

    Args:
        layout: The course layout.
        assignment: Assignment name.
        sandboxed: Confine kernels and verification.
        limits: The kernels' limits; the defaults when None.
        timeout: Time limit per submission; :func:`default_timeout` when None.
        memory_mb: Kernel memory limit per submission in MB; None for none.
        prepared: A run started ahead with the same ``sandboxed`` and ``limits``
            (:func:`prepare_run`); the session owns it from now on. None starts one.

    Raises:
        ManifestError: The assignment has no manifest.
        SandboxUnavailable: ``sandboxed`` and this machine cannot confine kernels.
        ValueError: ``prepared`` was started with other settings.
    """

    def __init__(self, layout: CourseLayout, assignment: str, *, sandboxed: bool = True,
                 limits: Limits | None = None, timeout: float | None = None,
                 memory_mb: float | None = DEFAULT_MEMORY_MB,
                 prepared: PreparedRun | None = None):
        from autograder.grading.manifest import load as load_manifest

        self.layout = layout
        self.manifest = load_manifest(layout.root, assignment)
        self.secret = read_secret(layout)
        self.confined = sandboxed
        self.limits = limits or Limits()
        self.timeout = timeout if timeout is not None else default_timeout(layout, assignment)
        self.memory = int(memory_mb * 2**20) if memory_mb else None
        self.logs = layout.logs(assignment)
        self.logs.mkdir(parents=True, exist_ok=True)
        if prepared is None:
            prepared = prepare_run(confined=sandboxed, limits=self.limits,
                                   log_path=self.logs / "verifier.log")
        elif (prepared.confined, prepared.limits) != (sandboxed, self.limits):
            raise ValueError("the prepared run was started with other confinement or limits")
        self.prepared = prepared
        self.run, self.exports_root = prepared.run, prepared.exports_root
        self.verifier = prepared.verifier
        self.verifier.memory_bytes = self.memory
        # In a thread: workers start meanwhile, and the first verification waits for it.
        threading.Thread(target=self.verifier.warm, args=(self.manifest, self.secret),
                         daemon=True).start()

    @property
    def assignment(self) -> str:
        """The assignment graded."""
        return self.manifest.assignment

    @contextlib.contextmanager
    def worker(self, index: int, threads: dict[str, str]) -> Iterator[WorkerProcess]:
        """A grading worker with a staging folder and a log of its own, closed afterwards.

        Args:
            index: Names its folder and log.
            threads: The thread settings its kernels get (:func:`watch.thread_env`).

        Yields:
            The worker (started on its first request).
        """
        folder = staging.new_folder(self.run, f"w{index}-")
        with open(self.logs / f"worker-{index}.log", "ab") as log:
            # Through a capped pipe: the worker's kernels inherit its stderr (see logcap).
            capped = CappedLog(log)
            worker = WorkerProcess(self.layout, self.assignment, folder, capped,  # type: ignore[arg-type]
                                   confined=self.confined, limits=self.limits, threads=threads)
            try:
                yield worker
            finally:
                try:
                    worker.close()
                finally:
                    capped.close()

    def run_submission(self, worker: WorkerProcess, student: str,
                       stopping: threading.Event) -> Graded:
        """Autograde one submission on a worker; collect its exports even when it was stopped.

        Args:
            worker: The worker.
            student: Student id.
            stopping: Set when the batch is being stopped.

        Returns:
            What the worker replied, and where the exports are.
        """
        started = time.monotonic()
        # A stem, not the id: an id can be 255 bytes, or hidden, or look like an option.
        exports = staging.new_folder(self.exports_root, f"{file_stem(student)}-")
        # A link, device, FIFO or socket in the folder refuses the whole submission before any
        # grading process reads it (see autograder.grading.submission).
        found = submission.problems(self.layout.step("submitted", student, self.assignment))
        if found:
            staging.remove(self.layout.step("autograded", student, self.assignment))
            return Graded(student, {"reason": submission.refusal(found), "notes": []}, exports,
                          started, 0, 0, self.confined)
        try:
            reply, reason, peak_kernel, peak_worker = worker.request(
                {"student": student, "exports": str(exports)}, self.timeout, self.memory,
                stopping)
        except Exception as exc:  # noqa: BLE001 - the batch must always complete
            worker.stop()
            reply, reason, peak_kernel, peak_worker = None, f"grader error: {exc!r}"[:300], 0, 0
        if reply is None:
            if reason != "interrupted":
                # The kernel (or the worker) was stopped: verify what it exported before that.
                worker.salvage(exports)
            reply = {"reason": reason, "notes": []}
        return Graded(student, reply, exports, started, peak_kernel, peak_worker, self.confined)

    def finish(self, graded: Graded) -> SubmissionResult:
        """Verify a graded submission, record its verified scores and write its result.

        Never raises: a failure of the grader itself becomes the submission's reason.

        Args:
            graded: What :meth:`run_submission` returned.

        Returns:
            The submission's result.
        """
        try:
            result = self._verify_and_record(graded)
        except Exception as exc:  # noqa: BLE001 - the batch must always complete
            result = SubmissionResult(graded.student, f"grader error: {exc!r}"[:300],
                                      confined=self.confined)
        write_result(self.layout.results(self.assignment), result)
        return result

    def _verify_and_record(self, graded: Graded) -> SubmissionResult:
        reply = graded.reply
        try:
            notes = list(reply.get("notes") or [])
            notes += [f"export refused: {refusal}"
                      for refusal in staging.refusals(graded.exports)]
            refused = str(reply.get("reason") or "").startswith(submission.REFUSED)
            verdicts = (zero_verdicts(self.manifest, str(reply["reason"])) if refused
                        else self.verifier.verify(self.manifest, self.secret, graded.exports))
            if verdicts is None:
                verdicts = zero_verdicts(self.manifest, "the grader could not verify this "
                                         "submission (the verification crashed, overran or "
                                         "used too much memory)")
                notes.append("verification failed")
            kernel = record_grades(self.layout.db_url, self.assignment, graded.student,
                                   verdicts, course=self.layout.course_id,
                                   read_kernel=reply.get("reason") is None)
        finally:
            staging.remove(graded.exports)
        # The learner's feedback shows the grader's verdict on every grade cell, not the kernel's.
        autograded = self.layout.step("autograded", graded.student, self.assignment)
        for name in sorted({verdict.notebook for verdict in verdicts}):
            feedback.rewrite_autograded(autograded / f"{name}.ipynb", name, verdicts)
        # Grader-only rows of public data scored far above the learner's own test split.
        notes += [f"{verdict.grade_id}: {verdict.flag}" for verdict in verdicts if verdict.flag]
        result = SubmissionResult(graded.student, reply.get("reason"), notes,
                                  time.monotonic() - graded.started, graded.peak_kernel / 2**20,
                                  graded.peak_worker / 2**20, confined=graded.confined)
        for verdict in verdicts:
            key = f"{verdict.notebook}/{verdict.grade_id}"
            result.tasks.append(TaskResult(**verdict.to_dict(), kernel_score=kernel.get(key)))
        return result

    def close(self) -> None:
        """Stop the verifier and delete the run folder."""
        self.prepared.close()


def zero_verdicts(manifest: Any, message: str) -> list[Any]:
    """A zero verdict on every task, saying why.

    Args:
        manifest: The assignment's manifest.
        message: What the learner reads on each task.

    Returns:
        One verdict per task.
    """
    from autograder.grading.verify import Verdict

    return [Verdict(task.notebook, task.grade_id, task.name, task.points, 0.0, "error", message)
            for task in manifest.tasks]
