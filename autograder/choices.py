"""Choice questions of graded notebooks, with each learner's options in an order of their own.

A graded notebook is one file for every learner, so no per-learner order can be written into
it. The order comes from what the learner writes into the notebook: the ``YOUR_NAME = ...``
line under the header. Four places order a question's options from that one line, all with
:class:`autograder.render.shuffle.ChoiceOrder`:

- the read-only cell that lists the options
  (:func:`autograder.render.options.show_choices`);
- the visible line of the grade cell, which says which option an answer stands for
  (:func:`autograder.render.options.read_choice`);
- the grade cell's hidden test in the kernel and the grader outside it (:func:`judge_choice`).

nbgrader keeps the name with the rest of the learner's cells, so a letter is graded against the
order the notebook lists when it runs, never against an order the learner did not see. Editing
the name (or the exported copy of it) only moves letters onto other options: what is judged is
the option a letter stands for, so no name scores more than answering with the option's text.
Case and spacing of the name do not count, so fixing "alice " to "Alice" keeps the order.
"""

from __future__ import annotations

from typing import Any

from autograder.render.shuffle import ChoiceOrder
from autograder.result import CheckResult
from autograder.schema import MultipleSelect, SingleChoice

NAME_VARIABLE = "YOUR_NAME"
NAME_CELL_SOURCE = (
    f"# Your name (or student id). It also decides the order in which this notebook lists the\n"
    f"# options of its choice questions: after changing it, run the notebook again.\n"
    f'{NAME_VARIABLE} = ""'
)
# The header's line: the name stays defined (blank) even when a learner deletes their own cell.
NAME_DEFAULT = f'{NAME_VARIABLE} = ""  # your own line below sets it'
# Longer names change nothing: the seed is for ordering, not identification.
_MAX_NAME = 200


def order_seed(name: Any) -> str:
    """The seed a learner's name gives to the order of their options.

    Args:
        name: The value of ``YOUR_NAME`` (anything a learner may have assigned).

    Returns:
        The name with case and runs of spaces ignored; ``""`` for a blank name or a value that
        is not text.
    """
    if not isinstance(name, str):
        return ""
    return " ".join(name.split()).casefold()[:_MAX_NAME]


def learner_order(question: SingleChoice | MultipleSelect, name: Any) -> ChoiceOrder:
    """A question's options in the order a learner's name gives.

    Args:
        question: A choice question (only its id and option texts decide the order).
        name: The learner's ``YOUR_NAME``.

    Returns:
        The :class:`ChoiceOrder`.
    """
    return ChoiceOrder(question, order_seed(name))


def judge_choice(question: SingleChoice | MultipleSelect, name: Any, value: Any) -> CheckResult:
    """Judge a graded choice answer against the order its learner's name gives.

    The grade cell's hidden test runs it in the kernel; the grader runs the same
    :meth:`ChoiceOrder.judge` on what the kernel exported, which also gives it the option an
    answer stands for, so both reach the same verdict.

    Args:
        question: The question as defined, right answers included.
        name: The learner's ``YOUR_NAME``.
        value: The learner's answer: letters as listed for that name, or option texts.

    Returns:
        The verdict, its letters those the learner sees.
    """
    return learner_order(question, name).judge(value)[0]
