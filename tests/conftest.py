"""Shared fixtures: simulated cohorts and an isolated MLflow store per test session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from features.cohort import assemble
from features.io import write_table
from simulator import simulate

# Tests never touch a developer's own tracking server, telemetry or git noise.
for _name in [n for n in os.environ if n.startswith(("MRBS_", "MLFLOW_TRACKING", "MLFLOW_REG"))]:
    os.environ.pop(_name)
# BentoML reads its home once, when first imported: one private store for the whole session.
_BENTOML_HOME = tempfile.mkdtemp(prefix="mrbs-test-bentoml-")
os.environ["BENTOML_HOME"] = _BENTOML_HOME
atexit.register(shutil.rmtree, _BENTOML_HOME, ignore_errors=True)
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
