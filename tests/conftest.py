"""Shared fixtures: simulated cohorts, and one trained model store for the whole session.

The environment is the test harness's own: tests never touch a developer's tracking server or
BentoML store. `model_store` trains once (configs/quick.yaml) and registers a second version
fitted directly, so every test that needs a registered model shares the same store.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from features.cohort import assemble
from features.io import write_table
from infra.quiet import LIBRARY_DEFAULTS
from infra.settings import Settings
from simulator import simulate

if TYPE_CHECKING:
    from training.train import TrainingResult

for _name in [n for n in os.environ if n.startswith(("MRBS_", "MLFLOW_TRACKING", "MLFLOW_REG"))]:
    os.environ.pop(_name)
for _name, _value in LIBRARY_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
# BentoML reads its home once, when first imported: one private store for the whole session.
_BENTOML_HOME = tempfile.mkdtemp(prefix="mrbs-test-bentoml-")
os.environ["BENTOML_HOME"] = _BENTOML_HOME
atexit.register(shutil.rmtree, _BENTOML_HOME, ignore_errors=True)
# Spark's Python workers: this interpreter, as `mrbs score --engine spark` arranges.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

#: The versions `model_store` registers.
TRAINED: Final = "models:/mrbs-sri4/1"
RECALIBRATED_LOGISTIC: Final = "models:/mrbs-sri4/2"


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


@dataclass(frozen=True)
class ModelStore:
    """The session's MLflow store: version 1 trained by `mrbs train` (quick configuration:
    reference bins, bootstrap refits, model card), version 2 a recalibrated spline logistic
    regression on the core predictors, logged and registered directly (no reference bins)."""

    settings: Settings
    training: TrainingResult


@pytest.fixture(scope="session")
def model_store(development_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    import mlflow

    from infra import store
    from scoring import bundle
    from training.candidates import build_pipeline, with_recalibration
    from training.config import DEFAULT_CONFIG, Candidate, load_config
    from training.data import load_cohort
    from training.registry import register
    from training.train import train

    settings = Settings(home=tmp_path_factory.mktemp("store") / "mlruns")
    config = load_config(DEFAULT_CONFIG.parent / "quick.yaml")
    result = train(development_cohort, config, settings)
    cohort = load_cohort(development_cohort, eligible_only=True)
    candidate = Candidate(name="logistic-core", kind="logistic_spline", feature_set="core")
    pipeline = with_recalibration(build_pipeline(candidate, config.seed), "sigmoid", cv_folds=3)
    X = cohort.inputs("core")
    pipeline.fit(X, cohort.y)
    store.configure(settings)
    with mlflow.start_run(experiment_id=store.ensure_experiment("tests", settings)) as run:
        info = bundle.log_model(pipeline, X, cohort.example())
    registered = register(info.model_uri, "mrbs-sri4", run.info.run_id, {})
    assert (result.registered.version, registered.version) == ("1", "2")
    return ModelStore(settings, result)
