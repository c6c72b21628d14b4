"""A patient's FHIR resources -> dated facts -> the MRBS record at an index date.

`parse` checks each resource with the R4B models of `fhir.resources` and turns those MRBS reads
into `Facts` (every value with its date and the resource that supplied it), reporting each
problem as an `Issue` with its FHIRPath expression: an unknown code or UCUM unit, a missing
value, a result that cannot be converted. `record_at` then takes the latest value of each field
within the baseline window before the index date, and reports which resource supplied each
field. The record is in the units the resources gave (``c3`` with ``c3_unit``), so it goes
through the very validation `/predict` applies (`features.schema.patient_model`).

Nothing here echoes a patient's value: messages name the field, the expression and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from features.fhir import mapping as m
from features.fhir.mapping import Issue
from features.record import FIELDS_BY_NAME
from features.sledai import DESCRIPTORS, sledai_total
from features.units import UnitError

#: Organ involvement from the SLEDAI-2K descriptors (as `features.cohort` derives it).
ORGAN_ITEMS: Final[Mapping[str, tuple[str, ...]]] = {
    "renal_involvement": ("urinary_casts", "haematuria", "proteinuria", "pyuria"),
    "musculoskeletal_involvement": ("arthritis", "myositis"),
    "mucocutaneous_involvement": ("rash", "alopecia", "mucosal_ulcers"),
}
#: One input resource: its FHIRPath expression, its JSON, and its Bundle fullUrl (if any).
Entry = tuple[str, Any, str | None]
READ_TYPES: Final = frozenset(
    {"Patient", "Observation", "Condition", "MedicationStatement", "MedicationRequest"}
)


@dataclass(frozen=True)
class Source:
    """The resource a value came from: its reference and where it sat in the input."""

    reference: str
    expression: str


@dataclass(frozen=True)
class Dated:
    """A value, the date it describes, and its source; ``rank`` orders codes of one field."""

    value: Any
    when: dt.date
    source: Source
    unit: str | None = None
    rank: int = 0


@dataclass(frozen=True)
class LabResult:
    field: str
    value: float
    unit: str
    when: dt.date
    source: Source
    rank: int = 0
    low: float | None = None
    high: float | None = None
    analyte: str = ""


@dataclass(frozen=True)
class Assessment:
    """One dated assessment Observation: SLEDAI-2K, PGA, BILAG-2004 or rescue therapy."""

    kind: str
    when: dt.date
    source: Source
    total: int | None = None
    descriptors: Mapping[str, int] = field(default_factory=dict)
    grades: Mapping[str, str] = field(default_factory=dict)
    value: float | bool | None = None


@dataclass(frozen=True)
class Medication:
    drug: str  # ingredient or class name
    kind: str  # glucocorticoid, immunosuppressant, antimalarial, prior, belimumab
    status: str
    source: Source
    mg_day: float | None = None  # prednisone-equivalent, glucocorticoids only
    record_field: str = ""


@dataclass
class Facts:
    """Everything MRBS read from one patient's resources."""

    patient_id: str = ""
    patient: Source | None = None
    sex: str | None = None
    birth_date: dt.date | None = None
    ethnicity: str | None = None
    site: str | None = None
    sle_onset: Dated | None = None
    labs: list[LabResult] = field(default_factory=list)
    observations: dict[str, list[Dated]] = field(default_factory=dict)
    assessments: list[Assessment] = field(default_factory=list)
    conditions: dict[str, Dated] = field(default_factory=dict)
    medications: list[Medication] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class Extraction:
    """The record at an index date, which resource supplied each field, and the problems."""

    values: dict[str, Any]
    sources: dict[str, Source]
    issues: list[Issue]


# -- parsing ----------------------------------------------------------------------------------


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def _is_resource(model: Any) -> bool:
    from fhir.resources.R4B.resource import Resource

    return isinstance(model, type) and issubclass(model, Resource)


