# Vigie: two commands. `make demo` and `make test` each set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The live centre on SQLite with a simulated population: API and console on http://127.0.0.1:8000.
demo: $(STAMP) system-deps
	$(BIN)/vigie centre demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/pipeline.py

# PostgreSQL 15 + PostGIS 3 (and WeasyPrint's libraries) for the centre's tests and demo.
system-deps:
	@bash scripts/system-deps.sh

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
