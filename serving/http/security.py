"""Bearer tokens, request checks, limits and the audit log, as one ASGI middleware.

`Guard` decides every refusal of a request, after authentication, in one place:

- Authentication: bearer tokens are stored as SHA-256 digests (never in clear) and compared in
  constant time; every route except the health probes and the clinician page's own files
  (`is_open`) answers 401 without a valid token. The token file is read again whenever it
  changes, so callers are added and revoked without a restart (`TokenFile`).
- Requests: a body must be declared as JSON (415 otherwise) and must not repeat a key (400
  naming it: JSON parsers keep the last value silently).
- Limits: bodies over the configured size get 413, more requests in flight than allowed get
  429 with ``Retry-After``, requests slower than the timeout get 504 and their work is
  cancelled. BentoML's own limits are left off (its timeout only as a far backstop), so that
  none answers before authentication or outside the audit.
- Readiness: ``/readyz`` answers 503 with the reason while the model cannot answer.
- Audit: one JSON line per guarded request, refused or answered, with time, request id,
  caller, route, model version, a keyed hash (HMAC-SHA-256) of the body, outcome and latency:
  no patient values and no identifiers, yet the same input can be recognised again by whoever
  holds the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
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

log = logging.getLogger("mrbs.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz"})
READINESS_PATH: Final = "/readyz"
#: The clinician page (`serving.http.page`) and what it reads before a token is given; none
#: carries patient data. Its SLEDAI-2K calculator takes a patient's findings and is not open.
OPEN_PAGE_PATHS: Final = frozenset({"/ui", "/ui/", "/ui/form.json", "/ui/model-card"})
OPEN_PAGE_PREFIX: Final = "/ui/static/"
#: CDS Hooks: discovery is open; the services authenticate by the EHR's JWT
#: (`serving.http.cds_auth`) instead of a bearer token, under the same checks, limits and audit.
CDS_PREFIX: Final = "/cds-services"
#: Where an app behind `Guard` leaves what the audit line should say (caller, feedback counts).
AUDIT_SCOPE_KEY: Final = "mrbs.audit"
MODEL_VERSION_HEADER: Final = b"x-mrbs-model-version"
#: Media types of request bodies, by route prefix; the first matching prefix decides.
BODY_TYPES: Final = (
    ("/fhir/", frozenset({"application/fhir+json", "application/json"})),
    ("/", frozenset({"application/json"})),
)
#: Methods whose requests carry a body that the service reads.
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
#: The answers `Guard` gives itself, by status, as the OpenAPI document describes them.
GUARD_ANSWERS: Final = {
    401: "Missing or invalid bearer token.",
    413: "Request body over the configured limit (MRBS_MAX_BODY_BYTES).",
    415: "Request body not declared as JSON (Content-Type: application/json).",
    429: "Too many requests in flight (MRBS_MAX_CONCURRENCY); retry after Retry-After seconds.",
    504: "No answer within the configured time (MRBS_TIMEOUT_SECONDS); the work was cancelled.",
}


def is_open(path: str) -> bool:
    """Whether ``path`` is answered without a token: health probes and the page's own files."""
    if path in OPEN_PATHS or path in OPEN_PAGE_PATHS:
        return True
    return path.startswith(OPEN_PAGE_PREFIX) and "/.." not in path


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


class TokenFile:
    """The tokens of a token file, read again when the file changes (added or revoked callers
    take effect on the next request). A file that cannot be parsed after a change keeps no
    caller: a half-edited file must not leave a revoked token working."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def tokens(self) -> dict[str, str]:
        """Digest -> caller, as the file holds them now."""
        stamp = self._stamp()
        if stamp != self._seen:
            with self._lock:
                try:
                    self._tokens = read_tokens(self.path) if stamp is not None else {}
                except (ValueError, OSError) as error:
                    log.error("tokens file not read, every caller refused: %s", error)
                    self._tokens = {}
                self._seen = stamp
        return self._tokens


class Readiness:
    """Why the service cannot answer yet (None once it can); the service sets it, `Guard`
    answers ``/readyz`` with it."""

    def __init__(self) -> None:
        self.problem: str | None = "the model is loading"


class DuplicateKeyError(ValueError):
    """A JSON object names a key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen[key] = value
    return seen


def body_problem(body: bytes) -> str | None:
    """Why a JSON body is refused before the service reads it (a repeated key, or not JSON)."""
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except DuplicateKeyError as error:
        return f"duplicate JSON key {json.dumps(str(error))}: each key may appear once"
    except (ValueError, RecursionError):
        return "the body is not valid JSON"
    return None


