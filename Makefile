# Chrono-Cocoon: the two commands a newcomer needs are `make demo` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STUBS := .stubs
STAMP := $(VENV)/.setup-done
STUBS_STAMP := $(STUBS)/.setup-done
BENCH_STAMP := $(VENV)/.bench-done
MPY_OUT := build/mpy
ESP32_STUBS := micropython-esp32-stubs==1.28.0.post4

.PHONY: help setup demo test lint format mpy typecheck bench clean

help: ## Show this list
	@echo "Chrono-Cocoon: make <target>"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup: $(STAMP) $(STUBS_STAMP) ## Create .venv/ with every pinned tool (idempotent)

$(STAMP): pyproject.toml requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation -e .
	@touch $@

# The ESP32 stubs live in their own folder so they never shadow CPython's standard library.
$(STUBS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --target $(STUBS) $(ESP32_STUBS)
	@touch $@

demo: setup ## Start a virtual board, flash it, and watch live telemetry (~30 s, Ctrl-C to stop)
	$(PY) -m cocoon_host.demo

test: setup ## Run every test: host, firmware on CPython and on the MicroPython unix port
	$(PY) -m pytest -q

lint: setup ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## Apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

mpy: setup ## Compile every firmware file with mpy-cross -march=xtensawin into build/mpy
	$(PY) -m cocoon_host.build --march xtensawin --out $(MPY_OUT)

typecheck: setup ## Type-check firmware/ against the ESP32 stubs
	$(PY) -m cocoon_host.typecheck

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	@touch $@

bench: setup $(BENCH_STAMP) ## Benchmarks (speed and accuracy), as ratios against baselines of the same run
	$(PY) -m bench

clean: ## Remove build output (keeps .venv)
	rm -rf build .pytest_cache .hypothesis
