# SPOM Login — the two commands from the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test serve install clean screenshots bench translations

AXE    := node_modules/axe-core/axe.min.js

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/python -m idp.http.i18n
	$(BIN)/python -m clients.common.i18n
	touch $(STAMP)

# The tests' npm packages, exactly as pinned in package-lock.json: axe-core for the accessibility checks,
# openid-client and oidc-client-ts for the interop suite (tests/interop/).
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $(AXE)

install: $(STAMP) $(AXE)

## demo: provider (:8000), SPOM dashboard (:8001), Supplier Portal (:8002) on the embedded defaults; Ctrl-C stops all
## (quiet server logs; `make demo DEMO_ARGS=--verbose` shows every line)
demo: $(STAMP)
	$(BIN)/idp init
	$(BIN)/python -m idp.demo $(DEMO_ARGS)

## test: the code checks (ruff lint and format, mypy types, the layers contract in .importlinter), then the
## whole suite (SQLite always; PostgreSQL too when IDP_TEST_DATABASE_URL is set). Three workers on two cores:
## the tests wait on sockets and browsers much of the time (2,148 tests, idle machine: -n 2 7:39, -n 3 6:56, -n 4 6:49)
test: $(STAMP) $(AXE)
	$(BIN)/ruff check idp clients tests bench deploy
	$(BIN)/ruff format --check idp clients tests bench deploy
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 3 --dist loadfile

## serve: the provider with the configured settings (IDP_* variables)
serve: $(STAMP)
	$(BIN)/idp init
	$(BIN)/idp serve

## screenshots: copy the browser tests' latest screenshots into docs/screenshots/ (for the README)
screenshots:
	mkdir -p docs/screenshots
	cp test-artifacts/screenshots/*.png docs/screenshots/

## bench: SPOM Login (gunicorn + PostgreSQL + Redis, and the embedded default) side by side with node
## oidc-provider; writes bench/results/ and docs/performance.md (see bench/README.md)
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	bench/run_bench.sh

## translations: add new strings of the code and templates to the .po catalogues (then translate them)
translations: $(STAMP)
	$(BIN)/python -m idp.http.i18n update
	$(BIN)/python -m clients.common.i18n update

clean:
	rm -rf $(VENV) instance node_modules
