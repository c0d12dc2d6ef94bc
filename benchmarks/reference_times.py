"""Time every assignment's reference solution notebook, run as a learner's finished one would.

Usage::

    .venv/bin/python benchmarks/reference_times.py             # a scratch course, deleted after
    .venv/bin/python benchmarks/reference_times.py --keep DIR  # keep the course it built

Builds a course with ``autograder build-course`` timing on (the code the command line runs), so
each source notebook (reference answers and hidden tests) executes top to bottom at its full
settings in a fresh kernel on this machine's cores, one after the other. Prints per assignment
the wall time build-course recorded in ``grader/<assignment>.timing.json``, the CPU time of its
kernel, and the per-submission time limit ``autograder grade`` derives from it; then the totals.
Progress goes to stderr; the kernels' own stderr (TensorFlow's start-up lines) is discarded.

Target: at most 60 s per assignment. The script prints the figures and never fails on them:
timings depend on the machine and on its load. It exits non-zero only when a reference notebook
did not run through (a cell raised or a grade cell failed), because then its time means nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from autograder.course import build_course  # noqa: E402 - after the backend is chosen
from autograder.grading import default_timeout  # noqa: E402

PER_ASSIGNMENT_TARGET = 60.0


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def kernels_quiet() -> Iterator[TextIO]:
    """Discard what the kernels started in the block write to stderr (they inherit its fd 2).

    Yields:
        A stream onto this process's real stderr, for progress lines.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        with os.fdopen(os.dup(saved), "w") as stream:
            yield stream
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def time_references(root: Path) -> dict[str, tuple[float | None, float, float]]:
    """Build a course in ``root`` with timing on and read back what it measured.

    Args:
        root: An empty or new folder for the course.

    Returns:
        Per assignment, in course order: the recorded wall seconds (None when its notebook did
        not run through), the CPU seconds of its kernel, and the default time limit of
        ``autograder grade`` for it.
    """
    cpu: dict[str, float] = {}
    last = [_children_cpu_seconds()]

    def timed(line: str) -> None:
        # build-course reports "timed <assignment>: ..." after each notebook's kernel has exited
        # and been reaped, so the CPU the children used since the last report is that kernel's.
        name = line.removeprefix("timed ").split(":", 1)[0]
        now = _children_cpu_seconds()
        cpu[name], last[0] = now - last[0], now
        print(f"  {line}", file=progress, flush=True)

    with kernels_quiet() as progress:
        layout = build_course(root, timing=True, progress=timed)
    figures = {}
    for name in layout.assignments:
        path = layout.grader(f"{name}.timing.json")
        seconds = (float(json.loads(path.read_text(encoding="utf-8"))["reference_seconds"])
                   if path.is_file() else None)
        figures[name] = (seconds, cpu.get(name, 0.0), default_timeout(layout, name))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Args:
        argv: Command-line arguments (``--keep DIR``).

    Returns:
        0 when every reference notebook ran through, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the course here and keep it")
    args = parser.parse_args(argv)
    # Full settings: a COURSE_EPOCHS left over in the shell would shorten the training cells.
    os.environ.pop("COURSE_EPOCHS", None)
    os.environ.setdefault("MPLBACKEND", "Agg")

    print(f"timing the reference notebooks one after the other ({os.cpu_count()} cores) ...",
          file=sys.stderr, flush=True)
    if args.keep:
        figures = time_references(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="reference-times-") as scratch:
            figures = time_references(Path(scratch) / "course")

    print(f"{'assignment':30}{'seconds':>9}{'cpu s':>8}{'limit s':>9}"
          f"  (target {PER_ASSIGNMENT_TARGET:.0f} s each)")
    total, total_cpu, failed = 0.0, 0.0, 0
    for name, (seconds, cpu, limit) in figures.items():
        total_cpu += cpu
        if seconds is None:
            failed += 1
            print(f"{name:30}{'failed':>9}{cpu:>8.1f}{limit:>9.0f}", flush=True)
            continue
        total += seconds
        note = "" if seconds <= PER_ASSIGNMENT_TARGET else "  over target"
        print(f"{name:30}{seconds:>9.1f}{cpu:>8.1f}{limit:>9.0f}{note}", flush=True)
    target = PER_ASSIGNMENT_TARGET * len(figures)
    note = "" if total <= target else "  over target"
    print(f"{'total':30}{total:>9.1f}{total_cpu:>8.1f}{'':>9}  (target {target:.0f} s){note}")
    print(f"limit: the time `autograder grade` allows a submission by default, derived from "
          f"the reference time; cpu cores: {os.cpu_count()}; load average: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
