"""Learners who handed in the very same thing: a rare wrong answer, or a trained model.

The similarity section compares code; this module reads the grading results for what code
comparison cannot see. A wrong free-form answer that only a few learners gave word for word,
and a model whose weights are byte for byte another learner's (the fingerprints the grader
recorded, :mod:`autograder.grading.fingerprints`), are grouped as evidence for the instructor,
never as a grade change.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A wrong free-form answer counts as shared evidence only when so few learners gave it: a wrong
# answer that many give is a misconception (the report's wrong-answer list), not a copy.
RARE_ANSWER = 3


@dataclass(frozen=True)
class Group:
    """Learners who handed in the same thing.

    Attributes:
        kind: ``"code"`` (the same normalised solution code), ``"answer"`` (the same rare
            wrong answer) or ``"model"`` (the same trained weights).
        cell: The solution cell's ``grade_id``, the answer task's grade cell, or the grade
            cells that judged the model (comma-separated).
        students: The learner ids, sorted.
        value: The code (of the first learner), the answer as text, or the model's name and
            the start of its fingerprint.
    """

    kind: str
    cell: str
    students: tuple[str, ...]
    value: str


def identical_hand_ins(course_dir: str | Path, assignment: str) -> list[Group]:
    """Rare identical wrong answers and identical models, from an assignment's results.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        The groups, or none when the assignment has no manifest or no results yet.
    """
    from autograder.grading.manifest import ManifestError
    from autograder.grading.manifest import load as load_manifest
    from autograder.grading.results import load_results

    try:
        manifest = load_manifest(course_dir, assignment)
        results = load_results(course_dir, assignment)
    except (ManifestError, OSError, ValueError):
        return []
    free = {task.grade_id for task in manifest.tasks
            if task.kind == "answer" and not task.is_multiple_choice}
    return shared_answers(results, free) + identical_models(results)


def _tasks(results: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for result in results:
        try:
            student = str(result["student"])
            tasks = list(result["tasks"])
        except (KeyError, TypeError):
            continue  # a result another version wrote: left out
        for task in tasks:
            if isinstance(task, Mapping):
                yield student, task


def shared_answers(results: Iterable[Mapping[str, Any]], free: set[str]) -> list[Group]:
    """Rare wrong free-form answers that several learners gave word for word.

    Args:
        results: Submission results as the grader wrote them.
        free: Grade ids of the free-form answer tasks (choice answers are few by nature).

    Returns:
        One group per answer that two to :data:`RARE_ANSWER` learners gave.
    """
    answers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for student, task in _tasks(results):
        try:
            if (task.get("grade_id") in free and task.get("answer") is not None
                    and float(task["score"]) < float(task["max_score"])):
                value = json.dumps(task["answer"], sort_keys=True)
                answers[(str(task["grade_id"]), value)].add(student)
        except (KeyError, TypeError, ValueError):
            continue
    return [Group("answer", cell, tuple(sorted(students)), value)
            for (cell, value), students in sorted(answers.items())
            if 1 < len(students) <= RARE_ANSWER]


def identical_models(results: Iterable[Mapping[str, Any]]) -> list[Group]:
    """Learners whose exported models have the very same weights.

    Unlike a wrong answer, a copied model is evidence however many share it: independent
    trainings do not meet at the same weights, so a model that many hand in is a leaked one.

    Args:
        results: Submission results as the grader wrote them (each task's ``exports``).

    Returns:
        One group per fingerprint that two or more learners share, naming the grade cells
        that judged the model.
    """
    holders: dict[tuple[str, str], set[str]] = defaultdict(set)
    cells: dict[tuple[str, str], set[str]] = defaultdict(set)
    for student, task in _tasks(results):
        exports = task.get("exports")
        if not isinstance(exports, Mapping):
            continue
        for export, digest in exports.items():
            if isinstance(digest, str) and digest:
                holders[(str(export), digest)].add(student)
                cells[(str(export), digest)].add(str(task.get("grade_id")))
    # One group per model, however many grade cells judged it.
    return [Group("model", ", ".join(sorted(cells[key])), tuple(sorted(students)),
                  f"{key[0]}, weights {key[1][:16]}")
            for key, students in sorted(holders.items()) if len(students) > 1]
