# Two entry points (see README quick start). Both create .venv and install the project first,
# so they work on a fresh clone; nothing is downloaded at run time.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-test

$(BIN)/python:
	$(PY) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e .

setup-test: $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'

demo: setup
	$(BIN)/python -m pipeline run --output out/demo --overwrite

test: setup-test
	$(BIN)/python -m pytest
