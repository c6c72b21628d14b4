"""The real server, started as users start it (`mrbs serve` on a free port), over real HTTP.

Generated requests (schemathesis, from the served OpenAPI document) come last but one; the
last test reads every log the server wrote and finds none of the sentinel identifiers sent in
invalid requests by this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import bentoml
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving.http.launch import RunningService
from serving.http.schemas import example_patient
from tests.serving.http.served import MODEL_URI, ServedModel

pytestmark = pytest.mark.slow

SENTINELS: Final = ("SENTINEL-MRN-90210", "SENTINEL-NAME-Okonkwo", "424242.4242")
GENERATED_CASES: Final = 200


def test_sync_http_client_and_plain_http_agree(
    live_service: RunningService, served_model: ServedModel
) -> None:
    with bentoml.SyncHTTPClient(live_service.url, token=served_model.token) as client:
        assert client.is_ready()
        answer = client.predict(patient=example_patient())
    response = httpx.post(
        f"{live_service.url}/predict",
        json={"patient": example_patient()},
        headers=served_model.headers,
    )
    assert response.status_code == 200
    assert response.json() == answer
    assert answer["model"] == {"name": "mrbs-sri4", "version": served_model.version}
    assert 0 < answer["probability"] < 1


def test_the_client_without_a_token_is_refused(live_service: RunningService) -> None:
    response = httpx.post(f"{live_service.url}/predict", json={"patient": example_patient()})
    assert response.status_code == 401


def _send_invalid_requests_with_identifiers(
    live_service: RunningService, served_model: ServedModel
) -> None:
    mrn, name, number = SENTINELS
    bodies: list[Any] = [
        {"patient": {**example_patient(), "mrn": mrn}},
        {"patient": {**example_patient(), "age": name}},
        {"patient": {**example_patient(), "c3": float(number)}},
        {"patient": {**example_patient(), "sex": mrn}},
        {"patient": name},
        {"patients": [{"mrn": mrn, "sledai_2k": float(number)}]},
    ]
    with httpx.Client(base_url=live_service.url, headers=served_model.headers) as client:
        for body in bodies:
            response = client.post("/predict", json=body)
            assert response.status_code == 400, response.text
            assert not any(sentinel in response.text for sentinel in SENTINELS)
        records = [b["patient"] for b in bodies if isinstance(b.get("patient"), dict)]
        batch = client.post("/predict_batch", json={"patients": records})
        assert batch.status_code == 200
        assert all(item["prediction"] is None for item in batch.json()["results"])
        assert not any(sentinel in batch.text for sentinel in SENTINELS)


def test_invalid_requests_carrying_identifiers_get_400(
    live_service: RunningService, served_model: ServedModel
) -> None:
    _send_invalid_requests_with_identifiers(live_service, served_model)


FORGED: Final = "FORGED-LINE"


def test_hostile_requests_are_refused_by_the_guard_with_one_log_line_each(
    live_service: RunningService, served_model: ServedModel
) -> None:
    before = live_service.log.read_text(errors="replace")
    patient = json.dumps(example_patient())
    with httpx.Client(base_url=live_service.url, headers=served_model.headers) as client:
        forged = {"patient": {**example_patient(), f"x\n{FORGED} ERROR admin logged in": 1}}
        assert client.post("/predict", json=forged).status_code == 400
        typed = {"patient": {**example_patient(), "sledai_2k": True}}
        refused = client.post("/predict", json=typed)
        assert refused.status_code == 400
        assert [e["loc"][-1] for e in refused.json()["detail"]] == ["sledai_2k"]
        duplicate = ('{"patient": ' + patient[:-1] + ', "c3": 987654.321}}').encode()
        answer = client.post(
            "/predict", content=duplicate, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400
        assert answer.json()["error"].startswith('duplicate JSON key "c3"')
        for content_type in ("text/plain", "multipart/form-data; boundary=x"):
            answer = client.post(
                "/predict",
                content=json.dumps({"patient": example_patient()}).encode(),
                headers={"Content-Type": content_type},
            )
            assert answer.status_code == 415
    written = live_service.log.read_text(errors="replace")[len(before) :]
    assert "Traceback" not in written
    assert not any(line.startswith(FORGED) for line in written.splitlines())
    refused_lines = [line for line in written.splitlines() if "request refused" in line]
    assert len(refused_lines) == 2  # the two the service saw; the guard refused the rest
    assert all("WARNING" in line for line in refused_lines)


OPERATIONS: Final = (
    ("POST", "/predict"),
    ("POST", "/predict_batch"),
    ("POST", "/model"),
    ("GET", "/livez"),
    ("GET", "/readyz"),
    ("GET", "/healthz"),
)
#: Operations whose only valid request is empty: one positive case exists, no negative one.
WITHOUT_INPUT: Final = {("GET", "/livez"), ("GET", "/readyz"), ("GET", "/healthz")}
#: Served, but left out: /metrics is Prometheus text, and / is the Swagger UI page.
NOT_GENERATED: Final = {("GET", "/metrics"), ("GET", "/")}


@pytest.fixture(scope="module")
def served_openapi(live_service: RunningService, served_model: ServedModel) -> Any:
    schema = schemathesis.openapi.from_url(
        f"{live_service.url}/docs.json", headers=served_model.headers
    )
    # A generated body over the size limit is refused before validation, with a 413.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


def test_every_served_operation_is_generated(served_openapi: Any) -> None:
    served = {
        (result.ok().method.upper(), result.ok().path)
        for result in served_openapi.get_all_operations()
    }
    assert served - NOT_GENERATED == set(OPERATIONS)


CASES: Final = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not ((method, path) in WITHOUT_INPUT and mode is GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_generated_requests_conform(
    served_openapi: Any,
    live_service: RunningService,
    served_model: ServedModel,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    """Responses conform to the served document; schema-valid requests are answered (some with
    a 400 naming a unit-dependent range), invalid ones are rejected, never with a 5xx."""
    operation = served_openapi[path][method]
    calls = []
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=GENERATED_CASES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        calls.append(case)
        response = case.call_and_validate(
            base_url=live_service.url,
            headers=served_model.headers,
            excluded_checks=[positive_data_acceptance],
        )
        statuses.append(response.status_code)

    check()
    if mode is GenerationMode.POSITIVE:
        assert 200 in statuses  # schema-valid requests are answered, not only refused
    else:  # which negative cases must be refused is schemathesis's negative_data_rejection
        assert 400 in statuses
    if (method, path) in WITHOUT_INPUT or (path, mode) == ("/model", GenerationMode.POSITIVE):
        assert calls  # every possible request was sent
    else:
        assert len(calls) >= GENERATED_CASES


def test_the_demo_starts_asks_prints_and_stops(served_model: ServedModel, tmp_path: Path) -> None:
    arguments = ["--model", MODEL_URI, "--token-file", str(tmp_path / "token")]
    arguments += ["--log", str(tmp_path / "server.log")]
    command = [sys.executable, "-m", "serving.http.demo", *arguments]
    tokens_before = Path(served_model.environment["MRBS_TOKENS_FILE"]).read_text()
    for _ in range(2):
        done = subprocess.run(
            command, env=served_model.environment, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout[done.stdout.index("{") : done.stdout.rindex("}") + 1])
        assert answer["model"]["version"] == served_model.version
        assert done.stdout.rstrip().endswith("service stopped")
    tokens = Path(served_model.environment["MRBS_TOKENS_FILE"]).read_text()
    assert tokens.count("\n") == tokens_before.count("\n") + 1  # one demo token, reused


def test_no_sentinel_reaches_any_log(
    live_service: RunningService, served_model: ServedModel
) -> None:
    _send_invalid_requests_with_identifiers(live_service, served_model)
    logs = [live_service.log, served_model.audit_log]
    logs += [p for p in Path(served_model.environment["BENTOML_HOME"]).rglob("*.log")]
    assert live_service.log.stat().st_size > 0
    for log in logs:
        text = log.read_text(errors="replace")
        for sentinel in SENTINELS:
            assert sentinel not in text, f"{sentinel} found in {log}"
