# One entry point for every task: `make run`, `make test`, `make check`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: install services run demo test lint typecheck check bench bench-sizerec check-ops smoke-prod clean

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

test: install services
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check wearon tests bench scripts ops
	$(VENV)/bin/ruff format --check wearon tests bench scripts ops

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install services
	$(PY) bench/pipeline.py

bench-sizerec: install services
	$(PY) bench/sizerec.py

check-ops: install
	@ops/check.sh

## Every service of docker-compose.prod.yml that runs our image, started as production starts it
## (no container engine: Linux namespaces, as root), healthy within 60 s, stopped by SIGTERM.
smoke-prod: install services
	@ops/smoke-prod.sh

clean:
	rm -rf $(VENV) .wearon-data .pytest_cache .mypy_cache .ruff_cache
