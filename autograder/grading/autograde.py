"""nbgrader's autograde, run on exactly one learner's folder, with bounded output.

:func:`autograde` is ``NbGraderAPI.autograde`` with three differences, each closing a way one
learner's submission could reach another's grade or the grader's memory:

- **The folder is named, not globbed.** nbgrader globs ``--student`` (an id ``[A]_x`` matches
  the folder ``A_x``) and then globs the folder it found once more; :class:`ExactAutograde`
  takes the one folder of the id as it is, so a learner is graded on their own notebook only,
  whatever characters the id holds (a leading dot included).
- **The kernel is the grader's.** :class:`BoundedExecute` never starts the kernel a notebook's
  metadata names: every notebook runs in the grading kernel.
- **Output is bounded.** Whatever a kernel sends, the worker keeps at most
  :data:`MAX_OUTPUT_BYTES` of it per notebook, and its ZMQ sockets refuse any single message
  part over :data:`MAX_MESSAGE_BYTES` before reading it, so a gigabyte of ``print`` (or one
  message of a gigabyte sent on the kernel's own socket) costs the worker little memory.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.preprocessors import DeduplicateIds, Execute
from nbgrader.utils import capture_log, temp_attrs
from traitlets import Bool

from autograder.grading.learners import notebooks_in

# How a refusal starts, as :mod:`autograder.grading.submission` writes it.
REFUSED = "refused: "
# The kernel every submission runs in, whatever its notebook's metadata says.
GRADING_KERNEL = "python3"
# Largest message part the worker accepts from a kernel: far above an honest figure or table.
MAX_MESSAGE_BYTES = 32 * 2**20
# Output (and widget state) a worker keeps per notebook; the rest is dropped, and said so.
MAX_OUTPUT_BYTES = 32 * 2**20
DROPPED_MARK = "... further output dropped by the grader: the notebook's output passed"
_KERNELSPEC_NOTE = "Notebook names a kernel other than the grading kernel:"
_LOCKED_NOTE = "Locked cell differs from the released notebook:"
# What nbgrader's sanitising logs when it undoes a learner's edit -> the note recorded.
_EDITS = [
    (re.compile(r"Attribute 'points' for cell (.{1,80}?) has changed! \(should be: (\S+), "
                r"got: (\S+?)\)"), "points of {0} edited ({2} instead of {1}): {1} kept"),
    (re.compile(re.escape(_LOCKED_NOTE) + r" (.{1,80})$"),
     "locked cell {0} was edited: its source was put back"),
    (re.compile(r"Attribute 'cell_type' for cell (.{1,80}?) has changed! \(should be: (\w+), "
                r"got: (\w+)\)"), "cell {0} was turned into {2}: it is {1} again"),
    (re.compile(r"Attribute 'locked' for cell (.{1,80}?) has changed!"),
     "cell {0} was unlocked: it is locked again"),
    (re.compile(r"Missing grade cell (.{1,80}?) encountered"),
     "grade cell {0} was deleted: it was put back"),
    (re.compile(r"Cell with id '(.{1,80}?)' exists multiple times!"),
     "grade id {0} appears more than once: only its last cell counts"),
    (re.compile(r"Cell '(.{1,80}?)' does not exist in the database"),
     "grade id {0} is not the assignment's: that cell was graded as an ordinary cell"),
    (re.compile(r"Skipping unknown notebook: (?:.*/)?(.{1,120}?)$"),
     "extra notebook {0} was not graded"),
    (re.compile(r"Timeout waiting for IOPub output"),
     "a cell's output stopped arriving (a message over the grader's limit was refused); "
     "grading went on after the wait"),
    (re.compile(re.escape(_KERNELSPEC_NOTE) + r" (.{1,90})$"),
     "the notebook names the kernel {0}: it ran in the grading kernel"),
]
# At most this many edit notes per submission: a notebook of 10,000 duplicated ids needs none.
MAX_EDIT_NOTES = 20
# How many messages a worker's socket queues before the kernel's side must hold the rest.
RECEIVE_QUEUE = 8
_TOO_DEEP = "autograder: nested too deep"
_KEPT_TYPES = {"stream", "display_data", "execute_result", "update_display_data", "error",
               "comm_open", "comm_msg"}


def autograde(api: Any, assignment: str, student: str) -> dict[str, Any]:
    """Autograde one learner's submission, as ``nbgrader autograde --force`` would.

    Args:
        api: nbgrader's ``NbGraderAPI`` for the course.
        assignment: Assignment name.
        student: The learner id, exactly as its folder is named (see
            :func:`autograder.grading.learners.refusal` for the ids that can be used).

    Returns:
        nbgrader's outcome: ``success``, and ``log`` and ``error`` when present.
    """
    with temp_attrs(api.coursedir, assignment_id=assignment, student_id=student):
        app = ExactAutograde(coursedir=api.coursedir, parent=api)
        app.force = True
        app.create_student = True
        return capture_log(app)


class ExactAutograde(Autograde):
    """nbgrader's autograde converter on the one folder of ``coursedir.student_id``."""

    def init_notebooks(self) -> None:
        """Find the learner's notebooks in their own folder, without globbing the id."""
        self.assignments = {}
        self.notebooks = []
        folder = self._format_source(self.coursedir.assignment_id, self.coursedir.student_id)
        found = notebooks_in(folder, self.coursedir.notebook_id)
        if not found:
            message = f"No notebooks were matched in '{folder}'"
            self.log.error(message)
            raise NbGraderException(message)
        for path in found:
            problem = _unreadable(path)
            if problem is not None:
                message = (f"{REFUSED}{os.path.basename(path)} is not a notebook nbgrader can "
                           f"read ({problem}), so nothing of it was graded")
                self.log.error("%s", message)
                raise NbGraderException(message)
        self.assignments[folder] = found

    def _init_preprocessors(self) -> None:
        super()._init_preprocessors()
        # The course may configure its own list; only nbgrader's Execute is replaced.
        replaced = {Execute: BoundedExecute, DeduplicateIds: KeepFirstIds}
        found = [replaced[type(pp)](parent=self.exporter) if type(pp) in replaced else pp
                 for pp in self.exporter._preprocessors]
        if self._sanitizing:
            note = NoteEdits(parent=self.exporter, enabled=True)
            note.coursedir = self.coursedir
            found.insert(0, note)
        self.exporter._preprocessors = found


