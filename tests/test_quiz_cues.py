"""No right answer gives itself away by its surface: length or absolute words.

A learner who knows nothing can still score well on a choice question whose right answer is the
longest, most carefully hedged sentence, while the wrong ones say "always", "never" or "only".
These tests look at every single-choice question whose choices are sentences (not a shape, a
name or a number) in every bank and fail when:

- across the bank, the right answer is the longest choice (or the shortest) far more often than
  chance gives (one in n for a question with n choices; a one-sided test on the exact
  distribution of the count, at the 5 % level), or far less often (then "never pick the
  longest" would be the strategy);
- in one question, the right answer is much longer than every distractor;
- absolute words appear in distractors far more often than in right answers (single-choice
  and multiple-select sentence choices together), so "avoid the absolute" would be a strategy,
  or the other way round;
- across the banks, one position of the files holds the right answer of more single-choice
  questions (of every kind, sentences or not) than its fair share plus one. Learners see a
  shuffled order, but the files are read too (by authors copying a question, by anyone browsing
  the repository), and "pick the first" must not pay there either.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autograder.loader import load_quiz_file
from autograder.quiz import quizzes_dir
from autograder.schema import MultipleSelect, Quiz, SingleChoice

BANKS = [load_quiz_file(path) for path in sorted(quizzes_dir().glob("*.yaml"))]

#: Words that make a statement absolute; test-wise learners strike choices that carry them.
ABSOLUTE = re.compile(
    r"\b(always|never|only|at all|nothing|none|cannot|can't|impossible|guaranteed?|"
    r"everything|no matter)\b",
    re.IGNORECASE,
)
#: A choice counts as a sentence when the choices of its question average this many words.
SENTENCE_WORDS = 4
#: Per question, the right answer may be at most this much longer than the longest distractor.
MAX_LENGTH_RATIO = 1.3
#: One-sided level of the bank-wide length test.
ALPHA = 0.05


def _prose(text: str) -> str:
    """The text without code spans, whose words (`average=None`) are not claims."""
    return re.sub(r"`[^`]*`", " ", text)


def _sentence_questions(
    banks: list[Quiz], kinds: tuple[type, ...] = (SingleChoice,)
) -> list[tuple[str, SingleChoice | MultipleSelect]]:
    found = []
    for bank in banks:
        for question in bank.questions:
            if not isinstance(question, kinds):
                continue
            words = [len(_prose(c.text).split()) for c in question.choices]
            if sum(words) / len(words) >= SENTENCE_WORDS:
                found.append((bank.stem, question))
    return found


def _tail_probability(chances: list[float], observed: int) -> float:
    """P(at least `observed` successes) for independent trials with the given chances."""
    distribution = [1.0]
    for p in chances:
        step = [0.0] * (len(distribution) + 1)
        for k, mass in enumerate(distribution):
            step[k] += mass * (1 - p)
            step[k + 1] += mass * p
        distribution = step
    return sum(distribution[observed:])


def _extreme_counts(banks: list[Quiz], pick: str) -> tuple[int, list[float], list[str]]:
    """How often the right answer is strictly the longest (or shortest) of its question."""
    hits, chances, names = 0, [], []
    for stem, question in _sentence_questions(banks):
        right = next(len(c.text) for c in question.choices if c.correct)
        wrong = [len(c.text) for c in question.choices if not c.correct]
        extreme = right > max(wrong) if pick == "longest" else right < min(wrong)
        chances.append(1 / len(question.choices))
        if extreme:
            hits += 1
            names.append(f"{stem}:{question.id}")
    return hits, chances, names


def length_cue_p_value(banks: list[Quiz], pick: str = "longest") -> tuple[float, list[str]]:
    """One-sided p-value of the count of right answers that are the longest (shortest) choice."""
    hits, chances, names = _extreme_counts(banks, pick)
    return _tail_probability(chances, hits), names


def too_rarely_longest_p_value(banks: list[Quiz]) -> float:
    """P(as few right answers as observed are the longest choice, or fewer) under chance."""
    hits, chances, _ = _extreme_counts(banks, "longest")
    return 1.0 - _tail_probability(chances, hits + 1)


def long_right_answers(banks: list[Quiz]) -> list[str]:
    """Questions whose right answer is much longer than their longest distractor."""
    found = []
    for stem, question in _sentence_questions(banks):
        right = next(len(c.text) for c in question.choices if c.correct)
        longest_wrong = max(len(c.text) for c in question.choices if not c.correct)
        if right > MAX_LENGTH_RATIO * longest_wrong:
            found.append(f"{stem}:{question.id} ({right} vs {longest_wrong} characters)")
    return found


def absolute_word_rates(banks: list[Quiz]) -> tuple[float, float, list[str]]:
    """Share of right answers and of distractors that carry an absolute word."""
    right = wrong = right_hits = wrong_hits = 0
    examples = []
    for stem, question in _sentence_questions(banks, (SingleChoice, MultipleSelect)):
        for choice in question.choices:
            hit = bool(ABSOLUTE.search(_prose(choice.text)))
            if choice.correct:
                right, right_hits = right + 1, right_hits + hit
            else:
                wrong, wrong_hits = wrong + 1, wrong_hits + hit
                if hit:
                    examples.append(f"{stem}:{question.id}: {choice.text}")
    return right_hits / right, wrong_hits / wrong, examples


def absolute_words_give_away(banks: list[Quiz]) -> bool:
    """True when distractors carry absolute words clearly more often than right answers."""
    right_rate, wrong_rate, _ = absolute_word_rates(banks)
    return wrong_rate > 1.25 * right_rate + 0.02


def absolute_words_mark_right_answers(banks: list[Quiz]) -> bool:
    """True when right answers carry absolute words clearly more often than distractors."""
    right_rate, wrong_rate, _ = absolute_word_rates(banks)
    return right_rate > 1.25 * wrong_rate + 0.05


def position_counts(banks: list[Quiz]) -> dict[int, tuple[int, float]]:
    """Per position of the files: how many single-choice right answers it holds, and how many
    chance would put there (one in n for each question with n choices that has the position)."""
    counts: dict[int, tuple[int, float]] = {}
    for bank in banks:
        for question in bank.questions:
            if not isinstance(question, SingleChoice):
                continue
            right = next(i for i, c in enumerate(question.choices) if c.correct)
            for position in range(len(question.choices)):
                held, expected = counts.get(position, (0, 0.0))
                counts[position] = (held + (position == right),
                                    expected + 1 / len(question.choices))
    return counts


def crowded_positions(banks: list[Quiz]) -> list[str]:
    """Positions that hold the right answer more often than their fair share plus one."""
    return [
        f"position {'ABCDEFGH'[position]}: {held} right answers, chance gives {expected:.1f}"
        for position, (held, expected) in sorted(position_counts(banks).items())
        if held > expected + 1
    ]


def test_the_bank_has_sentence_questions_to_judge() -> None:
    assert len(_sentence_questions(BANKS)) >= 20


@pytest.mark.parametrize("pick", ["longest", "shortest"])
def test_right_answers_are_not_the_longest_or_shortest_choice_more_than_chance(pick: str) -> None:
    p_value, names = length_cue_p_value(BANKS, pick)
    assert p_value >= ALPHA, (
        f"the right answer is the {pick} choice in {len(names)} questions, far more than chance "
        f"(p = {p_value:.4f}); vary the lengths: {names}"
    )


def test_right_answers_are_the_longest_choice_not_far_less_often_than_chance() -> None:
    p_value = too_rarely_longest_p_value(BANKS)
    assert p_value >= ALPHA, f"right answers are almost never the longest (p = {p_value:.4f})"


def test_no_right_answer_is_much_longer_than_every_distractor() -> None:
    assert long_right_answers(BANKS) == []


def test_absolute_words_are_not_a_cue_to_strike_distractors() -> None:
    right_rate, wrong_rate, examples = absolute_word_rates(BANKS)
    assert not absolute_words_give_away(BANKS), (
        f"{wrong_rate:.0%} of distractors but {right_rate:.0%} of right answers carry an "
        f"absolute word: {examples}"
    )


def test_absolute_words_do_not_mark_right_answers_either() -> None:
    assert not absolute_words_mark_right_answers(BANKS)


def test_no_position_of_the_files_holds_the_right_answer_too_often() -> None:
    counts = position_counts(BANKS)
    assert sum(held for held, _ in counts.values()) >= 30
    assert crowded_positions(BANKS) == [], (
        "move right answers out of the crowded position (the order in the file changes no "
        f"learner's order): {crowded_positions(BANKS)}"
    )


# The tests above must be able to fail: a bank built to carry each cue trips each check.


def _cued_bank(tmp_path: Path) -> Quiz:
    hedged = (
        "It usually improves on the training rows, although the validation figures can fall "
        "once it overfits"
    )
    questions = []
    for number in range(12):
        questions.append(f"""
  - id: q{number}
    kind: single_choice
    prompt: Which statement about the model is true?
    choices:
      - text: It always reaches the same accuracy on any data
        feedback: Accuracy depends on the data.
      - text: It never changes its weights during training
        feedback: Training changes the weights.
      - text: {hedged}
        correct: true
        feedback: Right.
    hints: [Think about training.]
    solution: The third statement.
