"""MRBS's CDS Hooks 2.0 services: discovery, the hook call, its prefetch, cards and feedback.

Two services: ``mrbs-sri4-patient-view`` on ``patient-view`` (a chart is opened) and
``mrbs-sri4-order-select`` on ``order-select`` (it answers only when belimumab is among the
selected draft orders). Both ask the EHR to prefetch what the record needs; prefetch that
supplies a required field (SLEDAI-2K, C3, C4, IgG, anti-dsDNA) is needed, and a call without it
gets 412, as the specification says of data the service cannot obtain (MRBS never queries the
EHR's FHIR server). A key sent as null means the EHR has no such data: the field is missing and
the card says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from features.fhir import mapping as m
from features.fhir.mapping import Issue
from features.fhir.read import Entry, bundle_entries
from serving.http import explain
from serving.http.schemas import PredictionResponse

PAGE_PATH: Final = "/ui/"
#: The model card the clinician page serves (`serving.http.page`), open like the page.
MODEL_CARD_PATH: Final = "/ui/model-card"
_PATIENT: Final = "{{context.patientId}}"


def _latest(*codes: tuple[str, str]) -> str:
    joined = ",".join(f"{system}|{code}" for system, code in codes)
    return f"Observation?patient={_PATIENT}&code={joined}&_sort=-date&_count=1"


def _loinc(*codes: str) -> str:
    return _latest(*((m.LOINC, code) for code in codes))


#: Prefetch key -> FHIR query; the keys that supply a required field are `NEEDED`.
PREFETCH: Final[Mapping[str, str]] = MappingProxyType(
    {
        "patient": f"Patient/{_PATIENT}",
        "sledai": _latest((m.MRBS_ASSESSMENT, m.SLEDAI_CODE)),
        "c3": _loinc("4485-9"),
        "c4": _loinc("4498-2"),
        "igg": _loinc("2465-3"),
        "antiDsDna": _loinc("5130-0", "33799-8"),
        "iga": _loinc("2458-8"),
        "proteinuria24h": _loinc("2889-4"),
        "proteinuriaRatio": _loinc("2890-2"),
        "platelets": _loinc("777-3"),
        "leukocytes": _loinc("6690-2"),
        "creatinine": _loinc("14682-9", "2160-0"),
        "blys": _latest((m.MRBS_ASSESSMENT, m.BLYS_CODE)),
        "sdi": _loinc(m.SDI_LOINC),
        "smoking": _loinc(m.SMOKING_LOINC),
        "antiSm": _latest((m.MRBS_ASSESSMENT, m.ANTI_SM_CODE)),
        "conditions": f"Condition?patient={_PATIENT}",
        "medicationStatements": f"MedicationStatement?patient={_PATIENT}",
        "medicationRequests": f"MedicationRequest?patient={_PATIENT}&status=active",
    }
)
NEEDED: Final = ("sledai", "c3", "c4", "igg", "antiDsDna")


@dataclass(frozen=True)
class Definition:
    id: str
    hook: str
    title: str
    description: str


SERVICES: Final[Mapping[str, Definition]] = MappingProxyType(
    {
        d.id: d
        for d in (
            Definition(
                "mrbs-sri4-patient-view",
                "patient-view",
                "MRBS: belimumab response (SRI-4 at week 48)",
                "Probability that this SLE patient responds to belimumab (SRI-4 at week 48), "
                "with its basis and whether the patient is inside the MRBS population.",
            ),
            Definition(
                "mrbs-sri4-order-select",
                "order-select",
                "MRBS: belimumab response when belimumab is ordered",
                "When belimumab is among the selected draft orders: the probability that this "
                "patient responds to it (SRI-4 at week 48), with its basis.",
            ),
        )
    }
)


def discovery() -> dict[str, Any]:
    """The discovery document: both services with their prefetch templates."""
    return {
        "services": [
            {
                "hook": d.hook,
                "id": d.id,
                "title": d.title,
                "description": d.description,
                "prefetch": dict(PREFETCH),
            }
            for d in SERVICES.values()
        ]
    }


@dataclass(frozen=True)
class Call:
    hook_instance: str
    patient_id: str
    context: Mapping[str, Any]
    prefetch: Mapping[str, Any]


def read_call(body: Any, definition: Definition) -> tuple[Call | None, str]:
    """The hook call, or None and the reason (names the field, never a value)."""
    if not isinstance(body, dict):
        return None, "the request must be a JSON object"
    if body.get("hook") != definition.hook:
        return None, f"hook: this service answers {definition.hook!r}"
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not instance:
        return None, "hookInstance: a string is required"
    context = body.get("context")
    if not isinstance(context, dict):
        return None, "context: an object is required"
    patient = context.get("patientId")
    if not isinstance(patient, str) or not patient:
        return None, "context.patientId: a string is required"
    if definition.hook == "order-select":
        if not isinstance(context.get("draftOrders"), dict):
            return None, "context.draftOrders: a Bundle is required"
        if not isinstance(context.get("selections"), list):
            return None, "context.selections: a list is required"
    prefetch = body.get("prefetch", {})
    if not isinstance(prefetch, dict):
        return None, "prefetch: an object is required"
    return Call(instance, patient, context, prefetch), ""


def _usable(value: Any) -> bool:
    """Prefetch the EHR satisfied: data, or null for "no data"; an OperationOutcome (the EHR
    could not fetch it) is not."""
    return value is None or (
        isinstance(value, dict) and value.get("resourceType") != "OperationOutcome"
    )


def missing_prefetch(call: Call, definition: Definition) -> list[str]:
    """The needed prefetch keys the EHR did not satisfy."""
    return [key for key in NEEDED if key not in call.prefetch or not _usable(call.prefetch[key])]


def applies(call: Call, definition: Definition) -> bool:
    """patient-view always; order-select when a selected draft order is belimumab."""
    if definition.hook != "order-select":
        return True
    selections = {str(s) for s in call.context.get("selections", [])}
    entries, _ = bundle_entries(call.context.get("draftOrders"), "context.draftOrders")
    for _, resource, _ in entries:
        if not isinstance(resource, dict):
            continue
        reference = f"{resource.get('resourceType')}/{resource.get('id')}"
        if selections and reference not in selections:
            continue
        concept = resource.get("medicationCodeableConcept") or {}
        codings = concept.get("coding") or [] if isinstance(concept, dict) else []
        texts = [str(concept.get("text", ""))] + [str(c.get("display", "")) for c in codings]
        coded = any(c.get("system") == m.ATC and c.get("code") == m.BELIMUMAB_ATC for c in codings)
        if coded or any("belimumab" in text.lower() for text in texts):
            return True
    return False


def prefetched_entries(call: Call) -> list[Entry]:
    """Every prefetched resource with its expression (``prefetch.<key>...``)."""
    found: list[Entry] = []
    for key in PREFETCH:
        value = call.prefetch.get(key)
        if not _usable(value) or value is None:
            continue
        if value.get("resourceType") == "Bundle":
            entries, _ = bundle_entries(value, f"prefetch.{key}")
            found += entries
        else:
            found.append((f"prefetch.{key}", value, None))
    return found


def _source(base: str, version: str, name: str) -> dict[str, str]:
    return {"label": f"MRBS {name}, version {version} (model card)", "url": base + MODEL_CARD_PATH}


def _links(base: str) -> list[dict[str, str]]:
    return [{"label": "Open the MRBS clinician page", "url": base + PAGE_PATH, "type": "absolute"}]


def prediction_card(
    response: PredictionResponse, base: str, definition: Definition
) -> dict[str, Any]:
    """The card of one prediction: built from /predict's answer by `serving.http.explain`."""
    return {
        "uuid": str(uuid.uuid4()),
        "summary": explain.summary(response),
        "indicator": explain.indicator(response),
        "detail": explain.detail(response, base + PAGE_PATH),
        "source": _source(base, response.model.version, response.model.name),
        "links": _links(base),
    }


