"""Moved to :mod:`autograder.grading.export`; the old name keeps imports and notebooks working."""

import sys

from autograder.grading import export as _moved

sys.modules[__name__] = _moved
