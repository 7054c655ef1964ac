# Two commands on a fresh clone: `make demo` and `make test`. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint check clean bench bench-full

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## turn the sample photo into an MP4 under ./out/ on the built-in sandbox
	$(BIN)/keevx-bot demo

test: $(STAMP)  ## run the whole test suite (offline)
	$(BIN)/pytest

bench: $(STAMP)  ## reduced benchmarks against the sandbox (a few minutes); see BENCHMARKS.md
	$(BIN)/python -m bench --quick

bench-full: $(STAMP)  ## the full benchmarks behind BENCHMARKS.md's numbers (about 15 minutes)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
