"""A site model (`mrbs update`) served by `mrbs serve` answers as that model and version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.http.launch import RunningService, mrbs_serve, running_service
from tests.conftest import TRAINED, ModelStore
from tests.serving.http.served import ServedModel
from tests.training.test_update import QUICK, shifted_baseline
from training.update import update

EXAMPLE = Path(__file__).resolve().parents[3] / "serving" / "http" / "example_patient.json"


@pytest.fixture(scope="module")
def site_service(
    model_store: ModelStore, served_model: ServedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningService, str]]:
    folder = tmp_path_factory.mktemp("site-c")
    result = update(
        TRAINED, shifted_baseline(folder), QUICK, model_store.settings, site="site-c",
        echo=lambda _: None,
    )  # fmt: skip
    command = mrbs_serve("--model", result.registered.model_uri)
    with running_service(folder / "server.log", command, served_model.environment) as service:
        yield service, result.registered.version


@pytest.mark.slow
def test_the_served_site_model_answers_with_its_name_and_version(
    site_service: tuple[RunningService, str], served_model: ServedModel
) -> None:
    import json

    service, version = site_service
    response = httpx.post(
        f"{service.url}/predict",
        json={"patient": json.loads(EXAMPLE.read_text())},
        headers=served_model.headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == {"name": "mrbs-sri4-site-c", "version": version}
    assert 0 < answer["probability"] < 1
