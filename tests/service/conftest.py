"""A registered model imported into the test session's BentoML store, and the service around it.

One quick training registers version 1 of `mrbs-sri4` in a private MLflow store; it is
imported into the session's BentoML store (tests/conftest.py points BENTOML_HOME at it) the
way `mrbs serve` imports it. Tokens, audit log and key live in the same private folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mrbs.settings import Settings
from serving.launch import RunningService, mrbs_serve, running_service
from serving.security import create_token
from serving.settings import ServingSettings
from tests.service.served import MODEL_URI, ServedModel
from training.config import DEFAULT_CONFIG, load_config
from training.train import train


@pytest.fixture(scope="session")
def served_model(development_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    from serving.release import import_model

    folder = tmp_path_factory.mktemp("service")
    settings = Settings(home=folder / "mlruns")
    config = load_config(DEFAULT_CONFIG.parent / "quick.yaml")
    result = train(development_cohort, config, settings)
    environment = {
        "MRBS_HOME": str(settings.home),
        "MRBS_TOKENS_FILE": str(folder / "tokens"),
        "MRBS_AUDIT_LOG": str(folder / "audit.jsonl"),
        "MRBS_AUDIT_KEY_FILE": str(folder / "audit.key"),
    }
    serving = ServingSettings(
        home=settings.home,
        tokens_file=folder / "tokens",
        audit_log=folder / "audit.jsonl",
        audit_key_file=folder / "audit.key",
    )
    token = create_token(serving.resolved_tokens_file, "test-clinic")
    tag = import_model(settings, serving, MODEL_URI)
    return ServedModel(
        settings=settings,
        version=result.registered.version,
        tag=tag,
        token=token,
        environment={**os.environ, **environment},
        folder=folder,
    )


@pytest.fixture(scope="module")
def client(served_model: ServedModel) -> Iterator[Any]:
    """The service in process through `to_asgi()`, configured by the environment as users do."""
    from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        for name, value in served_model.environment.items():
            if name.startswith("MRBS_"):
                patch.setenv(name, value)
        from serving.service import MRBSService

        with TestClient(MRBSService.to_asgi()) as test_client:
            yield test_client


@pytest.fixture(scope="session")
def live_service(
    served_model: ServedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """`mrbs serve` started as users start it, on a free port, for the whole session."""
    log = tmp_path_factory.mktemp("live") / "server.log"
    command = mrbs_serve("--model", MODEL_URI)
    with running_service(log, command, served_model.environment) as service:
        yield service
