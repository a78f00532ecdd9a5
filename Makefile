# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres fuzz lint bench bench-scans demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Serve web + worker on the embedded default (SQLite in instance/, dev outbox).
run: $(STAMP)
	$(BIN)/shoper-retention db upgrade
	$(BIN)/shoper-retention serve --host 127.0.0.1 --port 8000

# Install what the tests need (Python packages, Debian's Chromium for the page tests) and run them.
test: $(STAMP)
	./scripts/ensure-chromium
	$(BIN)/pytest -q

# The same suite against the PostgreSQL server on this machine.
test-postgres: $(STAMP)
	./scripts/ensure-chromium
	SHOPER_RETENTION_TEST_DATABASE_URL=$${SHOPER_RETENTION_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/pytest -q

# Property tests of every public endpoint with 10,000 generated cases each (a few hundred in
# `make test`); set SHOPER_RETENTION_TEST_DATABASE_URL to run them on PostgreSQL.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check shoper_retention tests bench
	$(BIN)/mypy shoper_retention

bench: $(STAMP)
	$(BIN)/python bench/webhook_ingest.py

# A worker pass with nothing due at 10,000 and 1,000,000 contacts, and the daily birthday scan
# (SQLite; pass BENCH_ARGS="--database-url postgresql://..." for PostgreSQL, never the tests' db).
bench-scans: $(STAMP)
	$(BIN)/python bench/worker_scan.py $(BENCH_ARGS)

demo: $(STAMP)
	$(BIN)/shoper-retention demo

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
