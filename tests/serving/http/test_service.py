"""The service's contract and errors, in process through the service's `to_asgi()`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from features.schema import patient_model
from scoring import load
from serving.http.respond import predict_record
from serving.http.schemas import MAX_BATCH, example_patient
from serving.http.service import ModelUnavailableError, build_service
from tests.serving.http.served import AUDIT_LINE_FIELDS, ServedModel
from training.config import DEFAULT_CONFIG, load_config

pytestmark = pytest.mark.slow

ROUTES = ("/predict", "/predict_batch", "/model", "/docs.json")


def _patient(**changes: Any) -> dict[str, Any]:
    patient = {**example_patient(), **changes}
    return {k: v for k, v in patient.items() if v is not None}


def _post(client: Any, served: ServedModel, route: str, body: Any) -> Any:
    return client.post(route, json=body, headers=served.headers)


def _problems(response: Any) -> dict[str, str]:
    """Field path (without the 'patient' prefix) -> pydantic error type."""
    return {
        ".".join(str(p) for p in item["loc"][1:]): item["type"]
        for item in response.json()["detail"]
    }


def test_health_probes_answer_without_a_token(client: Any) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz"])
def test_every_other_route_needs_a_valid_token(
    client: Any, route: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    method = client.get if route == "/docs.json" else client.post
    kwargs: dict[str, Any] = {} if route == "/docs.json" else {"json": {}}
    response = method(route, headers=headers, **kwargs)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_prediction_is_the_registered_version_answering(
    client: Any, served_model: ServedModel
) -> None:
    response = _post(client, served_model, "/predict", {"patient": example_patient()})
    assert response.status_code == 200, response.text
    body = response.json()
    scorer = load(f"models:/mrbs-sri4/{served_model.version}", served_model.settings)
    record = patient_model().model_validate(example_patient())
    expected = predict_record(scorer, record)
    assert body["probability"] == expected.probability
    assert body["model"] == {"name": "mrbs-sri4", "version": served_model.version}
    assert response.headers["x-mrbs-model-version"] == served_model.version
    assert len(response.headers["x-request-id"]) == 32
    assert {c["predictor"] for c in body["contributions"]} == set(scorer.shown_as)
    assert body["eligibility"] == {"eligible": True, "reasons": [], "unknown": []}
    assert body["risk_band"] in {"low", "intermediate", "high"}


def test_a_unit_may_be_given_per_field(client: Any, served_model: ServedModel) -> None:
    in_g = _post(client, served_model, "/predict", {"patient": _patient(c3=0.72, c3_unit="g/L")})
    in_mg = _post(client, served_model, "/predict", {"patient": _patient(c3=72.0, c3_unit="mg/dL")})
    assert in_g.status_code == in_mg.status_code == 200
    assert in_g.json()["probability"] == in_mg.json()["probability"]
    c3 = next(c for c in in_g.json()["contributions"] if c["predictor"] == "c3")
    assert c3["value"] == pytest.approx(72.0)
    assert c3["unit"] == "mg/dL"


def test_missing_optional_inputs_are_imputed_and_said(
    client: Any, served_model: ServedModel
) -> None:
    body = _post(
        client, served_model, "/predict", {"patient": _patient(proteinuria=None, blys=None)}
    ).json()
    assert {"proteinuria", "blys"} <= set(body["imputed"])
    imputed = {c["predictor"] for c in body["contributions"] if c["imputed"]}
    assert {"proteinuria", "blys"} <= imputed


def test_a_patient_outside_the_population_gets_every_reason(
    client: Any, served_model: ServedModel
) -> None:
    body = _post(
        client,
        served_model,
        "/predict",
        {"patient": _patient(igg=350.0, prior_cyclophosphamide=True)},
    ).json()
    assert body["eligibility"]["eligible"] is False
    reasons = " ".join(body["eligibility"]["reasons"]).lower()
    assert "igg" in reasons
    assert "cyclophosphamide" in reasons


def test_bad_input_names_every_field_and_echoes_no_value(
    client: Any, served_model: ServedModel
) -> None:
    patient = _patient(sledai_2k=987654, age="SENTINEL-AGE", c3_unit="furlongs")
    patient["medical_record_number"] = "SENTINEL-MRN-4411"
    del patient["c4"]
    response = _post(client, served_model, "/predict", {"patient": patient})
    assert response.status_code == 400
    problems = _problems(response)
    assert problems["sledai_2k"] == "less_than_equal"
    assert problems["age"] == "value_error"  # "must be a JSON number, not a string"
    assert problems["medical_record_number"] == "extra_forbidden"
    assert problems["c4"] == "missing"
    assert any(path.startswith("c3") for path in problems), problems
    for value in ("987654", "SENTINEL", "furlongs"):
        assert value not in response.text


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"patient": []}',
        b'{"patients": [{}]}',
    ],
)
def test_malformed_bodies_get_400_not_500(
    client: Any, served_model: ServedModel, body: bytes
) -> None:
    response = client.post(
        "/predict",
        content=body,
        headers={**served_model.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text


def test_batch_keeps_order_and_one_bad_record_fails_only_itself(
    client: Any, served_model: ServedModel
) -> None:
    good = example_patient()
    older = _patient(age=61.0, sledai_2k=20, c4=30.0)  # core and extended inputs both differ
    bad = _patient(c3=-5.0, surname="SENTINEL-SURNAME")
    response = _post(client, served_model, "/predict_batch", {"patients": [good, bad, older]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert results[1]["prediction"] is None
    assert {p["field"] for p in results[1]["problems"]} == {"c3", "surname"}
    assert "SENTINEL" not in response.text
    assert results[0]["prediction"]["probability"] != results[2]["prediction"]["probability"]
    for index, patient in ((0, good), (2, older)):
        single = _post(client, served_model, "/predict", {"patient": patient}).json()
        assert results[index]["prediction"] == single
        assert results[index]["problems"] == []


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_batch_size_is_bounded(client: Any, served_model: ServedModel, count: int) -> None:
    response = _post(
        client, served_model, "/predict_batch", {"patients": [example_patient()] * count}
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["patients"]


def test_body_over_the_limit_gets_413(client: Any, served_model: ServedModel) -> None:
    padding = "x" * 1_100_000
    response = client.post(
        "/predict",
        content=json.dumps({"patient": example_patient(), "padding": padding}),
        headers={**served_model.headers, "content-type": "application/json"},
    )
    assert response.status_code == 413


def test_model_description(client: Any, served_model: ServedModel) -> None:
    response = _post(client, served_model, "/model", {})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"]) == ("mrbs-sri4", served_model.version)
    assert body["trained_at"]
    assert body["run_id"]
    assert "SRI-4" in body["intended_use"]
    units = {p["name"]: p["unit"] for p in body["predictors"]}
    assert units["c3"] == "mg/dL"
    assert units["sledai_2k"] == "points"
    sledai = next(p for p in body["predictors"] if p["name"] == "sledai_2k")
    assert sledai["required"]
    assert sledai["plausible_range"] == [0.0, 105.0]
    assert {"auroc", "auroc_lower", "auroc_upper", "calibration_slope"} <= set(body["metrics"])
    assert 0.5 < body["metrics"]["auroc"] < 1
    assert body["model_card"]


def test_openapi_document_carries_units_and_the_example(
    client: Any, served_model: ServedModel
) -> None:
    document = client.get("/docs.json", headers=served_model.headers).json()
    assert {"/predict", "/predict_batch", "/model", "/livez", "/readyz"} <= set(document["paths"])
    for route in ("/predict", "/predict_batch", "/model"):
        documented = set(document["paths"][route]["post"]["responses"])
        assert {"200", "400", "401", "413", "429", "504"} <= documented, route
    text = json.dumps(document)
    assert "mg/dL" in text
    assert "SLEDAI-2K" in text
    assert json.dumps(example_patient()["sledai_2k"]) in text


def test_audit_log_has_one_line_per_prediction_without_values(
    client: Any, served_model: ServedModel
) -> None:
    before = _audit_lines(served_model.audit_log)
    _post(client, served_model, "/predict", {"patient": _patient(surname="SENTINEL-AUDIT")})
    _post(client, served_model, "/predict", {"patient": example_patient()})
    client.post("/predict", json={"patient": example_patient()})
    lines = _audit_lines(served_model.audit_log)[len(before) :]
    assert [line["outcome"] for line in lines] == [400, 200, 401]
    assert [line["caller"] for line in lines] == ["test-clinic", "test-clinic", "-"]
    assert lines[1]["model_version"] == served_model.version
    assert lines[1]["route"] == "/predict"
    assert set(lines[0]) == AUDIT_LINE_FIELDS
    text = served_model.audit_log.read_text()
    assert "SENTINEL" not in text
    assert "sledai_2k" not in text  # no field of the record (the route /ui/sledai is no value)


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_corrupt_artifact_keeps_the_service_unready(
    client: Any, served_model: ServedModel
) -> None:
    service_class = build_service(served_model.serving)
    service = service_class.inner()
    artifact = Path(service.bento_model.path_of("mlflow_model")) / "artifacts" / "pipeline.skops"
    original = artifact.read_bytes()
    try:
        artifact.write_bytes(original[: len(original) // 2])
        broken = service_class.inner()
    finally:
        artifact.write_bytes(original)
    assert not broken.__is_ready__()
    assert "could not be loaded" in broken.problem
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        asyncio.run(broken.predict(patient_model().model_validate(example_patient()), None))
    assert service_class.inner().__is_ready__()


def test_a_model_whose_files_changed_since_registration_is_not_ready(
    client: Any, served_model: ServedModel
) -> None:
    service_class = build_service(served_model.serving)
    folder = Path(service_class.inner().bento_model.path_of("mlflow_model"))
    golden = folder / "artifacts" / "golden.json"
    original = golden.read_text()
    recorded = json.loads(original)
    recorded["probability"][0] += 0.01
    try:
        golden.write_text(json.dumps(recorded))
        refused = service_class.inner()
    finally:
        golden.write_text(original)
    assert not refused.__is_ready__()
    assert "version 1: artifacts/golden.json does not match the digest" in refused.problem


def test_a_service_without_a_model_says_how_to_start_one(served_model: ServedModel) -> None:
    service = build_service(served_model.serving.model_copy(update={"bento_model": None})).inner()
    assert not service.__is_ready__()
    assert "mrbs serve" in service.problem


def test_an_uncertainty_interval_comes_only_when_asked(
    client: Any, served_model: ServedModel
) -> None:
    plain = _post(client, served_model, "/predict", {"patient": example_patient()}).json()
    assert plain["interval"] is None
    asked = _post(
        client, served_model, "/predict", {"patient": example_patient(), "interval": True}
    ).json()
    interval = asked["interval"]
    refits = load_config(DEFAULT_CONFIG.parent / "quick.yaml").validation.interval_refits
    assert interval["refits"] == refits
    assert interval["level"] == 0.95
    assert 0 <= interval["lower"] < interval["upper"] <= 1
    assert asked["probability"] == plain["probability"]
    described = _post(client, served_model, "/model", {}).json()
    assert described["interval_refits"] == refits


def test_bentoml_itself_refuses_nothing_before_the_guard(served_model: ServedModel) -> None:
    traffic = build_service(served_model.serving).config["traffic"]
    assert "max_concurrency" not in traffic
    assert traffic["timeout"] > served_model.serving.timeout_seconds


def test_a_batch_answers_every_patient_in_order_across_chunks(
    client: Any, served_model: ServedModel
) -> None:
    patients = [example_patient()] * 120 + [{**example_patient(), "age": True}]
    response = client.post(
        "/predict_batch", json={"patients": patients}, headers=served_model.headers
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["index"] for item in results] == list(range(121))
    assert all(item["prediction"] is not None for item in results[:120])
    assert results[120]["problems"][0]["field"] == "age"
