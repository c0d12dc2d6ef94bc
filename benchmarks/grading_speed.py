"""How fast is ``autograder grade`` compared with nbgrader's serial loop and bare execution?

Builds the small test course (a shape answer, a multiple-choice answer and a digits model) with
``--submissions`` reference submissions, then times on the same submissions:

1. bare execution of every submitted notebook with nbclient, one after the other;
2. serial ``nbgrader autograde ASSIGNMENT --force`` (every student, one process, unconfined);
3. ``autograder grade --workers N`` for N = 1, 2, 4, confined;
4. ``autograder grade --workers 1 --no-sandbox``, for the confinement's own cost;
5. ``autograder grade --scheduler ADDRESS`` on a real Dask cluster on 127.0.0.1 (``dask
   scheduler`` and ``dask worker`` processes, started before the clock runs), with 1 and 2
   one-thread workers and with one two-thread worker (``--dask`` picks the shapes); with
   ``--warm``, also on workers started with ``--preload autograder.grading.warm``, which join
   the scheduler only once they have imported what grading needs.

Prints wall times, the ratio grade(--workers 2) / serial nbgrader (target <= 0.30 on 2 cores),
the per-submission overhead grade(--workers 1) / bare (target <= 1.2), the confinement's cost per
submission in seconds, the Dask overhead over the local pool with as many slots (target <= 10 %),
how the cluster's wall time falls with its workers, and the peak memory of a worker and of its
kernels. Timings depend on the
machine and its load; nothing is asserted but that every reference scored full marks.

With ``--repeat N`` every figure is the median of N runs, printed with the spread (lowest and
highest), so that one run disturbed by other work on the machine does not decide a ratio. The
Dask runs and the local runs they are compared with take turns (one of each per round), so a
burst of other work on the machine falls on both sides of a ratio alike. Bare execution and
``--no-sandbox`` run only when ``--workers`` includes 1 (the figures that use them).

Usage: ``.venv/bin/python benchmarks/grading_speed.py [--submissions 12] [--repeat 3]
[--stock-repeat N] [--workers 1 2 4] [--dask 1x1 2x1 1x2] [--warm] [--no-dask] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _grading_course as course_kit  # noqa: E402 - the test course, shared with the tests

from autograder.grading import load_results  # noqa: E402


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy, over all cores.

    The processes of a grading run are not all children this process waits for (kernels forked
    by a preloader are reaped by it, and it is killed with its worker), so their CPU time is
    read off the machine instead; other work on the machine adds to it.
    """
    import psutil

    times = psutil.cpu_times()
    # Not idle, iowait or steal (time the hypervisor gave to other machines); guest time is
    # already part of user time.
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


REPEAT = 1
Run = tuple[str, Callable[..., float], tuple[object, ...]]


def timed(label: str, action: Callable[..., float], *args: object) -> float:
    """Run ``action(*args)`` :data:`REPEAT` times; print the median wall time, its spread and the
    median CPU time it cost; return the median wall time.

    CPU seconds do not depend on how busy the cores were kept: on an idle machine with C cores,
    work that keeps every core busy takes about CPU / C of wall time.
    """
    return rounds([(label, action, args)])[label]


def rounds(runs: list[Run], after_each: Callable[[], object] | None = None) -> dict[str, float]:
    """Run every ``(label, action, args)`` once per round, :data:`REPEAT` rounds; print each
    label's median wall time, spread and median CPU time as :func:`timed` does.

    Args:
        runs: What to time, in the order each round runs them.
        after_each: Called after every run (a check of the results).

    Returns:
        Each label's median wall time.
    """
    walls: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    cpus: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    for _ in range(REPEAT):
        for label, action, args in runs:
            cpu = machine_cpu()
            walls[label].append(action(*args))
            cpus[label].append(machine_cpu() - cpu)
            if after_each is not None:
                after_each()
    medians = {}
    for label, _, _ in runs:
        wall = medians[label] = statistics.median(walls[label])
        spread = (f"  ({min(walls[label]):.1f}-{max(walls[label]):.1f} s over {REPEAT} runs)"
                  if REPEAT > 1 else "")
        print(f"{label:<40}{wall:7.1f} s wall  {statistics.median(cpus[label]):7.1f} s CPU"
              f"{spread}  [load {os.getloadavg()[0]:.1f}]")
    return medians


def bare_execution(course: Path, students: list[str]) -> float:
    """Execute every submitted notebook with nbclient, serially; return the wall time."""
    import nbformat
    from nbclient import NotebookClient

    started = time.monotonic()
    for student in students:
        folder = course / "submitted" / student / course_kit.ASSIGNMENT
        notebook = nbformat.read(folder / f"{course_kit.NOTEBOOK}.ipynb", as_version=4)
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    return time.monotonic() - started


def serial_nbgrader(course: Path) -> float:
    """Run ``nbgrader autograde`` for every student in one process; return the wall time."""
    started = time.monotonic()
    course_kit.nbgrader(course, "autograde", course_kit.ASSIGNMENT, "--force")
    return time.monotonic() - started


def autograder_grade(course: Path, workers: int, *extra: str) -> float:
    """Run ``autograder grade --workers N [extra]``; return the wall time."""
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).parent / "autograder"), "grade", str(course),
                    course_kit.ASSIGNMENT, "--workers", str(workers), *extra], check=True,
                   capture_output=True, env=course_kit.course_env())
    return time.monotonic() - started


