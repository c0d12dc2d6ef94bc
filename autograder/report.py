"""Moved to :mod:`autograder.grading.report`; this name stays for existing imports."""

import sys

from autograder.grading import report as _report

sys.modules[__name__] = _report