class KeepFirstIds(DeduplicateIds):
    """nbgrader's DeduplicateIds, leaving a duplicate an ordinary cell nbgrader can read.

    nbgrader empties a duplicate's ``nbgrader`` metadata, and its OverwriteCells then fails on
    the empty entry, so one copied grade cell (a slip anyone can make in Jupyter) failed the
    whole notebook; here the entry is removed instead.
    """

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> tuple[Any, Any]:
        """Keep the last cell of each grade id (nbgrader walks backwards); strip the others.

        Args:
            cell: A cell.
            resources: nbconvert's resources.
            cell_index: Its index.

        Returns:
            The cell and the resources.
        """
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.get("metadata", {}).get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


class NoteEdits(Preprocessor):
    """Log what a learner changed that sanitising will undo and nbgrader itself does not log.

    nbgrader logs a changed checksum for every grade cell whose hidden tests the release left
    out, so its log cannot tell an edited locked cell from an honest one; this compares each
    locked cell with the released notebook instead. A kernelspec other than the grading kernel
    is logged too.
    """

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        """Log the edits; change nothing.

        Args:
            nb: The submitted notebook.
            resources: nbconvert's resources (``nbgrader.assignment`` and ``notebook``).

        Returns:
            Both, unchanged.
        """
        spec = nb.get("metadata", {}).get("kernelspec")
        name = spec.get("name") if isinstance(spec, dict) else None
        if name != GRADING_KERNEL:
            self.log.warning("%s %r", _KERNELSPEC_NOTE, str(name)[:80])
        released = self._released_sources(resources.get("nbgrader", {}))
        for cell in nb.get("cells", []):
            grade_id = _grade_id(cell)
            if grade_id in released and cell.get("source") != released[grade_id]:
                self.log.warning("%s %s", _LOCKED_NOTE, grade_id[:80])
        return nb, resources

    def _released_sources(self, info: dict[str, Any]) -> dict[str, str]:
        """grade_id -> source of every locked cell of the released notebook."""
        import nbformat

        coursedir = getattr(self, "coursedir", None)
        if coursedir is None:
            return {}
        folder = coursedir.format_path(coursedir.release_directory, ".",
                                       str(info.get("assignment", "")))
        try:
            released = nbformat.read(os.path.join(folder, f"{info.get('notebook')}.ipynb"),
                                     as_version=4)
        except (OSError, ValueError):
            return {}
        return {grade_id: cell.source for cell in released.cells
                if (grade_id := _grade_id(cell)) and cell.metadata.nbgrader.get("locked")}


