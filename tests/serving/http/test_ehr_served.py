"""The real server, started as users start it (`mrbs serve` with ``MRBS_CDS_ISSUERS``), played
against by an EHR that signs its own JWTs; then schemathesis over the EHR routes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving.http.launch import RunningService
from serving.http.schemas import example_patient
from tests.serving.http import cds_schema, ehr_openapi
from tests.serving.http.ehr_helpers import (
    FHIR,
    INDEX,
    ISSUER,
    PATIENT_VIEW,
    Keys,
    call,
    example_bundle,
)
from tests.serving.http.served import ServedModel

pytestmark = pytest.mark.slow

GENERATED_CASES: Final = 60


@pytest.fixture(scope="module")
def keys(served_model: ServedModel) -> Keys:
    return served_model.ehr_keys


@pytest.fixture(scope="module")
def ehr_service(live_service: RunningService) -> RunningService:
    """`mrbs serve` as users start it, with ``MRBS_CDS_ISSUERS`` naming the tests' EHR."""
    return live_service


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


def _feedback_lines(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if '"feedback"' in line]


def _next_feedback_line(log: Path, seen: int, wait_seconds: float = 10.0) -> dict[str, Any]:
    """The first feedback line after the ``seen`` ones; the guard writes it once the answer
    is sent, so it may come a moment after the response."""
    deadline = time.monotonic() + wait_seconds
    while len(found := _feedback_lines(log)) <= seen:
        assert time.monotonic() < deadline, "no new feedback line in the audit log"
        time.sleep(0.1)
    return found[seen]


def test_feedback_reaches_the_audit_log(
    ehr_service: RunningService, keys: Keys, served_model: ServedModel
) -> None:
    body = {"feedback": [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": INDEX}]}
    log = Path(served_model.audit_log)
    seen = len(_feedback_lines(log))
    assert _hook(ehr_service, keys, body, "/feedback").status_code == 200
    entry = _next_feedback_line(log, seen)
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
