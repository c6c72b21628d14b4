"""The service's guard (tokens, request checks, limits, readiness, audit) around a stand-in
ASGI app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.http.security import Guard, Readiness, create_token, read_tokens
from serving.http.settings import ServingSettings
from tests.serving.http.served import AUDIT_LINE_FIELDS

SENTINEL = "SENTINEL-PATIENT-4711"


FINISHED: list[str] = []


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 with a model version header; /slow takes half a second, then notes that it
    finished."""
    message = await receive()
    if scope["path"] == "/slow":
        await asyncio.sleep(0.5)
        FINISHED.append(scope["path"])
    body = json.dumps({"length": len(message.get("body", b""))}).encode()
    headers = [(b"content-type", b"application/json"), (b"x-mrbs-model-version", b"7")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[Guard, str]:
    settings = ServingSettings(
        home=tmp_path, max_body_bytes=2_000, max_concurrency=1, timeout_seconds=0.2
    )
    token = create_token(settings.resolved_tokens_file, "clinic-a")
    return Guard(echo_app, settings), token


def call(
    guard: Guard,
    path: str,
    token: str | None,
    body: bytes = b"{}",
    content_type: str = "application/json",
) -> httpx.Response:
    async def go() -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers["Content-Type"] = content_type
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=guard), base_url="http://t"
        ) as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


def test_tokens_are_stored_as_digests(guarded: tuple[Guard, str], tmp_path: Path) -> None:
    _, token = guarded
    stored = (tmp_path / "tokens").read_text()
    assert token not in stored
    assert list(read_tokens(tmp_path / "tokens").values()) == ["clinic-a"]


def test_every_route_but_health_needs_a_token(guarded: tuple[Guard, str]) -> None:
    guard, token = guarded
    assert call(guard, "/predict", None).status_code == 401
    assert call(guard, "/predict", "wrong-token").status_code == 401
    assert call(guard, "/docs.json", None).status_code == 401
    assert call(guard, "/readyz", None).status_code == 200
    response = call(guard, "/predict", token)
    assert response.status_code == 200
    assert response.headers["x-request-id"]


def test_body_over_the_limit_gets_413(guarded: tuple[Guard, str]) -> None:
    guard, token = guarded
    text = b'"' + b"x" * 1_998 + b'"'
    assert call(guard, "/predict", token, text + b" ").status_code == 413
    assert call(guard, "/predict", token, text).status_code == 200


def test_slow_request_gets_504(guarded: tuple[Guard, str]) -> None:
    guard, token = guarded
    assert call(guard, "/slow", token).status_code == 504


def test_too_many_in_flight_gets_429(tmp_path: Path) -> None:
    settings = ServingSettings(home=tmp_path, max_concurrency=1, timeout_seconds=5)
    token = create_token(settings.resolved_tokens_file, "clinic-a")
    guard = Guard(echo_app, settings)

    async def both() -> list[int]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=guard), base_url="http://t"
        ) as client:
            responses = await asyncio.gather(
                client.post("/slow", json={}, headers=headers),
                client.post("/predict", json={}, headers=headers),
            )
        return sorted(responses, key=lambda r: r.status_code)

    answered, refused = asyncio.run(both())
    assert (answered.status_code, refused.status_code) == (200, 429)
    assert refused.headers["retry-after"] == "1"
    assert "retry" in refused.json()["error"]
    outcomes = [json.loads(line)["outcome"] for line in _audit_lines(tmp_path)]
    assert sorted(outcomes) == [200, 429]


def test_audit_line_has_no_patient_values(guarded: tuple[Guard, str], tmp_path: Path) -> None:
    guard, token = guarded
    body = json.dumps({"patient": {"name": SENTINEL, "c3": 85}}).encode()
    call(guard, "/predict", token, body)
    call(guard, "/predict", None, body)
    lines = (tmp_path / "audit" / "predictions.jsonl").read_text().splitlines()
    assert SENTINEL not in "".join(lines)
    first, second = (json.loads(line) for line in lines)
    assert first["caller"] == "clinic-a"
    assert first["model_version"] == "7"
    assert first["outcome"] == 200
    assert second["outcome"] == 401
    assert set(first) == AUDIT_LINE_FIELDS
    assert first["input_hmac_sha256"] == guard.audit.input_hash(body)