def loads(text: str | bytes) -> Any:
    """JSON as FHIR allows it: NaN and Infinity are not numbers FHIR can carry."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")

    return json.loads(text, parse_constant=refuse)


def _path(expression: str, loc: Sequence[Any]) -> str:
    text = expression
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validate_resource(raw: Any, expression: str) -> tuple[Any | None, list[Issue]]:
    """The R4B model of ``raw``, or None with one issue per structural problem."""
    if not isinstance(raw, dict):
        return None, [Issue(expression, "structure", "a resource must be a JSON object")]
    kind = raw.get("resourceType")
    if not isinstance(kind, str):
        return None, [Issue(expression, "structure", "resourceType is missing")]
    try:
        model = _model(kind)
    except (KeyError, ValueError, AttributeError, ImportError):
        model = None
    if model is None or not _is_resource(model):
        return None, [Issue(expression, "not-supported", "not an R4 resource type")]
    try:
        return model.model_validate(raw), []
    except ValidationError as error:
        return None, [
            Issue(
                _path(f"{expression}", [p for p in item["loc"] if p != "__root__"]),
                "structure",
                f"{kind}: {item['msg']}",
            )
            for item in error.errors(include_input=False, include_url=False, include_context=False)
        ]


def _codings(concept: Any) -> list[tuple[str, str]]:
    if concept is None:
        return []
    return [(c.system or "", c.code or "") for c in (concept.coding or [])]


def _texts(concept: Any) -> list[str]:
    if concept is None:
        return []
    texts = [concept.text] if concept.text else []
    texts += [c.display for c in (concept.coding or []) if c.display]
    return [t.strip().lower() for t in texts]


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


def _effective(resource: Any) -> dt.date | None:
    for name in ("effectiveDateTime", "effectiveInstant", "issued"):
        found = _date(getattr(resource, name, None))
        if found is not None:
            return found
    period = getattr(resource, "effectivePeriod", None)
    if period is not None:
        return _date(period.end) or _date(period.start)
    return None


def _reference(resource: Any, full_url: str | None) -> str:
    if resource.id:
        return f"{resource.get_resource_type()}/{resource.id}"
    return full_url or resource.get_resource_type()


def bundle_entries(bundle: Any, prefix: str = "Bundle") -> tuple[list[Entry], list[Issue]]:
    """(expression, resource, fullUrl) of each entry of a Bundle, or the issues why not."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return [], [Issue(prefix, "structure", "a FHIR Bundle is expected")]
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return [], [Issue(f"{prefix}.entry", "structure", "entry must be a list")]
    if len(entries) > m.MAX_BUNDLE_ENTRIES:
        return [], [
            Issue(
                f"{prefix}.entry",
                "too-costly",
                f"more than {m.MAX_BUNDLE_ENTRIES} entries; a cohort belongs in "
                "`mrbs cohort build` with a Bulk FHIR export",
            )
        ]
    found: list[Entry] = []
    issues: list[Issue] = []
    for position, entry in enumerate(entries):
        where = f"{prefix}.entry[{position}]"
        if not isinstance(entry, dict) or "resource" not in entry:
            issues.append(Issue(where, "structure", "an entry needs a resource"))
            continue
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        found.append((f"{where}.resource", entry["resource"], full_url))
    return found, issues


def parse(entries: Iterable[Entry]) -> Facts:
    """Facts from (FHIRPath expression, resource as JSON, fullUrl) triples of one patient."""
    facts = Facts()
    for expression, raw, full_url in entries:
        read_resource(facts, expression, raw, full_url)
    return facts


def read_resource(facts: Facts, expression: str, raw: Any, full_url: str | None = None) -> None:
    """Add what one resource says to ``facts`` (its problems to ``facts.issues``)."""
    resource, issues = validate_resource(raw, expression)
    facts.issues += issues
    if resource is None or resource.get_resource_type() not in READ_TYPES:
        return
    source = Source(_reference(resource, full_url), expression)
    kind = resource.get_resource_type()
    if kind == "Patient":
        _read_patient(resource, source, facts)
    elif kind == "Observation":
        _read_observation(resource, source, facts)
    elif kind == "Condition":
        _read_condition(resource, source, facts)
    else:
        _read_medication(resource, source, facts)


def subject_of(raw: Any) -> str | None:
    """The id of the Patient a resource (as JSON) is about, or None."""
    if not isinstance(raw, dict):
        return None
    if raw.get("resourceType") == "Patient":
        return str(raw["id"]) if isinstance(raw.get("id"), str) else None
    subject = raw.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    return None


