"""FHIR R4 and CDS Hooks 2.0 in process: the EHR's ways in answer as /predict does, bad input gets
an OperationOutcome or a 4xx, and every CDS Hooks refusal is its own test."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from serving.http.schemas import example_patient
from tests.serving.http import cds_schema
from tests.serving.http.ehr_helpers import (
    FHIR,
    INDEX,
    ISSUER,
    ORDER_SELECT,
    ORIGIN,
    PATIENT_VIEW,
    Keys,
    call,
    example_bundle,
    searchset,
    today_bundle,
)
from tests.serving.http.served import ServedModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keys(served_model: ServedModel) -> Keys:
    return served_model.ehr_keys


@pytest.fixture(scope="module")
def ehr(client: Any) -> Any:
    """The service in process (`client`); it trusts the tests' EHR (tests/serving/conftest.py)."""
    return client


def _fhir_post(client: Any, served: ServedModel, body: Any) -> Any:
    headers = {**served.headers, **FHIR}
    return client.post(
        f"/fhir/predict?index_date={INDEX}", content=json.dumps(body), headers=headers
    )


def _issues(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    OperationOutcome.model_validate(body)
    return list(body["issue"])


def test_fhir_predict_equals_predict_on_the_json_patient(
    ehr: Any, served_model: ServedModel
) -> None:
    from fhir.resources.R4B.riskassessment import RiskAssessment

    answer = _fhir_post(ehr, served_model, example_bundle())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    resource = answer.json()
    RiskAssessment.model_validate(resource)
    plain = ehr.post(
        "/predict",
        json={"patient": example_patient(), "interval": True},
        headers=served_model.headers,
    ).json()
    prediction = resource["prediction"][0]
    assert prediction["probabilityDecimal"] == plain["probability"]
    assert prediction["outcome"]["text"] == "SRI-4 response at week 48"
    assert prediction["qualitativeRisk"]["text"] == plain["risk_band"]
    assert resource["method"]["coding"][0]["version"] == served_model.version
    basis = {item["reference"] for item in resource["basis"]}
    assert {"Patient/example", "Observation/c3", "Observation/sledai-2k", "Condition/sle"} <= basis
    assert resource["subject"] == {"reference": "Patient/example"}


def _with_observation(change: Any) -> dict[str, Any]:
    bundle = example_bundle()
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "c3":
            change(entry["resource"])
    return bundle


def _position(bundle: dict[str, Any], resource_id: str) -> int:
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"].get("id") == resource_id)


@pytest.mark.parametrize(
    ("change", "suffix", "code"),
    [
        (lambda r: r["valueQuantity"].update(code="g/l"), ".valueQuantity.code", "code-invalid"),
        (
            lambda r: r["valueQuantity"].update(system="http://example.org/units"),
            ".valueQuantity.code",
            "code-invalid",
        ),
        (lambda r: r.pop("valueQuantity"), ".valueQuantity", "required"),
        (lambda r: r["code"]["coding"][0].update(code="4420-8"), ".code", "code-invalid"),
        (lambda r: r["code"]["coding"][0].update(code="11013-0"), ".code", "not-supported"),
    ],
)
def test_bad_observations_get_an_operation_outcome_naming_the_expression(
    ehr: Any, served_model: ServedModel, change: Any, suffix: str, code: str
) -> None:
    bundle = _with_observation(change)
    answer = _fhir_post(ehr, served_model, bundle)
    assert answer.status_code == 422
    issues = _issues(answer)
    where = f"Bundle.entry[{_position(bundle, 'c3')}].resource{suffix}"
    assert any(i["expression"] == [where] and i["code"] == code for i in issues), issues
    assert "0.72" not in answer.text


def test_two_different_results_on_the_same_day_conflict(
    ehr: Any, served_model: ServedModel
) -> None:
    bundle = example_bundle()
    twin = copy.deepcopy(bundle["entry"][_position(bundle, "c3")])
    twin["resource"]["id"] = "c3-again"
    twin["resource"]["valueQuantity"]["value"] = 0.95
    bundle["entry"].append(twin)
    answer = _fhir_post(ehr, served_model, bundle)
    assert answer.status_code == 422
    assert [i["code"] for i in _issues(answer)] == ["conflict"]


def test_the_same_result_twice_is_not_a_conflict(ehr: Any, served_model: ServedModel) -> None:
    bundle = example_bundle()
    twin = copy.deepcopy(bundle["entry"][_position(bundle, "c3")])
    twin["resource"]["id"] = "c3-copy"
    twin["resource"]["valueQuantity"] = {
        "value": 72,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    bundle["entry"].append(twin)
    assert _fhir_post(ehr, served_model, bundle).status_code == 200


def test_a_missing_required_value_is_named(ehr: Any, served_model: ServedModel) -> None:
    bundle = example_bundle()
    del bundle["entry"][_position(bundle, "igg")]
    answer = _fhir_post(ehr, served_model, bundle)
    assert answer.status_code == 422
    assert any(
        i["diagnostics"].startswith("igg:") and i["code"] == "required" for i in _issues(answer)
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resourceType": "Patient", "id": "x"}, 400),
        ([1, 2], 400),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {}}] * 50_000},
            413,
        ),
    ],
)
def test_what_is_not_a_usable_bundle_is_refused_with_4xx(
    ehr: Any, served_model: ServedModel, body: Any, status: int
) -> None:
    answer = _fhir_post(ehr, served_model, body)
    assert answer.status_code == status
    if answer.headers["content-type"].startswith("application/fhir+json"):
        assert _issues(answer)


