"""Verified grading inside nbgrader's own ``autograde``: the formgrader's button included.

``autograder grade`` verifies every submission in a process of its own. A course also gets
graded by plain ``nbgrader autograde`` and by the formgrader's Autograde button, which run
nbgrader's converter and record whatever the learner's kernel claimed. The course config calls
:func:`configure_autograde`, which gives that converter the same judgement:

- **sanitising** (:class:`StripJudgement`, after nbgrader restores the grade cells): the hidden
  regions that judge (expected answers) leave the grade cells, so no expected value ever runs in,
  or can be printed by, learner code; the regions that hand the graded values to the grader stay;
- **before execution** (:class:`ExportFolder`): the kernel gets a fresh export folder;
- **after execution** (:class:`VerifyExports`, before nbgrader's ``SaveAutoGrades``): the
  grader's confined verifier judges the exports on grader-only rows, and the grade cells' outputs
  become the verdicts (:mod:`autograder.grading.feedback`), from which ``SaveAutoGrades`` records
  the verified scores and ``generate_feedback`` shows the grader's messages.

The manifest and the secret are read before the first kernel of the process starts.
``autograder grade`` configures the same sanitising, and verifies in its own session instead.
"""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.grading import feedback, staging

EXPORT_ENV = "AUTOGRADER_EXPORT_DIR"


class StripJudgement(NbGraderPreprocessor):
    """Remove the hidden regions that judge from every grade cell (see the module text)."""

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> tuple[Any, Any]:
        """Strip one cell.

        Args:
            cell: A notebook cell.
            resources: nbconvert resources, passed through.
            cell_index: Its position.

        Returns:
            The cell and the resources.
        """
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = feedback.strip_judgement(cell.source)
        return cell, resources


class _Grading:
    """What one nbgrader process needs to verify: the inputs, read once, and the verifier."""

    def __init__(self, root: Path):
        from autograder.grading.layout import CourseLayout
        from autograder.grading.session import read_secret

        self.layout = CourseLayout(root)
        self.secret = read_secret(self.layout)
        self.manifests: dict[str, Any] = {}
        self.run = staging.new_folder(None, "ag-nbgrader-")
        self._verifier: Any = None
        self._log = open(os.devnull, "wb")  # noqa: SIM115 - closed at exit
        atexit.register(self.close)

    def manifest(self, assignment: str) -> Any:
        """The assignment's manifest, read once.

        Args:
            assignment: Assignment name.

        Returns:
            The manifest.
        """
        if assignment not in self.manifests:
            from autograder.grading import manifest

            self.manifests[assignment] = manifest.load(self.layout.root, assignment)
        return self.manifests[assignment]

    def verifier(self, assignment: str) -> Any:
        """The confined verifier, started at first use and warmed for the assignment.

        Args:
            assignment: Assignment name.

        Returns:
            The verifier.
        """
        if self._verifier is None:
            from autograder.grading.sandbox import Limits
            from autograder.grading.session import DEFAULT_MEMORY_MB, _Verifier

            self._verifier = _Verifier(self.run, confined=True, limits=Limits(),
                                       memory_bytes=DEFAULT_MEMORY_MB * 2**20, log=self._log)
            self._verifier.warm(self.manifest(assignment), self.secret)
        return self._verifier

    def close(self) -> None:
        """Stop the verifier and delete the run folder."""
        if self._verifier is not None:
            self._verifier.stop()
            self._verifier = None
        self._log.close()
        staging.remove(self.run)


_GRADING: dict[str, _Grading] = {}


def _grading(preprocessor: NbGraderPreprocessor) -> _Grading:
    root = str(preprocessor.config.CourseDirectory.get("root") or os.getcwd())
    if root not in _GRADING:
        _GRADING[root] = _Grading(Path(root))
    return _GRADING[root]


class ExportFolder(NbGraderPreprocessor):
    """Give the notebook's kernel a fresh export folder, and read the grader's inputs first."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        """Name the export folder in this process's environment (the kernel launcher reads it).

        Args:
            nb: The notebook about to be executed.
            resources: nbconvert resources (``resources["nbgrader"]`` names the submission).

        Returns:
            The notebook and the resources.
        """
        grading = _grading(self)
        assignment = resources["nbgrader"]["assignment"]
        grading.manifest(assignment)
        folder = staging.new_folder(grading.run, "x-")
        resources["nbgrader"]["exports"] = str(folder)
        os.environ[EXPORT_ENV] = str(folder)
        return nb, resources


class VerifyExports(NbGraderPreprocessor):
    """Judge the kernel's exports in the confined verifier; show and score the verdicts."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        """Verify one executed notebook.

        Args:
            nb: The executed notebook.
            resources: nbconvert resources, with the export folder :class:`ExportFolder` made.

        Returns:
            The notebook, its grade cells showing the verified verdicts, and the resources.
        """
        from autograder.grading.results import SubmissionResult, TaskResult, write_result
        from autograder.grading.session import zero_verdicts

        os.environ.pop(EXPORT_ENV, None)
        grading = _grading(self)
        info = resources["nbgrader"]
        assignment, student, notebook = info["assignment"], info["student"], info["notebook"]
        manifest = grading.manifest(assignment)
        exports = Path(info["exports"])
        started = time.monotonic()
        notes = [f"export refused: {refusal}" for refusal in staging.refusals(exports)]
        try:
            verdicts = grading.verifier(assignment).verify(manifest, grading.secret, exports)
        finally:
            staging.remove(exports)
        if verdicts is None:
            verdicts = zero_verdicts(manifest, "the grader could not verify this submission "
                                     "(the verification crashed, overran or used too much "
                                     "memory)")
            notes.append("verification failed")
        verdicts = [verdict for verdict in verdicts if verdict.notebook == notebook]
        feedback.present_verdicts(nb, notebook, verdicts, unverified_fail=True)
        result = SubmissionResult(student, None, notes, time.monotonic() - started,
                                  confined=True)
        result.tasks.extend(TaskResult(**verdict.to_dict()) for verdict in verdicts)
        write_result(grading.layout.results(assignment), result)
        self.log.info("Verified %s/%s for %s: %g of %g points", assignment, notebook, student,
                      sum(v.score for v in verdicts), sum(v.max_score for v in verdicts))
        return nb, resources


def configure_autograde(c: Any, *, verify: bool) -> None:
    """Set the preprocessors of nbgrader's autograde converter for verified grading.

    Args:
        c: A traitlets config (the course's ``nbgrader_config.py`` passes its ``c``).
        verify: Verify in the converter itself (plain ``nbgrader autograde``, the formgrader);
            False for ``autograder grade``, which verifies in its own session.
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        Execute,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    c.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, StripJudgement,
        CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [
        *([ExportFolder] if verify else []), Execute, IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, *([VerifyExports] if verify else []), SaveAutoGrades, AssignLatePenalties,
        CheckCellMetadata]