""")
    path = tmp_path / "cued.yaml"
    path.write_text("schema_version: 1\ntitle: cued\nquestions:" + "".join(questions))
    return load_quiz_file(path)


def test_the_cue_checks_catch_a_cued_bank(tmp_path: Path) -> None:
    cued = [_cued_bank(tmp_path)]
    assert length_cue_p_value(cued, "longest")[0] < ALPHA
    assert length_cue_p_value(cued, "shortest")[0] == pytest.approx(1.0)
    assert len(long_right_answers(cued)) == 12
    assert absolute_words_give_away(cued)
    assert not absolute_words_mark_right_answers(cued)
    assert too_rarely_longest_p_value(cued) == pytest.approx(1.0)
    # Every right answer third of three: chance puts 4 of the 12 there.
    assert crowded_positions(cued) == ["position C: 12 right answers, chance gives 4.0"]


def test_a_bank_whose_right_answers_are_never_longest_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "never.yaml"
    question = """
  - id: q{n}
    kind: single_choice
    prompt: Which statement is true?
    choices:
      - text: The model trains well
        correct: true
        feedback: Right.
      - text: The model cannot train at all on this data
        feedback: It can.
      - text: The model never learns anything from the rows
        feedback: It does.
    hints: [Think.]
    solution: The first statement.
