"""Time every lesson, executed top to bottom at its full settings, one after the other.

Usage::

    .venv/bin/python benchmarks/lesson_times.py                 # every lessons/*.md
    .venv/bin/python benchmarks/lesson_times.py lessons/05-*.md  # some of them

Targets: at most 60 s per lesson and 6 minutes for the whole course on a 2-core CPU. The script
prints the figures and never fails on them: timings depend on the machine and on its load.
It exits non-zero only when a lesson raises, because then its time means nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

from autograder.notebooks import execute, read_source

REPO = Path(__file__).resolve().parent.parent
PER_LESSON_TARGET = 60.0
COURSE_TARGET = 6 * 60.0


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_lesson(source: Path) -> tuple[float, float] | None:
    """Execute one lesson in a fresh kernel and a scratch folder.

    Args:
        source: The lesson's ``.md`` file.

    Returns:
        Wall-clock seconds (kernel start included) and the CPU seconds the kernel used, or None
        when a cell raised. On a busy machine the CPU figure is the steadier of the two.
    """
    cpu_before = _children_cpu_seconds()
    with tempfile.TemporaryDirectory(prefix=f"{source.stem}-") as scratch:
        try:
            seconds = execute(read_source(source), cwd=scratch).seconds
        except Exception as exc:  # a failing lesson is reported, the others still run
            print(f"{source.name}: failed: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
            return None
    # The kernel has exited and been reaped by now, so its CPU time is counted.
    return seconds, _children_cpu_seconds() - cpu_before


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Args:
        argv: Lesson files to time; every ``lessons/*.md`` when empty.

    Returns:
        0 when every lesson ran, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", type=Path, help="lesson .md files (default: all)")
    args = parser.parse_args(argv)
    sources = args.lessons or sorted((REPO / "lessons").glob("*.md"))
    # Full settings: a COURSE_EPOCHS left over in the shell would shorten the lessons.
    os.environ.pop("COURSE_EPOCHS", None)
    os.environ.setdefault("MPLBACKEND", "Agg")

    print(f"{'lesson':40}{'seconds':>9}{'cpu s':>8}  (target {PER_LESSON_TARGET:.0f} s each)")
    total, total_cpu, failed = 0.0, 0.0, 0
    for source in sources:
        timing = time_lesson(source)
        if timing is None:
            failed += 1
            print(f"{source.stem:40}{'failed':>9}", flush=True)
            continue
        seconds, cpu = timing
        total += seconds
        total_cpu += cpu
        note = "" if seconds <= PER_LESSON_TARGET else "  over target"
        print(f"{source.stem:40}{seconds:>9.1f}{cpu:>8.1f}{note}", flush=True)
    note = "" if total <= COURSE_TARGET else "  over target"
    print(f"{'total':40}{total:>9.1f}{total_cpu:>8.1f}  (target {COURSE_TARGET:.0f} s){note}")
    print(f"cpu cores: {os.cpu_count()}; load average: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
