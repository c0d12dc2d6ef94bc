"""Renderers: turn quizzes and results into something a learner or grader sees.

- :mod:`autograder.render.widgets`: ipywidgets controls for self-check quizzes in JupyterLab.
- :mod:`autograder.render.text`: plain-text and Markdown rendering for terminals and notebooks
  without widgets.

A renderer never judges an answer: it hands values to :class:`autograder.quiz.QuizSession`,
which calls :mod:`autograder.checks.answers`.
"""
