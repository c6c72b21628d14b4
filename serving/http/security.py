"""Bearer tokens, request limits and the audit log, as one ASGI middleware around the service.

- Authentication: bearer tokens are stored as SHA-256 digests (never in clear) and compared in
  constant time; every route except the health probes answers 401 without a valid token.
- Limits: bodies over the configured size get 413, more requests in flight than allowed get
  429, requests slower than the timeout get 504.
- Audit: one JSON line per prediction request with time, request id, caller, route, model
  version, a keyed hash (HMAC-SHA-256) of the body, outcome and latency: no patient values and
  no identifiers, yet the same input can be recognised again by whoever holds the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from serving.http.settings import ServingSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz"})
AUDITED_PATHS: Final = frozenset({"/predict", "/predict_batch"})
MODEL_VERSION_HEADER: Final = b"x-mrbs-model-version"
#: The answers `Guard` gives itself, by status, as the OpenAPI document describes them.
GUARD_ANSWERS: Final = {
    401: "Missing or invalid bearer token.",
    413: "Request body over the configured limit (MRBS_MAX_BODY_BYTES).",
    429: "Too many requests in flight (MRBS_MAX_CONCURRENCY); retry shortly.",
    504: "No answer within the configured time (MRBS_TIMEOUT_SECONDS).",
}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(tokens_file: Path, caller: str) -> str:
    """A new random token for ``caller``; only its digest is stored."""
    if not caller or any(c.isspace() for c in caller):
        raise ValueError("caller: a name without spaces is required")
    token = secrets.token_urlsafe(32)
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    with tokens_file.open("a") as handle:
        handle.write(f"{caller} {token_digest(token)}\n")
    os.chmod(tokens_file, 0o600)
    return token


def read_tokens(tokens_file: Path) -> dict[str, str]:
    """Digest -> caller, from 'caller sha256-hex' lines (blank lines and # comments skipped)."""
    if not tokens_file.exists():
        return {}
    tokens: dict[str, str] = {}
    for number, line in enumerate(tokens_file.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2 or len(parts[1]) != 64:
            raise ValueError(f"{tokens_file}:{number}: expected 'caller sha256-hex'")
        tokens[parts[1].lower()] = parts[0]
    return tokens


def audit_key(path: Path) -> bytes:
    """The audit HMAC key, created once (0600) so hashes stay comparable across restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


class AuditLog:
    """Append-only JSON lines; one write per request, safe across threads."""

    def __init__(self, path: Path, key: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._key = key
        self._lock = threading.Lock()

    def input_hash(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a") as handle:
            handle.write(line)


async def _respond(
    send: Send,
    status: int,
    detail: str,
    request_id: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"error": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware: authenticate, limit, time out and audit each request."""

    def __init__(self, app: App, settings: ServingSettings) -> None:
        self.app = app
        self.settings = settings
        self.tokens = read_tokens(self.settings.resolved_tokens_file)
        self.audit = AuditLog(
            self.settings.resolved_audit_log, audit_key(self.settings.resolved_audit_key_file)
        )
        self.in_flight = 0

    def _caller(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return None
                digest = token_digest(token.strip())
                found = None
                for known, caller in self.tokens.items():
                    if hmac.compare_digest(known, digest):
                        found = caller
                return found
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 0, "version": "", "body": b""}
        caller = self._caller(scope)
        try:
            if caller is None:
                state["status"] = 401
                await _respond(
                    send,
                    401,
                    "missing or invalid bearer token",
                    request_id,
                    [(b"www-authenticate", b"Bearer")],
                )
                return
            if self.in_flight >= self.settings.max_concurrency:
                state["status"] = 429
                await _respond(
                    send,
                    429,
                    "too many requests in flight; retry shortly",
                    request_id,
                    [(b"retry-after", b"1")],
                )
                return
            self.in_flight += 1
            try:
                await self._forward(scope, receive, send, request_id, state)
            finally:
                self.in_flight -= 1
        finally:
            if scope["path"] in AUDITED_PATHS:
                self._audit(scope, request_id, caller, state, started)

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, state: dict[str, Any]
    ) -> None:
        limit = self.settings.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            state["status"] = 413
            await _respond(send, 413, f"request body over {limit} bytes", request_id)
            return
        body = await _read_body(receive, limit)
        if body is None:
            state["status"] = 413
            await _respond(send, 413, f"request body over {limit} bytes", request_id)
            return
        state["body"] = body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": state["body"], "more_body": False}
            return await receive()

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = list(message.get("headers", []))
                for name, value in headers:
                    if name.lower() == MODEL_VERSION_HEADER:
                        state["version"] = value.decode()
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await asyncio.wait_for(
                self.app(scope, replay, tagged_send), self.settings.timeout_seconds
            )
        except TimeoutError:
            if not state["status"]:
                state["status"] = 504
                seconds = f"{self.settings.timeout_seconds:g}"
                await _respond(send, 504, f"no answer within {seconds} s", request_id)

    def _audit(
        self,
        scope: Scope,
        request_id: str,
        caller: str | None,
        state: dict[str, Any],
        started: float,
    ) -> None:
        status = int(state["status"])
        self.audit.write(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": request_id,
                "caller": caller or "-",
                "route": scope["path"],
                "model_version": state["version"] or "-",
                "input_hmac_sha256": self.audit.input_hash(state["body"]),
                "outcome": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        )


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes.

    Prediction bodies are small: reading them first (bounded) refuses an oversized chunked
    body before the service sees any of it; the body is then replayed to the service.
    """
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body.extend(message.get("body", b""))
        if len(body) > limit:
            return None
        more = bool(message.get("more_body", False))
    return bytes(body)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
