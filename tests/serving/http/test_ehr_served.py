"""The real server, started as users start it (`mrbs serve` with ``MRBS_CDS_ISSUERS``), played
against by an EHR that signs its own JWTs; then schemathesis over the EHR routes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving.http.launch import RunningService, mrbs_serve, running_service
from serving.http.schemas import example_patient
from tests.serving.http import cds_schema, ehr_openapi
from tests.serving.http.ehr_helpers import (
    FHIR,
    INDEX,
    ISSUER,
    ORIGIN,
    PATIENT_VIEW,
    Keys,
    call,
    example_bundle,
)
from tests.serving.http.served import MODEL_URI, ServedModel

pytestmark = pytest.mark.slow

GENERATED_CASES: Final = 60


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def ehr_service(
    served_model: ServedModel, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    folder = tmp_path_factory.mktemp("ehr-live")
    issuers = folder / "issuers.json"
    issuers.write_text(json.dumps({ISSUER: {"jwks": keys.jwks(), "origins": [ORIGIN]}}))
    environment = {**served_model.environment, "MRBS_CDS_ISSUERS": str(issuers)}
    command = mrbs_serve("--model", MODEL_URI)
    with running_service(folder / "server.log", command, environment) as service:
        yield service


def _hook(service: RunningService, keys: Keys, body: Any, path: str = "", **claims: Any) -> Any:
    url = f"{service.url}/cds-services/{PATIENT_VIEW}{path}"
    token = keys.token(url, **claims)
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_ehr_discovers_calls_the_hook_and_shows_the_card(
    ehr_service: RunningService, keys: Keys
) -> None:
    discovery = httpx.get(f"{ehr_service.url}/cds-services")
    assert discovery.status_code == 200
    jsonschema.validate(discovery.json(), cds_schema.DISCOVERY)
    service = next(s for s in discovery.json()["services"] if s["hook"] == "patient-view")
    assert set(call()["prefetch"]) == set(service["prefetch"])  # the EHR prefetched them all
    for alg in ("ES384", "RS384"):
        answer = _hook(ehr_service, keys, call(), alg=alg)
        assert answer.status_code == 200, answer.text
        jsonschema.validate(answer.json(), cds_schema.RESPONSE)
        (card,) = answer.json()["cards"]
        assert card["summary"].startswith("MRBS: ")
        assert " % chance of SRI-4 response" in card["summary"]
        assert card["links"][0]["url"] == f"{ehr_service.url}/ui/"
        assert answer.headers["x-mrbs-model-version"] == "1"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3900}, "expired"),
        ({"aud": "https://elsewhere.example.org/cds-services/x"}, "audience"),
        ({"iss": "https://unknown.example.org"}, "unknown issuer"),
    ],
)
def test_the_real_server_refuses_bad_tokens(
    ehr_service: RunningService, keys: Keys, claims: dict[str, Any], reason: str
) -> None:
    answer = _hook(ehr_service, keys, call(), **claims)
    assert answer.status_code == 401
    assert reason in answer.json()["error"]


def test_the_real_server_refuses_a_replayed_token(ehr_service: RunningService, keys: Keys) -> None:
    url = f"{ehr_service.url}/cds-services/{PATIENT_VIEW}"
    headers = {"Authorization": f"Bearer {keys.token(url)}"}
    assert httpx.post(url, json=call(), headers=headers).status_code == 200
    again = httpx.post(url, json=call(), headers=headers)
    assert again.status_code == 401
    assert "replayed" in again.json()["error"]


def test_the_real_server_answers_412_without_needed_prefetch(
    ehr_service: RunningService, keys: Keys
) -> None:
    body = call()
    del body["prefetch"]["sledai"]
    assert _hook(ehr_service, keys, body).status_code == 412


def _feedback_line(log: Path, wait_seconds: float = 10.0) -> dict[str, Any]:
    """The last feedback line of the audit log; the guard writes it once the answer is sent."""
    deadline = time.monotonic() + wait_seconds
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        found = [json.loads(line) for line in lines if '"feedback"' in line]
        if found or time.monotonic() > deadline:
            assert found, "no feedback line in the audit log"
            return found[-1]
        time.sleep(0.1)


def test_feedback_reaches_the_audit_log(
    ehr_service: RunningService, keys: Keys, served_model: ServedModel
) -> None:
    body = {"feedback": [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": INDEX}]}
    assert _hook(ehr_service, keys, body, "/feedback").status_code == 200
    entry = _feedback_line(Path(served_model.audit_log))
    assert entry["feedback"] == {"accepted": 0, "overridden": 1}
    assert entry["caller"] == f"cds:{ISSUER}"


def test_fhir_predict_on_the_real_server_equals_predict(
    ehr_service: RunningService, served_model: ServedModel
) -> None:
    headers = {**served_model.headers, **FHIR}
    fhir = httpx.post(
        f"{ehr_service.url}/fhir/predict?index_date={INDEX}",
        content=json.dumps(example_bundle()),
        headers=headers,
    )
    assert fhir.status_code == 200, fhir.text
    plain = httpx.post(
        f"{ehr_service.url}/predict",
        json={"patient": example_patient()},
        headers=served_model.headers,
    )
    assert fhir.json()["prediction"][0]["probabilityDecimal"] == plain.json()["probability"]


@pytest.fixture(scope="module")
def contract() -> Any:
    schema = schemathesis.openapi.from_dict(ehr_openapi.document())
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "412", "413", "415"]
    return schema


CASES: Final = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in (
        ("POST", "/fhir/predict"),
        ("POST", "/cds-services/{service_id}"),
        ("POST", "/cds-services/{service_id}/feedback"),
        ("GET", "/cds-services"),
    )
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (path == "/cds-services" and mode is GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_generated_requests_get_documented_answers_and_never_a_5xx(
    contract: Any,
    ehr_service: RunningService,
    served_model: ServedModel,
    keys: Keys,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = contract[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=GENERATED_CASES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        if path.startswith("/cds-services/"):
            url = f"{ehr_service.url}{case.formatted_path}"
            headers = {"Authorization": f"Bearer {keys.token(url)}"}
        else:
            headers = dict(served_model.headers)
        response = case.call_and_validate(
            base_url=ehr_service.url, headers=headers, excluded_checks=[positive_data_acceptance]
        )
        statuses.append(response.status_code)

    check()
    assert statuses
    assert all(status < 500 for status in statuses)
