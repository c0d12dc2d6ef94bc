"""Grades into the LMS: ``autograder export COURSE --to canvas|moodle|csv``.

``roster`` reads what Canvas and Moodle export, ``scores`` reads the gradebook's totals,
``export`` joins them and writes the file the LMS imports, ``cli`` is the verb.
"""