def _read_patient(resource: Any, source: Source, facts: Facts) -> None:
    if facts.patient is not None:
        facts.issues.append(
            Issue(source.expression, "duplicate", "more than one Patient; send one patient")
        )
        return
    facts.patient = source
    facts.patient_id = resource.id or ""
    facts.sex = m.GENDER.get(resource.gender or "")
    facts.birth_date = _date(resource.birthDate)
    for extension in resource.extension or []:
        if extension.url == m.ETHNICITY_EXTENSION and extension.valueString:
            facts.ethnicity = extension.valueString
    organisation = resource.managingOrganization
    identifier = organisation.identifier if organisation is not None else None
    if identifier is not None and identifier.system == m.MRBS_SITE:
        facts.site = organisation.identifier.value


def _quantity(resource: Any, source: Source, name: str, facts: Facts) -> tuple[float, str] | None:
    """A valueQuantity's value and the record's spelling of its UCUM unit, or None with an issue."""
    quantity = resource.valueQuantity
    expression = f"{source.expression}.valueQuantity"
    if quantity is None or quantity.value is None:
        facts.issues.append(
            Issue(expression, "required", f"{name}: the Observation has no valueQuantity.value")
        )
        return None
    table = m.UCUM_UNITS.get(name, {})
    if quantity.system != m.UCUM or quantity.code not in table:
        accepted = ", ".join(table) or "none"
        facts.issues.append(
            Issue(
                f"{expression}.code",
                "code-invalid",
                f"{name}: unit must be a UCUM code (system {m.UCUM}) among: {accepted}",
            )
        )
        return None
    return float(quantity.value), table[quantity.code]


def _limit(reference_range: Any, end: str, unit_table: Mapping[str, str]) -> float | None:
    for entry in reference_range or []:
        bound: Any = getattr(entry, end, None)
        if bound is None or bound.value is None:
            continue
        if bound.code is None or bound.code in unit_table:
            return float(bound.value)
    return None


def _lab_field(codings: list[tuple[str, str]], texts: list[str]) -> tuple[str, str] | None:
    for system, code in codings:
        if system == m.LOINC and code in m.LAB_LOINC:
            return m.LAB_LOINC[code], code
        if system == m.MRBS_ASSESSMENT and code == m.BLYS_CODE:
            return "blys", code
    for text in texts:
        if text in m.TEXT_NAMED_LABS:
            return m.TEXT_NAMED_LABS[text], text
    return None


def _read_observation(resource: Any, source: Source, facts: Facts) -> None:
    if resource.status in ("entered-in-error", "cancelled"):
        return
    codings, texts = _codings(resource.code), _texts(resource.code)
    when = _effective(resource)
    if when is None:
        facts.issues.append(
            Issue(
                f"{source.expression}.effective",
                "required",
                "an Observation MRBS reads needs effectiveDateTime (or effectivePeriod)",
            )
        )
        return
    for system, code in codings:
        if system == m.LOINC and code in m.UNCONVERTIBLE_LOINC:
            facts.issues.append(
                Issue(f"{source.expression}.code", "not-supported", m.UNCONVERTIBLE_LOINC[code])
            )
            return
    lab = _lab_field(codings, texts)
    if lab is not None:
        _read_lab(resource, source, facts, lab, when)
        return
    for coding in codings:
        handler = _OBSERVATION_READERS.get(coding)
        if handler is not None:
            handler(resource, source, facts, when)
            return
    if any(system == m.LOINC for system, _ in codings):
        facts.issues.append(
            Issue(
                f"{source.expression}.code",
                "code-invalid",
                "LOINC code not used by MRBS; see the mapping in features/fhir/mapping.py",
            )
        )


def _read_lab(
    resource: Any, source: Source, facts: Facts, lab: tuple[str, str], when: dt.date
) -> None:
    name, code = lab
    found = _quantity(resource, source, name, facts)
    if found is None:
        return
    value, unit = found
    low = high = None
    if name in m.REFERENCE_LIMITS:
        end, limit_field = m.REFERENCE_LIMITS[name]
        table = m.UCUM_UNITS[limit_field]
        limit = _limit(resource.referenceRange, end, table)
        low, high = (limit, None) if end == "low" else (None, limit)
    facts.labs.append(
        LabResult(
            name,
            value,
            unit,
            when,
            source,
            m.LOINC_PREFERENCE.get(code, 0),
            low,
            high,
            analyte=code if code in m.LAB_LOINC else name,
        )
    )


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else None


