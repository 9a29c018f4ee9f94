# Two entry points (see README quick start). Both create .venv and install the project first,
# so they work on a fresh clone; nothing is downloaded at run time.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-test browser

$(BIN)/python:
	$(PY) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e .

setup-test: $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'

demo: setup
	$(BIN)/python -m pipeline run --output out/demo --overwrite

# Debian's chromium for the report's headless-browser test; a no-op when one is on PATH.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			>/dev/null || echo "warning: could not install chromium; the browser test will skip" >&2; }

test: setup-test browser
	$(BIN)/python -m pytest
