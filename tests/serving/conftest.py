"""The session's registered model imported into the BentoML store, and the service around it.

Version 1 of the session's store (`model_store` in tests/conftest.py) is imported into the
session's BentoML store (tests/conftest.py points BENTOML_HOME at it) the way `mrbs serve`
imports it. Tokens, audit log and key, and the CDS Hooks issuer allow-list of the EHR the
tests play, live in a private folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from serving.http.launch import RunningService, mrbs_serve, running_service
from serving.http.security import create_token
from serving.http.settings import ServingSettings
from tests.conftest import ModelStore
from tests.serving.http.ehr_helpers import ISSUER, ORIGIN, Keys
from tests.serving.http.served import MODEL_URI, ServedModel


@pytest.fixture(scope="session")
def served_model(model_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    from serving.release import import_model

    folder = tmp_path_factory.mktemp("service")
    settings = model_store.settings
    environment = {
        "MRBS_HOME": str(settings.home),
        "MRBS_TOKENS_FILE": str(folder / "tokens"),
        "MRBS_AUDIT_LOG": str(folder / "audit.jsonl"),
        "MRBS_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "MRBS_CDS_ISSUERS": str(folder / "cds-issuers.json"),
    }
    # The EHR the CDS Hooks tests play: its keys, trusted through the issuer allow-list.
    ehr_keys = Keys()
    issuers = {ISSUER: {"jwks": ehr_keys.jwks(), "origins": [ORIGIN]}}
    (folder / "cds-issuers.json").write_text(json.dumps(issuers))
    token = create_token(folder / "tokens", "test-clinic")
    tag = import_model(settings, MODEL_URI)
    serving = ServingSettings(
        home=settings.home,
        tokens_file=folder / "tokens",
        audit_log=folder / "audit.jsonl",
        audit_key_file=folder / "audit.key",
        bento_model=tag,
        cds_issuers=folder / "cds-issuers.json",
    )
    return ServedModel(
        settings=settings,
        serving=serving,
        version="1",
        tag=tag,
        token=token,
        environment={**os.environ, **environment},
        folder=folder,
        ehr_keys=ehr_keys,
    )


@pytest.fixture(scope="session")
def client(served_model: ServedModel) -> Iterator[Any]:
    """The service in process through `to_asgi()`, built from its settings; one per session,
    since BentoML registers the service's Prometheus metrics once per process."""
    from starlette.testclient import TestClient

    from serving.http.service import build_service

    with TestClient(build_service(served_model.serving).to_asgi()) as test_client:
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
