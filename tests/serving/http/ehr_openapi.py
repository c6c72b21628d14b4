"""The contract of the EHR routes as an OpenAPI 3.0 document, for schemathesis.

BentoML documents only its own ``@bentoml.api`` routes, not a mounted ASGI app, so the FHIR and
CDS Hooks routes are written down here from the specifications and the README: what each takes,
and every answer it may give with its shape.
"""

from __future__ import annotations

from typing import Any, Final

from tests.serving.http import cds_schema
from tests.serving.http.ehr_helpers import ORDER_SELECT, PATIENT_VIEW, example_bundle

_ERROR: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_OUTCOME: Final = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_RISK: Final = {
    "type": "object",
    "required": ["resourceType", "status", "subject", "prediction", "method"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["RiskAssessment"]},
        "prediction": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["outcome", "probabilityDecimal"],
                "properties": {
                    "probabilityDecimal": {"type": "number", "minimum": 0, "maximum": 1}
                },
            },
        },
    },
}


def _answers(content: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "answer", "content": {content: {"schema": schema}}}


def _errors(*statuses: int, fhir: bool = False) -> dict[str, Any]:
    """Error answers: the guard's JSON ``error`` (401, 413, 415, 400 for a body that is not
    JSON), and for the FHIR route also the OperationOutcome it answers itself."""
    content = {"application/json": {"schema": _ERROR}}
    if fhir:
        content["application/fhir+json"] = {"schema": _OUTCOME}
    return {str(status): {"description": "refused", "content": content} for status in statuses}


def _not_found() -> dict[str, Any]:
    """An unknown service id: MRBS's JSON error, or the router's plain text for a path it
    cannot route at all (a control character in the id)."""
    content = {"application/json": {"schema": _ERROR}, "text/plain": {"schema": {"type": "string"}}}
    return {"description": "no such service", "content": content}


_SERVICE_ID: Final = {
    "name": "service_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": [PATIENT_VIEW, ORDER_SELECT]},
}
_HOOK_CALL: Final = {
    "type": "object",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string", "enum": ["patient-view", "order-select"]},
        "hookInstance": {"type": "string", "minLength": 1},
        "context": {
            "type": "object",
            "required": ["patientId"],
            "properties": {"patientId": {"type": "string", "minLength": 1}},
        },
        "prefetch": {"type": "object"},
    },
}
_FEEDBACK: Final = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string"},
                    "outcome": {"type": "string", "enum": ["accepted", "overridden"]},
                    "outcomeTimestamp": {"type": "string"},
                },
            },
        }
    },
}


def document() -> dict[str, Any]:
    bundle = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string"},
            "entry": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["resource"],
                    "properties": {"fullUrl": {"type": "string"}, "resource": {"type": "object"}},
                },
            },
        },
        "example": example_bundle(),
    }
    fhir = "application/fhir+json"
    return {
        "openapi": "3.0.3",
        "info": {"title": "MRBS EHR routes", "version": "1"},
        "paths": {
            "/fhir/predict": {
                "post": {
                    "parameters": [
                        {
                            "name": "index_date",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "format": "date"},
                        }
                    ],
                    "requestBody": {"required": True, "content": {fhir: {"schema": bundle}}},
                    "responses": {
                        "200": _answers(fhir, _RISK),
                        **_errors(400, 401, 413, 415, 422, fhir=True),
                        **_errors(429, 504),
                    },
                }
            },
            "/cds-services": {
                "get": {"responses": {"200": _answers("application/json", cds_schema.DISCOVERY)}}
            },
            "/cds-services/{service_id}": {
                "post": {
                    "parameters": [_SERVICE_ID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _HOOK_CALL}},
                    },
                    "responses": {
                        "200": _answers("application/json", cds_schema.RESPONSE),
                        **_errors(400, 401, 412, 413, 415, 429, 504),
                        "404": _not_found(),
                    },
                }
            },
            "/cds-services/{service_id}/feedback": {
                "post": {
                    "parameters": [_SERVICE_ID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _FEEDBACK}},
                    },
                    "responses": {
                        "200": _answers("application/json", {"type": "object"}),
                        **_errors(400, 401, 413, 415, 429, 504),
                        "404": _not_found(),
                    },
                }
            },
        },
    }
