# Rekindle: `make run` serves the embedded default; `make test` runs the whole suite on
# PostgreSQL + Redis. Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

# Test services (the suite needs real PostgreSQL and Redis; see README).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rekindle
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9
# Line coverage of the whole run, printed after the tests (COVERAGE= turns it off).
COVERAGE ?= --cov --cov-report=term

.PHONY: run first-start-bench loadtest test worker-test install install-dev install-worker system-deps check-services lint format css vendor migrate bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt $(VENV)/.runtime
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

# The GPU worker's model stack with CPU torch, for the tiny-pipeline tests (a few hundred MB).
# Set TORCH_INDEX=https://download.pytorch.org/whl/cpu where the package index has no +cpu torch.
TORCH_INDEX ?=
$(VENV)/.worker: requirements-worker-cpu.txt $(VENV)/.dev
	$(PIP) install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements-worker-cpu.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev
install-worker: $(VENV)/.worker

# DEBUG defaults to off (production mode); the embedded default on a laptop waives production's
# demands with EMBEDDED and still serves our own 404/500 pages (`DEBUG=true make run` for debug pages).
run migrate: export EMBEDDED ?= true

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

## Serve the embedded default: SQLite, local files, filesystem queue, local engine.
## setup_embedded migrates (one progress line), creates the cache table and the demo account.
run: install
	$(PY) manage.py setup_embedded
	HOST=$(HOST) PORT=$(PORT) bash scripts/run-embedded.sh

## The whole suite on PostgreSQL + Redis (unit, integration and browser tests).
test: install-dev install-worker system-deps check-services
	DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest $(COVERAGE) $(PYTEST_ARGS)

## The GPU worker's tests alone: handler, alignment, the tiny real pipeline, the local RunPod
## server and the whole job over it.
WORKER_TESTS := tests/processing/test_handler.py tests/processing/test_align.py \
	tests/processing/test_qwen_worker.py tests/processing/test_runpod_engine.py tests/integration/test_qwen_job.py \
	tests/processing/test_wan_worker.py tests/processing/test_together_worker.py
## They run in their own virtualenv (.venv-worker), so the worker's model stack is proven to
## install and work apart from the one make test uses.
WORKER_VENV := .venv-worker
worker-test: system-deps check-services
	$(MAKE) VENV=$(WORKER_VENV) install-worker
	DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(WORKER_VENV)/bin/pytest $(WORKER_TESTS) $(PYTEST_ARGS)

system-deps:
	bash scripts/system-deps.sh

check-services:
	@bash scripts/check-services.sh "$(TEST_DATABASE_URL)" "$(TEST_REDIS_URL)"

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Front-end assets (needs Node; outputs are committed).
node_modules: package.json
	npm install --no-audit --no-fund
	touch node_modules

css: node_modules
	npx tailwindcss -i static/src/app.css -o static/css/app.css --minify

vendor: node_modules
	node scripts/vendor.mjs

## Time the first start (fresh var/ -> healthy server) and the Ctrl-C stop; prints seconds.
first-start-bench: install
	bash scripts/first_start_bench.sh

## Load test of the production shape on this machine (gunicorn + nginx + PostgreSQL + Redis +
## SeaweedFS + a Celery worker with the instant engine); a benchmark, not part of `make test`.
## About 3 minutes; needs wrk and nginx (scripts/loadtest-deps.sh installs them). Its own
## database (migrated here) and Redis db: never production. Figures: docs/scaling.md.
LOADTEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rekindle_loadtest
LOADTEST_REDIS_URL ?= redis://127.0.0.1:6379/13
LOADTEST_ARGS ?=
loadtest: install-dev
	@bash scripts/check-services.sh "$(LOADTEST_DATABASE_URL)" "$(LOADTEST_REDIS_URL)"
	bash scripts/loadtest-deps.sh "$(LOADTEST_DATABASE_URL)"
	DEBUG=true DATABASE_URL=$(LOADTEST_DATABASE_URL) REDIS_URL=$(LOADTEST_REDIS_URL) $(PY) manage.py migrate --noinput -v0
	DEBUG=true DATABASE_URL=$(LOADTEST_DATABASE_URL) REDIS_URL=$(LOADTEST_REDIS_URL) $(PY) manage.py loadtest $(LOADTEST_ARGS)

clean:
	rm -rf var staticfiles