def cluster_grade(course: Path, folder: Path, workers: int, threads: int,
                  preload: str | None = None) -> float:
    """Start a Dask cluster (its workers with ``--preload``, when given), then time
    ``autograder grade --scheduler``; return the wall time."""
    from _dask_cluster import running

    shutil.rmtree(folder, ignore_errors=True)
    with running(folder, workers, threads=threads, preload=preload) as cluster:
        started = time.monotonic()
        subprocess.run([str(Path(sys.executable).parent / "autograder"), "grade", str(course),
                        course_kit.ASSIGNMENT, "--scheduler", cluster.address], check=True,
                       capture_output=True, env=course_kit.course_env())
        return time.monotonic() - started


def check_full_marks(course: Path) -> list[dict]:
    """Fail unless every reference scored full marks in the last run; return the results."""
    results = load_results(course, course_kit.ASSIGNMENT)
    full = sum(course_kit.POINTS.values())
    failed = [r["student"] for r in results if r["reason"] or r["score"] != full]
    assert not failed, f"references that did not score {full:g}: {failed}"
    return results


def main() -> int:
    """Build the course, time the three ways of grading, print the figures.

    Returns:
        0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--keep", type=Path, default=None, help="build the course here and keep it")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster runs")
    parser.add_argument("--dask", nargs="+", default=["1x1", "2x1", "1x2"],
                        help="cluster shapes, WORKERSxTHREADS")
    parser.add_argument("--warm", action="store_true",
                        help="also time Dask workers started with --preload "
                             "autograder.grading.warm")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per figure; the median is reported, with the spread")
    parser.add_argument("--stock-repeat", type=int, default=None,
                        help="runs of serial nbgrader autograde, the slowest figure "
                             "(default: --repeat)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    global REPEAT
    REPEAT = args.repeat

    root = args.keep or Path(tempfile.mkdtemp(prefix="grading-speed-"))
    course = course_kit.build_course(root / "course")
    students = [f"s{index:02d}" for index in range(args.submissions)]
    for student in students:
        course_kit.plant(course, student, course_kit.REFERENCE)
    print(f"{len(students)} submissions, {os.cpu_count()} cores, course at {course}")
    # Other work on the machine skews every figure below; the load average says how much.
    print(f"load average at start: {os.getloadavg()[0]:.1f}")

    try:
        shapes = [tuple(int(part) for part in shape.split("x")) for shape in args.dask]
    except ValueError:
        parser.error(f"--dask takes shapes such as 2x1, not {' '.join(args.dask)}")
    REPEAT = args.stock_repeat or args.repeat
    serial = timed("nbgrader autograde, serial:", serial_nbgrader, course)
    REPEAT = args.repeat
    if 1 in args.workers:
        bare = timed("bare nbclient execution, serial:", bare_execution, course, students)
        unconfined = timed("autograder grade -j 1 --no-sandbox:", autograder_grade, course, 1,
                           "--no-sandbox")
        check_full_marks(course)
    local_runs: list[Run] = [(f"autograder grade --workers {workers}:", autograder_grade,
                              (course, workers)) for workers in args.workers]
    dask_runs: list[Run] = []
    if not args.no_dask:
        for workers, threads in shapes:
            dask_runs.append((f"Dask, {workers} worker(s) x {threads} thread(s):",
                              cluster_grade, (course, root / "dask", workers, threads)))
            if args.warm:
                dask_runs.append((f"Dask warm, {workers} worker(s) x {threads} thread(s):",
                                  cluster_grade, (course, root / "dask", workers, threads,
                                                  "autograder.grading.warm")))
    last: list[list[dict]] = []
    timings = rounds(local_runs + dask_runs, lambda: last.append(check_full_marks(course)))
    results = last[-1]
    walls = {workers: timings[f"autograder grade --workers {workers}:"]
             for workers in args.workers}

    if 2 in walls:
        print(f"ratio grade(--workers 2) / serial nbgrader: {walls[2] / serial:.2f} "
              f"(target <= 0.30)")
    if 1 in walls:
        print(f"per-submission overhead grade(--workers 1) / bare: {walls[1] / bare:.2f} "
              f"(target <= 1.2)")
        print(f"confinement's cost per submission (grade -j 1, sandbox minus none): "
              f"{(walls[1] - unconfined) / len(students):+.2f} s")
    for workers in args.workers:
        print(f"ratio grade(--workers {workers}) / serial nbgrader (ours / stock): "
              f"{walls[workers] / serial:.2f}")
    if not args.no_dask:
        for workers, threads in shapes:
            local = walls.get(workers * threads)
            for kind in ("", " warm") if args.warm else ("",):
                wall = timings[f"Dask{kind}, {workers} worker(s) x {threads} thread(s):"]
                print(f"ratio Dask{kind} {workers} x {threads} / serial nbgrader: "
                      f"{wall / serial:.2f}")
                if local:
                    print(f"Dask{kind} overhead, {workers} x {threads} over local --workers "
                          f"{workers * threads}: {100 * (wall / local - 1):+.0f} % "
                          f"(target <= 10 %{'; warm: <= 0 %' if kind else ''})")
        one, two = "Dask, 1 worker(s) x 1 thread(s):", "Dask, 2 worker(s) x 1 thread(s):"
        if one in timings and two in timings:
            print(f"Dask wall time with 2 workers / with 1: {timings[two] / timings[one]:.2f} "
                  f"(ideal 0.50 where each worker has its own cores)")
    print(f"peak memory of a worker process: {max(r['peak_worker_mb'] for r in results):.0f} MB; "
          f"of a submission's kernel: {max(r['peak_kernel_mb'] for r in results):.0f} MB "
          f"(last run)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
