"""What the options cell of a graded choice question lists, read back from its Markdown."""

from __future__ import annotations

import re
from typing import Any

from autograder.render.options import show_choices
from autograder.schema import MultipleSelect, SingleChoice

_LISTED_OPTION = re.compile(r"^- \*\*([A-Z])\.\*\* (.+)$", flags=re.MULTILINE)


def letters_in(markdown: str) -> dict[str, str]:
    """Letter -> option text in an options cell's Markdown (its output in a notebook)."""
    return dict(_LISTED_OPTION.findall(markdown))


def listed(question: SingleChoice | MultipleSelect, name: Any) -> dict[str, str]:
    """Letter -> option text, as the options cell shows them to a learner called ``name``."""
    return letters_in(show_choices(question.id, name, [c.text for c in question.choices],
                                   multiple=isinstance(question, MultipleSelect)))


def letter_of(question: SingleChoice | MultipleSelect, name: Any, text: str) -> str:
    """The letter a learner called ``name`` sees for the option ``text``."""
    return next(letter for letter, shown in listed(question, name).items() if shown == text)
