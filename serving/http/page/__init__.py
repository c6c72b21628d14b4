"""The clinician page: ``GET /ui/`` on the prediction service, a form built from the record
declaration that calls ``/predict`` with the caller's own token.

A small Starlette app mounted on the BentoML service (`page_app`, one line in
`serving.http.service`), holding:

- ``/ui/`` and ``/ui/static/*``: the page, its script and stylesheets (package data; nothing
  fetched from elsewhere at run time);
- ``/ui/form.json``: what the page is built from (`serving.http.page.declaration`);
- ``/ui/model-card``: the served model's card, stored with it when it was imported;
- ``POST /ui/sledai``: the SLEDAI-2K total and activity band of 24 descriptors, by MRBS's own
  scoring (`features.sledai`), so the page never adds weights itself.

The first three carry no patient data and are open (`serving.http.security.is_open`); the
calculator takes a patient's findings and, like ``/predict``, needs a bearer token. Every
answer carries security headers: a Content-Security-Policy allowing only the page's own files
(no inline script), ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.sledai import DESCRIPTORS, activity_band, sledai_total
from infra.artifacts import BENTO_MODEL_CARD
from serving.http.page.declaration import declaration
from serving.http.settings import ServingSettings

__all__ = ["PAGE_PATH", "page_app"]

log = logging.getLogger("mrbs.page")

#: Where the page is mounted on the service.
PAGE_PATH: Final = "/ui"
STATIC: Final = Path(__file__).with_name("static")

#: The page's own files only; no inline script or style, no framing, no form posts elsewhere.
PAGE_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: The model card is a standalone document with its own inline stylesheet and no script.
CARD_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)
NO_CARD: Final = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>No model card</title>"
    "</head><body><p>The served model was imported without its model card; "
    "<code>POST /model</code> names where it is kept.</p></body></html>"
)


class SecurityHeaders:
    """Adds the page's security headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"content-security-policy"
                ]
                policy = CARD_POLICY if scope["path"].endswith("/model-card") else PAGE_POLICY
                message["headers"] = [
                    *headers,
                    *SECURITY_HEADERS,
                    (b"content-security-policy", policy.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@functools.cache
def descriptors_request() -> type[BaseModel]:
    """Body of POST /ui/sledai: every one of the 24 descriptors, present (true) or absent."""
    present: dict[str, Any] = {
        name: (StrictBool, Field(description=f"{name}: present")) for name in DESCRIPTORS
    }
    descriptors = create_model(
        "SledaiDescriptors",
        __config__=ConfigDict(extra="forbid", hide_input_in_errors=True),
        **present,
    )
    return create_model(
        "SledaiRequest",
        __config__=ConfigDict(extra="forbid", hide_input_in_errors=True),
        descriptors=(descriptors, ...),
    )


def _problems(error: ValidationError) -> list[dict[str, Any]]:
    """The same shape as the service's 400 answers (``loc``, ``msg``, ``type``; no input)."""
    return [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_input=False, include_url=False)
    ]


async def sledai(request: Request) -> JSONResponse:
    """The SLEDAI-2K total of the descriptors sent, and its activity band."""
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        problem = {"loc": ["body"], "msg": "the body is not valid JSON", "type": "json_invalid"}
        return JSONResponse({"detail": [problem]}, status_code=400)
    try:
        validated = descriptors_request().model_validate(body)
    except ValidationError as error:
        return JSONResponse({"detail": _problems(error)}, status_code=400)
    present = validated.model_dump()["descriptors"]
    total = sledai_total(present)
    return JSONResponse({"total": total, "band": activity_band(total)})


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def form(request: Request) -> JSONResponse:
    return JSONResponse(declaration())


def _model_card_path(settings: ServingSettings) -> Path | None:
    if not settings.bento_model:
        return None
    import bentoml

    try:
        stored = bentoml.models.get(settings.bento_model)
    except bentoml.exceptions.NotFound:
        return None
    path = Path(stored.path_of(BENTO_MODEL_CARD))
    return path if path.is_file() else None


def page_app(settings: ServingSettings) -> ASGIApp:
    """The page's ASGI app, for the model the service answers with."""

    async def model_card(request: Request) -> Response:
        path = _model_card_path(settings)
        if path is None:
            return HTMLResponse(NO_CARD, status_code=404)
        return FileResponse(path, media_type="text/html; charset=utf-8")

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/form.json", form),
            Route("/model-card", model_card),
            Route("/sledai", sledai, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]
    )
    return SecurityHeaders(app)