def test_nan_in_a_bundle_is_refused_as_not_json(ehr: Any, served_model: ServedModel) -> None:
    text = json.dumps(example_bundle()).replace("0.72", "NaN")
    headers = {**served_model.headers, **FHIR}
    answer = ehr.post(f"/fhir/predict?index_date={INDEX}", content=text, headers=headers)
    assert answer.status_code == 400
    assert [issue["code"] for issue in _issues(answer)] == ["structure"]


def test_fhir_predict_needs_its_content_type_and_a_token(
    ehr: Any, served_model: ServedModel
) -> None:
    text = json.dumps(example_bundle())
    plain_text = {**served_model.headers, "Content-Type": "text/plain"}
    assert ehr.post("/fhir/predict", content=text, headers=plain_text).status_code == 415
    assert ehr.post("/fhir/predict", content=text, headers=FHIR).status_code == 401


# -- CDS Hooks ----------------------------------------------------------------------------------


def _hook(client: Any, keys: Keys, service: str, body: Any, **token: Any) -> Any:
    url = f"http://testserver/cds-services/{service}"
    headers = {"Authorization": f"Bearer {keys.token(url, **token)}"}
    return client.post(f"/cds-services/{service}", json=body, headers=headers)


def test_discovery_is_open_and_follows_the_specification(ehr: Any) -> None:
    answer = ehr.get("/cds-services")
    assert answer.status_code == 200
    document = answer.json()
    jsonschema.validate(document, cds_schema.DISCOVERY)
    hooks = {s["id"]: s["hook"] for s in document["services"]}
    assert hooks == {PATIENT_VIEW: "patient-view", ORDER_SELECT: "order-select"}
    prefetch_ = document["services"][0]["prefetch"]
    assert prefetch_["c3"] == (
        "Observation?patient={{context.patientId}}&code=http://loinc.org|4485-9&_sort=-date&_count=1"
    )


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_patient_view_answers_a_card_with_the_probability(
    ehr: Any, served_model: ServedModel, keys: Keys, alg: str
) -> None:
    answer = _hook(ehr, keys, PATIENT_VIEW, call(), alg=alg)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(answer.json(), cds_schema.RESPONSE)
    (card,) = answer.json()["cards"]
    headers = {**served_model.headers, **FHIR}
    fhir = ehr.post("/fhir/predict", content=json.dumps(today_bundle()), headers=headers).json()
    probability = fhir["prediction"][0]["probabilityDecimal"]
    assert f"{100 * probability:.0f} %" in card["summary"]
    assert len(card["summary"]) < 140
    # The example patient has no BLyS, blood count or creatinine: imputed, hence a warning.
    assert card["indicator"] == "warning"
    assert "Imputed" in card["detail"]
    assert "Intended use" in card["detail"]
    assert "interval" in card["detail"]
    assert card["links"][0]["url"] == "http://testserver/ui/"
    assert card["source"]["url"] == "http://testserver/ui/model-card"


def test_the_model_card_the_cards_link_is_served_without_a_token(
    ehr: Any, served_model: ServedModel
) -> None:
    answer = ehr.get("/ui/model-card")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert f"mrbs-sri4 v{served_model.version}" in answer.text


def test_a_patient_outside_the_population_gets_a_warning_card(ehr: Any, keys: Keys) -> None:
    body = call()
    for entry in body["prefetch"]["conditions"]["entry"]:
        if entry["resource"]["id"] == "hiv-positive":
            entry["resource"]["verificationStatus"]["coding"][0]["code"] = "confirmed"
    answer = _hook(ehr, keys, PATIENT_VIEW, body)
    (card,) = answer.json()["cards"]
    assert card["indicator"] == "warning"
    assert "outside the MRBS population" in card["summary"]


def test_missing_needed_prefetch_answers_412(ehr: Any, keys: Keys) -> None:
    body = call()
    del body["prefetch"]["c3"]
    assert _hook(ehr, keys, PATIENT_VIEW, body).status_code == 412


