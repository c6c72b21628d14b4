"""The logged model: what `mrbs train` registers loads only while it gives its golden patients
their logged probabilities, and plain MLflow runs MRBS's own scoring with it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from infra import store
from infra.artifacts import MANIFEST_TAG
from infra.store import ModelIdentity
from scoring import bundle
from scoring.bundle import GOLDEN_TOLERANCE, ModelIntegrityError, UntrustedTypesError
from scoring.loading import download
from scoring.table import prediction_table
from serving.http.launch import free_port
from tests.conftest import RECALIBRATED_LOGISTIC, TRAINED, ModelStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folders(model_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local copies of the session's two registered versions, with their identities."""
    store.configure(model_store.settings)
    root = tmp_path_factory.mktemp("models")
    return {
        uri: download(store.pin(uri), root / uri.rsplit("/", 1)[1])
        for uri in (TRAINED, RECALIBRATED_LOGISTIC)
    }


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


def _as_registered(folder: Path) -> ModelIdentity:
    """The folder's registered identity with a manifest of its files as they are now, so that
    a test reaches the checks behind the manifest (golden patients, reviewed types)."""
    identity = bundle.identity_of(folder)
    tags = {MANIFEST_TAG: json.dumps(bundle.manifest(folder))}
    return dataclasses.replace(identity, tags=tags)


def test_a_registered_model_loads_and_knows_which_version_it_is(folders: dict[str, Path]) -> None:
    identity = bundle.identity_of(folders[TRAINED])
    assert (identity.name, identity.version) == ("mrbs-sri4", "1")
    bundle.load(folders[TRAINED], store.pin(TRAINED))
    golden = json.loads((folders[TRAINED] / "artifacts" / "golden.json").read_text())
    assert len(golden["records"]) == len(bundle.GOLDEN_QUANTILES) + 1
    assert all(value is None for key, value in golden["records"][-1].items() if key == "blys")


def test_a_golden_probability_off_by_more_than_the_tolerance_refuses_the_model(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = _copy(folders[TRAINED], tmp_path)
    path = folder / "artifacts" / "golden.json"
    golden = json.loads(path.read_text())
    golden["probability"][2] += 10 * GOLDEN_TOLERANCE
    path.write_text(json.dumps(golden))
    with pytest.raises(ModelIntegrityError, match=r"models:/mrbs-sri4/1: a golden patient"):
        bundle.load(folder, _as_registered(folder))
    golden["probability"][2] -= 9.5 * GOLDEN_TOLERANCE  # within the tolerance again
    path.write_text(json.dumps(golden))
    bundle.load(folder, _as_registered(folder))


def test_another_pipeline_in_the_folder_is_refused(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = _copy(folders[TRAINED], tmp_path)
    other = folders[RECALIBRATED_LOGISTIC] / "artifacts" / "pipeline.skops"
    shutil.copyfile(other, folder / "artifacts" / "pipeline.skops")
    config = yaml.safe_load((folders[RECALIBRATED_LOGISTIC] / "MLmodel").read_text())
    described = yaml.safe_load((folder / "MLmodel").read_text())
    described["flavors"]["python_function"]["config"] = config["flavors"]["python_function"][
        "config"
    ]
    (folder / "MLmodel").write_text(yaml.safe_dump(described))
    with pytest.raises(ModelIntegrityError, match="golden patient"):
        bundle.load(folder, _as_registered(folder))


def test_a_type_nobody_reviewed_is_refused(folders: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(folders[TRAINED], tmp_path)
    described = yaml.safe_load((folder / "MLmodel").read_text())
    described["flavors"]["python_function"]["config"]["trusted_types"].append("os.system")
    (folder / "MLmodel").write_text(yaml.safe_dump(described))
    with pytest.raises(UntrustedTypesError, match=r"os\.system"):
        bundle.load(folder, _as_registered(folder))


def test_the_manifest_recorded_at_registration_names_a_changed_file(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    identity = store.pin(TRAINED)
    folder = _copy(folders[TRAINED], tmp_path)
    pipeline = bundle.load(folder, identity).pipeline
    # One parameter of the classifier moved, as a changed leaf would move it: the golden
    # patients need not notice, the manifest does.
    classifier = pipeline.steps[-1][1]
    for name, value in classifier.get_params().items():
        if isinstance(value, float) and not isinstance(value, bool):
            classifier.set_params(**{name: value * 1.000001})
            break
    bundle.dump_reviewed(pipeline, folder / "artifacts" / "pipeline.skops", "a test")
    with pytest.raises(
        ModelIntegrityError,
        match=r"model mrbs-sri4 version 1: artifacts/pipeline\.skops does not match the digest",
    ):
        bundle.load(folder, identity)


def test_a_file_added_or_removed_is_refused(folders: dict[str, Path], tmp_path: Path) -> None:
    identity = store.pin(TRAINED)
    folder = _copy(folders[TRAINED], tmp_path)
    (folder / "artifacts" / "extra.py").write_text("print('hello')\n")
    with pytest.raises(ModelIntegrityError, match=r"extra\.py was not part of the registered"):
        bundle.load(folder, identity)
    (folder / "artifacts" / "extra.py").unlink()
    (folder / "artifacts" / "golden.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"artifacts/golden\.json is missing"):
        bundle.load(folder, identity)


def test_a_registered_version_without_a_manifest_is_refused(folders: dict[str, Path]) -> None:
    with pytest.raises(ModelIntegrityError, match="no artifact manifest was recorded"):
        bundle.load(folders[TRAINED], bundle.identity_of(folders[TRAINED]))


def test_a_damaged_artifact_is_one_clear_error(folders: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(folders[TRAINED], tmp_path)
    (folder / "artifacts" / "pipeline.skops").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelIntegrityError, match=r"pipeline\.skops cannot be read \(BadZipFile"):
        bundle.load(folder, _as_registered(folder))


def test_a_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(ModelIntegrityError, match="not an MRBS model folder"):
        bundle.load(tmp_path, bundle.identity_of(tmp_path))


def test_mlflow_models_serve_answers_a_baseline_table_with_mrbs_scoring(
    model_store: ModelStore, folders: dict[str, Path], development_cohort: Path, tmp_path: Path
) -> None:
    """`mlflow models serve` started as its users start it, on the registered version, sent a
    baseline table as `mrbs cohort build` writes it (booleans, missing values, text)."""
    baseline = pd.read_parquet(development_cohort).head(25)
    port = free_port()
    # As its users run it: in the activated environment (it starts uvicorn from the PATH).
    bin_folder = str(Path(sys.executable).parent)
    environment = {
        **os.environ,
        "PATH": f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": model_store.settings.resolved_tracking_uri,
    }
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "models",
        "serve",
        "-m",
        TRAINED,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    try:
        _wait_for_ping(f"http://127.0.0.1:{port}", process, log)
        payload: dict[str, Any] = {
            "dataframe_split": json.loads(baseline.to_json(orient="split", index=False))
        }
        response = httpx.post(f"http://127.0.0.1:{port}/invocations", json=payload, timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert response.status_code == 200, response.text[:500]
    answered = pd.DataFrame(response.json()["predictions"])
    scorer = bundle.load(folders[TRAINED], store.pin(TRAINED))
    expected = prediction_table(baseline, scorer).to_pandas()
    assert len(answered) == len(baseline)
    np.testing.assert_allclose(
        answered["probability"].astype(float), expected["probability"], rtol=0, atol=1e-12
    )
    assert answered["problems"].tolist() == expected["problems"].tolist()


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"mlflow models serve was not ready:\n{log.read_text()[-3000:]}")
