"""What grows with the class? Prints one column of figures per class size.

Run with ``.venv/bin/python benchmarks/class_size.py`` (5,000 learners) or ``--learners 100 1000
5000`` to see the growth. Each size gets its own course in a temporary folder, built by
:mod:`class_course` (synthetic gradebook rows and results, no kernel runs). Measured on it:

- recording one verified result (:func:`~autograder.grading.gradebook.record_grades`, what
  ``autograder grade`` calls once per submission): the median of several learners, for a
  learner already in the gradebook and for a new one, and the SQL statements it issues; it must
  not grow with the class (target under 20 ms at 5,000 learners);
- the batch summary ``autograder grade`` prints, from every learner's result;
- ``autograder report`` (target under 30 s at 5,000 learners), in process (reading the
  gradebook and results) and as the whole command; its similarity section needs submitted
  notebooks, which this course does not have (``benchmarks/similarity_speed.py`` measures it);
- ``autograder export --to canvas``, ``--to moodle`` and ``--to csv``, each the whole command;
- the formgrader: nbgrader's server extension started in a real Jupyter server on 127.0.0.1,
  and the requests its "Manage Submissions" page makes (the page, then
  ``/formgrader/api/submissions/<assignment>``) and the students list.

Each time is printed as wall time and, in brackets, CPU time (of this process, of the command,
or of the Jupyter server while it answered): on a machine shared with other work the wall time is
the CPU time stretched by the load. The SQL statement counts show growth exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import class_course

BIN = Path(sys.executable).parent
RECORD_SAMPLE = 15
REQUEST_REPEATS = 3


@contextlib.contextmanager
def counted_statements() -> Iterator[list[str]]:
    """Count the SQL statements every SQLAlchemy engine of this process runs meanwhile.

    Yields:
        The list the statements are appended to.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, float, int]:
    """Run ``call(*args, **kwargs)`` once.

    Args:
        call: What to time.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        Seconds of wall time, seconds of CPU time, and the SQL statements it issued.
    """
    with counted_statements() as statements:
        start, cpu = time.perf_counter(), time.process_time()
        call(*args, **kwargs)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, len(statements)


