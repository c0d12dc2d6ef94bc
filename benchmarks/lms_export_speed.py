"""How long does ``autograder export`` take for a large class? Prints seconds.

Run with ``.venv/bin/python benchmarks/lms_export_speed.py [LEARNERS] [ASSIGNMENTS]`` (default
5,000 learners and 8 assignments of 4 grade cells each, 9 in 10 learners submitting each). The
gradebook is an nbgrader one: assignments, notebooks and grade cells through
``nbgrader.api.Gradebook``, learners, submissions and grades inserted in bulk into its tables
(adding 40,000 submissions through the ORM would take far longer than the export). Prints the
time to read the scores, to build and write a Canvas import joined to a roster of every learner,
the whole command as a subprocess, and nbgrader's ORM read learner by learner on a sample, for
comparison.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from unittest import mock

CELLS = 4
# nbgrader's ORM takes seconds per learner on this schema: a small sample is enough.
ORM_SAMPLE = 10


def make_gradebook(folder: Path, learners: int, assignments: int) -> list[str]:
    """Write a gradebook of ``learners`` x ``assignments`` into ``folder/gradebook.db``.

    Args:
        folder: The course folder.
        learners: Number of learners.
        assignments: Number of assignments.

    Returns:
        The assignment names.
    """
    import sqlalchemy.exc
    from nbgrader.api import (
        Grade,
        Gradebook,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )
    from sqlalchemy import insert

    rng = random.Random(0)
    names = [f"a{index + 1}" for index in range(assignments)]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # nbgrader runs `alembic` from PATH when it creates a gradebook.
    with mock.patch.dict(os.environ, {"PATH": path}), \
            Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        cells: dict[str, tuple[str, str, list[str]]] = {}
        for name in names:
            assignment = gradebook.add_assignment(name, duedate=datetime(2026, 11, 1))
            notebook = gradebook.add_notebook(name, name)
            ids = [gradebook.add_grade_cell(f"q{cell}", name, name, max_score=2.0,
                                            cell_type="code").id for cell in range(CELLS)]
            cells[name] = (assignment.id, notebook.id, ids)
        students = [f"learner{index:05d}" for index in range(learners)]
        submitted, notebooks, grades = [], [], []
        for student in students:
            for name in names:
                if rng.random() < 0.1:
                    continue  # no submission
                assignment_id, notebook_id, cell_ids = cells[name]
                submission_id, submitted_notebook_id = uuid.uuid4().hex, uuid.uuid4().hex
                submitted.append({"id": submission_id, "assignment_id": assignment_id,
                                  "student_id": student, "timestamp": datetime(2026, 10, 30)})
                notebooks.append({"id": submitted_notebook_id, "assignment_id": submission_id,
                                  "notebook_id": notebook_id, "flagged": False,
                                  "late_submission_penalty": 1.0 if rng.random() < 0.05
                                  else None})
                for cell_id in cell_ids:
                    grades.append({"id": uuid.uuid4().hex, "cell_id": cell_id,
                                   "notebook_id": submitted_notebook_id,
                                   "auto_score": float(rng.randint(0, 2)),
                                   "manual_score": 2.0 if rng.random() < 0.02 else None,
                                   "needs_manual_grade": False})
        session = gradebook.db
        session.execute(insert(Student.__table__), [{"id": student} for student in students])
        session.execute(insert(SubmittedAssignment.__table__), submitted)
        session.execute(insert(SubmittedNotebook.__table__), notebooks)
        session.execute(insert(Grade.__table__), grades)
        session.commit()
    return names


def make_roster(path: Path, learners: int, names: list[str]) -> None:
    """Write a Canvas gradebook export listing every learner.

    Args:
        path: The CSV file.
        learners: Number of learners.
        names: Assignment names (Canvas columns ``name (id)``).
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        columns = [f"{name} ({1000 + index})" for index, name in enumerate(names)]
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *columns,
                         "Current Points", "Final Points"])
        writer.writerow(["    Points Possible", "", "", "", "", *["8.00"] * len(names),
                         "(read only)", "(read only)"])
        for index in range(learners):
            writer.writerow([f"Learner, {index}", 10000 + index, f"S{index:05d}",
                             f"learner{index:05d}", "Section A", *[""] * len(names), "", ""])


def orm_seconds(folder: Path, names: list[str], sample: int) -> float:
    """Seconds nbgrader's ORM takes to read ``sample`` learners' totals, one by one."""
    from nbgrader.api import Gradebook, MissingEntry

    start = time.perf_counter()
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        for index in range(sample):
            for name in names:
                try:
                    submission = gradebook.find_submission(name, f"learner{index:05d}")
                except MissingEntry:
                    continue
                _ = max(0.0, submission.score - submission.late_submission_penalty)
    return time.perf_counter() - start


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(learners: int = 5000, assignments: int = 8) -> None:
    """Build the class and print the timings.

    Args:
        learners: Number of learners.
        assignments: Number of assignments.
    """
    from autograder.lms.export import build, write
    from autograder.lms.scores import read_scores

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "course"
        folder.mkdir()
        start = time.perf_counter()
        names = make_gradebook(folder, learners, assignments)
        roster = Path(temp) / "canvas.csv"
        make_roster(roster, learners, names)
        print(f"setup: {learners} learners x {assignments} assignments in "
              f"{time.perf_counter() - start:.1f} s")

        # Wall time and this process's CPU time: on a busy machine the second says more.
        start, cpu = time.perf_counter(), time.process_time()
        scores = read_scores(folder)
        print(f"read scores ({len(scores.submissions)} submissions): "
              f"{time.perf_counter() - start:.2f} s ({time.process_time() - cpu:.2f} s CPU)")

        start, cpu = time.perf_counter(), time.process_time()
        export = build(folder, "canvas", roster=roster)
        write(export, Path(temp) / "import.csv")
        print(f"canvas export, in process: {time.perf_counter() - start:.2f} s "
              f"({time.process_time() - cpu:.2f} s CPU)")

        command = [str(Path(sys.executable).parent / "autograder"), "export", str(folder),
                   "--to", "canvas", "--roster", str(roster), "--output",
                   str(Path(temp) / "cli.csv")]
        start, before = time.perf_counter(), _children_cpu()
        subprocess.run(command, check=True, capture_output=True)
        print(f"autograder export --to canvas (whole command, imports included): "
              f"{time.perf_counter() - start:.2f} s ({_children_cpu() - before:.2f} s CPU)")

        sample = min(ORM_SAMPLE, learners)
        seconds = orm_seconds(folder, names, sample)
        print(f"nbgrader ORM, learner by learner: {seconds:.2f} s for {sample} learners, "
              f"about {seconds * learners / sample:.0f} s for {learners}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
