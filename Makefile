# civicloop — two commands: `make demo` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_DIR ?= /tmp/civicloop-pg-$(shell id -u)-$(notdir $(CURDIR))
# pytest-xdist workers for `make test` (whole files per worker); PYTEST_WORKERS=0 runs in one process
PYTEST_WORKERS ?= 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test lint unit demo-deps system-deps bench soak clean venv

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## demo: the demo city on the embedded SQLite store, simulated live (installs the fonts its reports and
## screens use when run as root; otherwise prints the install line)
demo: $(STAMP) demo-deps
	$(BIN)/civicloop demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

demo-deps:
	@scripts/system-deps demo

system-deps:
	@scripts/system-deps test

## test: lint, type-check, then the whole suite against SQLite and a throwaway PostgreSQL 15
test: lint system-deps
	@set -e; url=$$(scripts/pg-test-server start $(PG_DIR)); \
	trap 'scripts/pg-test-server stop $(PG_DIR)' EXIT; \
	CIVICLOOP_TEST_PG_URL="$$url" CIVICLOOP_REQUIRE_PG=1 $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

## bench: benchmarks (JSON in benchmarks/results/), against SQLite and a durable PostgreSQL;
## `make bench BENCH_ARGS=--scale` draws the scale curves (docs/img/scale-*.png)
bench: $(STAMP)
	@set -e; url=$$(PGTEST_DURABLE=1 scripts/pg-test-server start $(PG_DIR)-bench); \
	trap 'scripts/pg-test-server stop $(PG_DIR)-bench' EXIT; \
	CIVICLOOP_BENCH_PG_URL="$$url" $(BIN)/python -m benchmarks $(BENCH_ARGS)

## soak: mixed load (70 % Open311 reads, 20 % reports, 10 % workflow) for SOAK_SECONDS (default 600) at the
## highest rate with p99 ≤ 200 ms, from a separate process; JSON in benchmarks/results/soak.json
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache benchmarks/results
