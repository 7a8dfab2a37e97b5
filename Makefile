SHELL := /bin/bash
.DEFAULT_GOAL := help

# A Python 3.13 interpreter: PYTHON if given, else the first 3.13 found on PATH or in pyenv.
PYTHON ?= $(shell for candidate in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	if command -v $$candidate >/dev/null 2>&1 && $$candidate -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then \
	command -v $$candidate; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help install run clean-bus test test-faults bench eval eval-verdicts eval-clustering api-key up down lock clean

help:
	@echo "make install                  create .venv with the pinned dependencies (the other targets do it when needed)"
	@echo "make run                      start the whole system (gateway on GATEWAY_PORT, default 8080) until Ctrl-C"
	@echo "make test                     run unit, integration and end-to-end tests"
	@echo "make test-faults              break the broker, the store and the model on purpose; nothing lost or doubled"
	@echo "make bench                    measure, and write docs/benchmarks.md"
	@echo "make eval                     score the quality of the automatic parts against labelled sets (both below)"
	@echo "make eval-verdicts            agreement of the automated verdicts with labelled answer pairs"
	@echo "make eval-clustering          clustering of the labelled failing traces: ARI, purity, one-offs"
	@echo "make clean-bus BUS_NAMESPACE=name [FORCE=1]  delete a bus namespace's queues and exchanges (refused while in use)"
	@echo "make api-key WORKSPACE=name   print a new API key for a workspace (OWNER=who: whom it is for)"
	@echo "make up / make down           the system in Docker (deploy/compose.yaml), with MongoDB and RabbitMQ"
	@echo "make lock                     re-pin constraints.txt to what .venv has installed"
	@echo "make clean                    remove .venv and test caches (keeps var/, make run's data)"
	@echo ""
	@echo "Settings, as make arguments or environment variables (make run and make api-key take the same):"
	@echo "  GATEWAY_PORT=8080  EMBEDDED_MONGO_PORT=27018  DEMO_MODEL_PORT=8089  FIRST_OPS_PORT=8181 (six ports)"
	@echo "  VAR_DIR=var        where make run keeps the embedded store's data and its API key"
	@echo "  MONGODB_URL, MONGODB_DATABASE, AMQP_URL, INIT_API_KEY=thk_..., REPLAY_MODEL_BASE_URL (see README.md)"
	@echo "  PYTHON=/path/to/python3.13, PYTEST_ARGS=...  (for make test and make test-faults)"

$(VENV)/.installed: pyproject.toml constraints.txt requirements-no-deps.txt
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.13 not found. Install it (pyenv install 3.13) or run: make PYTHON=/path/to/python3.13 ..." >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	$(VENV)/bin/pip install --quiet --no-deps -r requirements-no-deps.txt
	@touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m deploy.local.run

clean-bus: install
	@if [ -z "$(BUS_NAMESPACE)" ]; then echo "usage: make clean-bus BUS_NAMESPACE=name [FORCE=1]" >&2; exit 2; fi
	@$(PY) -m deploy.local.clean_bus --namespace "$(BUS_NAMESPACE)" $(if $(FORCE),--force)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

test-faults: install
	$(PY) -m pytest -m faults tests/faults $(PYTEST_ARGS)

bench: install
	$(PY) -m bench.run

eval: eval-verdicts eval-clustering

eval-verdicts: install
	$(PY) -m eval.verdicts

eval-clustering: install
	$(PY) -m eval.clustering --orders 3 --stack

api-key: install
	@if [ -z "$(WORKSPACE)" ]; then echo "usage: make api-key WORKSPACE=name [OWNER=who]" >&2; exit 2; fi
	@$(PY) -m deploy.local.api_key --workspace "$(WORKSPACE)" $(if $(OWNER),--owner "$(OWNER)")

up:
	docker compose -f deploy/compose.yaml up -d --build

down:
	docker compose -f deploy/compose.yaml down

# Re-pin every dependency to what is installed now (after changing pyproject.toml).
lock:
	$(VENV)/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache
