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

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

notebooks: $(STAMP)
	$(BIN)/autograder build-lessons lessons build/lessons

lab: notebooks
	@echo "Open the URL printed below (it includes the login token)."
	cd build/lessons && ../../$(BIN)/jupyter lab --no-browser --port=$(PORT)

test: $(STAMP)
	$(BIN)/ruff check autograder tests solutions benchmarks
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check autograder tests solutions benchmarks

course: $(STAMP)
	$(BIN)/autograder build-course build/course

bench: $(STAMP)
	$(BIN)/python benchmarks/check_speed.py

clean:
	rm -rf build .pytest_cache
