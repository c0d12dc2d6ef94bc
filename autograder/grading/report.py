"""``autograder report DIR ASSIGNMENT``: scores as CSV and the plots an instructor reteaches from.

Scores come from the gradebook (after ``autograder grade`` it holds the verified scores); the
per-student results of the last ``autograder grade`` add what the gradebook cannot hold: why a
run failed, where the kernel's own score disagreed with the verified one, where a model did far
better on grader-only rows of a public dataset than on the learner's own test split (it may have
been trained on the public data those rows derive from), and the exported answers, from which the
most chosen wrong answer of each multiple-choice question is counted.

Writes into ``DIR/grader/reports/<assignment>/`` (or ``--out``):

- ``scores.csv``: one row per student, one column per graded cell, the total, the maximum,
  the failure reason, the cells whose kernel score disagreed with the verified one, and the
  cells whose grader-only figure was far above the learner's own test split, with both figures;
- ``score_histogram.png``, ``pass_rate.png`` and ``wrong_answers.png``;
- ``similarity.csv`` and ``similarity.html``: learners whose solution code is unusually alike
  (:mod:`autograder.grading.similarity`), evidence that never changes a grade.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.layout import CourseLayout
from autograder.grading.manifest import Manifest, ManifestError
from autograder.grading.manifest import load as load_manifest
from autograder.grading.results import load_results
from autograder.grading.verify import same_answer


@dataclass
class StudentRow:
    """One student's scores.

    Attributes:
        student: Student id.
        scores: Question label -> points earned.
        reason: Why grading did not complete normally, if it did not.
        flagged: Questions whose kernel score disagreed with the verified one.
        confined: Whether its kernels ran in the sandbox (False after ``--no-sandbox``).
        unseen: Question label -> what the grader found, for questions whose grader-only
            figure was far above the learner's own test split (the figures, in words).
    """

    student: str
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    flagged: list[str] = field(default_factory=list)
    confined: bool = True
    unseen: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Points earned in all questions."""
        return sum(self.scores.values())


@dataclass(frozen=True)
class WrongAnswer:
    """The most chosen wrong answer of a multiple-choice question.

    Attributes:
        question: Question label.
        answer: The wrong answer (plain data).
        count: Students who chose it.
        answered: Students who exported any answer to the question.
    """

    question: str
    answer: Any
    count: int
    answered: int


@dataclass
class Report:
    """Everything the report shows.

    Attributes:
        assignment: Assignment name.
        questions: Question label -> max points, in notebook order.
        rows: One row per student.
        wrong_answers: One entry per multiple-choice question with a wrong answer.
    """

    assignment: str
    questions: dict[str, float]
    rows: list[StudentRow]
    wrong_answers: list[WrongAnswer]

    @property
    def max_total(self) -> float:
        """Points available."""
        return sum(self.questions.values())

    def pass_rate(self, question: str) -> float:
        """Fraction of students with full points on a question.

        Args:
            question: Question label.

        Returns:
            A number from 0 to 1 (0 when there are no students).
        """
        if not self.rows:
            return 0.0
        top = self.questions[question]
        full = sum(1 for row in self.rows if row.scores.get(question, 0.0) >= top - 1e-9)
        return full / len(self.rows)


