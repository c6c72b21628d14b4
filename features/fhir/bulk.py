"""FHIR Bulk Data exports (one NDJSON file per resource type) <-> the raw cohort tables.

`read_export` streams ``Patient.ndjson``, ``Observation.ndjson``, ``Condition.ndjson``,
``MedicationStatement.ndjson`` and ``MedicationRequest.ndjson`` line by line (one resource per
line, never a whole file in memory), reads each resource with the mapping of
`features.fhir.read`, and lays the facts out as the ``patients``, ``labs`` and ``assessments``
tables (`features.tables`), so `features.cohort.assemble` builds the cohort exactly as it does
from tables: same validation, per-row problems and summary. Each patient's baseline visit (week
0, the index date) is its earliest SLEDAI-2K Observation; week 48 is the assessment dated 48
weeks later, within `features.fhir.mapping.OUTCOME_WINDOW_DAYS`.

`write_export` writes raw tables as such an export (`mrbs simulate --format fhir`), dating the
baseline visit `EXPORT_INDEX_DATE`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Final

import pandas as pd

from features import tables as t
from features.fhir import mapping as m
from features.fhir.read import Facts, in_window, loads, patient_fields, read_resource, subject_of
from features.io import TableError, atomic_path
from features.labs import analyte_lookup
from features.sledai import DESCRIPTOR_COLUMNS, DESCRIPTORS
from features.sri import BILAG_COLUMNS

RESOURCE_FILES: Final = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
)
#: The date `write_export` gives every simulated patient's baseline visit.
EXPORT_INDEX_DATE: Final = dt.date(2024, 1, 1)
OUTCOME_DAYS: Final = 7 * t.OUTCOME_WEEK
PATIENT_COLUMNS: Final = t.PATIENT_COLUMNS


def is_export(folder: Path) -> bool:
    """Whether ``folder`` holds a Bulk FHIR export (a ``Patient.ndjson``)."""
    return (folder / "Patient.ndjson").exists()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def read_export(folder: Path) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """The raw tables of an export, and counts of what was left aside (by reason, no values)."""
    if not is_export(folder):
        raise TableError(f"{folder}: no Patient.ndjson (a FHIR Bulk Data export)")
    patients: dict[str, Facts] = {}
    dropped: Counter[str] = Counter()
    for kind in RESOURCE_FILES:
        path = folder / f"{kind}.ndjson"
        if not path.exists():
            continue
        for number, line in _lines(path):
            try:
                raw = loads(line)
            except ValueError:
                dropped[f"{path.name}: lines that are not JSON"] += 1
                continue
            subject = subject_of(raw)
            if subject is None:
                dropped[f"{path.name}: resources about no Patient"] += 1
                continue
            if kind != "Patient" and subject not in patients:
                dropped[f"{path.name}: resources of patients not in Patient.ndjson"] += 1
                continue
            facts = patients.setdefault(subject, Facts(patient_id=subject))
            before = len(facts.issues)
            read_resource(facts, f"{path.name} line {number}", raw)
            for issue in facts.issues[before:]:
                dropped[f"{path.name}: {issue.message}"] += 1
            del facts.issues[before:]
    return _tables(patients), dict(dropped.most_common())


def _index_date(facts: Facts) -> dt.date | None:
    visits = [a.when for a in facts.assessments if a.kind == "sledai"]
    if visits:
        return min(visits)
    labs = [lab.when for lab in facts.labs]
    return max(labs) if labs else None


def _week(when: dt.date, index: dt.date) -> float:
    if in_window(when, index):
        return float(t.BASELINE_WEEK)
    days = (when - index).days
    if abs(days - OUTCOME_DAYS) <= m.OUTCOME_WINDOW_DAYS:
        return float(t.OUTCOME_WEEK)
    return float(round(days / 7))


def _text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return pd.NA
    return str(value)


def _tables(patients: Mapping[str, Facts]) -> dict[str, pd.DataFrame]:
    rows: list[dict[str, Any]] = []
    labs: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    for patient_id, facts in patients.items():
        index = _index_date(facts) or dt.date.min
        values = patient_fields(facts, index).values
        row = {column: values.get(column) for column in PATIENT_COLUMNS}
        row[t.PATIENT_ID], row[t.SITE] = patient_id, facts.site
        rows.append(row)
        for lab in sorted(facts.labs, key=lambda result: result.when):
            labs.append(
                {
                    t.PATIENT_ID: patient_id,
                    t.VISIT_WEEK: _week(lab.when, index),
                    t.ANALYTE: lab.analyte,
                    t.VALUE: lab.value,
                    t.UNIT: lab.unit,
                    t.REF_LOW: lab.low,
                    t.REF_HIGH: lab.high,
                }
            )
        visits += _visits(patient_id, facts, index)
    frames = {
        t.PATIENTS: pd.DataFrame(rows, columns=list(PATIENT_COLUMNS)),
        t.LABS: pd.DataFrame(labs, columns=list(t.LAB_COLUMNS)),
        t.ASSESSMENTS: pd.DataFrame(visits, columns=_assessment_columns()),
    }
    # As `features.io.read_table` reads CSV: text cells, converted by the validators.
    return {name: frame.map(_text).astype("string") for name, frame in frames.items()}


def _assessment_columns() -> list[str]:
    return [
        t.PATIENT_ID,
        t.VISIT_WEEK,
        *DESCRIPTOR_COLUMNS.values(),
        t.SLEDAI_TOTAL,
        *BILAG_COLUMNS.values(),
        t.PGA,
        t.RESCUE,
    ]


def _visits(patient_id: str, facts: Facts, index: dt.date) -> list[dict[str, Any]]:
    by_date: dict[dt.date, dict[str, Any]] = {}
    for item in sorted(facts.assessments, key=lambda a: a.when):
        week = _week(item.when, index)
        if week not in (t.BASELINE_WEEK, t.OUTCOME_WEEK):
            continue
        row = by_date.setdefault(item.when, {t.PATIENT_ID: patient_id, t.VISIT_WEEK: int(week)})
        if item.kind == "sledai":
            row[t.SLEDAI_TOTAL] = item.total
            for name, present in item.descriptors.items():
                row[DESCRIPTOR_COLUMNS[name]] = present
        elif item.kind == "bilag":
            for domain, grade in item.grades.items():
                row[BILAG_COLUMNS[domain]] = grade
        elif item.kind == "pga":
            row[t.PGA] = item.value
        else:
            row[t.RESCUE] = item.value
    return list(by_date.values())


# -- writing ----------------------------------------------------------------------------------


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _flag(value: Any) -> bool | None:
    if _missing(value):
        return None
    text = str(value).strip().lower()
    return text in ("true", "1", "1.0", "yes")


class _Writer:
    """One NDJSON file per resource type, each written atomically."""

    def __init__(self, stack: ExitStack, folder: Path) -> None:
        self._handles: dict[str, IO[str]] = {}
        for kind in RESOURCE_FILES:
            temporary = stack.enter_context(atomic_path(folder / f"{kind}.ndjson"))
            self._handles[kind] = stack.enter_context(temporary.open("w", encoding="utf-8"))
        self.paths = [folder / f"{kind}.ndjson" for kind in RESOURCE_FILES]
        self._count = 0

    def write(self, resource: dict[str, Any], patient: str) -> None:
        if resource["resourceType"] != "Patient":
            self._count += 1
            resource = {"id": f"{patient}-{self._count}", **resource}
            resource["subject"] = {"reference": f"Patient/{patient}"}
        line = json.dumps(resource, separators=(",", ":"))
        self._handles[resource["resourceType"]].write(line + "\n")


def write_export(
    patients: pd.DataFrame,
    labs: pd.DataFrame,
    assessments: pd.DataFrame,
    folder: Path,
    index_date: dt.date = EXPORT_INDEX_DATE,
) -> list[Path]:
    """Write raw tables as a Bulk FHIR export in ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    labs_by = {str(k): g for k, g in labs.groupby(t.PATIENT_ID, sort=False)}
    visits_by = {str(k): g for k, g in assessments.groupby(t.PATIENT_ID, sort=False)}
    with ExitStack() as stack:
        writer = _Writer(stack, folder)
        for row in _records(patients):
            patient = str(row[t.PATIENT_ID])
            for resource in _patient_resources(row, index_date):
                writer.write(resource, patient)
            for lab in _records(labs_by.get(patient, labs.iloc[0:0])):
                found = _lab(lab, index_date)
                if found is not None:
                    writer.write(found, patient)
            for visit in _records(visits_by.get(patient, assessments.iloc[0:0])):
                for resource in _assessment(visit, index_date):
                    writer.write(resource, patient)
        paths = writer.paths
    return paths


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _observation(code: dict[str, Any], when: dt.date, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": code,
        "effectiveDateTime": when.isoformat(),
        **value,
    }


