# Two commands on a fresh clone: `make demo` and `make test`. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint check clean bench bench-full catalogs compile-catalogs

# The translations: one gettext domain per layer (domain:sources), every language in LOCALES.
LOCALES := bot/locales
DOMAINS := core:bot telegram:adapters/telegram discord:adapters/discord

$(STAMP): pyproject.toml constraints.txt $(wildcard $(LOCALES)/*/LC_MESSAGES/*.po)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(MAKE) --no-print-directory compile-catalogs
	touch $(STAMP)

compile-catalogs:  ## .po → .mo (done by the install; the .mo files are not in git)
	@for spec in $(DOMAINS); do \
	  $(BIN)/pybabel -q compile -d $(LOCALES) -D $${spec%%:*} || exit 1; \
	done

# After changing a user-facing sentence: extract the messages and update every language's
# catalog (a new language: create $(LOCALES)/<code>/LC_MESSAGES first), then translate.
catalogs: $(STAMP)
	@for spec in $(DOMAINS); do \
	  domain=$${spec%%:*}; sources=$${spec#*:}; \
	  $(BIN)/pybabel -q extract --sort-by-file --no-wrap -k N_ -k ngettext:1,2 -k plural:2,3 \
	    --project keevx-bot -o $(LOCALES)/$$domain.pot $$sources || exit 1; \
	  for dir in $(LOCALES)/*/LC_MESSAGES; do \
	    lang=$$(basename $$(dirname $$dir)); \
	    test -f $$dir/$$domain.po || $(BIN)/pybabel -q init --no-wrap -D $$domain \
	      -i $(LOCALES)/$$domain.pot -d $(LOCALES) -l $$lang || exit 1; \
	  done; \
	  $(BIN)/pybabel -q update --no-wrap --ignore-obsolete -i $(LOCALES)/$$domain.pot \
	    -d $(LOCALES) -D $$domain || exit 1; \
	done
	$(MAKE) --no-print-directory compile-catalogs

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
