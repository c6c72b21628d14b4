"""The guard's part in the EHR routes, around a stand-in app: CDS Hooks calls pass without a
bearer token (their JWT is checked behind the guard) but under the same limits and audit; the
FHIR route keeps the bearer token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.http.security import AUDIT_SCOPE_KEY, Guard, create_token
from serving.http.settings import ServingSettings


async def ehr_stand_in(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 and, like the CDS Hooks app, names the caller it authenticated."""
    await receive()
    if scope["path"].startswith("/cds-services/") and AUDIT_SCOPE_KEY in scope:
        scope[AUDIT_SCOPE_KEY]["caller"] = "cds:https://ehr.example.org"
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[Guard, str, ServingSettings]:
    settings = ServingSettings(home=tmp_path, max_body_bytes=2_000)
    token = create_token(settings.resolved_tokens_file, "clinic-a")
    return Guard(ehr_stand_in, settings), token, settings


def send(
    guard: Guard, method: str, path: str, token: str | None = None, body: bytes = b"{}"
) -> Any:
    async def go() -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kind = "application/fhir+json" if path.startswith("/fhir/") else "application/json"
        headers["Content-Type"] = kind
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=guard), base_url="http://t"
        ) as client:
            return await client.request(method, path, content=body, headers=headers)

    return asyncio.run(go())


def _audit(settings: ServingSettings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in settings.resolved_audit_log.read_text().splitlines()]


def test_cds_hooks_routes_pass_without_a_bearer_token_and_are_audited(
    guarded: tuple[Guard, str, ServingSettings],
) -> None:
    guard, _, settings = guarded
    assert send(guard, "GET", "/cds-services").status_code == 200
    assert send(guard, "POST", "/cds-services/mrbs-sri4-patient-view").status_code == 200
    assert send(guard, "OPTIONS", "/cds-services/mrbs-sri4-patient-view").status_code == 200
    lines = _audit(settings)
    assert [(line["route"], line["caller"]) for line in lines] == [
        ("/cds-services", "-"),
        ("/cds-services/mrbs-sri4-patient-view", "cds:https://ehr.example.org"),
    ]


def test_cds_hooks_calls_keep_the_body_limit(guarded: tuple[Guard, str, ServingSettings]) -> None:
    guard, _, _ = guarded
    path = "/cds-services/mrbs-sri4-patient-view"
    assert send(guard, "POST", path, body=b"x" * 2_001).status_code == 413


def test_fhir_predict_keeps_the_bearer_token_and_is_audited(
    guarded: tuple[Guard, str, ServingSettings],
) -> None:
    guard, token, settings = guarded
    assert send(guard, "POST", "/fhir/predict").status_code == 401
    assert send(guard, "POST", "/fhir/predict", token).status_code == 200
    assert [line["outcome"] for line in _audit(settings)] == [401, 200]
    assert _audit(settings)[-1]["caller"] == "clinic-a"
