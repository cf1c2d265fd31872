PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite-blob

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	./demo/run.sh

$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

lint: $(STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m mypy

test: $(STAMP) $(AZURITE) lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) node_modules build *.egg-info src/*.egg-info
