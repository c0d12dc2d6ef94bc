# Two commands a newcomer needs: `make lab` and `make test`.
# Everything installs into .venv; nothing here needs root except .ci/run's system packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# Workers for the test suite; the suite's notebook and nbgrader tests are CPU bound.
JOBS   ?= auto

.PHONY: lab test lint notebooks course bench clean

# umask 022: a root grader's kernels run as an unprivileged account that must read the venv.
$(BIN)/python:
	umask 022 && $(PYTHON) -m venv $(VENV)
	umask 022 && $(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	umask 022 && $(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

notebooks: $(STAMP)
	$(BIN)/autograder build-lessons lessons build/lessons

# The learner's JupyterLab reads config/learner-lab first: nbgrader's instructor tools
# (Formgrader, Create Assignment, Course List) are off there and stay on for `jupyter lab` in a
# course folder. JupyterLab refuses to run as root (as in most containers) without --allow-root.
LEARNER_CONFIG := $(CURDIR)/config/learner-lab
ALLOW_ROOT     := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: notebooks
	@echo "Open the URL printed below (it includes the login token)."
	cd build/lessons && \
	JUPYTER_CONFIG_PATH="$(LEARNER_CONFIG)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	../../$(BIN)/jupyter lab --no-browser --port=$(PORT) $(ALLOW_ROOT)

test: $(STAMP)
	$(BIN)/ruff check autograder tests solutions benchmarks
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check autograder tests solutions benchmarks

course: $(STAMP)
	$(BIN)/autograder build-course build/course

bench: $(STAMP)
	$(BIN)/python benchmarks/check_speed.py

clean:
	rm -rf build .pytest_cache
