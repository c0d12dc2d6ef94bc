"""The cells through which a learner sees a graded choice question: its options, listed in the
order the learner's ``YOUR_NAME`` gives, and what an answer stands for (:mod:`autograder.choices`
holds the order and judges the answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autograder.choices import NAME_VARIABLE, learner_order, order_seed
from autograder.render.text import Markdown, choice_label
from autograder.result import CheckFailed, error
from autograder.schema import Choice, MultipleSelect, SingleChoice

# Question id -> (option texts, multiple select?) as listed by this kernel's last show_choices.
_LISTED: dict[str, tuple[tuple[str, ...], bool]] = {}


def _options_question(question_id: str, texts: Sequence[str],
                      multiple: bool) -> SingleChoice | MultipleSelect:
    # Only the texts decide the order, so a question rebuilt without its answers (the release
    # holds no answers) is ordered exactly as the hidden test's full question.
    kind = MultipleSelect if multiple else SingleChoice
    choices = tuple(Choice(str(text), "") for text in texts)
    return kind(id=question_id, prompt="", hints=(), solution="", choices=choices)


def show_choices(question_id: str, name: Any, texts: Sequence[str], *,
                 multiple: bool = False) -> Markdown:
    """List a question's options in this learner's order, lettered.

    Args:
        question_id: The question's id (its answer variable).
        name: The learner's ``YOUR_NAME``.
        texts: The option texts, as defined.
        multiple: True for a question with several right options.

    Returns:
        Markdown that a notebook shows under the cell.
    """
    texts = tuple(texts)
    _LISTED[question_id] = (texts, multiple)
    order = learner_order(_options_question(question_id, texts, multiple), name)
    lines = [f"- **{choice_label(position, choice.text).replace('. ', '.** ', 1)}"
             for position, choice in enumerate(order.shown.choices)]
    if multiple:
        how = (f'Assign every right letter to `{question_id}`, such as '
               f'`{question_id} = ["A", "C"]`, or the options\' texts.')
    else:
        how = (f'Assign one letter to `{question_id}`, such as `{question_id} = "B"`, or the '
               "option's text.")
    if not order_seed(name):
        how += (f" These options are in the order every learner who leaves `{NAME_VARIABLE}` "
                f"blank sees: write your name in the `{NAME_VARIABLE}` cell under the header "
                "and run the notebook again for an order of your own.")
    return Markdown("\n".join(lines) + f"\n\n*{how}*")


def read_choice(question_id: str, name: Any, value: Any) -> None:
    """Print which option an answer stands for, so a learner sees how it will be read.

    It says nothing about whether the answer is right.

    Args:
        question_id: The question's id.
        name: The learner's ``YOUR_NAME``.
        value: The learner's answer.

    Raises:
        CheckFailed: When the options were never listed in this kernel, or the answer names
            no option; the message says what to do.
    """
    if question_id not in _LISTED:
        raise CheckFailed(error(question_id, f"Run the cell that lists the options of "
                                f"`{question_id}` first, then this one."))
    texts, multiple = _LISTED[question_id]
    order = learner_order(_options_question(question_id, texts, multiple), name)
    try:
        chosen = order.resolve(value)
    except ValueError as exc:
        raise CheckFailed(error(question_id, f"`{question_id}` = {value!r}: {exc}")) from None
    picked = [chosen] if isinstance(chosen, int) else chosen
    listed = "; ".join(f"{order.letter(i)}. “{order.rewrite(texts[i])}”" for i in picked)
    print(f"`{question_id}` is read as: {listed or 'no option'}.")
