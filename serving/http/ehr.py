"""The routes electronic health records call: FHIR R4 and CDS Hooks 2.0, one ASGI app.

- ``POST /fhir/predict``: a Bundle (``application/fhir+json``) in, a RiskAssessment out; bad
  input gets an OperationOutcome with one issue per problem and its FHIRPath expression. It
  keeps the service's bearer tokens (`serving.http.security.Guard`).
- ``GET /cds-services``: CDS Hooks discovery, open as the specification says.
- ``POST /cds-services/{id}``: the ``patient-view`` and ``order-select`` services answer cards;
  ``POST /cds-services/{id}/feedback`` takes the EHR's feedback. Both authenticate by the EHR's
  signed JWT (`serving.http.cds_auth`) instead of a bearer token; CORS admits the configured
  EHR origins only.

Every way in ends in the scoring the ``/predict`` route uses (`serving.http.respond`), after the
same record validation (`features.schema.patient_model`), so a FHIR answer equals the JSON one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Final

import bentoml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from features.fhir import mapping
from features.fhir.mapping import Issue
from features.fhir.read import Extraction, Facts, bundle_entries, loads, parse, record_at
from features.schema import patient_model
from serving.http import cds
from serving.http.cds_auth import TokenRefusedError, Verifier, load_issuers
from serving.http.fhir_out import FHIR_JSON, operation_outcome, risk_assessment
from serving.http.respond import interval_of, predict_record
from serving.http.schemas import PredictionResponse
from serving.http.security import AUDIT_SCOPE_KEY, MODEL_VERSION_HEADER
from serving.http.settings import ServingSettings

log = logging.getLogger("mrbs.ehr")

JSON_TYPES: Final = frozenset({"application/json", FHIR_JSON})


class ModelMissingError(Exception):
    """No model to answer with."""


def _fhir(resource: dict[str, Any], status: int = 200, version: str = "") -> Response:
    headers = {MODEL_VERSION_HEADER.decode(): version} if version else None
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON, headers=headers)


def _outcome(status: int, *issues: Issue) -> Response:
    return _fhir(operation_outcome(issues), status)


def _service() -> Any:
    service = bentoml.get_current_service()
    if service is None or getattr(service, "scorer", None) is None:
        raise ModelMissingError(getattr(service, "problem", "the model is not loaded"))
    return service


async def _body(request: Request) -> tuple[Any, Issue | None]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        return None, Issue("", "not-supported", f"send {FHIR_JSON} (or application/json)")
    try:
        return loads(await request.body()), None
    except (ValueError, UnicodeDecodeError):
        return None, Issue("", "structure", "the body is not JSON")


def _index_date(request: Request) -> tuple[dt.date | None, Issue | None]:
    text = request.query_params.get("index_date")
    if text is None:
        return dt.datetime.now(dt.UTC).date(), None
    try:
        return dt.date.fromisoformat(text), None
    except ValueError:
        return None, Issue("", "value", "index_date: must be a date, YYYY-MM-DD")


def validated(extraction: Extraction) -> tuple[Any | None, list[Issue]]:
    """The record validated as /predict validates it, or the issues (each field's problem at
    the expression of the resource that supplied it)."""
    try:
        return patient_model().model_validate(extraction.values), []
    except ValidationError as error:
        issues = []
        for item in error.errors(include_input=False, include_url=False, include_context=False):
            name = str(item["loc"][0]) if item["loc"] else ""
            name = name.removesuffix("_unit")
            source = extraction.sources.get(name)
            if source is None:
                where, reason = "", f"{name}: {item['msg']} (no resource supplied it within "
                reason += f"{mapping.BASELINE_WINDOW_DAYS} days before the index date)"
            else:
                where, reason = source.expression, f"{name}: {item['msg']}"
            issues.append(
                Issue(where, "required" if item["type"] == "missing" else "value", reason)
            )
        return None, issues


async def predict_facts(
    service: Any, facts: Facts, index_date: dt.date
) -> tuple[PredictionResponse | None, Extraction, list[Issue]]:
    """The /predict answer (with its interval when the model has refits) for parsed facts."""
    extraction = record_at(facts, index_date)
    errors = [issue for issue in extraction.issues if issue.severity == "error"]
    if errors:
        return None, extraction, extraction.issues
    record, problems = validated(extraction)
    if record is None:
        return None, extraction, [*extraction.issues, *problems]
    response = predict_record(service.scorer, record)
    estimator = await asyncio.wrap_future(service.intervals)
    if estimator is not None:
        bounds = await asyncio.to_thread(interval_of, estimator, record)
        response = response.model_copy(update={"interval": bounds})
    return response, extraction, extraction.issues


async def fhir_predict(request: Request) -> Response:
    """POST /fhir/predict: Bundle in, RiskAssessment (or OperationOutcome) out."""
    bundle, problem = await _body(request)
    if problem is not None:
        return _outcome(415 if problem.code == "not-supported" else 400, problem)
    index_date, problem = _index_date(request)
    if problem is not None or index_date is None:
        return _outcome(400, *([problem] if problem else []))
    entries, issues = bundle_entries(bundle)
    if issues:
        status = 413 if issues[0].code == "too-costly" else 400
        return _outcome(status, *issues)
    try:
        service = _service()
    except ModelMissingError as error:
        return _outcome(503, Issue("", "transient", str(error)))
    # Up to 2,000 resources are validated (about 1 ms each): off the event loop.
    facts = await asyncio.to_thread(parse, entries)
    response, extraction, issues = await predict_facts(service, facts, index_date)
    if response is None:
        return _outcome(422, *issues)
    warnings = [issue for issue in issues if issue.severity == "warning"]
    resource = risk_assessment(response, extraction.sources, facts.patient, index_date, warnings)
    return _fhir(resource, version=response.model.version)


# -- CDS Hooks ----------------------------------------------------------------------------------


def _refusal(status: int, reason: str) -> Response:
    headers = {"www-authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


async def discovery(request: Request) -> Response:
    """GET /cds-services: the services MRBS offers and the prefetch each needs."""
    return JSONResponse(cds.discovery())


def _authenticate(request: Request) -> Response | None:
    verifier: Verifier = request.app.state.verifier
    audience = str(request.url.replace(query=""))
    try:
        claims = verifier.verify(request.headers.get("authorization"), audience)
    except TokenRefusedError as refusal:
        return _refusal(401, str(refusal))
    audit = request.scope.get(AUDIT_SCOPE_KEY)
    if isinstance(audit, dict):
        audit["caller"] = f"cds:{claims['iss']}"
    return None


def _model_of(service: Any) -> tuple[str, str]:
    identity = service.scorer.identity
    return str(identity.name), str(identity.version)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def cds_service(request: Request) -> Response:
    """POST /cds-services/{id}: cards for the patient in context."""
    refused = _authenticate(request)
    if refused is not None:
        return refused
    definition = cds.SERVICES.get(request.path_params["service_id"])
    if definition is None:
        return _refusal(404, "no such CDS service; see GET /cds-services")
    body, problem = await _body(request)
    if problem is not None:
        return _refusal(415 if problem.code == "not-supported" else 400, problem.message)
    call, reason = cds.read_call(body, definition)
    if call is None:
        return _refusal(400, reason)
    missing = cds.missing_prefetch(call, definition)
    if missing:
        return _refusal(
            412,
            "prefetch needed and not provided (MRBS does not query the FHIR server): "
            + ", ".join(missing),
        )
    if not cds.applies(call, definition):
        return JSONResponse({"cards": []})
    try:
        service = _service()
    except ModelMissingError as error:
        return _refusal(503, str(error))
    facts = await asyncio.to_thread(parse, cds.prefetched_entries(call))
    response, _, issues = await predict_facts(service, facts, dt.datetime.now(dt.UTC).date())
    base = _base_url(request)
    card = (
        cds.prediction_card(response, base, definition)
        if response is not None
        else cds.problem_card(issues, base, definition, *_model_of(service))
    )
    version = service.scorer.identity.version
    return JSONResponse({"cards": [card]}, headers={MODEL_VERSION_HEADER.decode(): version})


async def cds_feedback(request: Request) -> Response:
    """POST /cds-services/{id}/feedback: accepted; the outcome counts go to the audit log."""
    refused = _authenticate(request)
    if refused is not None:
        return refused
    if request.path_params["service_id"] not in cds.SERVICES:
        return _refusal(404, "no such CDS service; see GET /cds-services")
    body, problem = await _body(request)
    if problem is not None:
        return _refusal(415 if problem.code == "not-supported" else 400, problem.message)
    outcomes, reason = cds.read_feedback(body)
    if outcomes is None:
        return _refusal(400, reason)
    audit = request.scope.get(AUDIT_SCOPE_KEY)
    if isinstance(audit, dict):
        audit["feedback"] = outcomes
    return JSONResponse({}, status_code=200)


def ehr_app(settings: ServingSettings) -> Starlette:
    """The ASGI app the service mounts for EHRs (`serving.http.service`)."""
    verifier = Verifier(load_issuers(settings.cds_issuers))
    cors = Middleware(
        CORSMiddleware,
        allow_origins=verifier.origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "content-type"],
        max_age=600,
    )
    app = Starlette(
        routes=[
            Route("/fhir/predict", fhir_predict, methods=["POST"]),
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/{service_id}", cds_service, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", cds_feedback, methods=["POST"]),
        ],
        middleware=[cors],
    )
    app.state.verifier = verifier
    return app
