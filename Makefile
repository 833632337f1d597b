# Everything a fresh machine needs: `make demo` runs the main job, `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench inspector inspector-cache clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cryptoflow demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/cryptoflow bench decode

inspector-cache: $(STAMP)   # puts the MCP Inspector npm package in the npm cache (its test runs offline)
	$(BIN)/python scripts/fetch_inspector.py

inspector: inspector-cache
	$(BIN)/python -m pytest tests/server/test_inspector.py -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