def media_type(scope: Scope) -> str:
    """The request's declared body type, without parameters, lower case ('' when absent)."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def accepted_types(path: str) -> frozenset[str]:
    for prefix, types in BODY_TYPES:
        if path.startswith(prefix):
            return types
    return frozenset()


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
    """The ASGI middleware: authenticate, check, limit, time out and audit each request."""

    def __init__(
        self, app: App, settings: ServingSettings, readiness: Readiness | None = None
    ) -> None:
        self.app = app
        self.settings = settings
        self.readiness = readiness
        self.tokens = TokenFile(self.settings.resolved_tokens_file)
        self.audit = AuditLog(
            self.settings.resolved_audit_log, audit_key(self.settings.resolved_audit_key_file)
        )
        # Each worker process holds its share of the service's concurrency.
        self.max_in_flight = max(1, -(-settings.max_concurrency // settings.workers))
        self.in_flight = 0

    def _caller(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return None
                digest = token_digest(token.strip())
                found = None
                for known, caller in self.tokens.tokens().items():
                    if hmac.compare_digest(known, digest):
                        found = caller
                return found
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in OPEN_PATHS:
            problem = self.readiness.problem if self.readiness is not None else None
            if scope["path"] == READINESS_PATH and problem is not None:
                await _respond(send, 503, f"not ready: {problem}", uuid.uuid4().hex)
                return
            await self.app(scope, receive, send)
            return
        cds = _is_cds(scope)
        if is_open(scope["path"]) or cds == "preflight":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 0, "version": "", "body": b""}
        scope[AUDIT_SCOPE_KEY] = state
        caller = {"jwt": "cds-hooks", "open": "-"}.get(cds) or self._caller(scope)
        try:
            if caller is None:
                await self._refuse(
                    send,
                    state,
                    request_id,
                    401,
                    "missing or invalid bearer token",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
            if self.in_flight >= self.max_in_flight:
                await self._refuse(
                    send,
                    state,
                    request_id,
                    429,
                    "too many requests in flight; retry shortly",
                    [(b"retry-after", b"1")],
                )
                return
            self.in_flight += 1
            try:
                await self._forward(scope, receive, send, request_id, state)
            finally:
                self.in_flight -= 1
        finally:
            self._audit(scope, request_id, caller, state, started)

    async def _refuse(
        self,
        send: Send,
        state: dict[str, Any],
        request_id: str,
        status: int,
        detail: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        state["status"] = status
        await _respond(send, status, detail, request_id, extra)

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, state: dict[str, Any]
    ) -> None:
        refusal = await self._admit(scope, receive, state)
        if refusal is not None:
            await self._refuse(send, state, request_id, *refusal)
            return
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
            # On timeout the service's task is cancelled: its awaits stop where they are, and
            # work it handed to threads stops at the next chunk (see the batch route).
            await asyncio.wait_for(
                self.app(scope, replay, tagged_send), self.settings.timeout_seconds
            )
        except TimeoutError:
            if not state["status"]:
                seconds = f"{self.settings.timeout_seconds:g}"
                await self._refuse(send, state, request_id, 504, f"no answer within {seconds} s")

    async def _admit(
        self, scope: Scope, receive: Receive, state: dict[str, Any]
    ) -> tuple[int, str] | None:
        """Read the body into ``state``; the status and reason when the request is refused."""
        limit = self.settings.max_body_bytes
        declared = _content_length(scope)
        body = (
            None if declared is not None and declared > limit else await _read_body(receive, limit)
        )
        if body is None:
            return 413, f"request body over {limit} bytes"
        state["body"] = body
        if scope.get("method", "GET") not in _WITH_BODY:
            return None
        accepted = accepted_types(scope["path"])
        if media_type(scope) not in accepted:
            return 415, f"the body must be sent as {' or '.join(sorted(accepted))}"
        problem = body_problem(body)
        return None if problem is None else (400, problem)

    def _audit(
        self,
        scope: Scope,
        request_id: str,
        caller: str | None,
        state: dict[str, Any],
        started: float,
    ) -> None:
        status = int(state["status"])
        caller = state.get("caller") or caller
        extra = {"feedback": state["feedback"]} if "feedback" in state else {}
        self.audit.write(
            {
                **extra,
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


def _is_cds(scope: Scope) -> str:
    """For CDS Hooks paths: 'preflight' (CORS, passed through), 'open' (discovery: no token,
    audited) or 'jwt' (the services: their JWT is checked behind `Guard`); '' elsewhere."""
    path = str(scope.get("path", ""))
    if path != CDS_PREFIX and not path.startswith(CDS_PREFIX + "/"):
        return ""
    if scope.get("method") == "OPTIONS":
        return "preflight"
    return "open" if path == CDS_PREFIX else "jwt"


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
