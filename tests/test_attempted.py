"""Grade cells whose inputs are missing say why, in the course's voice."""

from __future__ import annotations

import pytest

from autograder.checks.attempted import require
from autograder.result import CheckFailed, Outcome


def test_nothing_is_raised_when_every_name_is_defined() -> None:
    require({"threshold": 0.3}, "check_screen", {"threshold": "choose_threshold"})


def test_an_unwritten_function_is_not_attempted() -> None:
    with pytest.raises(CheckFailed) as raised:
        require({"choose_threshold": ...}, "check_screen", {"threshold": "choose_threshold"})
    result = raised.value.result
    assert result.outcome is Outcome.NOT_ATTEMPTED
    assert "Write `choose_threshold` first: `threshold` is not defined yet" in str(result)


def test_a_written_function_whose_cell_failed_is_not_called_unattempted() -> None:
    def choose_threshold() -> float:
        raise ValueError("two units")

    with pytest.raises(CheckFailed) as raised:
        require({"choose_threshold": choose_threshold}, "check_screen",
                {"threshold": "choose_threshold", "model": "choose_threshold"})
    result = raised.value.result
    assert result.outcome is Outcome.FAILED
    text = str(result)
    assert "not attempted" not in text
    assert "`threshold`, `model` are not defined: `choose_threshold` is written" in text
    assert "did not run through to assign them" in text


def test_a_phrase_names_the_cell_to_write() -> None:
    with pytest.raises(CheckFailed) as raised:
        require({}, "check_model", {"model": "the cell that trains `model`"})
    assert "Write the cell that trains `model` first" in str(raised.value.result)
