"""The release path: `mrbs release` packages the exact version into a Bento that serves
without any MLflow store."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from serving.http.launch import bentoml_serve, running_service
from serving.http.schemas import example_patient
from tests.serving.http.served import MODEL_URI, ServedModel

pytestmark = pytest.mark.slow

PAGE_FILES = ("", "static/page.js", "static/page.css", "form.json", "model-card")


def test_a_released_bento_serves_the_same_answers_without_mlflow(
    served_model: ServedModel, tmp_path: Path
) -> None:
    mrbs = Path(sys.executable).with_name("mrbs")
    built = subprocess.run(
        [str(mrbs), "release", "--model", MODEL_URI],
        env=served_model.environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    found = re.search(r"built Bento (\S+) with model (\S+);", built.stdout)
    assert found is not None, built.stdout
    bento, model_tag = found.groups()
    assert model_tag == served_model.tag

    # No MLflow store: MRBS_HOME points at an empty folder, and no tracking URI is set.
    environment = {**served_model.environment, "MRBS_HOME": str(tmp_path / "empty")}
    with running_service(tmp_path / "bento.log", bentoml_serve(bento), environment) as service:
        answer = httpx.post(
            f"{service.url}/predict",
            json={"patient": example_patient()},
            headers=served_model.headers,
        )
        described = httpx.post(f"{service.url}/model", json={}, headers=served_model.headers)
        page = [httpx.get(f"{service.url}/ui/{path}") for path in PAGE_FILES]
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["version"] == served_model.version
    assert described.json()["version"] == served_model.version
    assert described.json()["interval_refits"] > 0  # the refits travel with the Bento
    assert not (tmp_path / "empty" / "mlflow.db").exists()
    # The clinician page and the model card it links to travel with the Bento too.
    assert [response.status_code for response in page] == [200] * len(PAGE_FILES)
    assert "Intended use" in page[-1].text
