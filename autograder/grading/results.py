"""What grading found, as data: one :class:`TaskResult` per graded cell, one
:class:`SubmissionResult` per learner. Both render as text and as a dict, and the grader writes
each submission's result as JSON under ``grader/results/<assignment>/``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.verify import Verdict


@dataclass(frozen=True)
class TaskResult(Verdict):
    """The verified verdict on one grade cell (see :class:`~autograder.verify.Verdict`), beside
    what the learner's kernel claimed.

    Attributes:
        kernel_score: What nbgrader scored in the learner's kernel (None when not known).
    """

    kernel_score: float | None = None

    @property
    def disagrees(self) -> bool:
        """True when the kernel's score differs from the verified one."""
        return self.kernel_score is not None and abs(self.kernel_score - self.score) > 1e-6

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            The fields plus ``disagrees``.
        """
        return {**super().to_dict(), "disagrees": self.disagrees}

    def __str__(self) -> str:
        return f"{self.notebook}/{self.grade_id}: {self.score:g}/{self.max_score:g} {self.outcome}"


@dataclass
class SubmissionResult:
    """What grading one submission found.

    Attributes:
        student: Student id.
        reason: Why the run did not complete normally (``timeout``, ``memory``, ``disk``,
            ``kernel died``, ``crashed``, ``grader error: ...``), or None.
        notes: Other observations (a cell timed out, an export was refused, ...).
        seconds: Wall time of the whole submission.
        peak_kernel_mb: Highest memory of the submission's kernels beyond what they share with
            the preloader.
        peak_worker_mb: Highest resident memory of the worker process itself.
        confined: Whether the kernels ran in the sandbox.
        tasks: One result per verified grade cell.
    """

    student: str
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_kernel_mb: float = 0.0
    peak_worker_mb: float = 0.0
    confined: bool = True
    tasks: list[TaskResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Verified points earned."""
        return sum(task.score for task in self.tasks)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(task.max_score for task in self.tasks)

    @property
    def disagreements(self) -> list[str]:
        """Grade ids where the kernel's score differs from the verified one."""
        return [task.grade_id for task in self.tasks if task.disagrees]

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data.

        Returns:
            The fields (tasks as dicts) plus ``score`` and ``max_score``.
        """
        data = asdict(self)
        data["tasks"] = [task.to_dict() for task in self.tasks]
        return {**data, "score": self.score, "max_score": self.max_score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """Rebuild a result from :meth:`to_dict` data (as a cluster worker returns it).

        Args:
            data: The dict.

        Returns:
            The result.
        """
        fields = {name: data[name] for name in ("student", "reason", "notes", "seconds",
                                                "peak_kernel_mb", "peak_worker_mb", "confined")
                  if name in data}
        tasks = [TaskResult(**{key: value for key, value in task.items() if key != "disagrees"})
                 for task in data.get("tasks", [])]
        return cls(**fields, tasks=tasks)

    def __str__(self) -> str:
        note = self.reason or ""
        if self.disagreements:
            note = (note + "; " if note else "") + "kernel and verified scores differ"
        if not self.confined:
            note = (note + "; " if note else "") + "graded unconfined"
        from autograder.grading.learners import shown

        return f"{shown(self.student)}: {self.score:g}/{self.max_score:g} {note}".rstrip()


def write_result(folder: Path, result: SubmissionResult) -> Path:
    """Write one submission's result as ``<folder>/<stem>.json``.

    The stem is the student id when it is plain, else a readable prefix and a hash of it
    (:func:`~autograder.grading.learners.file_stem`); the id itself is inside the file.

    Args:
        folder: ``grader/results/<assignment>/``.
        result: The result.

    Returns:
        The file written.
    """
    from autograder.grading.learners import file_stem

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_stem(result.student)}.json"
    path.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    return path


def load_results(course_dir: str | Path, assignment: str) -> list[dict[str, Any]]:
    """Read the per-student results the last ``autograder grade`` wrote.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        One dict per student (see :meth:`SubmissionResult.to_dict`), sorted by student.
    """
    from autograder.grading.layout import CourseLayout

    folder = CourseLayout(course_dir).results(assignment)
    return [json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