def problem_card(
    issues: list[Issue], base: str, definition: Definition, name: str, version: str
) -> dict[str, Any]:
    """A warning card saying why no probability could be given (fields and reasons only)."""
    lines = ["MRBS gives no probability until these are resolved:", ""]
    lines += [
        f"- {issue.message}" + (f" (`{issue.expression}`)" if issue.expression else "")
        for issue in issues
        if issue.severity == "error"
    ]
    lines += ["", f"Intended use: {explain.INTENDED_USE}"]
    return {
        "uuid": str(uuid.uuid4()),
        "summary": "MRBS: no belimumab response estimate; required data missing or invalid",
        "indicator": "warning",
        "detail": "\n".join(lines),
        "source": _source(base, version, name),
        "links": _links(base),
    }


OUTCOMES: Final = ("accepted", "overridden")


def read_feedback(body: Any) -> tuple[dict[str, int] | None, str]:
    """Counts of feedback outcomes, or None and the reason."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return None, "feedback: a non-empty list is required"
    counts = dict.fromkeys(OUTCOMES, 0)
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("card"), str):
            return None, f"feedback[{position}].card: the card's uuid is required"
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            return None, f"feedback[{position}].outcome: one of {', '.join(OUTCOMES)}"
        if not isinstance(item.get("outcomeTimestamp"), str):
            return None, f"feedback[{position}].outcomeTimestamp: a timestamp is required"
        counts[outcome] += 1
    return counts, ""
