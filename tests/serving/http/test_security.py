"""The service's guard (tokens, limits, audit) around a stand-in ASGI app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.http.security import Guard, create_token, read_tokens
from serving.http.settings import ServingSettings
from tests.serving.http.served import AUDIT_LINE_FIELDS

SENTINEL = "SENTINEL-PATIENT-4711"


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 with a model version header; /slow takes half a second."""
    message = await receive()
    if scope["path"] == "/slow":
        await asyncio.sleep(0.5)
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


def call(guard: Guard, path: str, token: str | None, body: bytes = b"{}") -> httpx.Response:
    async def go() -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
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
    assert call(guard, "/predict", token, b"x" * 2_001).status_code == 413
    assert call(guard, "/predict", token, b"x" * 2_000).status_code == 200


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
                client.post("/slow", content=b"{}", headers=headers),
                client.post("/predict", content=b"{}", headers=headers),
            )
        return sorted(r.status_code for r in responses)

    assert asyncio.run(both()) == [200, 429]


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
