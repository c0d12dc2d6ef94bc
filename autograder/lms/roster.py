"""Rosters as Canvas and Moodle export them: read strictly, every fault named by file, line, column.

A roster is the gradebook file an instructor downloads from the LMS. It says who the LMS knows
(and by which identifiers), which grade columns it has and, for Canvas, what each is worth.
Nothing here knows about nbgrader: :mod:`autograder.lms.export` joins a roster to the scores.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import RosterError, UsageError

# Canvas's identity columns, in the order its export writes them ("Integration ID" only appears
# when the account uses integration ids). The importer matches learners on these.
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
CANVAS_KEYS = ("SIS Login ID", "SIS User ID", "ID")
# Moodle's grader report export ("Export" -> "Plain text file"): the user fields it adds before
# the grade items, the identity fields a site may show, and its trailing timestamp column.
MOODLE_IDENTITY = ("First name", "Last name", "ID number", "Institution", "Department",
                   "Email address", "Username", "Phone", "Mobile phone", "City/town", "Country")
MOODLE_KEYS = ("Email address", "ID number", "Username")
MOODLE_EXPORTED_AT = "Last downloaded from this course"
# Moodle lets the exporter choose the separator; Canvas always writes commas.
MOODLE_DELIMITERS = (",", "\t", ";", ":")
# "Name (12345)": Canvas names an assignment column by the assignment's name and id.
CANVAS_COLUMN = re.compile(r"^(?P<name>.*) \((?P<id>\d+)\)$")
# "Assignment: Name (Real)": Moodle prefixes the activity type and appends the display type.
MOODLE_COLUMN = re.compile(r"^(?P<name>.*?)(?: \((?P<type>Real|Percentage|Letter)\))?$")


@dataclass(frozen=True)
class Learner:
    """One learner's row of a roster.

    Attributes:
        line: The line of the file where the row starts.
        key: The identifier the nbgrader student id must equal.
        cells: Column name -> the cell as written (stripped).
    """

    line: int
    key: str
    cells: dict[str, str]


@dataclass
class Roster:
    """A roster read from an LMS export.

    Attributes:
        path: The file.
        lms: ``"canvas"`` or ``"moodle"``.
        header: The column names, in file order.
        key_column: The column that identifies learners.
        learners: Learners with a key, in file order.
        unkeyed: Lines of learners whose key cell is empty (they cannot be matched).
        points: Column -> the "Points Possible" cell (Canvas only).
        delimiter: The field separator of the file.
        by_key: Key -> learner.
    """

    path: Path
    lms: str
    header: list[str]
    key_column: str
    learners: list[Learner] = field(default_factory=list)
    unkeyed: list[Learner] = field(default_factory=list)
    points: dict[str, str] = field(default_factory=dict)
    delimiter: str = ","
    by_key: dict[str, Learner] = field(default_factory=dict, repr=False)

    def column_number(self, name: str) -> int:
        """The 1-based position of a column, as a spreadsheet counts it.

        Args:
            name: Column name.

        Returns:
            Its position.
        """
        return self.header.index(name) + 1

    def grade_columns(self) -> list[str]:
        """Columns that can hold an assignment's points.

        Returns:
            Column names in file order: Canvas assignment columns (``Name (id)``), or Moodle grade
            item columns shown as points (``(Real)`` or no display type).
        """
        if self.lms == "canvas":
            return [name for name in self.header if CANVAS_COLUMN.match(name)]
        skip = {*MOODLE_IDENTITY, MOODLE_EXPORTED_AT}
        found = []
        for name in self.header:
            match = MOODLE_COLUMN.match(name)
            if name not in skip and match and match["type"] in (None, "Real"):
                found.append(name)
        return found

    def find_column(self, assignment: str) -> list[str]:
        """The grade columns that stand for an assignment.

        Args:
            assignment: The assignment's name in the LMS, or a column name exactly.

        Returns:
            The matching columns (none, one, or several when the LMS has two items by that name).
        """
        columns = self.grade_columns()
        if assignment in columns:
            return [assignment]
        found = []
        for column in columns:
            pattern = CANVAS_COLUMN if self.lms == "canvas" else MOODLE_COLUMN
            name = pattern.match(column)["name"]  # type: ignore[index]
            # Moodle writes "Quiz: Name" for activities and "Name" for manual items.
            if name == assignment or (self.lms == "moodle" and name.endswith(f": {assignment}")):
                found.append(column)
        return found


def read_canvas(path: str | Path, key: str = "SIS Login ID") -> Roster:
    """Read a Canvas gradebook export (Grades -> Export -> Export Entire Gradebook).

    The layout: a header row, rows Canvas adds before the learners (``Points Possible``, and a
    ``Manual Posting`` row when an assignment is posted by hand: their ``Student`` cell is blank
    or names the row), then one row per learner.

    Args:
        path: The CSV file.
        key: The column that identifies learners (one of :data:`CANVAS_KEYS`).

    Returns:
        The roster.

    Raises:
        RosterError: The file cannot be decoded, is not CSV, lacks a column, has a row of the
            wrong length, or lists a key twice.
        UsageError: The file cannot be read at all.
    """
    path = Path(path)
    header, rows, delimiter = _read_table(path, (",",), ("Student", key))
    _require(path, header, ("Student", "ID", "Section", key))
    roster = Roster(path, "canvas", header, key, delimiter=delimiter)
    student, canvas_id, key_index = (header.index(name) for name in ("Student", "ID", key))
    started = False
    for line, cells in rows:
        name = cells[student]
        # A row with any identifier is a learner, whatever its name cell says.
        anonymous = not name and not cells[canvas_id] and not cells[key_index]
        if not started and (anonymous or name == "Points Possible"):
            if name == "Points Possible":
                roster.points = dict(zip(header, cells, strict=True))
            continue
        started = True
        _add_learner(roster, line, cells)
    return roster


def read_moodle(path: str | Path, key: str = "Email address") -> Roster:
    """Read a Moodle grader report export (Grades -> Export -> Plain text file).

    The layout: a header row (user fields such as ``First name``, ``Last name``, ``ID number``,
    ``Institution``, ``Department``, ``Email address``, then one column per grade item and
    display type, such as ``Assignment: a1 (Real)``), then one row per learner. Any separator
    Moodle offers (comma, tab, semicolon, colon) is recognised from the header.

    Args:
        path: The exported file.
        key: The column that identifies learners (one of :data:`MOODLE_KEYS`).

    Returns:
        The roster.

    Raises:
        RosterError: As for :func:`read_canvas`.
    """
    path = Path(path)
    header, rows, delimiter = _read_table(path, MOODLE_DELIMITERS,
                                          ("First name", "Last name", key))
    _require(path, header, ("First name", "Last name", key))
    roster = Roster(path, "moodle", header, key, delimiter=delimiter)
    for line, cells in rows:
        _add_learner(roster, line, cells)
    return roster


def _add_learner(roster: Roster, line: int, cells: list[str]) -> None:
    learner = Learner(line, cells[roster.header.index(roster.key_column)],
                      dict(zip(roster.header, cells, strict=True)))
    if not learner.key:
        roster.unkeyed.append(learner)
        return
    other = roster.by_key.get(learner.key)
    if other is not None:
        raise RosterError(
            f"{roster.path}, line {line}, column {roster.column_number(roster.key_column)} "
            f"({roster.key_column}): {learner.key!r} is also on line {other.line}; each "
            f"learner must appear once. Export the roster again, or match learners by "
            f"another column.")
    roster.by_key[learner.key] = learner
    roster.learners.append(learner)


def _require(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    for name in required:
        if name not in header:
            raise RosterError(
                f"{path}, line 1: no column {name!r}; the header has "
                f"{', '.join(repr(item) for item in header)}. Download the roster again from "
                f"the LMS without removing columns.")
        if header.count(name) > 1:
            columns = [str(index + 1) for index, item in enumerate(header) if item == name]
            raise RosterError(f"{path}, line 1, columns {', '.join(columns)}: {name!r} appears "
                              f"more than once in the header.")


def _decode(path: Path, data: bytes) -> str:
    """Text of a roster: UTF-8 (with or without a BOM) or UTF-16 with a BOM (Excel's "Unicode")."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise RosterError(
            f"{path}, line {line}, character {column}: byte 0x{data[start]:02x} is not "
            f"{'UTF-16' if encoding == 'utf-16' else 'UTF-8'} text. Use the file the LMS "
            f"downloaded, or save it as 'CSV UTF-8' (not plain 'CSV') in Excel.") from None


