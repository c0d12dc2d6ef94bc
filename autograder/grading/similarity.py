"""Learners whose solution code is unusually alike: evidence for the instructor, never a grade.

Each learner's code of each solution cell (by nbgrader ``grade_id``) is fingerprinted with
`copydetect <https://github.com/blingenf/copydetect>`_ as MOSS does it: pygments tokens with
names, strings and comments normalised away, k-grams hashed and winnowed. The release's starter
code is subtracted as boilerplate, and so is code much of the class shares. An inverted index
from fingerprints to learners yields the candidate pairs, so the work grows with the pairs that
share code, not with all pairs. Identical normalised code is grouped too, and so are rare
identical wrong answers and identical trained models, from the grading results
(:mod:`autograder.grading.identical`).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from autograder.grading.identical import Group, identical_hand_ins
from autograder.grading.layout import CourseLayout
from autograder.grading.learners import MAX_NOTEBOOK_BYTES, shown

# Fingerprints are k-grams of copydetect's normalised code, in characters (mostly one per token:
# every name is "V", "F" or "O"). 20 is about one statement, and the window of 3 guarantees that
# any shared run of 22 characters is seen. Measured on the planted corpus (below): k of 12 or 15
# makes the Keras skeleton every solution has (`V.V.V(10,V="S")`, `V.V(V=(28,28,1))`) look
# shared, so independent pairs reach 0.77 to 0.86; at 20 they stay at or under 0.58 while every
# copy keeps 0.86 or more; at 30 reordered copies fall to 0.70.
NOISE = 20
WINDOW = 3
# A pair is flagged when at least this fraction of one learner's fingerprinted code is in the
# other's (the larger of the two fractions, so that a copy padded with code of one's own is
# still seen). Measured on the planted corpus of tests/test_similarity.py (a2, both solution
# cells): verbatim, renamed-and-reordered and re-commented copies score 0.87 to 1.0; six
# independent solutions in different styles score at most 0.58 (a small CNN and a plain
# Sequential model share the Sequential skeleton). 0.7 sits between the two with a margin of
# at least 0.12 on both sides.
DEFAULT_THRESHOLD = 0.7
# Fewer shared characters of normalised code than this (about three statements) is no evidence,
# however large a fraction it is: a `model = build_model()` and a one-line `model.fit(...)` are
# what independent learners write anyway. The planted copies share 97 characters or more.
MIN_SHARED = 60
# Code shared by more than this fraction of the class (and by more than COMMON_AT_LEAST learners)
# is treated like the starter code: common knowledge, not evidence. MOSS ignores such passages
# too (its -m option); it also keeps a leaked solution that many copied from multiplying pairs,
# and the identical-code groups still show such a leak.
COMMON_FRACTION = 0.05
COMMON_AT_LEAST = 10
# The HTML page shows at most this many pairs side by side (all of them are in the CSV).
HTML_PAIRS = 200


@dataclass(frozen=True)
class Pair:
    """Two learners whose code in one cell is alike.

    Attributes:
        cell: The solution cell's ``grade_id``.
        students: The two learner ids, sorted.
        fractions: For each learner, the fraction of their fingerprinted code found in the other's.
        shared: Normalised characters of code they share.
        slices: For each learner, copydetect's start and end offsets of the shared code.
    """

    cell: str
    students: tuple[str, str]
    fractions: tuple[float, float]
    shared: int
    slices: tuple[Any, Any] = field(repr=False, compare=False)

    @property
    def score(self) -> float:
        """The larger fraction: code of one learner that is nearly all in the other's."""
        return max(self.fractions)


@dataclass
class Similarity:
    """What the similarity section shows.

    Attributes:
        assignment: Assignment name.
        threshold: The score from which a pair is flagged.
        learners: Learners whose notebook was read.
        cells: Solution cells compared, in notebook order.
        pairs: Flagged pairs, highest score first.
        groups: Identical code and rare identical wrong answers, largest group first.
        problems: Notebooks that could not be read, each naming its file.
        compared: Candidate pairs copydetect compared (of all pairs in all cells).
        code: (cell, student) -> that learner's code, for the side-by-side page.
    """

    assignment: str
    threshold: float
    learners: int = 0
    cells: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    compared: int = 0
    code: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)


def solution_cells(path: Path) -> dict[str, str]:
    """Read the code of every solution cell of a notebook, by ``grade_id``.

    The notebook is read as JSON (nbformat's validation would cost more than the comparison).
    A grade id that appears twice (a learner duplicated the cell) keeps both cells' code.

    Args:
        path: The ``.ipynb`` file.

    Returns:
        grade_id -> source code.

    Raises:
        ValueError: The file is too large, not JSON or not a notebook; the message names it.
    """
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: not read.")
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        found: dict[str, str] = {}
        for cell in cells:
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if cell.get("cell_type") != "code" or not meta.get("solution"):
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            grade_id = str(meta.get("grade_id", ""))
            found[grade_id] = f"{found[grade_id]}\n{source}" if grade_id in found else source
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as a notebook: {exc}") from None
    except (KeyError, TypeError, AttributeError):
        raise ValueError(f"{path} is JSON but not a Jupyter notebook (no list of cells with "
                         "metadata).") from None
    return found


def _stable_kgrams(string: str, k: int) -> Any:
    """copydetect's ``hashed_kgrams`` with a hash that is the same in every process."""
    import numpy as np

    return np.array([int.from_bytes(hashlib.blake2b(string[at:at + k].encode(), digest_size=8)
                                    .digest(), "little", signed=True)
                     for at in range(len(string) - k + 1)], dtype=np.int64)


def _copydetect() -> Any:
    """copydetect, with k-grams hashed the same way in every run.

    copydetect hashes with Python's ``hash()``, salted per process: winnowing would keep other
    fingerprints each run, and one class would give other pairs from one report to the next.
    """
    import copydetect
    import copydetect.utils

    copydetect.utils.hashed_kgrams = _stable_kgrams
    return copydetect


def _fingerprint(code: str, name: str, boilerplate: Any = None) -> Any:
    copydetect = _copydetect()
    return copydetect.CodeFingerprint(name, NOISE, WINDOW, boilerplate, language="python",
                                      fp=io.StringIO(code))


def _boilerplate(code: str) -> Any:
    """Every k-gram hash of the starter code (not only the winnowed ones), as copydetect does."""
    import numpy as np

    prints = _copydetect().CodeFingerprint("release.py", NOISE, 1, language="python",
                                           fp=io.StringIO(code)).hashes if code.strip() else ()
    return np.unique(np.array(sorted(prints), dtype=np.int64))


def _drop(prints: Any, hashes: set[int]) -> None:
    """Remove fingerprints from a copydetect fingerprint, as its boilerplate removal would."""
    from copydetect.utils import get_token_coverage

    gone = prints.hashes & hashes
    if gone:
        prints.hashes -= gone
        for value in gone:
            prints.hash_idx.pop(value, None)
        prints.token_coverage = get_token_coverage(prints.hash_idx, prints.k,
                                                   len(prints.filtered_code))


def compare_cell(cell: str, codes: dict[str, str], starter: str,
                 threshold: float = DEFAULT_THRESHOLD) -> tuple[list[Pair], list[Group], int]:
    """Compare every learner's code of one solution cell.

    Args:
        cell: The cell's ``grade_id``.
        codes: Learner id -> their code of the cell.
        starter: The cell's code in the release notebook (subtracted as boilerplate).
        threshold: The score from which a pair is flagged.

    Returns:
        The flagged pairs, the groups of learners with the same normalised code, and how many
        pairs copydetect compared.
    """
    copydetect = _copydetect()
    boilerplate = _boilerplate(starter)
    starter_norm = _fingerprint(starter, "release.py").filtered_code if starter.strip() else ""
    prints: dict[str, Any] = {}
    same: dict[str, list[str]] = defaultdict(list)
    for student, code in codes.items():
        fingerprint = _fingerprint(code, f"{student}.py", boilerplate)
        norm = fingerprint.filtered_code
        if fingerprint.hashes and len(norm) >= MIN_SHARED and norm != starter_norm:
            prints[student] = fingerprint
            same[hashlib.sha256(norm.encode()).hexdigest()].append(student)
    index: dict[int, list[str]] = defaultdict(list)
    for student, fingerprint in prints.items():
        for value in fingerprint.hashes:
            index[value].append(student)
    # Fingerprints most of the class has are common knowledge: dropped before counting pairs.
    common_at = max(COMMON_AT_LEAST, int(COMMON_FRACTION * len(prints)))
    common = {value for value, owners in index.items() if len(owners) > common_at}
    for fingerprint in prints.values():
        _drop(fingerprint, common)
    # Candidate pairs share a fingerprint. Each shared occurrence covers at most NOISE
    # characters, so count x most repeats x NOISE bounds the shared code: pairs that cannot reach
    # MIN_SHARED or the threshold by that bound skip copydetect's exact comparison.
    candidates: Counter[tuple[str, str]] = Counter()
    for value, owners in index.items():
        if value not in common and len(owners) > 1:
            candidates.update(combinations(sorted(owners), 2))
    repeats = {student: max(map(len, fingerprint.hash_idx.values()), default=0)
               for student, fingerprint in prints.items()}
    pairs, compared = [], 0
    for (first, second), count in candidates.items():
        bounds = [count * repeats[who] * NOISE for who in (first, second)]
        if max(bounds) < MIN_SHARED or all(
                bound < threshold * max(prints[who].token_coverage, 1)
                for bound, who in zip(bounds, (first, second), strict=True)):
            continue
        compared += 1
        shared, fractions, slices = copydetect.compare_files(prints[first], prints[second])
        pair = Pair(cell, (first, second), (float(fractions[0]), float(fractions[1])),
                    int(shared), (slices[0], slices[1]))
        if pair.shared >= MIN_SHARED and pair.score >= threshold:
            pairs.append(pair)
    groups = [Group("code", cell, tuple(sorted(students)), codes[min(students)])
              for students in same.values() if len(students) > 1]
    return pairs, groups, compared


