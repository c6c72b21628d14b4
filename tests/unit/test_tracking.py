"""Which MLflow store MRBS talks to, when one process configures several."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from mrbs.settings import Settings
from training import tracking


def test_configuring_one_store_does_not_capture_the_next(tmp_path: Path) -> None:
    first, second = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    tracking.configure(first)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert mlflow.get_tracking_uri() == first.resolved_tracking_uri
    later = Settings(home=tmp_path / "b")
    assert later.is_embedded
    assert later.resolved_tracking_uri == second.resolved_tracking_uri
    tracking.configure(later)
    experiment = tracking.ensure_experiment("mrbs-sri4", later)
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
    assert tracking.configure(settings) == uri
    assert os.environ["MLFLOW_TRACKING_URI"] == uri