def _read_table(path: Path, delimiters: tuple[str, ...], expected: tuple[str, ...]
                ) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """Header and rows of a delimited file, each row as long as the header.

    Args:
        path: The file.
        delimiters: Separators the file may use; the one whose header holds the most of
            ``expected`` wins (Moodle's colon also splits "Assignment: a1" apart, so counting
            fields would pick it).
        expected: Column names the header should hold.

    Returns:
        The header, (first line, cells) of every non-blank row, and the separator.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        # A path that is wrong is a usage error, not a malformed roster.
        raise UsageError(f"--roster {path}: cannot read it ({exc.strerror}).") from None
    text = _decode(path, data)
    first = text.split("\n", 1)[0]

    def known(delimiter: str) -> int:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        return sum(1 for cell in cells if cell.strip() in expected)

    delimiter = max(delimiters, key=known)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue
            if header is None:
                header = cells
                continue
            rows.append((start, _fit(path, start, header, cells)))
    except csv.Error as exc:
        raise RosterError(f"{path}, line {reader.line_num}: not CSV ({exc}).") from None
    if header is None:
        raise RosterError(f"{path}: the roster is empty; download it again from the LMS.")
    return header, rows, delimiter


def _fit(path: Path, line: int, header: list[str], cells: list[str]) -> list[str]:
    width = len(header)
    if len(cells) > width:
        # Spreadsheets pad rows with empty cells; anything else past the header is an error.
        extra = cells[width:]
        if not any(extra):
            return cells[:width]
        column = width + 1 + next(index for index, cell in enumerate(extra) if cell)
        raise RosterError(
            f"{path}, line {line}, column {column}: {len(cells)} fields where the header has "
            f"{width}; the row has a field past the last column ({cells[column - 1]!r}). A "
            f"comma inside a name must be within double quotes.")
    if len(cells) < width:
        raise RosterError(
            f"{path}, line {line}, column {len(cells) + 1}: {len(cells)} fields where the "
            f"header has {width}; the row ends before column {header[len(cells)]!r}.")
    return cells
