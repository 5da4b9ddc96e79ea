# Aviary's front door. `make demo` runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The pages' type checker (TypeScript, from web/package-lock.json); npm ci empties node_modules,
# so the stamp inside it goes with it.
WEB_STAMP := web/node_modules/.installed-stamp
BENCH  ?=
# CLUSTER=1: the clustered stack of scripts/cluster.py (three RabbitMQ nodes, SeaweedFS with
# three volume servers, two processes per service) instead of the single-node one.
CLUSTER ?=
STACK  := scripts/$(if $(CLUSTER),cluster,stack).py

.PHONY: install up infra down status demo test chaos browser speech-tools interop-tools bench lint fmt typecheck dist image-check clean

# Three distributions, installed editable: aviary-client (client/: contracts, SDK, CLI),
# aviary-server (the services) and aviary-devkit (devkit/: simulators, benchmarks, test tools;
# never published).
$(STAMP): pyproject.toml setup.py client/pyproject.toml devkit/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip uninstall -q -y aviary 2>/dev/null || true
	$(BIN)/python -m pip install -q -c constraints.txt -e ./client -e . -e ./devkit
	$(BIN)/python scripts/vad_model.py
	touch $(STAMP)

# The pages need no build: TypeScript only checks them (`make lint`).
$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)

up: install          ## RabbitMQ, SecantusDB, SeaweedFS and the five services (CLUSTER=1: clustered)
	$(BIN)/python $(STACK) up

infra: install       ## only the infrastructure (what the tests need)
	$(BIN)/python $(STACK) infra

down:                ## stop what `make up` started (CLUSTER=1: what `make up CLUSTER=1` started)
	$(BIN)/python $(STACK) down

status:
	$(BIN)/python $(STACK) status

demo: up speech-tools ## the main job: pushed images (boxes, and outlines with help), videos and speech to verified deliveries
	$(BIN)/aviary-sim --images 50
	$(BIN)/aviary-sim --assist --images 10
	$(BIN)/aviary-sim --media video --images 2
	$(BIN)/aviary-sim --media speech --images 3

browser:             ## Debian's chromium, for the browser tests
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

speech-tools:        ## Debian's espeak-ng, which speaks the speech simulation's recordings
	command -v espeak-ng >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng)

interop-tools: install ## Datumaro and Label Studio in virtualenvs of their own (var/venvs/), which check our exports
	$(BIN)/python -m aviary_devkit.interop || echo "interop-tools: not installed; the tests that use them fail or skip, and say why"

test: infra browser speech-tools interop-tools ## the test suite (unit, integration, end-to-end, browser)
	$(BIN)/python -m pytest

chaos: infra         ## faults in long flows (AVIARY_CHAOS_IMAGES=500); report in var/chaos/
	$(BIN)/python -m pytest -m chaos $(if $(CLUSTER),tests/chaos/test_cluster.py,tests/chaos)

bench: infra         ## all benchmarks, or one: make bench BENCH=e2e
	$(BIN)/python scripts/bench.py $(if $(BENCH),--only $(BENCH))

lint: install          ## ruff and mypy (Python), tsc (the pages' JavaScript, web/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	web/node_modules/.bin/tsc -p web

typecheck: install
	$(BIN)/mypy .
	web/node_modules/.bin/tsc -p web

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dist: install        ## the two wheels in dist/ and the image (Debian's buildah, no registry)
	$(BIN)/python scripts/dist.py all

image-check: infra   ## start one container of the image `make dist` built, on the embedded stack
	$(BIN)/python scripts/dist.py check

clean:               ## stop both stacks, remove var/
	$(BIN)/python scripts/stack.py down
	$(BIN)/python scripts/cluster.py down
	rm -rf var
