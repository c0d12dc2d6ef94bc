"""Results of a check: data that renders as text, Markdown and a dict.

A check never prints and never renders; it returns a :class:`CheckResult`. Learners see
``str(result)`` or the Markdown rendering in a notebook; grade cells call
:meth:`CheckResult.assert_passed`, which raises :class:`CheckFailed` so that nbgrader records a
failure (nbgrader passes any grade cell that raises nothing).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    """The verdict of one check, as a learner reads it."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    # The submission could not be checked at all (it crashed, or was not the right kind of thing).
    ERROR = "error"


_ICONS = {
    Outcome.PASSED: "✅",
    Outcome.FAILED: "❌",
    Outcome.NOT_ATTEMPTED: "⬜",
    Outcome.ERROR: "⚠️",
}


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    Attributes:
        check: Name of the check, such as ``"check_model"`` or a quiz question id.
        outcome: The verdict.
        message: One learner-facing paragraph: what was observed, why it matters, what to try.
        details: Further findings, one sentence each (shown as a list).
        metrics: Figures the check computed, such as ``{"accuracy": 0.93}``.
        score: Fraction of the credit earned, from 0 to 1.
    """

    check: str
    outcome: Outcome
    message: str
    details: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    score: float | None = None

    @property
    def passed(self) -> bool:
        """True when the outcome is :attr:`Outcome.PASSED`."""
        return self.outcome is Outcome.PASSED

    @property
    def fraction(self) -> float:
        """Credit earned from 0 to 1 (1 when passed unless a score was given)."""
        if self.score is not None:
            return self.score
        return 1.0 if self.passed else 0.0

    def __bool__(self) -> bool:
        return self.passed

    @property
    def credit_note(self) -> str:
        """The share of the points a failed result still earns, in words ("" when none).

        The grader pays that share, so the learner's kernel says so too: a red cell that earns
        part of its points must not read as worth nothing.

        Returns:
            A sentence such as "Partial credit: this earns 50% of the task's points.", or "".
        """
        if self.passed or self.score is None or not 0 < self.score < 1:
            return ""
        return f"Partial credit: this earns {self.score:.0%} of the task's points."

    def __str__(self) -> str:
        lines = [f"{self.check}: {self.outcome.value}. {self.message}".rstrip()]
        lines += [f"  - {detail}" for detail in self.details]
        if self.credit_note:
            lines.append(f"  {self.credit_note}")
        if self.metrics:
            figures = ", ".join(f"{name} = {value:.4f}" for name, value in self.metrics.items())
            lines.append(f"  Figures: {figures}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        lines = [f"{_ICONS[self.outcome]} **{self.check}: {self.outcome.value}.** {self.message}"]
        if self.details:
            lines.append("")
            lines += [f"- {detail}" for detail in self.details]
        if self.credit_note:
            lines += ["", self.credit_note]
        if self.metrics:
            lines += ["", "| metric | value |", "|---|---|"]
            lines += [f"| {name} | {value:.4f} |" for name, value in self.metrics.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data.

        Returns:
            A dict with ``check``, ``outcome``, ``passed``, ``message``, ``details``,
            ``metrics`` and ``score``.
        """
        return {
            "check": self.check,
            "outcome": self.outcome.value,
            "passed": self.passed,
            "message": self.message,
            "details": list(self.details),
            "metrics": {name: float(value) for name, value in self.metrics.items()},
            "score": self.fraction,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Rebuild a result from :meth:`to_dict` output.

        Args:
            data: A mapping as written by :meth:`to_dict`.

        Returns:
            The equivalent :class:`CheckResult`.
        """
        return cls(
            check=str(data["check"]),
            outcome=Outcome(data["outcome"]),
            message=str(data["message"]),
            details=tuple(data.get("details", ())),
            metrics=dict(data.get("metrics", {})),
            score=data.get("score"),
        )

    def assert_passed(self) -> CheckResult:
        """Raise :class:`CheckFailed` unless the check passed; for nbgrader grade cells.

        Returns:
            The result itself, when it passed.

        Raises:
            CheckFailed: With the learner-facing text as its message.
        """
        if not self.passed:
            raise CheckFailed(self)
        return self


class CheckFailed(AssertionError):
    """Raised by :meth:`CheckResult.assert_passed`; nbgrader counts it as a failed test."""

    def __init__(self, result: CheckResult):
        super().__init__(str(result))
        self.result = result


def passed(check: str, message: str, **extra: Any) -> CheckResult:
    """Build a passing result.

    Args:
        check: Name of the check.
        message: What was confirmed.
        **extra: ``details``, ``metrics`` or ``score``.

    Returns:
        A :class:`CheckResult` with outcome ``passed``.
    """
    return CheckResult(check, Outcome.PASSED, message, **extra)


def failed(check: str, message: str, **extra: Any) -> CheckResult:
    """Build a failing result whose message says what to fix.

    Args:
        check: Name of the check.
        message: What was observed, why it matters, what to try.
        **extra: ``details``, ``metrics`` or ``score``.

    Returns:
        A :class:`CheckResult` with outcome ``failed``.
    """
    return CheckResult(check, Outcome.FAILED, message, **extra)


def not_attempted(
    check: str, message: str = "Replace the `...` placeholder with your answer."
) -> CheckResult:
    """Build a result for an answer still left as its placeholder.

    Args:
        check: Name of the check.
        message: What the learner should do first.

    Returns:
        A :class:`CheckResult` with outcome ``not attempted``.
    """
    return CheckResult(check, Outcome.NOT_ATTEMPTED, message)


def error(check: str, message: str, **extra: Any) -> CheckResult:
    """Build a result for a submission that could not be checked.

    Args:
        check: Name of the check.
        message: What went wrong and how to make it checkable.
        **extra: ``details``, ``metrics`` or ``score``.

    Returns:
        A :class:`CheckResult` with outcome ``error``.
    """
    return CheckResult(check, Outcome.ERROR, message, **extra)