def _read_sledai(resource: Any, source: Source, facts: Facts, when: dt.date) -> None:
    total = _whole(resource.valueInteger) if resource.valueInteger is not None else None
    descriptors: dict[str, int] = {}
    for position, component in enumerate(resource.component or []):
        for system, code in _codings(component.code):
            if system != m.MRBS_SLEDAI_DESCRIPTOR:
                continue
            expression = f"{source.expression}.component[{position}]"
            if code not in DESCRIPTORS:
                facts.issues.append(
                    Issue(f"{expression}.code", "code-invalid", "not a SLEDAI-2K descriptor code")
                )
                continue
            present = component.valueBoolean
            if present is None and component.valueInteger in (0, 1):
                present = bool(component.valueInteger)
            if present is None:
                facts.issues.append(
                    Issue(expression, "required", f"sledai {code}: needs valueBoolean (or 0/1)")
                )
                continue
            descriptors[code] = int(present)
    if total is None and len(descriptors) < len(DESCRIPTORS):
        facts.issues.append(
            Issue(
                f"{source.expression}.valueInteger",
                "required",
                "sledai_2k: needs valueInteger (the total) or all 24 descriptors as components",
            )
        )
        return
    facts.assessments.append(Assessment("sledai", when, source, total, descriptors))


def _read_bilag(resource: Any, source: Source, facts: Facts, when: dt.date) -> None:
    grades: dict[str, str] = {}
    for position, component in enumerate(resource.component or []):
        for system, code in _codings(component.code):
            if system != m.MRBS_BILAG_DOMAIN:
                continue
            grade = (component.valueString or "").strip().upper()
            if code not in m.BILAG_DOMAIN_CODES or grade not in ("A", "B", "C", "D", "E"):
                facts.issues.append(
                    Issue(
                        f"{source.expression}.component[{position}]",
                        "code-invalid",
                        "BILAG-2004: a known domain code and a grade A-E are needed",
                    )
                )
                continue
            grades[code] = grade
    facts.assessments.append(Assessment("bilag", when, source, grades=grades))


def _score(resource: Any, source: Source, facts: Facts, name: str) -> float | None:
    quantity = resource.valueQuantity
    if quantity is not None and quantity.value is not None:
        return float(quantity.value)
    if resource.valueInteger is not None:
        return float(resource.valueInteger)
    facts.issues.append(
        Issue(f"{source.expression}.value", "required", f"{name}: the Observation has no value")
    )
    return None


def _boolean(resource: Any, source: Source, facts: Facts, name: str) -> bool | None:
    if resource.valueBoolean is not None:
        return bool(resource.valueBoolean)
    facts.issues.append(
        Issue(f"{source.expression}.valueBoolean", "required", f"{name}: needs valueBoolean")
    )
    return None


def _observe(facts: Facts, name: str, item: Dated) -> None:
    facts.observations.setdefault(name, []).append(item)


def _observe_boolean(resource: Any, source: Source, facts: Facts, name: str, when: dt.date) -> None:
    flag = _boolean(resource, source, facts, name)
    if flag is not None:
        _observe(facts, name, Dated(flag, when, source))


def _read_integer(resource: Any, source: Source, facts: Facts, name: str, when: dt.date) -> None:
    value = resource.valueInteger
    if value is None and resource.valueQuantity is not None:
        value = _whole(resource.valueQuantity.value)
    if value is None:
        facts.issues.append(
            Issue(f"{source.expression}.valueInteger", "required", f"{name}: needs valueInteger")
        )
        return
    _observe(facts, name, Dated(int(value), when, source))


def _read_smoking(resource: Any, source: Source, facts: Facts, when: dt.date) -> None:
    codings = _codings(resource.valueCodeableConcept)
    answers = {code for system, code in codings if system == m.SNOMED}
    if answers & m.SMOKER_CURRENT:
        _observe(facts, "smoking_current", Dated(True, when, source))
    elif answers & m.SMOKER_NOT_CURRENT:
        _observe(facts, "smoking_current", Dated(False, when, source))
    else:
        facts.issues.append(
            Issue(
                f"{source.expression}.valueCodeableConcept",
                "code-invalid",
                "smoking status: a SNOMED CT answer MRBS knows is needed "
                "(see SMOKER_CURRENT and SMOKER_NOT_CURRENT in features/fhir/mapping.py)",
            )
        )