def find_similarity(course_dir: str | Path, assignment: str,
                    threshold: float = DEFAULT_THRESHOLD) -> Similarity:
    """Compare the submitted solution code of every learner of an assignment.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.
        threshold: The score (0 to 1) from which a pair is flagged.

    Returns:
        The similarity section's data.

    Raises:
        LookupError: The assignment has no release notebook to take the starter code from.
    """
    layout = CourseLayout(course_dir)
    found = Similarity(assignment, threshold)
    release = layout.release(assignment)
    if not release.is_file():
        raise LookupError(f"{release} does not exist: the starter code of {assignment} comes "
                          f"from it (run `nbgrader generate_assignment {assignment}`).")
    try:
        starters = solution_cells(release)
    except ValueError as exc:
        raise LookupError(str(exc)) from None
    found.cells = list(starters)
    by_cell: dict[str, dict[str, str]] = {cell: {} for cell in starters}
    for student in layout.students(assignment):
        path = layout.submitted(student, assignment)
        if not path.is_file():
            found.problems.append(f"{path}: no notebook of that name in the submission.")
            continue
        try:
            cells = solution_cells(path)
        except ValueError as exc:
            found.problems.append(str(exc))
            continue
        found.learners += 1
        for cell in starters:
            if cells.get(cell, "").strip():
                by_cell[cell][student] = cells[cell]
                found.code[(cell, student)] = cells[cell]
    for cell, codes in by_cell.items():
        pairs, groups, compared = compare_cell(cell, codes, starters[cell], threshold)
        found.compared += compared
        found.pairs += pairs
        found.groups += groups
    found.groups += identical_hand_ins(course_dir, assignment)
    found.pairs.sort(key=lambda pair: (-pair.score, -pair.shared, pair.cell, pair.students))
    found.groups.sort(key=lambda group: (-len(group.students), group.kind, group.cell))
    return found


def write_csv(found: Similarity, path: Path) -> Path:
    """Write the ranked pairs, then the groups, as one CSV table.

    Args:
        found: The similarity data.
        path: The CSV file to write.

    Returns:
        The path.
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "kind", "cell", "score", "student_a", "student_b",
                         "fraction_a", "fraction_b", "shared_chars", "students"])
        for rank, pair in enumerate(found.pairs, 1):
            writer.writerow([rank, "similar code", pair.cell, f"{pair.score:.2f}", *pair.students,
                             f"{pair.fractions[0]:.2f}", f"{pair.fractions[1]:.2f}", pair.shared,
                             ""])
        for group in found.groups:
            writer.writerow(["", f"identical {group.kind}", group.cell, "1.00", "", "", "", "",
                             "", json.dumps(list(group.students), ensure_ascii=False)])
    return path


_STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;font-size:.85em;margin:0}mark{background:#fbd38d}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1em}"""


def _marked(code: str, slices: Any) -> str:
    from copydetect.utils import highlight_overlap

    if slices is None or len(slices) == 0 or len(slices[0]) == 0:
        return html.escape(code)
    return highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0]


