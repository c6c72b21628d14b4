"""The FHIR mapping: known answers, window and unit boundaries, refusals with their FHIRPath
expression, and one cohort built identically from its tables and from its Bulk FHIR export."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.cohort import build_cohort
from features.fhir import mapping as m
from features.fhir.read import (
    bundle_entries,
    completed_years,
    duration_years,
    loads,
    parse,
    record_at,
    validate_resource,
)
from features.schema import canonical_values, patient_model
from simulator import simulate, write_tables

INDEX = dt.date(2025, 6, 2)


def _bundle() -> dict[str, Any]:
    text = resources.files("serving.http").joinpath("example_patient.fhir.json").read_text()
    return dict(json.loads(text))


def _example_json() -> dict[str, Any]:
    text = resources.files("serving.http").joinpath("example_patient.json").read_text()
    return dict(json.loads(text))


def _record(bundle: dict[str, Any], index: dt.date = INDEX) -> Any:
    entries, issues = bundle_entries(bundle)
    assert not issues
    return record_at(parse(entries), index)


def _changed(resource_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    bundle = _bundle()
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == resource_id:
            change(entry["resource"])
    return bundle


def _position(bundle: dict[str, Any], resource_id: str) -> int:
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"].get("id") == resource_id)


def test_the_example_bundle_gives_the_example_record_exactly() -> None:
    extraction = _record(_bundle())
    assert extraction.issues == []
    model = patient_model()
    from_fhir = canonical_values(model.model_validate(extraction.values))
    assert from_fhir == canonical_values(model.model_validate(_example_json()))


def test_each_field_names_the_resource_that_supplied_it() -> None:
    sources = {name: s.reference for name, s in _record(_bundle()).sources.items()}
    assert sources["c3"] == "Observation/c3"
    assert sources["anti_dsdna_cutoff"] == "Observation/anti-dsdna"
    assert sources["sledai_2k"] == sources["mucocutaneous_involvement"] == "Observation/sledai-2k"
    assert sources["age"] == sources["sex"] == "Patient/example"
    assert sources["disease_duration"] == "Condition/sle"
    assert sources["prednisone_mg_day"] == "MedicationStatement/prednisone"
    assert sources["hiv_positive"] == "Condition/hiv-positive"


@pytest.mark.parametrize(
    ("born", "on", "years"),
    [
        (dt.date(1991, 3, 15), dt.date(2025, 3, 14), 33),  # the day before the birthday
        (dt.date(1991, 3, 15), dt.date(2025, 3, 15), 34),  # the birthday
        (dt.date(2000, 2, 29), dt.date(2025, 2, 28), 24),
        (dt.date(2000, 2, 29), dt.date(2025, 3, 1), 25),
    ],
)
def test_age_is_in_completed_years(born: dt.date, on: dt.date, years: int) -> None:
    assert completed_years(born, on) == years


def test_disease_duration_is_in_years_to_one_decimal() -> None:
    assert duration_years(dt.date(2023, 12, 2), INDEX) == 1.5  # 548 days
    assert duration_years(INDEX, INDEX) == 0.0
    assert duration_years(INDEX - dt.timedelta(days=3653), INDEX) == pytest.approx(10.0, abs=1e-12)


@pytest.mark.parametrize(
    ("days_before", "kept"), [(0, True), (m.BASELINE_WINDOW_DAYS, True), (91, False), (-1, False)]
)
def test_values_count_within_the_baseline_window_only(days_before: int, kept: bool) -> None:
    day = (INDEX - dt.timedelta(days=days_before)).isoformat()
    extraction = _record(_changed("iga", lambda r: r.update(effectiveDateTime=day)))
    assert ("iga" in extraction.values) is kept


@pytest.mark.parametrize(
    ("field", "resource_id", "ucum", "value", "record_unit"),
    [
        ("c3", "c3", "mg/dL", 72.0, "mg/dL"),
        ("anti_dsdna", "anti-dsdna", "U/mL", 120.0, "U/mL"),
        ("proteinuria", "proteinuria", "mg/(24.h)", 300.0, "mg/24h"),
    ],
)
def test_ucum_codes_map_to_the_record_spelling(
    field: str, resource_id: str, ucum: str, value: float, record_unit: str
) -> None:
    def change(resource: dict[str, Any]) -> None:
        resource["valueQuantity"].update(value=value, code=ucum, unit=ucum)
        for limit in resource.get("referenceRange", []):
            limit["high"].update(code=ucum, unit=ucum)

    extraction = _record(_changed(resource_id, change))
    assert extraction.values[field] == value
    assert extraction.values[f"{field}_unit"] == record_unit


@pytest.mark.parametrize("code", ["IU/mL", "10^9/L", "mg/dl", "g/l"])
def test_printed_symbols_that_are_not_ucum_codes_are_refused(code: str) -> None:
    bundle = _changed("c3", lambda r: r["valueQuantity"].update(code=code))
    extraction = _record(bundle)
    (issue,) = extraction.issues
    position = _position(bundle, "c3")
    assert issue.expression == f"Bundle.entry[{position}].resource.valueQuantity.code"
    assert issue.code == "code-invalid"
    assert "c3" not in extraction.values


@pytest.mark.parametrize(
    ("loinc", "code"),
    [("11013-0", "not-supported"), ("81716-3", "not-supported"), ("4420-8", "code-invalid")],
)
def test_titers_line_blots_and_wrong_codes_are_refused(loinc: str, code: str) -> None:
    bundle = _changed("anti-dsdna", lambda r: r["code"]["coding"][0].update(code=loinc))
    (issue,) = _record(bundle).issues
    assert issue.code == code
    assert issue.expression.endswith(".code")


def test_two_results_on_the_same_day_conflict_unless_they_agree() -> None:
    bundle = _bundle()
    twin = json.loads(json.dumps(bundle["entry"][_position(bundle, "c3")]))
    twin["resource"]["id"] = "c3-mg"
    twin["resource"]["valueQuantity"].update(value=72.0, code="mg/dL", unit="mg/dL")
    bundle["entry"].append(twin)
    assert _record(bundle).issues == []  # 0.72 g/L and 72 mg/dL are one result
    twin["resource"]["valueQuantity"]["value"] = 95.0
    (issue,) = _record(bundle).issues
    assert issue.code == "conflict"
    assert "c3" not in _record(bundle).values


def test_a_later_result_wins_over_an_earlier_one() -> None:
    bundle = _bundle()
    older = json.loads(json.dumps(bundle["entry"][_position(bundle, "c3")]))
    older["resource"].update(id="c3-old", effectiveDateTime="2025-04-01")
    older["resource"]["valueQuantity"]["value"] = 1.2
    bundle["entry"].append(older)
    assert _record(bundle).values["c3"] == 0.72


def test_a_sledai_total_that_disagrees_with_its_descriptors_is_replaced_and_reported() -> None:
    bundle = _changed("sledai-2k", lambda r: r.update(valueInteger=20))
    extraction = _record(bundle)
    assert extraction.values["sledai_2k"] == 12
    (issue,) = extraction.issues
    assert (issue.code, issue.severity) == ("conflict", "warning")


@pytest.mark.parametrize(
    ("rxnorm", "dose", "frequency", "period_unit", "expected"),
    [
        ("8640", 10, 1, "d", 10.0),
        ("6902", 8, 2, "d", 20.0),  # methylprednisolone: 16 mg x 1.25
        ("8640", 35, 1, "wk", 5.0),
    ],
)
def test_glucocorticoids_become_prednisone_equivalent_mg_per_day(
    rxnorm: str, dose: float, frequency: int, period_unit: str, expected: float
) -> None:
    def change(resource: dict[str, Any]) -> None:
        resource["medicationCodeableConcept"]["coding"][0]["code"] = rxnorm
        dosage = resource["dosage"][0]
        dosage["doseAndRate"][0]["doseQuantity"]["value"] = dose
        dosage["timing"]["repeat"].update(frequency=frequency, periodUnit=period_unit)

    assert _record(_changed("prednisone", change)).values["prednisone_mg_day"] == pytest.approx(
        expected, rel=1e-12
    )


def test_a_dose_without_its_timing_is_refused_at_its_expression() -> None:
    bundle = _changed("prednisone", lambda r: r["dosage"][0].pop("timing"))
    (issue,) = _record(bundle).issues
    position = _position(bundle, "prednisone")
    assert issue.expression == f"Bundle.entry[{position}].resource.dosage[0].timing.repeat"


def test_a_refuted_condition_is_a_known_absence_and_no_condition_is_unknown() -> None:
    values = _record(_bundle()).values
    assert values["hiv_positive"] is False
    bundle = _bundle()
    del bundle["entry"][_position(bundle, "hiv-positive")]
    assert "hiv_positive" not in _record(bundle).values


def test_a_structurally_invalid_resource_is_reported_without_its_value() -> None:
    raw = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"value": "SENTINEL-1234"},
    }
    model, issues = validate_resource(raw, "Bundle.entry[3].resource")
    assert model is None
    assert issues[0].expression == "Bundle.entry[3].resource.valueQuantity.value"
    assert "SENTINEL" not in issues[0].message


@pytest.mark.parametrize("kind", ["Quantity", "Element", "FHIRAbstractModel", "observation", ""])
def test_what_is_not_a_resource_type_is_refused(kind: str) -> None:
    model, issues = validate_resource({"resourceType": kind}, "Bundle.entry[0].resource")
    assert model is None
    assert [issue.code for issue in issues] == ["not-supported"]


@pytest.mark.parametrize("text", ['{"value": NaN}', '{"value": Infinity}', '{"value": -Infinity}'])
def test_json_numbers_fhir_cannot_carry_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a JSON number"):
        loads(text)


def test_bundles_are_refused_when_not_bundles_or_too_large() -> None:
    assert bundle_entries({"resourceType": "Patient"})[1][0].code == "structure"
    huge = {"resourceType": "Bundle", "entry": [{"resource": {}}] * (m.MAX_BUNDLE_ENTRIES + 1)}
    assert bundle_entries(huge)[1][0].code == "too-costly"


def test_every_resource_of_an_export_validates_with_the_r4b_models(tmp_path: Path) -> None:
    write_tables(simulate(20, seed=5), tmp_path, fmt="fhir")
    count = 0
    for path in tmp_path.glob("*.ndjson"):
        for number, line in enumerate(path.read_text().splitlines()):
            model, issues = validate_resource(json.loads(line), f"{path.name}:{number}")
            assert not issues, issues
            assert model is not None
            count += 1
    assert count > 20 * 20


def test_a_cohort_from_its_tables_and_from_its_fhir_export_is_identical(tmp_path: Path) -> None:
    cohort = simulate(60, seed=11)
    write_tables(cohort, tmp_path / "tables", fmt="csv")
    write_tables(cohort, tmp_path / "fhir", fmt="fhir")
    from_tables = build_cohort(tmp_path / "tables")
    from_fhir = build_cohort(tmp_path / "fhir")
    pd.testing.assert_frame_equal(from_fhir.table, from_tables.table)
    assert from_fhir.summary == from_tables.summary
    assert from_tables.summary.label["responder"] > 0  # labels came out of the export too


def test_what_an_export_cannot_use_is_counted_in_the_summary(tmp_path: Path) -> None:
    write_tables(simulate(10, seed=2), tmp_path, fmt="fhir")
    observations = tmp_path / "Observation.ndjson"
    lines = observations.read_text().splitlines()
    bad_unit = json.loads(next(line for line in lines if '"4485-9"' in line))
    bad_unit["valueQuantity"]["code"] = "mg/dl"
    extra = ["not json", json.dumps(bad_unit)]
    observations.write_text("\n".join([*lines, *extra]) + "\n")
    dropped = build_cohort(tmp_path).summary.dropped
    assert dropped["Observation.ndjson: lines that are not JSON"] == 1
    assert any(k.startswith("Observation.ndjson: c3: unit must be a UCUM code") for k in dropped)
