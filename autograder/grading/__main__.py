"""``python -m autograder.grading --serve ...``: one grading worker (started by the grader)."""

import sys

from autograder.grading.worker import main

sys.exit(main(sys.argv[1:]))