def _audit_lines(home: Path) -> list[str]:
    return (home / "audit" / "predictions.jsonl").read_text().splitlines()


def test_a_timed_out_request_is_answered_504_audited_and_its_work_cancelled(
    guarded: tuple[Guard, str], tmp_path: Path
) -> None:
    guard, token = guarded
    FINISHED.clear()

    async def timed_out_then_wait() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=guard), base_url="http://t"
        ) as client:
            answer = await client.post(
                "/slow", json={}, headers={"Authorization": f"Bearer {token}"}
            )
        await asyncio.sleep(0.6)  # the work would have finished by now had it kept running
        return answer

    response = asyncio.run(timed_out_then_wait())
    assert response.status_code == 504
    assert response.json() == {"error": "no answer within 0.2 s"}
    assert FINISHED == []
    assert json.loads(_audit_lines(tmp_path)[-1])["outcome"] == 504


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""],
)
def test_a_body_not_declared_as_json_gets_415(
    guarded: tuple[Guard, str], content_type: str
) -> None:
    guard, token = guarded
    response = call(guard, "/predict", token, b'{"patient": {}}', content_type)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_json_with_parameters_is_accepted(guarded: tuple[Guard, str]) -> None:
    guard, token = guarded
    response = call(guard, "/predict", token, b"{}", "Application/JSON; charset=utf-8")
    assert response.status_code == 200


def test_fhir_json_is_accepted_on_fhir_routes_only(guarded: tuple[Guard, str]) -> None:
    guard, token = guarded
    assert call(guard, "/fhir/predict", token, b"{}", "application/fhir+json").status_code == 200
    assert call(guard, "/predict", token, b"{}", "application/fhir+json").status_code == 415


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"patient": {"c3": 987654.321, "c3": 0.72}}', "c3"),
        (b'{"patient": {"c3": 85}, "patient": {"c3": 90}}', "patient"),
        (b'{"patients": [{"age": 40, "sex": "F", "age": 41}]}', "age"),
    ],
)
def test_a_duplicate_json_key_is_refused_naming_it(
    guarded: tuple[Guard, str], tmp_path: Path, body: bytes, key: str
) -> None:
    guard, token = guarded
    response = call(guard, "/predict", token, body)
    assert response.status_code == 400
    assert response.json()["error"] == f'duplicate JSON key "{key}": each key may appear once'
    assert json.loads(_audit_lines(tmp_path)[-1])["outcome"] == 400


def test_a_body_that_is_not_json_is_refused(guarded: tuple[Guard, str]) -> None:
    guard, token = guarded
    response = call(guard, "/predict", token, b'{"patient": ')
    assert response.status_code == 400
    assert response.json()["error"] == "the body is not valid JSON"


def test_tokens_added_and_revoked_while_running_take_effect(
    guarded: tuple[Guard, str], tmp_path: Path
) -> None:
    guard, first = guarded
    assert call(guard, "/predict", first).status_code == 200
    second = create_token(tmp_path / "tokens", "clinic-b")
    assert call(guard, "/predict", second).status_code == 200
    kept = [
        line for line in (tmp_path / "tokens").read_text().splitlines() if "clinic-a" not in line
    ]
    (tmp_path / "tokens").write_text("\n".join(kept) + "\n")
    assert call(guard, "/predict", first).status_code == 401
    assert call(guard, "/predict", second).status_code == 200


def test_a_malformed_token_file_refuses_every_caller(
    guarded: tuple[Guard, str], tmp_path: Path
) -> None:
    guard, token = guarded
    assert call(guard, "/predict", token).status_code == 200
    with (tmp_path / "tokens").open("a") as handle:
        handle.write("half-written line\n")
    assert call(guard, "/predict", token).status_code == 401


def test_readyz_carries_the_reason_the_model_cannot_answer(tmp_path: Path) -> None:
    readiness = Readiness()
    readiness.problem = "model mrbs-sri4:abc could not be loaded: File is not a zip file"
    guard = Guard(echo_app, ServingSettings(home=tmp_path), readiness)

    async def probe() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=guard), base_url="http://t"
        ) as client:
            return await client.get("/readyz")

    response = asyncio.run(probe())
    assert response.status_code == 503
    assert response.json() == {"error": f"not ready: {readiness.problem}"}
    readiness.problem = None
    assert asyncio.run(probe()).status_code == 200
