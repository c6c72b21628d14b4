# MRBS: every target a newcomer or CI needs. `make` alone lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What each target installs: the demo needs MRBS alone; tests, lint and benchmarks add the
# test tools, the type checker and Spark.
RUNTIME := $(VENV)/.runtime-installed
DEVELOP := $(VENV)/.develop-installed
WORK := work/demo

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev browser demo ui lint test test-fast bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVELOP): pyproject.toml $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev,test,spark]'
	touch $@

setup: $(RUNTIME) ## create .venv and install MRBS (what the demo needs)

setup-dev: $(DEVELOP) ## also install the test tools, the linters and Spark

demo: setup ## end to end: simulate, build, train, promote, batch-score, serve one prediction
	$(BIN)/mrbs simulate --n 2000 --seed 7 --out $(WORK)/raw
	$(BIN)/mrbs cohort build $(WORK)/raw --out $(WORK)/baseline.parquet
	$(BIN)/mrbs train --cohort $(WORK)/baseline.parquet
	$(BIN)/mrbs promote @candidate
	$(BIN)/mrbs score $(WORK)/baseline.parquet --out $(WORK)/scored.parquet
	$(BIN)/python -m serving.http.demo --token-file $(WORK)/token --log $(WORK)/server.log

ui: setup ## the MLflow UI on the local store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --host 127.0.0.1 --port 5000

lint: setup-dev ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The clinician page's tests drive the system's Chromium (Playwright's own download is not used).
BROWSER_HELP := no Chromium found: install Debian's (as root: apt-get install -y chromium chromium-driver; .ci/run does this)

browser: ## check that the headless Chromium the page's browser tests drive is installed
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ echo "$(BROWSER_HELP)" >&2; exit 1; }

test: lint browser ## set up, lint, type-check and run the whole test suite, slow tests included (CI)
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: setup-dev ## the quick tests only (no servers, Spark, Bento builds or trainings)
	$(BIN)/python -m pytest

bench: setup-dev ## benchmarks (figures printed; see bench/README.md)
	$(BIN)/python -m bench.cohort_build

clean: ## remove the virtualenv and demo outputs
	rm -rf $(VENV) work mlruns
