"""Checks of learner work: each takes plain Python objects and returns a ``CheckResult``.

- :func:`autograder.checks.model.check_model`: is a Keras model shaped and compiled for the task?
- :func:`autograder.checks.metrics.check_metrics`: does it reach the required scores?
- :func:`autograder.checks.leakage.check_split`: are the test rows and the scaler free of leakage?

Every check runs silently (nothing reaches stderr) and turns a crash into a learner-facing
message, because nbgrader scores a grade cell that prints to stderr as 0.
"""
