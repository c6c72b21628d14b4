"""Shared fixtures: simulated cohorts and an isolated MLflow store per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from features.cohort import assemble
from features.io import write_table
from simulator import simulate

# Tests never touch a developer's own tracking server, telemetry or git noise.
for _name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MRBS_TRACKING_URI", "MRBS_HOME"):
    os.environ.pop(_name, None)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def build_baseline(folder: Path, n: int, seed: int) -> Path:
    """Simulate ``n`` patients and write their baseline table as Parquet; returns its path."""
    cohort = simulate(n, seed)
    table = assemble(cohort.patients, cohort.labs, cohort.assessments).table
    return write_table(table, folder / f"baseline-{n}-{seed}.parquet")


@pytest.fixture(scope="session")
def development_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_baseline(tmp_path_factory.mktemp("cohorts"), 1800, 11)


@pytest.fixture(scope="session")
def validation_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_baseline(tmp_path_factory.mktemp("cohorts"), 1000, 12)


@pytest.fixture
def mrbs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded store for one test, chosen the way users choose it (MRBS_HOME)."""
    home = tmp_path / "mlruns"
    monkeypatch.setenv("MRBS_HOME", str(home))
    return home
