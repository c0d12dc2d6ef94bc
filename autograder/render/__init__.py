"""Renderers: turn quizzes and results into something a learner or grader sees.

- :mod:`autograder.render.widgets`: self-check quizzes in JupyterLab, shown through
  :mod:`autograder.render.accessible` (native, labelled controls and live regions).
- :mod:`autograder.render.text`: plain-text and Markdown rendering for terminals and notebooks
  without widgets.
- :mod:`autograder.render.shuffle`: the order each learner sees a question's choices in, and
  the letters in every text that go with it.
- :mod:`autograder.render.options`: the cells that list a graded choice question's options in
  the learner's order and say which option an answer stands for.

A renderer never judges an answer: it hands values to :class:`autograder.quiz.QuizSession`,
which calls :mod:`autograder.checks.answers`.
"""
