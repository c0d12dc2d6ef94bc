"""One grading worker: runs nbgrader's autograde for one submission at a time.

A worker (``python -m autograder.grading --serve``) runs nbgrader's own autograde through its
Python API, so sanitising, restoring locked and grade cells from the gradebook, execution and
``SaveAutoGrades`` behave exactly as ``nbgrader autograde``. Starting nbgrader costs about 3 s of
imports, paid once per worker, not per student. Its kernels start through
:class:`~autograder.grading.provisioner.GradingProvisioner`, forked from the worker's confined
preloader; their exports land in the folder the grader named for that student. The worker
neither verifies nor writes verified scores: the grader does both, after the kernels are gone.

Protocol: one JSON line per request on stdin (``{"student", "exports"}``), one JSON reply per
line on a private copy of stdout (``{"student", "reason", "notes", "log"}``), plus
``{"preloader": pid}`` whenever a preloader is ready (its memory is the grader's, not the
submission's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder.grading.layout import CourseLayout
from autograder.grading.sandbox import Limits

# Longest text kept per output of an autograded notebook: nbgrader's LimitOutput counts lines,
# so one line of many megabytes would otherwise reach the feedback HTML.
MAX_OUTPUT_CHARS = 64_000
KERNEL_MANAGER = "autograder.grading.provisioner.GradingKernelManager"
# How long the worker waits for its preloader's imports before it takes requests.
STARTUP_SECONDS = 300.0
_PARENT_POLL_SECONDS = 1.0


def serve(course_dir: Path, assignment: str, db_url: str, staging: Path, *, confined: bool,
          limits: Limits) -> int:
    """Worker loop: read one JSON request per line, grade, reply one JSON line.

    The reply channel is a private copy of stdout; descriptors 0 and 1 are pointed away so
    nothing the worker starts can read requests or write replies.

    Args:
        course_dir: The course directory.
        assignment: Assignment name.
        db_url: Gradebook URL.
        staging: This worker's staging folder (created by the grader).
        confined: Confine the kernels.
        limits: The kernels' limits.

    Returns:
        The exit status.
    """
    from autograder.grading import provisioner
    from autograder.grading.preload import Preloader

    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr

    def say(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    threading.Thread(target=_end_with_parent, args=(os.getppid(),), daemon=True).start()
    preloader = Preloader("kernels", confined=confined, limits=limits, writable=[staging],
                          on_start=lambda pid: say({"preloader": pid}))
    preloader.start()
    provisioner.use(preloader, staging, confined=confined)
    layout = CourseLayout(course_dir)
    api = _nbgrader_api(layout, db_url)
    # The grader starts a submission's clock only after this: start-up is the grader's time.
    say({"ready": preloader.alive(wait=STARTUP_SECONDS)})
    for line in requests:
        request = json.loads(line)
        try:
            reply = grade_one(api, layout, assignment, request["student"],
                              Path(request["exports"]))
        except Exception as exc:  # noqa: BLE001 - one learner's folder must not stop the batch
            reply = {"student": request["student"], "reason": f"grader error: {exc!r}"[:300],
                     "notes": []}
        say(reply)
    preloader.stop()
    return 0


def _end_with_parent(parent: int) -> None:
    """Kill this worker and everything below it once the grader that started it is gone.

    A grader killed outright (or a cluster worker whose machine is lost) never closes the
    worker's requests, and a worker busy with a submission would not notice until it is done.
    """
    from autograder.grading.watch import kill_tree

    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    kill_tree(os.getpid())


def _nbgrader_api(layout: CourseLayout, db_url: str) -> Any:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = layout.nbgrader_config
    config.CourseDirectory.root = str(layout.root)
    config.CourseDirectory.db_url = db_url
    # Put back grade cells a learner deleted, so their tests (and exports) still run.
    config.OverwriteCells.add_missing_cells = True
    config.Execute.kernel_manager_class = KERNEL_MANAGER
    # A forked kernel starts in milliseconds; nbclient's defaults (60 s to start, an IOPub wait
    # of 4 s that raises) are only ever hit on a loaded machine, and then fail the whole
    # notebook: a grade must not depend on how busy the machine is.
    config.Execute.startup_timeout = STARTUP_SECONDS
    config.Execute.iopub_timeout = 60
    # nbgrader's copy of a submission follows links: refuse any before it (as the config does).
    from autograder.grading.submission import guard_autograde

    guard_autograde()
    # The course's sanitising (no hidden judgement in learners' kernels); this session verifies
    # in its own confined verifier, so the converter does not.
    from autograder.grading.nbgrader_verify import configure_autograde

    configure_autograde(config, verify=False)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def grade_one(api: Any, layout: CourseLayout, assignment: str, student: str,
              exports: Path) -> dict[str, Any]:
    """Autograde one submission; its kernels export into ``exports``.

    Args:
        api: nbgrader's API for the course.
        layout: The course layout.
        assignment: Assignment name.
        student: Student id.
        exports: The folder the grader created for this submission's exports.

    Returns:
        The reply: ``student``, ``reason`` (None when autograde succeeded) and ``notes``.
    """
    from autograder.grading.autograde import autograde, edit_notes
    from autograder.grading.learners import file_stem
    from autograder.grading.provisioner import EXPORT_ENV

    os.environ[EXPORT_ENV] = str(exports)
    try:
        # Exactly this learner's folder, whatever characters the id holds (not nbgrader's glob).
        outcome = autograde(api, assignment, student)
    finally:
        os.environ.pop(EXPORT_ENV, None)
    log = str(outcome.get("log") or "") + str(outcome.get("error") or "")
    log_path = layout.logs(assignment) / f"{file_stem(student)}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(log[-200_000:], encoding="utf-8")
    reason = None if outcome.get("success") else failure_reason(log)
    # The edits nbgrader undid (raised points, deleted grade cells ...) are noted too.
    notes = tidy_autograded(layout, assignment, student) + edit_notes(log)
    return {"student": student, "reason": reason, "notes": notes}


def failure_reason(log: str) -> str:
    """Name why nbgrader's autograde failed, from its log.

    Args:
        log: nbgrader's log of the run.

    Returns:
        ``refused: ...``, ``kernel died``, ``kernel unresponsive``, ``timeout`` or
        ``crashed``.
    """
    from autograder.grading.submission import REFUSED

    for line in log.splitlines():
        # nbgrader's converter refused the folder (see autograder.grading.submission).
        if REFUSED in line:
            return line[line.index(REFUSED):][:500]
    if "DeadKernelError" in log or "Kernel died" in log:
        return "kernel died"
    if "UnresponsiveKernelError" in log:
        return "kernel unresponsive"
    # A cell past the cell time limit that ignored its interrupt: nbclient gives up on the
    # notebook. The grader's own limit (CPU time) stops such a cell first on an idle machine,
    # nbclient's (wall time) on a busy one; either way the submission ran out of time.
    if "CellTimeoutError" in log or "Timeout waiting for" in log:
        return "timeout"
    return "crashed"


def tidy_autograded(layout: CourseLayout, assignment: str, student: str) -> list[str]:
    """Cap huge outputs in the autograded notebooks and note timeouts and exits.

    Args:
        layout: The course layout.
        assignment: Assignment name.
        student: Student id.

    Returns:
        Notes for the result, sorted.
    """
    import nbformat

    from autograder.grading.autograde import DROPPED_MARK

    notes: set[str] = set()
    folder = layout.step("autograded", student, assignment)
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    if output.get("ename") == "CellTimeoutError":
                        notes.add("a cell ran past the cell time limit and was interrupted")
                    elif output.get("ename") == "SystemExit":
                        notes.add("the notebook called sys.exit")
                text = output.get("text")
                if isinstance(text, str) and DROPPED_MARK in text:
                    notes.add("output beyond the grader's limit was dropped")
                if isinstance(text, str) and len(text) > MAX_OUTPUT_CHARS:
                    output["text"] = text[:MAX_OUTPUT_CHARS] + "\n... output truncated ...\n"
                    changed = True
                    notes.add("output longer than the limit was truncated")
        if changed:
            nbformat.write(notebook, path)
    return sorted(notes)


def main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m autograder.grading --serve``.

    Args:
        argv: Command-line arguments after the program name.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m autograder.grading")
    parser.add_argument("--serve", action="store_true", required=True)
    parser.add_argument("course_dir", type=Path)
    parser.add_argument("assignment")
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--staging", type=Path, required=True)
    parser.add_argument("--limits", type=json.loads, default={})
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    return serve(args.course_dir.resolve(), args.assignment, args.db_url, args.staging,
                 confined=not args.no_sandbox, limits=Limits(**args.limits))