def write_html(found: Similarity, path: Path) -> Path:
    """Write a page with the ranked table and each flagged pair's code side by side.

    Args:
        found: The similarity data.
        path: The HTML file to write.

    Returns:
        The path.
    """
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(found.assignment)}"
             f": similar solution code</title><style>{_STYLE}</style></head><body>",
             f"<h1>{esc(found.assignment)}: similar solution code</h1>",
             f"<p>{found.learners} learners, cells {esc(', '.join(found.cells))}. Pairs whose "
             f"shared code (starter code and code most of the class shares left out) is at least "
             f"{found.threshold:.0%} of one learner's code. This is evidence to look at, not a "
             "verdict: no grade changes.</p>",
             "<table><tr><th>#</th><th>cell</th><th>score</th><th>learners</th>"
             "<th>shared</th></tr>"]
    for rank, pair in enumerate(found.pairs, 1):
        link = f"<a href='#pair-{rank}'>{rank}</a>" if rank <= HTML_PAIRS else str(rank)
        parts.append(f"<tr><td>{link}</td><td>{esc(pair.cell)}</td><td>{pair.score:.2f}</td>"
                     f"<td>{esc(shown(pair.students[0]))} &amp; {esc(shown(pair.students[1]))}"
                     f"</td><td>{pair.shared}</td></tr>")
    parts.append("</table>")
    for rank, pair in enumerate(found.pairs[:HTML_PAIRS], 1):
        parts.append(f"<h2 id='pair-{rank}'>{rank}. {esc(pair.cell)}: score {pair.score:.2f}</h2>"
                     "<div class='side'>")
        for student, fraction, slices in zip(pair.students, pair.fractions, pair.slices,
                                             strict=True):
            code = found.code.get((pair.cell, student), "")
            parts.append(f"<div><h3>{esc(shown(student))} ({fraction:.0%} shared)</h3>"
                         f"<pre>{_marked(code, slices)}</pre></div>")
        parts.append("</div>")
    if found.groups:
        parts.append("<h2>Identical code, rare identical wrong answers and identical models"
                     "</h2><table>"
                     "<tr><th>kind</th><th>cell</th><th>learners</th><th>value</th></tr>")
        for group in found.groups:
            names = ", ".join(shown(student) for student in group.students)
            parts.append(f"<tr><td>{group.kind}</td><td>{esc(group.cell)}</td>"
                         f"<td>{len(group.students)}: {esc(names)}</td>"
                         f"<td><pre>{esc(group.value[:2000])}</pre></td></tr>")
        parts.append("</table>")
    if found.problems:
        parts.append("<h2>Not read</h2><ul>"
                     + "".join(f"<li>{esc(problem)}</li>" for problem in found.problems)
                     + "</ul>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0 and at most 1 "
                                         f"(the default is {DEFAULT_THRESHOLD}).")
    return value


def add_arguments(parser: Any) -> None:
    """Add the similarity section's option to the ``report`` verb.

    Args:
        parser: The verb's ``argparse`` parser.
    """
    parser.add_argument("--similarity-threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                        metavar="SCORE",
                        help="flag two learners' solution cell when this fraction (0 to 1) of "
                             "one learner's code is in the other's, starter code left out "
                             f"(default {DEFAULT_THRESHOLD}); evidence only, grades never change")


def report_similarity(course_dir: str | Path, assignment: str, folder: Path,
                      say: Callable[[str], Any] = print,
                      threshold: float = DEFAULT_THRESHOLD) -> list[Path]:
    """Add the similarity section to a report: print the top pairs, write CSV and HTML.

    Args:
        course_dir: The nbgrader course directory.
        assignment: Assignment name.
        folder: The report's folder.
        say: Where the text lines go.
        threshold: The score from which a pair is flagged.

    Returns:
        The files written (none when the assignment has no release notebook).
    """
    try:
        found = find_similarity(course_dir, assignment, threshold)
    except LookupError as exc:
        say(f"  similarity: not computed: {exc}")
        return []
    for line in summary_lines(found):
        say(line)
    written = [write_csv(found, folder / "similarity.csv"),
               write_html(found, folder / "similarity.html")]
    for path in written:
        say(f"wrote {path}")
    return written


def summary_lines(found: Similarity, top: int = 10) -> Iterable[str]:
    """The similarity section of the report's text output.

    Args:
        found: The similarity data.
        top: Pairs listed (all are in the CSV).

    Returns:
        Lines of text.
    """
    lines = [f"  similar solution code (evidence, never a grade): {len(found.pairs)} pairs at "
             f"score >= {found.threshold:.2f} among {found.learners} learners"]
    for pair in found.pairs[:top]:
        first, second = (shown(student) for student in pair.students)
        lines.append(f"    {pair.score:.2f}  {pair.cell}: {first} & {second} "
                     f"({pair.shared} chars shared)")
    kinds = Counter(group.kind for group in found.groups)
    if found.groups:
        lines.append(f"  identical: {kinds['code']} groups of code, {kinds['answer']} of rare "
                     f"wrong answers, {kinds['model']} of trained models (see similarity.csv)")
    lines += [f"  similarity: skipped {problem}" for problem in found.problems]
    return lines