def _grade_id(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


class BoundedExecute(Execute):
    """nbgrader's Execute, in the grading kernel, keeping a bounded amount of output."""

    # A message the worker's sockets refused costs its connection a moment, and with it maybe
    # the cell's closing status: the notebook goes on after the IOPub wait instead of failing.
    raise_on_iopub_timeout = Bool(False).tag(config=True)
    _kept_bytes = 0
    _dropped = False

    def create_kernel_manager(self) -> Any:
        """Create the kernel manager of the grading kernel, with bounded sockets.

        Returns:
            The kernel manager.
        """
        import zmq
        import zmq.asyncio

        # The notebook's metadata must not choose what runs.
        self.kernel_name = GRADING_KERNEL
        km = self.kernel_manager_class(kernel_name=GRADING_KERNEL, config=self.config)
        # Every socket made from this context refuses larger message parts (libzmq checks the
        # size a frame announces before reading it) and queues only a few messages: a kernel
        # that sends faster than the worker reads fills its own queue, not the worker's.
        context = zmq.asyncio.Context()
        for bounded in (context, km.context):
            bounded.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            bounded.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
        make_client = km.client
        km.client = lambda **kwargs: make_client(**{"context": context, **kwargs})
        # The client shares the manager's session: a message too deep to parse is dropped.
        km.session.unpack = _tolerant(km.session.unpack)
        self._context = context
        self._kept_bytes = 0
        self._dropped = False
        self.km = km
        return km

    async def _async_cleanup_kernel(self) -> None:
        try:
            await super()._async_cleanup_kernel()
        finally:
            context = getattr(self, "_context", None)
            if context is not None:
                context.destroy(linger=0)
                self._context = None

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        """Keep a message's output while the notebook is under its output allowance.

        Args:
            msg: The kernel message.
            cell: The cell being executed.
            cell_index: Its index.

        Returns:
            The output appended, or None.
        """
        kind = msg.get("msg_type")
        if isinstance(msg.get("content"), dict) and msg["content"].get(_TOO_DEEP):
            if not self._dropped:
                self._dropped = True
                cell.setdefault("outputs", []).append(_dropped_output())
            return None
        if kind in _KEPT_TYPES:
            self._kept_bytes += _size(msg)
            if self._kept_bytes > MAX_OUTPUT_BYTES:
                if kind == "error":
                    # An error output decides the kernel-side score of a grade cell: keep it,
                    # shortened.
                    msg = {**msg, "content": _short_error(msg.get("content") or {})}
                else:
                    if not self._dropped:
                        self._dropped = True
                        cell.setdefault("outputs", []).append(_dropped_output())
                    return None
        return super().process_message(msg, cell, cell_index)


def _unreadable(path: str) -> str | None:
    """Why nbformat cannot read a notebook (as nbgrader is about to), or None."""
    import nbformat

    try:
        nbformat.read(path, as_version=4)
    except RecursionError:
        return "it is nested too deep"
    except Exception as exc:  # noqa: BLE001 - whatever a malformed file makes nbformat raise
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def _tolerant(unpack: Any) -> Any:
    """``unpack`` that turns a part nested too deep to parse into a marker, not an error."""

    def tolerant(data: Any) -> Any:
        try:
            return unpack(data)
        except RecursionError:
            return {_TOO_DEEP: True}

    return tolerant


def _size(msg: dict[str, Any]) -> int:
    try:
        size = len(json.dumps(msg.get("content"), default=repr))
    except (ValueError, TypeError, RecursionError):
        return MAX_OUTPUT_BYTES + 1
    return size + sum(len(part) for part in msg.get("buffers") or [])


def _short_error(content: dict[str, Any]) -> dict[str, Any]:
    return {"ename": str(content.get("ename", "Error"))[:200],
            "evalue": str(content.get("evalue", ""))[:2000],
            "traceback": [str(line)[:2000] for line in list(content.get("traceback") or [])[:5]]}


def _dropped_output() -> Any:
    import nbformat

    return nbformat.v4.new_output(
        "stream", name="stdout",
        text=f"\n{DROPPED_MARK} {MAX_OUTPUT_BYTES // 2**20} MB.\n")


def edit_notes(log: str) -> list[str]:
    """Name the edits nbgrader's sanitising undid in a submission, from its autograde log.

    Args:
        log: nbgrader's log of one submission's autograde.

    Returns:
        One note per edit undone (at most :data:`MAX_EDIT_NOTES`, then a count), in log order.
    """
    notes: list[str] = []
    for line in log.splitlines():
        for pattern, note in _EDITS:
            found = pattern.search(line)
            if found:
                text = note.format(*found.groups())
                if text not in notes:
                    notes.append(text)
                break
    if len(notes) > MAX_EDIT_NOTES:
        notes = [*notes[:MAX_EDIT_NOTES], f"and {len(notes) - MAX_EDIT_NOTES} more edits undone"]
    return notes