def _birth_date(age: float, on: dt.date) -> dt.date:
    years = int(age)
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def _patient_resources(row: Mapping[str, Any], index: dt.date) -> Iterator[dict[str, Any]]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": str(row[t.PATIENT_ID])}
    sex = {"F": "female", "M": "male"}.get(str(row.get("sex")))
    if sex:
        patient["gender"] = sex
    if not _missing(row.get("age")):
        patient["birthDate"] = _birth_date(float(row["age"]), index).isoformat()
    if not _missing(row.get("ethnicity")):
        patient["extension"] = [
            {"url": m.ETHNICITY_EXTENSION, "valueString": str(row["ethnicity"])}
        ]
    if not _missing(row.get(t.SITE)):
        site = {"system": m.MRBS_SITE, "value": str(row[t.SITE])}
        patient["managingOrganization"] = {"identifier": site}
    yield patient
    if not _missing(row.get("disease_duration")):
        onset = index - dt.timedelta(days=round(float(row["disease_duration"]) * 365.25))
        yield {
            "resourceType": "Condition",
            "code": _coding(m.SNOMED, m.SLE_SNOMED),
            "verificationStatus": _coding(m.CONDITION_VERIFICATION, "confirmed"),
            "onsetDateTime": onset.isoformat(),
        }
    yield from _patient_observations(row, index)
    for name in m.FACT_FIELDS:
        holds = _flag(row.get(name))
        if holds is None:
            continue
        status = "confirmed" if holds else "refuted"
        yield {
            "resourceType": "Condition",
            "code": _coding(m.MRBS_FACT, name),
            "verificationStatus": _coding(m.CONDITION_VERIFICATION, status),
        }
    yield from _medications(row)