"""
    path.write_text("schema_version: 1\ntitle: never\nquestions:"
                    + "".join(question.format(n=n) for n in range(12)))
    never = [load_quiz_file(path)]
    assert too_rarely_longest_p_value(never) < ALPHA
    assert length_cue_p_value(never, "shortest")[0] < ALPHA
    assert absolute_words_give_away(never)
    assert crowded_positions(never) == ["position A: 12 right answers, chance gives 4.0"]


def _bank_with_right_answers_at(tmp_path: Path, positions: list[int]) -> Quiz:
    """Three-choice questions whose right answer stands at the given positions of the file."""
    questions = []
    for number, right in enumerate(positions):
        choices = [f"      - text: Wrong statement {k} of q{number}\n        feedback: No.\n"
                   for k in range(2)]
        choices.insert(right, f"      - text: Right statement of q{number}\n"
                              "        correct: true\n        feedback: Yes.\n")
        questions.append(f"""
  - id: q{number}
    kind: single_choice
    prompt: Which statement is true?
    choices:
{"".join(choices)}    hints: [Think.]
    solution: The right statement.
""")
    path = tmp_path / "placed.yaml"
    path.write_text("schema_version: 1\ntitle: placed\nquestions:" + "".join(questions))
    return load_quiz_file(path)


def test_a_position_is_crowded_only_beyond_its_fair_share_plus_one(tmp_path: Path) -> None:
    # Twelve questions of three choices: chance puts 4 right answers in each position.
    fair = [0] * 5 + [1] * 4 + [2] * 3
    assert crowded_positions([_bank_with_right_answers_at(tmp_path, fair)]) == []
    crowded = [0] * 6 + [1] * 3 + [2] * 3
    assert crowded_positions([_bank_with_right_answers_at(tmp_path, crowded)]) == [
        "position A: 6 right answers, chance gives 4.0"
    ]


def test_the_tail_probability_is_the_binomial_one() -> None:
    # 3 or more of 4 fair coins: (4 + 1) / 16.
    assert _tail_probability([0.5] * 4, 3) == pytest.approx(5 / 16)
    assert _tail_probability([0.25] * 10, 0) == pytest.approx(1.0)
