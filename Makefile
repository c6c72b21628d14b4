# MRBS: every target a newcomer or CI needs. `make` alone lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORK := work/demo

.DEFAULT_GOAL := help
.PHONY: help setup demo ui lint test bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install MRBS with its test tools

demo: setup ## end to end: simulate, build, train, promote, batch-score, serve one prediction
	$(BIN)/mrbs simulate --n 2000 --seed 7 --out $(WORK)/raw
	$(BIN)/mrbs cohort build $(WORK)/raw --out $(WORK)/baseline.parquet
	$(BIN)/mrbs train --cohort $(WORK)/baseline.parquet
	$(BIN)/mrbs promote @candidate
	$(BIN)/mrbs score $(WORK)/baseline.parquet --out $(WORK)/scored.parquet
	$(BIN)/python -m serving.demo --token-file $(WORK)/token --log $(WORK)/server.log

ui: setup ## the MLflow UI on the local store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --host 127.0.0.1 --port 5000

lint: setup ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint ## set up, lint, type-check and run the whole test suite
	$(BIN)/python -m pytest

bench: setup ## benchmarks (figures printed; see bench/README.md)
	$(BIN)/python -m bench.cohort_build

clean: ## remove the virtualenv and demo outputs
	rm -rf $(VENV) work mlruns
