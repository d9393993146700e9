# SPOM Login — the two commands from the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test serve install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## demo: provider on the embedded defaults (SQLite + in-process store), seeded with a demo user and client
demo: $(STAMP)
	$(BIN)/idp init
	$(BIN)/python -m idp.demo
	$(BIN)/idp serve --workers 1

## test: the whole suite (SQLite always; PostgreSQL too when IDP_TEST_DATABASE_URL is set)
test: $(STAMP)
	$(BIN)/pytest

## serve: the provider with the configured settings (IDP_* variables)
serve: $(STAMP)
	$(BIN)/idp init
	$(BIN)/idp serve

clean:
	rm -rf $(VENV) instance