def _read_pga(resource: Any, source: Source, facts: Facts, when: dt.date) -> None:
    value = _score(resource, source, facts, "pga")
    if value is not None:
        facts.assessments.append(Assessment("pga", when, source, value=value))


def _read_rescue(resource: Any, source: Source, facts: Facts, when: dt.date) -> None:
    flag = _boolean(resource, source, facts, "rescue_therapy")
    if flag is not None:
        facts.assessments.append(Assessment("rescue", when, source, value=flag))


_OBSERVATION_READERS: Final[
    Mapping[tuple[str, str], Callable[[Any, Source, Facts, dt.date], None]]
] = {
    (m.MRBS_ASSESSMENT, m.SLEDAI_CODE): _read_sledai,
    (m.MRBS_ASSESSMENT, m.PGA_CODE): _read_pga,
    (m.MRBS_ASSESSMENT, m.BILAG_CODE): _read_bilag,
    (m.MRBS_ASSESSMENT, m.RESCUE_CODE): _read_rescue,
    (m.LOINC, m.SDI_LOINC): lambda r, s, f, w: _read_integer(r, s, f, "sdi", w),
    (m.LOINC, m.SMOKING_LOINC): _read_smoking,
    (m.MRBS_ASSESSMENT, m.SMOKING_CODE): lambda r, s, f, w: _observe_boolean(
        r, s, f, "smoking_current", w
    ),
    (m.MRBS_ASSESSMENT, m.ANTI_SM_CODE): lambda r, s, f, w: _observe_boolean(
        r, s, f, "anti_sm_positive", w
    ),
}


def _verification(resource: Any) -> str:
    codes = [code for _, code in _codings(resource.verificationStatus)]
    return codes[0] if codes else "confirmed"


def _read_condition(resource: Any, source: Source, facts: Facts) -> None:
    codings = _codings(resource.code)
    status = _verification(resource)
    if status == "entered-in-error":
        return
    if (m.SNOMED, m.SLE_SNOMED) in codings and status != "refuted":
        onset = _date(resource.onsetDateTime)
        if onset is None:
            facts.issues.append(
                Issue(
                    f"{source.expression}.onsetDateTime",
                    "required",
                    "SLE Condition: onsetDateTime gives the disease duration",
                    "warning",
                )
            )
            return
        facts.sle_onset = Dated(onset, onset, source)
        return
    for coding in codings:
        name = m.FACT_CODES.get(coding)
        if name is not None:
            recorded = _date(resource.recordedDate) or dt.date.min
            facts.conditions[name] = Dated(status != "refuted", recorded, source)


def _medication_codings(resource: Any) -> tuple[list[tuple[str, str]], list[str]]:
    concept = resource.medicationCodeableConcept
    return _codings(concept), _texts(concept)


def _read_medication(resource: Any, source: Source, facts: Facts) -> None:
    codings, texts = _medication_codings(resource)
    status = resource.status or ""
    if resource.get_resource_type() == "MedicationStatement" and status == "entered-in-error":
        return
    if (m.ATC, m.BELIMUMAB_ATC) in codings or any("belimumab" in t for t in texts):
        facts.medications.append(Medication("belimumab", "belimumab", status, source))
        return
    for system, code in codings:
        if system == m.RXNORM and code in m.PRIOR_DRUG_FIELDS:
            facts.medications.append(
                Medication(code, "prior", status, source, record_field=m.PRIOR_DRUG_FIELDS[code])
            )
            return
        if system == m.MRBS_MEDICATION_CLASS and code in ("immunosuppressant", "antimalarial"):
            facts.medications.append(Medication(code, code, status, source))
            return
        if system == m.MRBS_MEDICATION_CLASS and code == "glucocorticoid":
            dose = _daily_mg(resource, source, facts, 1.0) if status != m.NOT_TAKEN else 0.0
            facts.medications.append(Medication(code, code, status, source, mg_day=dose))
            return
        drug = m.DRUGS.get(code) if system == m.RXNORM else None
        if drug is None:
            continue
        dose = None
        if drug.kind == "glucocorticoid" and status in m.CURRENT:
            dose = _daily_mg(resource, source, facts, drug.prednisone_factor)
        facts.medications.append(Medication(drug.name, drug.kind, status, source, mg_day=dose))
        return


def _dosages(resource: Any) -> list[Any]:
    if resource.get_resource_type() == "MedicationRequest":
        return list(resource.dosageInstruction or [])
    return list(resource.dosage or [])


