"""The record declaration's two faces: the pydantic model and the table validation."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.record import FIELDS, REQUIRED, field
from features.schema import (
    FLAGS,
    PROBLEMS,
    MissingColumnsError,
    canonical_values,
    patient_model,
    text_per_row,
    validate_table,
)

EXAMPLE: dict[str, Any] = {
    "sledai_2k": 10,
    "c3": 85.0,
    "c4": 12.0,
    "igg": 1600.0,
    "anti_dsdna": 80.0,
    "anti_dsdna_cutoff": 30.0,
    "age": 38.0,
    "sex": "F",
}

RANGED = [spec for spec in FIELDS if spec.hard is not None]


def _table(**overrides: Any) -> pd.DataFrame:
    return pd.DataFrame([{**EXAMPLE, **overrides}])


def test_every_field_appears_once_in_the_model() -> None:
    model_fields = set(patient_model().model_fields)
    for spec in FIELDS:
        assert spec.name in model_fields
        assert (spec.unit_column in model_fields) == spec.has_alternative_units


def test_required_fields_are_required() -> None:
    schema = patient_model().model_json_schema()
    assert set(schema["required"]) == set(REQUIRED)


def test_model_carries_unit_range_and_source_in_json_schema() -> None:
    properties = patient_model().model_json_schema()["properties"]
    c3 = properties["c3"]
    assert c3["unit"] == "mg/dL"
    assert c3["accepted_units"] == ["mg/dL", "g/L"]
    assert c3["plausible_range"] == [5, 500]
    assert "source" in c3
    assert properties["sledai_2k"]["maximum"] == 105


def test_model_converts_to_canonical_unit() -> None:
    record = patient_model()(**{**EXAMPLE, "c3": 0.85, "c3_unit": "g/L"})
    assert canonical_values(record)["c3"] == pytest.approx(85.0)


def test_implausible_value_for_declared_unit_names_field_unit_and_reason() -> None:
    with pytest.raises(ValidationError) as caught:
        patient_model()(**{**EXAMPLE, "c3": 85.0, "c3_unit": "g/L"})
    (error,) = caught.value.errors()
    assert error["loc"] == ("c3",)
    assert "given in g/L" in error["msg"]
    assert "plausible range 5-500 mg/dL" in error["msg"]


def test_model_errors_do_not_echo_values() -> None:
    with pytest.raises(ValidationError) as caught:
        patient_model()(**{**EXAMPLE, "igg": -123456.0})
    assert "123456" not in str(caught.value)


def test_model_rejects_unknown_fields_and_reports_every_field() -> None:
    with pytest.raises(ValidationError) as caught:
        patient_model()(**{**EXAMPLE, "sledai_2k": 106, "c4": -1, "colour": "blue"})
    locations = {error["loc"][0] for error in caught.value.errors()}
    assert locations == {"sledai_2k", "c4", "colour"}


@pytest.mark.parametrize("spec", RANGED, ids=lambda s: s.name)
def test_hard_range_boundaries_in_table(spec: Any) -> None:
    low, high = spec.hard
    step = 1.0 if spec.kind == "integer" else 1e-6 * max(1.0, abs(high))
    inside = validate_table(pd.DataFrame([{**EXAMPLE, spec.name: v} for v in (low, high)])).frame
    assert inside[PROBLEMS].tolist() == ["", ""]
    outside = validate_table(
        pd.DataFrame([{**EXAMPLE, spec.name: v} for v in (low - step, high + step)])
    )
    for problem in outside.frame[PROBLEMS]:
        assert problem.startswith(f"{spec.name}: outside the plausible range")
    assert outside.frame[spec.name].isna().all(), "a rejected value must not reach a model"


@pytest.mark.parametrize("spec", RANGED, ids=lambda s: s.name)
def test_hard_range_boundaries_in_model(spec: Any) -> None:
    low, high = spec.hard
    step = 1 if spec.kind == "integer" else 1e-6 * max(1.0, abs(high))
    model = patient_model()
    for value in (low, high):
        model(**{**EXAMPLE, spec.name: value})
    for value in (low - step, high + step):
        with pytest.raises(ValidationError):
            model(**{**EXAMPLE, spec.name: value})


def test_soft_range_is_flagged_not_rejected() -> None:
    frame = validate_table(_table(igg=380.0)).frame  # below the BLISS population, still plausible
    assert frame[PROBLEMS].iloc[0] == ""
    assert frame[FLAGS].iloc[0] == "igg: outside the training population's range 400-3500 mg/dL"
    assert frame["igg"].iloc[0] == 380.0


def test_missing_required_columns_are_all_named() -> None:
    with pytest.raises(MissingColumnsError, match="missing required column\\(s\\): c4, igg"):
        validate_table(_table().drop(columns=["c4", "igg"]))


def test_table_converts_mixed_units_per_row() -> None:
    frame = pd.DataFrame(
        [{**EXAMPLE, "c3": 0.85, "c3_unit": "g/L"}, {**EXAMPLE, "c3": 85, "c3_unit": "mg/dL"}]
    )
    out = validate_table(frame).frame
    assert out["c3"].tolist() == pytest.approx([85.0, 85.0])
    assert "c3_unit" not in out.columns


def test_table_problems_per_row() -> None:
    frame = pd.DataFrame(
        [
            {**EXAMPLE, "c3": "abc"},
            {**EXAMPLE, "c3": 85, "c3_unit": "g/L"},
            {**EXAMPLE, "c3": 1, "c3_unit": "mmol/L"},
            {**EXAMPLE, "sledai_2k": 10.5},
            {**EXAMPLE, "sex": "x"},
            {**EXAMPLE, "c4": None},
            EXAMPLE,
        ]
    )
    problems = validate_table(frame).frame[PROBLEMS].tolist()
    assert problems == [
        "c3: not a number",
        "c3: outside the plausible range 5-500 mg/dL (given in g/L, converted to mg/dL)",
        "c3: unit not accepted (accepted: mg/dL, g/L)",
        "sledai_2k: must be a whole number",
        "sex: not one of the accepted values (F, M)",
        "c4: required value missing",
        "",
    ]


def test_several_problems_in_a_row_are_listed_once_in_order() -> None:
    bad = {**EXAMPLE, "c3": "abc", "c4": None, "sex": "x", "igg": 99999.0, "age": 15.5}
    out = validate_table(pd.DataFrame([bad, EXAMPLE, bad, _table(c4=None).iloc[0]])).frame
    # Parsing problems in declaration order, then the schema's; c3's absence is not reported
    # again, its precise reason is.
    expected = (
        "c3: not a number; sex: not one of the accepted values (F, M); c4: required value missing; "
        "igg: outside the plausible range 50-8000 mg/dL"
    )
    assert out[PROBLEMS].tolist() == [expected, "", expected, "c4: required value missing"]
    age = "age: outside the training population's range 18-75 years"
    assert out[FLAGS].tolist() == [age, "", age, ""]


def test_text_per_row_renders_each_pattern_once() -> None:
    marks = np.array([[True, False, True], [False, False, False], [True, False, True]])
    calls: list[list[int]] = []

    def render(columns: list[int]) -> str:
        calls.append(columns)
        return "+".join("abc"[c] for c in columns)

    assert text_per_row(marks, render).tolist() == ["a+c", "", "a+c"]
    assert sorted(calls) == [[], [0, 2]]
    assert text_per_row(np.zeros((2, 0), dtype=bool), render).tolist() == ["", ""]


def test_booleans_and_categories_accept_common_spellings() -> None:
    frame = pd.DataFrame(
        [
            {**EXAMPLE, "sex": "female", "smoking_current": "yes", "hiv_positive": "0"},
            {**EXAMPLE, "sex": "M", "smoking_current": "FALSE", "hiv_positive": None},
        ]
    )
    out = validate_table(frame).frame
    assert out["sex"].tolist() == ["F", "M"]
    assert out["smoking_current"].tolist() == [True, False]
    assert out["hiv_positive"].iloc[0] == False  # noqa: E712 (pandas nullable boolean)
    assert pd.isna(out["hiv_positive"].iloc[1])


def test_other_columns_pass_through_in_order() -> None:
    frame = _table(patient_id="P1", site="S01")
    out = validate_table(frame).frame
    assert out["patient_id"].iloc[0] == "P1"
    assert list(out.columns[:2]) == ["patient_id", "site"]


def test_field_lookup_names_known_fields() -> None:
    assert field("c3").unit == "mg/dL"
    with pytest.raises(KeyError, match="unknown field 'c5'"):
        field("c5")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("age", False),
        ("age", "38"),
        ("c3", "0.72"),
        ("sledai_2k", True),
        ("sledai_2k", "10"),
        ("sledai_2k", 10.5),
        ("renal_involvement", 1),
        ("renal_involvement", "yes"),
        ("sex", 1),
    ],
)
def test_a_clinical_field_takes_exactly_its_json_type(name: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        patient_model().model_validate_json(json.dumps({**EXAMPLE, name: value}))
    assert [error["loc"][0] for error in caught.value.errors()] == [name]


def test_whole_numbers_may_be_written_as_json_floats() -> None:
    record = patient_model().model_validate_json(json.dumps({**EXAMPLE, "sledai_2k": 10.0}))
    assert record.sledai_2k == 10
    assert isinstance(record.sledai_2k, int)


@pytest.mark.parametrize(("unit", "c3"), [("g/l", 85.0), ("g/L ", 85.0), (" G/L", 85.0)])
def test_units_and_categories_are_read_as_in_tables(unit: str, c3: float) -> None:
    body = {**EXAMPLE, "c3": 0.85, "c3_unit": unit, "sex": "f"}
    record = patient_model().model_validate(body)
    assert record.c3 == pytest.approx(c3)
    assert record.sex == "F"
    table = validate_table(pd.DataFrame([body])).frame
    assert table["c3"].tolist() == pytest.approx([c3])
    assert table["sex"].tolist() == ["F"]


def test_a_refused_unit_is_the_only_problem_reported_for_its_value() -> None:
    with pytest.raises(ValidationError) as caught:
        patient_model().model_validate({**EXAMPLE, "c3": 987654.321, "c3_unit": "mmol/L"})
    errors = caught.value.errors()
    assert [error["loc"][0] for error in errors] == ["c3_unit"]
    assert "not accepted" in errors[0]["msg"]
