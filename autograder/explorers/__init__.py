"""Explorers for the lessons: move a control, see a figure change, without retraining.

Each explorer is a small ipywidgets layout over a matplotlib figure. What it shows for a given
control value is computed by the pure functions of :mod:`autograder.explorers.state`; the
classes here only present it, and leave a static image of their starting state wherever a
notebook runs without a live kernel.
"""

from autograder.explorers.binary import CostExplorer, ThresholdExplorer
from autograder.explorers.confusion import ConfusionExplorer
from autograder.explorers.training import TrainingExplorer

__all__ = ["ConfusionExplorer", "CostExplorer", "ThresholdExplorer", "TrainingExplorer"]
