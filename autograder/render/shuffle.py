"""The order one learner sees a question's choices in, and the letters that go with it.

A quiz file that lists the right answer first would give it away, so each learner sees the
choices of every question in an order of their own: the choices sorted by a hash of the learner's
seed, the question id and the choice text. One learner sees the same order every time (a re-run,
a kernel restart); two learners see different ones; and reordering the choices in the YAML file
changes nobody's order.

Letters are presentation: every text a learner reads (prompt, hints, solution, feedback) is
rewritten so that a reference such as "choice A", "options B and D", "(C)" or "the first
statement" names the letter this learner sees. Answers are judged on choice identity by
:mod:`autograder.checks.answers`; :meth:`ChoiceOrder.resolve` turns what a learner typed or
clicked into that identity.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import secrets
import string
from collections.abc import Iterable
from typing import Any

from autograder.checks.answers import check_answer, choice_index, is_blank, selected_indices
from autograder.result import CheckResult, error
from autograder.schema import Choice, MultipleSelect, Question, Quiz, SingleChoice

LETTERS = string.ascii_uppercase

# "choice A", "Options B and D", "answers A, C or E": a noun that names choices, then letters.
_LETTER_REFERENCE = re.compile(
    r"\b(?P<noun>(?:[Cc]hoice|[Oo]ption|[Aa]nswer|[Ll]etter|[Ss]tatement)s?)"
    r"(?P<gap>\s+)(?P<letters>[A-Z](?:(?:\s*,\s*|\s+(?:and|or)\s+|\s*/\s*)[A-Z])*)\b"
)
_SINGLE_LETTER = re.compile(r"\b[A-Z]\b")
# "(C)" on its own, not a function call such as P(A).
_PARENTHESISED = re.compile(r"(?<![\w)])\((?P<letter>[A-Z])\)")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
# "the first statement", "The last option": a position in the list, not a letter.
_ORDINAL_REFERENCE = re.compile(
    r"\b(?P<the>[Tt]he\s+)(?P<ordinal>" + "|".join((*_ORDINALS, "last")) + r")\s+"
    r"(?P<noun>choice|option|statement|answer)\b",
    re.IGNORECASE,
)


def referenced_choices(text: str, count: int) -> list[int]:
    """The choices a text names by letter or by position, for the bank's tests.

    Args:
        text: A prompt, hint, solution or feedback written against the defined order.
        count: How many choices the question has (for "the last").

    Returns:
        The defined index of each reference, in the order written; an index of ``count`` or
        more means the text names a choice the question does not have.
    """
    found: list[tuple[int, int]] = []
    for match in _LETTER_REFERENCE.finditer(text):
        written = _SINGLE_LETTER.findall(match["letters"])
        found += [(match.start(), LETTERS.index(letter)) for letter in written]
    found += [(m.start(), LETTERS.index(m["letter"])) for m in _PARENTHESISED.finditer(text)]
    for match in _ORDINAL_REFERENCE.finditer(text):
        found.append((match.start(), _ordinal_index(match["ordinal"], count)))
    return [index for _, index in sorted(found)]


def _ordinal_index(word: str, count: int) -> int:
    """The 0-based index "first" ... "eighth" or "last" stands for."""
    word = word.lower()
    return count - 1 if word == "last" else _ORDINALS.index(word)


def shown_order(question_id: str, choices: Iterable[Choice], seed: str) -> tuple[int, ...]:
    """The order a learner sees a question's choices in.

    Args:
        question_id: The question's id.
        choices: Its choices as defined.
        seed: The learner's seed.

    Returns:
        The defined indices of the choices, in the order shown (shown position -> index).
    """
    texts = [choice.text for choice in choices]

    def rank(index: int) -> bytes:
        # One hash per choice, keyed by its text: the order does not depend on the YAML order.
        key = "\x1f".join((seed, question_id, texts[index]))
        return hashlib.sha256(key.encode("utf-8")).digest()

    return tuple(sorted(range(len(texts)), key=rank))


class ChoiceOrder:
    """One choice question as one learner sees it.

    Attributes:
        question: The question as defined.
        order: Defined index of the choice at each shown position.
        shown: The question as shown: choices in :attr:`order`, letters in every text rewritten.

    Args:
        question: A single-choice or multiple-select question.
        seed: The learner's seed.
    """

    def __init__(self, question: SingleChoice | MultipleSelect, seed: str):
        self.question = question
        self.order = shown_order(question.id, question.choices, seed)
        self._position = {index: position for position, index in enumerate(self.order)}
        choices = tuple(
            Choice(self.rewrite(c.text), self.rewrite(c.feedback), c.correct)
            for c in (question.choices[i] for i in self.order)
        )
        self.shown = dataclasses.replace(
            question,
            prompt=self.rewrite(question.prompt),
            hints=tuple(self.rewrite(hint) for hint in question.hints),
            solution=self.rewrite(question.solution),
            choices=choices,
        )

    def letter(self, index: int) -> str:
        """The letter a learner sees for a choice.

        Args:
            index: The choice's defined (0-based) index.

        Returns:
            Its shown letter.
        """
        return LETTERS[self._position[index]]

    def rewrite(self, text: str) -> str:
        """Rewrite references to choices by letter or position into the letters shown.

        A letter past the last choice is left as written (the bank's tests report it).

        Args:
            text: Text written against the defined order.

        Returns:
            The same text for this learner.
        """
        count = len(self.question.choices)

        def shown_letter(written: str) -> str:
            index = LETTERS.index(written)
            return self.letter(index) if index < count else written

        def letters(match: re.Match[str]) -> str:
            listed = _SINGLE_LETTER.sub(lambda m: shown_letter(m.group()), match["letters"])
            return f"{match['noun']}{match['gap']}{listed}"

        def ordinal(match: re.Match[str]) -> str:
            index = _ordinal_index(match["ordinal"], count)
            if index >= count:
                return match.group()
            noun = match["noun"]
            if match["the"][0].isupper():
                noun = noun.capitalize()
            return f"{noun} {self.letter(index)}"

        text = _LETTER_REFERENCE.sub(letters, text)
        text = _PARENTHESISED.sub(lambda m: f"({shown_letter(m['letter'])})", text)
        return _ORDINAL_REFERENCE.sub(ordinal, text)

    def resolve(self, value: Any) -> int | list[int]:
        """Which choices an answer means, as defined indices.

        Args:
            value: A shown letter, a choice text (any case and spacing), a 0-based shown
                position, or for a multiple select a list of those or text like ``"A, C"``.

        Returns:
            The defined index (single choice) or the sorted defined indices (multiple select).

        Raises:
            ValueError: With a learner-facing explanation of what to write instead.
        """
        if isinstance(self.question, SingleChoice):
            return self._index(value)
        if isinstance(value, list | tuple | set | frozenset):
            return sorted({self._index(item) for item in value})
        if isinstance(value, str) and (exact := self._defined(value)) is not None:
            return [exact]
        return sorted(self.order[p] for p in selected_indices(self.shown, value))

    def identity(self, indices: int | list[int]) -> str | list[str]:
        """What a progress file keeps of an answer: the choice text(s), not shown letters.

        Args:
            indices: As returned by :meth:`resolve`.

        Returns:
            The defined text of each choice (a list for a multiple select).
        """
        if isinstance(indices, int):
            return self.question.choices[indices].text
        return [self.question.choices[i].text for i in indices]

    def judge(self, value: Any) -> tuple[CheckResult, Any]:
        """Judge an answer written against this order, on the choices as defined.

        Args:
            value: As for :meth:`resolve`; a blank answer (None, ``...``, empty) is judged as
                not attempted.

        Returns:
            The verdict, in this learner's letters, and what a progress file keeps of the
            answer (:meth:`identity`, or the value as given when it names no choice).
        """
        if is_blank(value):
            return check_answer(self.question, value), value
        try:
            chosen = self.resolve(value)
        except ValueError as exc:
            return error(self.question.id, str(exc)), value
        # Judged on the choices as defined; only the letters in the feedback are the learner's.
        return self.localize(check_answer(self.question, chosen)), self.identity(chosen)

    def localize(self, result: CheckResult) -> CheckResult:
        """A result judged on the defined question, in this learner's letters.

        Args:
            result: The verdict of :func:`autograder.checks.answers.check_answer`.

        Returns:
            The same verdict with every letter reference rewritten.
        """
        return dataclasses.replace(
            result,
            message=self.rewrite(result.message),
            details=tuple(self.rewrite(detail) for detail in result.details),
        )

    def _defined(self, text: str) -> int | None:
        # Choice texts as saved in a progress file or handed over by a widget.
        for index, choice in enumerate(self.question.choices):
            if text == choice.text:
                return index
        return None

    def _index(self, value: Any) -> int:
        if isinstance(value, str) and (exact := self._defined(value)) is not None:
            return exact
        return self.order[choice_index(self.shown, value)]


def learner_view(quiz: Quiz, seed: str) -> tuple[Quiz, dict[str, ChoiceOrder]]:
    """A quiz as one learner sees it.

    Args:
        quiz: The quiz as defined.
        seed: The learner's seed.

    Returns:
        The quiz with every choice question shown in this learner's order, and the
        :class:`ChoiceOrder` of each choice question by id.
    """
    orders = {
        q.id: ChoiceOrder(q, seed)
        for q in quiz.questions
        if isinstance(q, SingleChoice | MultipleSelect)
    }
    questions: tuple[Question, ...] = tuple(
        orders[q.id].shown if q.id in orders else q for q in quiz.questions
    )
    return dataclasses.replace(quiz, questions=questions), orders


# Read in this order when a learner has no seed saved yet: an explicit learner id, then the
# JupyterHub user name (stable across a learner's servers).
SEED_VARIABLES = ("AUTOGRADER_LEARNER", "JUPYTERHUB_USER")


def new_learner_seed() -> str:
    """A seed for a learner who has none saved yet.

    Returns:
        ``$AUTOGRADER_LEARNER`` or ``$JUPYTERHUB_USER`` when set, else a random one (so that
        learners who all run as the same user, ``root`` in a container say, still differ).
    """
    for name in SEED_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return secrets.token_hex(8)