def test_null_prefetch_means_no_data_and_the_card_says_what_is_missing(
    ehr: Any, keys: Keys
) -> None:
    body = call()
    body["prefetch"]["c3"] = None
    answer = _hook(ehr, keys, PATIENT_VIEW, body)
    (card,) = answer.json()["cards"]
    jsonschema.validate(answer.json(), cds_schema.RESPONSE)
    assert card["indicator"] == "warning"
    assert "c3:" in card["detail"]


def test_order_select_answers_only_for_belimumab(ehr: Any, keys: Keys) -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [
                {"system": "http://www.whocc.no/atc", "code": "L04AG04", "display": "belimumab"}
            ]
        },
    }
    other = copy.deepcopy(order)
    other["medicationCodeableConcept"] = {"text": "hydroxychloroquine"}
    for draft, cards in ((order, 1), (other, 0)):
        context = {
            "userId": "Practitioner/1",
            "patientId": "example",
            "selections": ["MedicationRequest/draft-1"],
            "draftOrders": searchset([draft]),
        }
        answer = _hook(ehr, keys, ORDER_SELECT, call("order-select", context=context))
        assert answer.status_code == 200, answer.text
        jsonschema.validate(answer.json(), cds_schema.RESPONSE)
        assert len(answer.json()["cards"]) == cards


def _refused(answer: Any, reason: str) -> None:
    assert answer.status_code == 401
    assert reason in answer.json()["error"]
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_replayed_token_is_refused(ehr: Any, keys: Keys) -> None:
    url = f"http://testserver/cds-services/{PATIENT_VIEW}"
    headers = {"Authorization": f"Bearer {keys.token(url)}"}
    assert (
        ehr.post(f"/cds-services/{PATIENT_VIEW}", json=call(), headers=headers).status_code == 200
    )
    _refused(ehr.post(f"/cds-services/{PATIENT_VIEW}", json=call(), headers=headers), "replayed")


def test_an_expired_token_is_refused(ehr: Any, keys: Keys) -> None:
    past = int(time.time()) - 3600
    _refused(_hook(ehr, keys, PATIENT_VIEW, call(), iat=past - 300, exp=past), "expired")


def test_a_token_for_another_audience_is_refused(ehr: Any, keys: Keys) -> None:
    token = keys.token("https://elsewhere.example.org/cds-services/x")
    answer = ehr.post(
        f"/cds-services/{PATIENT_VIEW}", json=call(), headers={"Authorization": f"Bearer {token}"}
    )
    _refused(answer, "audience")


def test_an_unknown_issuer_is_refused(ehr: Any, keys: Keys) -> None:
    _refused(
        _hook(ehr, keys, PATIENT_VIEW, call(), iss="https://unknown.example.org"), "unknown issuer"
    )


def test_a_token_signed_by_another_key_is_refused(ehr: Any) -> None:
    stranger = Keys()
    _refused(_hook(ehr, stranger, PATIENT_VIEW, call()), "signature")


@pytest.mark.parametrize("claim", ["jti", "exp", "iat"])
def test_a_token_without_a_required_claim_is_refused(ehr: Any, keys: Keys, claim: str) -> None:
    _refused(_hook(ehr, keys, PATIENT_VIEW, call(), **{claim: None}), claim)


def test_no_token_and_a_bearer_token_are_refused(ehr: Any, served_model: ServedModel) -> None:
    _refused(ehr.post(f"/cds-services/{PATIENT_VIEW}", json=call()), "JWT")
    answer = ehr.post(f"/cds-services/{PATIENT_VIEW}", json=call(), headers=served_model.headers)
    _refused(answer, "JWT")


def test_feedback_is_accepted_and_audited_without_patient_values(
    ehr: Any, keys: Keys, served_model: ServedModel
) -> None:
    url = f"http://testserver/cds-services/{PATIENT_VIEW}/feedback"
    body = {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "accepted",
                "outcomeTimestamp": "2025-06-02T10:00:00Z",
            }
        ]
    }
    headers = {"Authorization": f"Bearer {keys.token(url)}"}
    answer = ehr.post(f"/cds-services/{PATIENT_VIEW}/feedback", json=body, headers=headers)
    assert answer.status_code == 200
    lines = [
        json.loads(line)
        for line in Path(served_model.serving.resolved_audit_log).read_text().splitlines()
    ]
    last = lines[-1]
    assert last["route"] == f"/cds-services/{PATIENT_VIEW}/feedback"
    assert last["caller"] == f"cds:{ISSUER}"
    assert last["feedback"] == {"accepted": 1, "overridden": 0}


def test_cors_admits_the_configured_origin_only(ehr: Any) -> None:
    def preflight(origin: str) -> Any:
        return ehr.options(
            f"/cds-services/{PATIENT_VIEW}",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    assert preflight(ORIGIN).headers.get("access-control-allow-origin") == ORIGIN
    assert "access-control-allow-origin" not in preflight("https://evil.example.org").headers
