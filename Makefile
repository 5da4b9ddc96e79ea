# Aviary's front door. `make demo` runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH  ?=

.PHONY: install up infra down status demo test chaos browser bench lint fmt typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: install          ## RabbitMQ, SecantusDB, SeaweedFS and the four services
	$(BIN)/python scripts/stack.py up

infra: install       ## only the infrastructure (what the tests need)
	$(BIN)/python scripts/stack.py infra

down:                ## stop what `make up` started
	$(BIN)/python scripts/stack.py down

status:
	$(BIN)/python scripts/stack.py status

demo: up             ## the main job: pushed images to a verified delivery
	$(BIN)/aviary simulate --images 50

browser:             ## Debian's chromium, for the browser tests
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: infra browser  ## the test suite (unit, integration, end-to-end, browser)
	$(BIN)/python -m pytest

chaos: infra         ## faults in long flows (AVIARY_CHAOS_IMAGES=500); report in var/chaos/
	$(BIN)/python -m pytest -m chaos tests/chaos

bench: infra         ## all benchmarks, or one: make bench BENCH=e2e
	$(BIN)/python scripts/bench.py $(if $(BENCH),--only $(BENCH))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

typecheck: install
	$(BIN)/mypy .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: down
	rm -rf var