def collect(course_dir: str | Path, assignment: str) -> Report:
    """Read the gradebook and the last grading results of an assignment.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.

    Returns:
        The report data.

    Raises:
        LookupError: The gradebook has no such assignment.
    """
    from nbgrader.api import Gradebook, MissingEntry, SubmittedAssignment

    from autograder.grading.gradebook import class_grades

    questions: dict[str, float] = {}
    layout = CourseLayout(course_dir)
    with Gradebook(layout.db_url, layout.course_id) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise LookupError(f"The gradebook of {course_dir} has no assignment {assignment!r}: "
                              f"run `nbgrader generate_assignment {assignment}` and grade "
                              f"it first.") from None
        several = len(record.notebooks) > 1
        for notebook in record.notebooks:
            for cell in notebook.grade_cells:
                questions[_label(notebook.name, cell.name, several)] = float(cell.max_score)
        # Two queries for the whole class: nbgrader's ORM would load each submission's student,
        # notebooks and grades one learner at a time.
        session = gradebook.db
        students = session.query(SubmittedAssignment.student_id).filter(
            SubmittedAssignment.assignment_id == record.id).all()
        by_student = {student: StudentRow(student) for (student,) in sorted(students)}
        grades = class_grades(session, record.id, "score")
        for student, notebook_name, cell_name, score in grades:
            label = _label(notebook_name, cell_name, several)
            by_student[student].scores[label] = float(score or 0.0)
    rows = list(by_student.values())
    results = {result["student"]: result for result in load_results(course_dir, assignment)}
    for row in rows:
        # Grade cells in notebook order, whatever order the database returned them in.
        row.scores = {**{label: row.scores[label] for label in questions if label in row.scores},
                      **row.scores}
        result = results.get(row.student)
        if result:
            row.reason = result.get("reason") or ""
            row.confined = bool(result.get("confined", True))
            row.flagged = [_label(task["notebook"], task["grade_id"], several)
                           for task in result["tasks"] if task.get("disagrees")]
            row.unseen = {_label(task["notebook"], task["grade_id"], several): str(task["flag"])
                          for task in result["tasks"] if task.get("flag")}
    try:
        manifest: Manifest | None = load_manifest(course_dir, assignment)
    except ManifestError:
        manifest = None
    wrong = _wrong_answers(manifest, results.values(), several) if manifest else []
    return Report(assignment, questions, rows, wrong)


def _wrong_answers(manifest: Manifest, results: Any, several: bool) -> list[WrongAnswer]:
    found: list[WrongAnswer] = []
    for task in manifest.tasks:
        if not task.is_multiple_choice:
            continue
        counts: Counter[str] = Counter()
        values: dict[str, Any] = {}
        answered = 0
        for result in results:
            for item in result["tasks"]:
                if item["grade_id"] != task.grade_id or item["notebook"] != task.notebook:
                    continue
                if item.get("answer") is None:
                    continue
                answered += 1
                if _is_wrong(item, task):
                    key = repr(item["answer"])
                    counts[key] += 1
                    values[key] = item["answer"]
        if counts:
            key, count = counts.most_common(1)[0]
            found.append(WrongAnswer(_label(task.notebook, task.grade_id, several), values[key],
                                     count, answered))
    return found


def _is_wrong(item: dict[str, Any], task: Any) -> bool:
    if task.question is not None:
        # Judged by the quiz's own check: any answer short of full points is a wrong one.
        return float(item["score"]) < float(item["max_score"])
    return not same_answer(item["answer"], task.expected, casefold=task.casefold)


def _label(notebook: str, grade_id: str, several: bool) -> str:
    return f"{notebook}/{grade_id}" if several else grade_id


def write_csv(report: Report, path: Path) -> Path:
    """Write one row per student and one column per question.

    Args:
        report: The report data.
        path: The CSV file to write.

    Returns:
        The path.
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *report.questions, "total", "max_total", "reason",
                         "kernel_disagrees", "confinement", "unseen_gap"])
        for row in report.rows:
            scores = [f"{row.scores.get(question, 0.0):g}" for question in report.questions]
            writer.writerow([row.student, *scores,
                             f"{row.total:g}", f"{report.max_total:g}", row.reason,
                             " ".join(row.flagged),
                             "sandbox" if row.confined else "none (--no-sandbox)",
                             " | ".join(f"{question}: {found}"
                                        for question, found in row.unseen.items())])
    return path


def write_plots(report: Report, folder: Path) -> list[Path]:
    """Draw the score histogram, the pass rate per question and the most chosen wrong answers.

    Args:
        report: The report data.
        folder: Where to write the PNG files.

    Returns:
        The paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    totals = [row.total for row in report.rows]
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    top = max(report.max_total, 1.0)
    # One bar per half point on short assignments (scores are mostly whole points), centred on
    # the score so that a bar reads as "this many students scored this".
    step = 0.5 if top <= 20 else top / 40
    edges = [step * (index - 0.5) for index in range(int(round(top / step)) + 2)]
    ax.hist(totals, bins=edges, color="#4C72B0", edgecolor="white")
    ax.set_xlim(-step, top + step)
    ax.set_xlabel(f"verified score (out of {report.max_total:g})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{report.assignment}: scores of {len(totals)} students")
    paths.append(_save(fig, folder / "score_histogram.png"))

    labels = list(report.questions)
    rates = [100 * report.pass_rate(question) for question in labels]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.5), layout="constrained")
    bars = ax.barh(labels[::-1], rates[::-1], color="#55A868")
    ax.bar_label(bars, labels=[f"{rate:.0f} %" for rate in rates[::-1]], padding=3)
    ax.set_xlim(0, 110)
    ax.set_xlabel("students with full points (%)")
    ax.set_title(f"{report.assignment}: pass rate per question")
    paths.append(_save(fig, folder / "pass_rate.png"))

    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(report.wrong_answers), 1) + 1.5),
                           layout="constrained")
    if report.wrong_answers:
        names = [f"{item.question}\nchose {_short(item.answer)}" for item in report.wrong_answers]
        counts = [item.count for item in report.wrong_answers]
        bars = ax.barh(names[::-1], counts[::-1], color="#C44E52")
        ax.bar_label(bars, labels=[f"{item.count} of {item.answered}"
                                   for item in report.wrong_answers[::-1]], padding=3)
        ax.set_xlim(0, max(counts) * 1.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("students who chose it")
    else:
        ax.text(0.5, 0.5, "no wrong answers to multiple-choice questions", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title(f"{report.assignment}: most chosen wrong answer per question")
    paths.append(_save(fig, folder / "wrong_answers.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` verb's arguments.

    Args:
        parser: The verb's parser.
    """
    parser.add_argument("course_dir", metavar="DIR", type=Path, help="nbgrader course directory")
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="assignment name")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default DIR/grader/reports/ASSIGNMENT)")
    # The similarity section: evidence of shared code for the instructor, never a grade change.
    from autograder.grading.similarity import add_arguments as add_similarity_arguments

    add_similarity_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Write the CSV and plots and print where they are.

    Args:
        args: Parsed arguments from :func:`add_arguments`.

    Returns:
        0 on success, 2 on bad input.
    """
    if not (args.course_dir / "nbgrader_config.py").exists() and not (
            args.course_dir / "gradebook.db").exists():
        print(f"error: {args.course_dir} is not an nbgrader course directory.", file=sys.stderr)
        return 2
    try:
        report = collect(args.course_dir, args.assignment)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = args.out or CourseLayout(args.course_dir).grader("reports", args.assignment)
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_csv(report, folder / "scores.csv"), *write_plots(report, folder)]
    _print(report, written)
    from autograder.grading.similarity import report_similarity

    report_similarity(args.course_dir, args.assignment, folder, print, args.similarity_threshold)
    return 0


def _print(report: Report, written: Sequence[Path]) -> None:
    print(f"{report.assignment}: {len(report.rows)} students, "
          f"mean {sum(r.total for r in report.rows) / max(len(report.rows), 1):.2f} "
          f"of {report.max_total:g}")
    for item in report.wrong_answers:
        print(f"  {item.question}: most chosen wrong answer {_short(item.answer)} "
              f"({item.count} of {item.answered})")
    flagged = [row.student for row in report.rows if row.flagged]
    if flagged:
        print(f"  kernel and verified scores differ for: {', '.join(flagged)}")
    for row in report.rows:
        for question, found in row.unseen.items():
            print(f"  {row.student} {question}: {found}")
    unconfined = [row.student for row in report.rows if not row.confined]
    if unconfined:
        print(f"  graded without the sandbox (--no-sandbox): {', '.join(unconfined)}")
    for path in written:
        print(f"wrote {path}")
