# One entry point for every task: `make run`, `make test`, `make check`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The app's producer (Node + ioredis) the tests push tasks with; `npm ci` from its lock file.
PRODUCER := tests/producer
PRODUCER_DEPS := $(PRODUCER)/node_modules/.package-lock.json
export PYTHONUNBUFFERED := 1

.PHONY: install services run demo test lint typecheck check bench bench-sizerec bench-images check-ops clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@python3 -m venv --help >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq python3-venv python3-dev)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

services:
	@scripts/ensure-services.sh

## The whole pipeline on this machine: embedded backend, local image provider, no cloud credentials.
run: install
	@scripts/ensure-services.sh --redis-only
	@scripts/run-local.sh

## Push a few real-shaped tasks onto the queue of a running `make run` and print their fate.
demo: install
	$(PY) scripts/demo.py

$(PRODUCER_DEPS): $(PRODUCER)/package-lock.json
	cd $(PRODUCER) && npm ci --no-audit --no-fund

test: install services $(PRODUCER_DEPS)
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check wearon tests bench scripts
	$(VENV)/bin/ruff format --check wearon tests bench scripts

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install services
	$(PY) bench/pipeline.py

bench-sizerec: install services
	$(PY) bench/sizerec.py

## Decode memory per hostile image (per format, at its cap) and the API under 32 of them at once.
bench-images: install services
	$(PY) bench/images.py

check-ops: install
	@ops/check.sh

clean:
	rm -rf $(VENV) .wearon-data .pytest_cache .mypy_cache .ruff_cache $(PRODUCER)/node_modules
