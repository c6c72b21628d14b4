"""The MLflow store: which one MRBS talks to when one process configures several, safe first
use by several processes, and pinning registry URIs."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from infra import store
from infra.settings import Settings


@pytest.mark.slow
def test_configuring_one_store_does_not_capture_the_next(tmp_path: Path) -> None:
    first, second = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    store.configure(first)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert mlflow.get_tracking_uri() == first.resolved_tracking_uri
    later = Settings(home=tmp_path / "b")
    assert later.is_embedded
    assert later.resolved_tracking_uri == second.resolved_tracking_uri
    store.configure(later)
    experiment = store.ensure_experiment("mrbs-sri4", later)
    location = MlflowClient().get_experiment(experiment).artifact_location
    assert location == later.artifact_root.as_uri()
    assert (tmp_path / "b" / "mlflow.db").exists()


def test_a_store_chosen_by_the_environment_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'chosen.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    settings = Settings(home=tmp_path / "unused")
    assert not settings.is_embedded
    assert store.configure(settings) == uri
    assert os.environ["MLFLOW_TRACKING_URI"] == uri


def _initialise(home: str) -> str:
    settings = Settings(home=Path(home))
    store.configure(settings)
    return store.ensure_experiment("parallel", settings)


@pytest.mark.slow
def test_fresh_store_survives_parallel_first_use(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = pool.map(_initialise, [str(tmp_path / "mlruns")] * 4)
    assert len(set(ids)) == 1


def test_an_unknown_registered_model_is_a_clear_error(tmp_path: Path) -> None:
    store.configure(Settings(home=tmp_path / "mlruns"))
    with pytest.raises(store.ModelNotFoundError, match=r"models:/nothing@champion: not in the"):
        store.pin("models:/nothing@champion")


def test_other_uris_are_identified_by_themselves(tmp_path: Path) -> None:
    store.configure(Settings(home=tmp_path / "mlruns"))
    identity = store.pin("runs:/abc/model")
    assert not identity.registered
    assert identity.uri == "runs:/abc/model"
