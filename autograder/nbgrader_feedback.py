"""Keep hidden tests and grader-only data out of the feedback nbgrader generates.

``nbgrader generate_feedback`` (0.9) renders the autograded notebook as it is: the hidden test
regions are back in the grade cells, and a failing cell's traceback quotes the lines around the
failure, hidden lines included. The course's ``nbgrader_config.py`` therefore runs nbgrader's
own ``ClearHiddenTests`` on feedback, plus :class:`ShortGradeTracebacks`, which reduces the error
output of every grade cell to its last line: ``CheckFailed: <the learner-facing message>``.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


class ShortGradeTracebacks(NbGraderPreprocessor):
    """Replace the traceback of each grade cell's error with ``ExceptionName: message``.

    The checks' messages are written for learners; the surrounding traceback only shows test code.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Shorten the error outputs of one cell if it is a grade cell.

        Args:
            cell: A notebook cell.
            resources: nbconvert resources, passed through.
            cell_index: Position of the cell.

        Returns:
            The cell and the resources.
        """
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return cell, resources