def _daily_mg(resource: Any, source: Source, facts: Facts, factor: float) -> float | None:
    """Prednisone-equivalent mg/day from the first dosage's dose and timing, or None with an
    issue: a dose without its frequency cannot be read as a daily dose."""
    name = "dosageInstruction" if resource.get_resource_type() == "MedicationRequest" else "dosage"
    expression = f"{source.expression}.{name}[0]"
    dosages = _dosages(resource)
    dose = None
    if dosages and dosages[0].doseAndRate:
        dose = dosages[0].doseAndRate[0].doseQuantity
    if dose is None or dose.value is None or dose.system != m.UCUM or dose.code != "mg":
        facts.issues.append(
            Issue(
                f"{expression}.doseAndRate[0].doseQuantity",
                "required",
                "prednisone_mg_day: a glucocorticoid needs doseQuantity in UCUM mg",
            )
        )
        return None
    repeat = dosages[0].timing.repeat if dosages[0].timing is not None else None
    unit = str(repeat.periodUnit) if repeat is not None else ""
    if repeat is None or not repeat.period or unit not in m.PERIOD_DAYS:
        facts.issues.append(
            Issue(
                f"{expression}.timing.repeat",
                "required",
                "prednisone_mg_day: timing.repeat needs frequency, period and periodUnit",
            )
        )
        return None
    per_day = (repeat.frequency or 1) / (float(repeat.period) * m.PERIOD_DAYS[unit])
    return float(dose.value) * per_day * factor


# -- the record at an index date ---------------------------------------------------------------


def in_window(when: dt.date, index_date: dt.date) -> bool:
    """Whether a value dated ``when`` describes the baseline at ``index_date``."""
    return index_date - dt.timedelta(days=m.BASELINE_WINDOW_DAYS) <= when <= index_date


def _canonical(name: str, value: float, unit: str) -> float:
    try:
        return FIELDS_BY_NAME[name].units.lookup(unit, field=name).to_canonical(value)
    except UnitError:
        return math.nan


def latest_labs(facts: Facts, index_date: dt.date) -> tuple[dict[str, LabResult], list[Issue]]:
    """The latest lab result per field within the window (preferred code first), and an issue
    for each field whose latest day holds two different results."""
    chosen: dict[str, LabResult] = {}
    issues: list[Issue] = []
    by_field: dict[str, list[LabResult]] = {}
    for lab in facts.labs:
        if in_window(lab.when, index_date):
            by_field.setdefault(lab.field, []).append(lab)
    for name, results in by_field.items():
        best = max(results, key=lambda r: (r.rank, r.when))
        rivals = [r for r in results if (r.rank, r.when) == (best.rank, best.when)]
        values = {round(_canonical(name, r.value, r.unit), 9) for r in rivals}
        if len(values) > 1:
            where = ", ".join(r.source.expression for r in rivals)
            issues.append(
                Issue(
                    rivals[-1].source.expression,
                    "conflict",
                    f"{name}: different results on the same day ({where}); send the one to use",
                )
            )
            continue
        chosen[name] = best
    return chosen, issues


def _latest(items: Iterable[Dated], index_date: dt.date) -> Dated | None:
    found = [item for item in items if in_window(item.when, index_date)]
    return max(found, key=lambda item: item.when) if found else None


def completed_years(born: dt.date, on: dt.date) -> int:
    """Age in completed years on a date."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def duration_years(onset: dt.date, on: dt.date) -> float:
    """Years from onset to a date, to one decimal (the resolution of the record)."""
    return round((on - onset).days / 365.25, 1)


def patient_fields(facts: Facts, index_date: dt.date) -> Extraction:
    """The patients-table fields at ``index_date``: demographics, history, medication and the
    dated observations that are not labs, each with its source."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    issues: list[Issue] = []
    if facts.patient is not None:
        if facts.sex is not None:
            values["sex"], sources["sex"] = facts.sex, facts.patient
        if facts.birth_date is not None:
            if facts.birth_date > index_date:
                issues.append(
                    Issue(f"{facts.patient.expression}.birthDate", "value", "after the index date")
                )
            else:
                values["age"] = float(completed_years(facts.birth_date, index_date))
                sources["age"] = facts.patient
        if facts.ethnicity is not None:
            values["ethnicity"], sources["ethnicity"] = facts.ethnicity, facts.patient
    if facts.sle_onset is not None:
        if facts.sle_onset.when > index_date:
            issues.append(
                Issue(
                    f"{facts.sle_onset.source.expression}.onsetDateTime",
                    "value",
                    "SLE onset after the index date",
                )
            )
        else:
            values["disease_duration"] = duration_years(facts.sle_onset.when, index_date)
            sources["disease_duration"] = facts.sle_onset.source
    for name, items in facts.observations.items():
        latest = _latest(items, index_date)
        if latest is not None:
            values[name], sources[name] = latest.value, latest.source
    for name, fact in facts.conditions.items():
        values[name], sources[name] = fact.value, fact.source
    _medication_fields(facts, values, sources)
    return Extraction(values, sources, issues)