def measure_recording(course: class_course.ClassCourse) -> dict[str, str]:
    """Time recording one verified result, for learners in the gradebook and new ones."""
    from autograder.grading.gradebook import record_grades
    from autograder.grading.layout import CourseLayout
    from autograder.grading.manifest import load

    layout = CourseLayout(course.root)
    manifest = load(course.root, course.assignment)
    rng = random.Random(1)
    step = max(1, len(course.submitted) // RECORD_SAMPLE)
    known, fresh = [], []
    # The process's first call checks the gradebook's schema, once: not what each result costs.
    record_grades(layout.db_url, course.assignment, course.submitted[-1],
                  class_course.synthetic_verdicts(manifest, rng), course=layout.course_id)
    for student in course.submitted[::step][:RECORD_SAMPLE]:
        verdicts = class_course.synthetic_verdicts(manifest, rng)
        known.append(timed(record_grades, layout.db_url, course.assignment, student, verdicts,
                           course=layout.course_id))
    for index in range(5):
        verdicts = class_course.synthetic_verdicts(manifest, rng)
        fresh.append(timed(record_grades, layout.db_url, course.assignment, f"newcomer{index}",
                           verdicts, course=layout.course_id))
    return {
        "record one result (ms, median)": _median_ms(known),
        "record one result (SQL statements)": str(max(count for *_, count in known)),
        "record a new learner's result (ms, median)": _median_ms(fresh),
        "record a new learner (SQL statements)": str(max(count for *_, count in fresh)),
    }


def measure_summary(course: class_course.ClassCourse) -> dict[str, str]:
    """Time the batch summary: every result read and printed, as ``autograder grade`` ends."""
    from autograder.grading.pool import print_summary
    from autograder.grading.results import SubmissionResult, load_results

    lines: list[str] = []

    def summary() -> None:
        results = [SubmissionResult.from_dict(data)
                   for data in load_results(course.root, course.assignment)]
        print_summary(results, lines.append)

    seconds, cpu, _ = timed(summary)
    return {"summary of the batch (s)": _pair(seconds, cpu)}


def measure_report(course: class_course.ClassCourse, out: Path) -> dict[str, str]:
    """Time the report's data in process and ``autograder report`` as a command."""
    from autograder.grading.report import collect

    seconds, cpu, statements = timed(collect, course.root, course.assignment)
    command = [str(BIN / "autograder"), "report", str(course.root), course.assignment,
               "--out", str(out)]
    return {"report: gradebook and results (s)": _pair(seconds, cpu),
            "report: SQL statements": str(statements),
            "autograder report (s)": _pair(*_run(command))}


def measure_exports(course: class_course.ClassCourse, out: Path) -> dict[str, str]:
    """Time ``autograder export`` to each target as a command."""
    figures = {}
    for target, roster in (("canvas", ["--roster", str(course.canvas)]),
                           ("moodle", ["--roster", str(course.moodle), "--moodle-id",
                                       "Username"]),
                           ("csv", [])):
        command = [str(BIN / "autograder"), "export", str(course.root), "--to", target,
                   *roster, "--output", str(out / f"{target}.csv")]
        figures[f"autograder export --to {target} (s)"] = _pair(*_run(command))
    return figures


def measure_formgrader(course: class_course.ClassCourse, runtime: Path) -> dict[str, str]:
    """Start the formgrader on the course and time the requests of its submissions page."""
    port, token = _free_port(), secrets.token_hex(16)
    command = [str(BIN / "jupyter"), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", f"--ServerApp.root_dir={course.root}",
               f"--IdentityProvider.token={token}",
               "--ServerApp.jpserver_extensions="
               "{'nbgrader.server_extensions.formgrader': True}"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # a container's root user; Jupyter refuses it otherwise
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "PATH":
           f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(runtime / "server.log", "wb")  # noqa: SIM115 - closed below, with the server
    server = subprocess.Popen(command, cwd=course.root, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait_for(f"{base}/api/status", token, server)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log ends:\n"
                               f"{(runtime / 'server.log').read_text()[-3000:]}") from None
        figures = {}
        for label, path in (
                ("formgrader: manage submissions page (s)",
                 f"/formgrader/manage_submissions/{course.assignment}"),
                ("formgrader: api/submissions (s)",
                 f"/formgrader/api/submissions/{course.assignment}"),
                ("formgrader: api/students (s)", "/formgrader/api/students")):
            times: list[tuple[float, float]] = []
            # A few samples, fewer when one request takes long (nbgrader's own queries).
            while len(times) < REQUEST_REPEATS and sum(wall for wall, _ in times) < 30:
                start, cpu = time.perf_counter(), _cpu_of(server.pid)
                _get(base + path, token)
                times.append((time.perf_counter() - start, _cpu_of(server.pid) - cpu))
            figures[label] = _pair(statistics.median(wall for wall, _ in times),
                                   statistics.median(cpu for _, cpu in times))
        return figures
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _get(url: str, token: str, timeout: float = 600.0) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - localhost
        return response.read()


def _wait_for(url: str, token: str, server: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with status {server.returncode}")
        try:
            _get(url, token, timeout=5.0)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the Jupyter server did not answer within {limit:.0f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_of(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    return seconds, cpu


def _pair(wall: float, cpu: float) -> str:
    return f"{wall:.2f} ({cpu:.2f})"


def _median_ms(samples: list[tuple[float, float, int]]) -> str:
    return (f"{1000 * statistics.median(wall for wall, _, _ in samples):.1f} "
            f"({1000 * statistics.median(cpu for _, cpu, _ in samples):.1f})")


def measure(learners: int, assignment: str, formgrader: bool) -> dict[str, str]:
    """Build a course of ``learners`` learners and take every figure on it.

    Args:
        learners: Number of learners.
        assignment: The assignment measured.
        formgrader: Whether to start the formgrader too.

    Returns:
        Figure name -> value, as printed.
    """
    with tempfile.TemporaryDirectory(prefix="class-size-") as temp:
        folder = Path(temp)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            course = class_course.build(folder, learners, assignment)
        figures = {"build the course (s)": f"{time.perf_counter() - start:.1f}",
                   "submissions of the assignment": str(len(course.submitted))}
        figures.update(measure_recording(course))
        figures.update(measure_summary(course))
        (folder / "out").mkdir()
        figures.update(measure_report(course, folder / "out"))
        figures.update(measure_exports(course, folder / "out"))
        if formgrader:
            (folder / "runtime").mkdir()
            figures.update(measure_formgrader(course, folder / "runtime"))
        return figures


def print_table(columns: dict[int, dict[str, str]]) -> None:
    """Print one row per figure and one column per class size.

    Args:
        columns: Learners -> that size's figures.
    """
    names = list(next(iter(columns.values())))
    width = max(len(name) for name in names)
    print(f"{'learners':<{width}}" + "".join(f"{size:>16}" for size in columns))
    for name in names:
        print(f"{name:<{width}}" + "".join(f"{figures.get(name, '-'):>16}"
                                          for figures in columns.values()))


def main(argv: list[str] | None = None) -> None:
    """Measure every class size asked for and print the table.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[5000],
                        help="class sizes to measure (default 5000)")
    parser.add_argument("--assignment", default="a1_shapes_and_compile",
                        help="the assignment measured (default a1_shapes_and_compile)")
    parser.add_argument("--no-formgrader", action="store_true",
                        help="do not start the formgrader")
    args = parser.parse_args(argv)
    columns = {}
    for learners in args.learners:
        columns[learners] = measure(learners, args.assignment, not args.no_formgrader)
        print(f"measured {learners} learners", file=sys.stderr)
    print_table(columns)


if __name__ == "__main__":
    main()