def _patient_observations(row: Mapping[str, Any], index: dt.date) -> Iterator[dict[str, Any]]:
    if not _missing(row.get("sdi")):
        sdi = int(float(row["sdi"]))
        yield _observation(_coding(m.LOINC, m.SDI_LOINC), index, valueInteger=sdi)
    for name, code in (("smoking_current", m.SMOKING_CODE), ("anti_sm_positive", m.ANTI_SM_CODE)):
        flag = _flag(row.get(name))
        if flag is not None:
            yield _observation(_coding(m.MRBS_ASSESSMENT, code), index, valueBoolean=flag)


def _statement(system: str, code: str, status: str, dose: float | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "status": status,
        "medicationCodeableConcept": _coding(system, code),
    }
    if dose is not None:
        quantity = {"value": dose, "unit": "mg", "system": m.UCUM, "code": "mg"}
        repeat = {"frequency": 1, "period": 1, "periodUnit": "d"}
        resource["dosage"] = [
            {"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": quantity}]}
        ]
    return resource


def _medications(row: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    dose = row.get("prednisone_mg_day")
    if dose is not None and not _missing(dose):
        mg = float(dose)
        yield (
            _statement(m.RXNORM, "8640", "active", mg)
            if mg > 0
            else _statement(m.RXNORM, "8640", m.NOT_TAKEN)
        )
    for name in m.CLASS_FIELDS.values():
        flag = _flag(row.get(name))
        if flag is not None:
            yield _statement(m.MRBS_MEDICATION_CLASS, name, "active" if flag else m.NOT_TAKEN)


def _ucum(name: str, unit: str) -> str | None:
    table = m.RECORD_TO_UCUM.get(name, {})
    for record, code in table.items():
        if record.lower() == unit.strip().lower():
            return code
    return None


def _quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": m.UCUM, "code": code}


def _lab(lab: Mapping[str, Any], index: dt.date) -> dict[str, Any] | None:
    if _missing(lab.get(t.VALUE)):
        return None
    analyte = str(lab[t.ANALYTE]).strip()
    name = analyte_lookup().get(analyte.lower())
    if name is None:
        return None
    unit = "" if _missing(lab.get(t.UNIT)) else str(lab[t.UNIT])
    code = _ucum(name, unit)
    loinc = analyte if analyte in m.LAB_LOINC else next(iter(m.FIELD_LOINC.get(name, ())), None)
    concept = _coding(m.LOINC, loinc) if loinc else _coding(m.MRBS_ASSESSMENT, m.BLYS_CODE)
    when = index + dt.timedelta(weeks=float(lab[t.VISIT_WEEK]))
    quantity = _quantity(float(lab[t.VALUE]), code) if code else {"value": float(lab[t.VALUE])}
    resource = _observation(concept, when, valueQuantity=quantity)
    limits = {
        end: float(lab[column])
        for end, column in (("low", t.REF_LOW), ("high", t.REF_HIGH))
        if column in lab and not _missing(lab[column])
    }
    if limits and code:
        resource["referenceRange"] = [{end: _quantity(v, code) for end, v in limits.items()}]
    return resource


def _assessment(visit: Mapping[str, Any], index: dt.date) -> Iterator[dict[str, Any]]:
    when = index + dt.timedelta(weeks=float(visit[t.VISIT_WEEK]))
    components = [
        {
            "code": _coding(m.MRBS_SLEDAI_DESCRIPTOR, name),
            "valueBoolean": bool(float(visit[DESCRIPTOR_COLUMNS[name]])),
        }
        for name in DESCRIPTORS
        if not _missing(visit.get(DESCRIPTOR_COLUMNS[name]))
    ]
    sledai: dict[str, Any] = {"component": components} if components else {}
    if not _missing(visit.get(t.SLEDAI_TOTAL)):
        sledai["valueInteger"] = int(float(visit[t.SLEDAI_TOTAL]))
    yield _observation(_coding(m.MRBS_ASSESSMENT, m.SLEDAI_CODE), when, **sledai)
    grades = [
        {"code": _coding(m.MRBS_BILAG_DOMAIN, domain), "valueString": str(visit[column])}
        for domain, column in BILAG_COLUMNS.items()
        if not _missing(visit.get(column))
    ]
    if grades:
        yield _observation(_coding(m.MRBS_ASSESSMENT, m.BILAG_CODE), when, component=grades)
    if not _missing(visit.get(t.PGA)):
        pga = {"value": float(visit[t.PGA]), "unit": "{score}", "system": m.UCUM, "code": "{score}"}
        yield _observation(_coding(m.MRBS_ASSESSMENT, m.PGA_CODE), when, valueQuantity=pga)
    rescue = _flag(visit.get(t.RESCUE))
    if rescue is not None:
        yield _observation(_coding(m.MRBS_ASSESSMENT, m.RESCUE_CODE), when, valueBoolean=rescue)
