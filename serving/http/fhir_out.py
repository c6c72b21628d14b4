"""The FHIR resources MRBS answers with: RiskAssessment and OperationOutcome (R4).

Each is built as FHIR JSON and checked with the R4B models of `fhir.resources` before it leaves
the service, so a malformed resource is a bug found here, not in the EHR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final

from features.fhir.mapping import MRBS_ASSESSMENT, Issue
from features.fhir.read import Source
from serving.http import explain
from serving.http.schemas import PredictionResponse

FHIR_JSON: Final = "application/fhir+json"
MRBS_MODEL: Final = "urn:mrbs:fhir:model"
OUTCOME_CODE: Final = "sri4-w48"
OUTCOME_TEXT: Final = "SRI-4 response at week 48"


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` after validation with its R4B model (ValueError naming the problem)."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(str(resource["resourceType"]))
    validated = model.model_validate(resource)
    return dict(validated.model_dump(mode="json", exclude_none=True))


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """One OperationOutcome issue per problem, each with its FHIRPath expression."""
    entries = [
        {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.message,
            **({"expression": [issue.expression]} if issue.expression else {}),
        }
        for issue in issues
    ]
    if not entries:
        entries = [{"severity": "information", "code": "informational"}]
    return checked({"resourceType": "OperationOutcome", "issue": entries})


def _note(response: PredictionResponse, warnings: list[Issue]) -> list[dict[str, str]]:
    eligibility = response.eligibility
    if eligibility.eligible is True:
        text = "Inside the MRBS population."
    elif eligibility.eligible is False:
        text = "Outside the MRBS population: " + "; ".join(eligibility.reasons) + "."
    else:
        text = "Eligibility not confirmed; unknown: " + ", ".join(eligibility.unknown) + "."
    notes = [text]
    notes.append(
        "Imputed: " + ", ".join(response.imputed) + "." if response.imputed else "Nothing imputed."
    )
    if response.flags:
        notes.append("Outside the training range: " + "; ".join(response.flags) + ".")
    notes += [f"Input warning at {w.expression}: {w.message}" for w in warnings]
    return [{"text": text} for text in notes]


def risk_assessment(
    response: PredictionResponse,
    sources: Mapping[str, Source],
    patient: Source | None,
    index_date: dt.date,
    warnings: list[Issue],
) -> dict[str, Any]:
    """The RiskAssessment of one prediction: outcome, probability, basis and method."""
    basis = sorted({source.reference for source in sources.values()})
    subject = (
        {"reference": patient.reference}
        if patient is not None and "/" in patient.reference
        else {"display": "the patient of the request"}
    )
    model = response.model
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": subject,
        "occurrenceDateTime": index_date.isoformat(),
        "method": {
            "coding": [{"system": MRBS_MODEL, "code": model.name, "version": model.version}],
            "text": f"MRBS model {model.name}, version {model.version}",
        },
        "basis": [{"reference": reference} for reference in basis],
        "prediction": [
            {
                "outcome": {
                    "coding": [{"system": MRBS_ASSESSMENT, "code": OUTCOME_CODE}],
                    "text": OUTCOME_TEXT,
                },
                "probabilityDecimal": response.probability,
                "qualitativeRisk": {"text": response.risk_band},
                "rationale": explain.detail(response),
            }
        ],
        "note": _note(response, warnings),
    }
    if not basis:
        del resource["basis"]
    return checked(resource)