def _medication_fields(facts: Facts, values: dict[str, Any], sources: dict[str, Source]) -> None:
    steroids = [med for med in facts.medications if med.kind == "glucocorticoid"]
    current = [med for med in steroids if med.status in m.CURRENT]
    if current:
        doses = [med.mg_day for med in current]
        if all(dose is not None for dose in doses):
            values["prednisone_mg_day"] = float(sum(d for d in doses if d is not None))
            sources["prednisone_mg_day"] = current[0].source
    elif any(med.status == m.NOT_TAKEN for med in steroids):
        values["prednisone_mg_day"] = 0.0
        sources["prednisone_mg_day"] = steroids[0].source
    for kind, name in m.CLASS_FIELDS.items():
        of_kind = [med for med in facts.medications if med.kind == kind]
        taking = [med for med in of_kind if med.status in m.CURRENT]
        if taking:
            values[name], sources[name] = True, taking[0].source
        elif any(med.status == m.NOT_TAKEN for med in of_kind):
            values[name], sources[name] = False, of_kind[0].source
    for med in facts.medications:
        if med.kind != "prior":
            continue
        if med.status in m.TAKEN:
            values[med.record_field], sources[med.record_field] = True, med.source
        elif med.status == m.NOT_TAKEN and med.record_field not in values:
            values[med.record_field], sources[med.record_field] = False, med.source


def _sledai_fields(
    facts: Facts, index_date: dt.date, values: dict[str, Any], sources: dict[str, Source]
) -> list[Issue]:
    found = [a for a in facts.assessments if a.kind == "sledai" and in_window(a.when, index_date)]
    if not found:
        return []
    latest = max(found, key=lambda a: a.when)
    complete = len(latest.descriptors) == len(DESCRIPTORS)
    issues: list[Issue] = []
    total = latest.total
    if complete:
        summed = sledai_total(latest.descriptors)
        if total is not None and total != summed:
            issues.append(
                Issue(
                    f"{latest.source.expression}.valueInteger",
                    "conflict",
                    "sledai_2k: the total disagrees with its 24 descriptors; the descriptor "
                    "sum is used",
                    "warning",
                )
            )
        total = summed
        for organ, items in ORGAN_ITEMS.items():
            values[organ] = any(latest.descriptors[item] == 1 for item in items)
            sources[organ] = latest.source
    if total is not None:
        values["sledai_2k"], sources["sledai_2k"] = total, latest.source
    return issues


def record_at(facts: Facts, index_date: dt.date) -> Extraction:
    """The MRBS record at ``index_date`` (units as given, ``<field>_unit`` beside each lab),
    which resource supplied each field, and every problem found on the way."""
    extraction = patient_fields(facts, index_date)
    values, sources = dict(extraction.values), dict(extraction.sources)
    values.pop("ethnicity", None)  # subgroup reporting only; /predict does not take it
    sources.pop("ethnicity", None)
    issues = [*facts.issues, *extraction.issues]
    labs, conflicts = latest_labs(facts, index_date)
    issues += conflicts
    for name, lab in labs.items():
        values[name], values[f"{name}_unit"], sources[name] = lab.value, lab.unit, lab.source
        if name in m.REFERENCE_LIMITS:
            end, limit_field = m.REFERENCE_LIMITS[name]
            limit = lab.low if end == "low" else lab.high
            if limit is not None:
                values[limit_field], values[f"{limit_field}_unit"] = limit, lab.unit
                sources[limit_field] = lab.source
    issues += _sledai_fields(facts, index_date, values, sources)
    return Extraction(values, sources, issues)
