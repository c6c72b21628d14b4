"""MRBS eligibility: each criterion on both sides of its limit, and unknown never as eligible."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.columns import from_records
from features.eligibility import ELIGIBLE, REASONS, screen, screen_frame, screen_one
from features.record import EXCLUSIONS, INCLUSION

KNOWN_ELIGIBLE: dict[str, Any] = {
    "age": 30.0,
    "sledai_2k": 8,
    "igg": 1200.0,
    "iga": 200.0,
    **{spec.name: True for spec in INCLUSION},
    **{spec.name: False for spec in EXCLUSIONS},
}


def _screen(**overrides: Any) -> tuple[bool | None, str]:
    frame = screen_frame(pd.DataFrame([{**KNOWN_ELIGIBLE, **overrides}]))
    value = frame[ELIGIBLE].iloc[0]
    return (None if pd.isna(value) else bool(value)), str(frame[REASONS].iloc[0])


def test_fully_known_patient_is_eligible() -> None:
    assert _screen() == (True, "")


@pytest.mark.parametrize(
    ("field", "inside", "outside", "reason"),
    [
        ("age", 18.01, 18.0, "age 18 or under"),
        ("sledai_2k", 4, 3, "inactive disease (SLEDAI-2K below 4)"),
        ("igg", 400.0, 399.9, "IgG below 400 mg/dL"),
        ("iga", 10.0, 9.9, "IgA below 10 mg/dL"),
    ],
)
def test_numeric_limits_on_both_sides(
    field: str, inside: float, outside: float, reason: str
) -> None:
    assert _screen(**{field: inside}) == (True, "")
    assert _screen(**{field: outside}) == (False, reason)


@pytest.mark.parametrize("spec", EXCLUSIONS, ids=lambda s: s.name)
def test_each_exclusion_excludes_with_its_reason(spec: Any) -> None:
    eligible, reasons = _screen(**{spec.name: True})
    assert eligible is False
    assert reasons == spec.description


@pytest.mark.parametrize("spec", INCLUSION, ids=lambda s: s.name)
def test_each_unmet_inclusion_excludes(spec: Any) -> None:
    eligible, reasons = _screen(**{spec.name: False})
    assert eligible is False
    assert reasons.startswith("not met: ")


def test_every_reason_is_listed() -> None:
    eligible, reasons = _screen(igg=300.0, prior_rituximab=True, hbcab_positive=True, age=17.0)
    assert eligible is False
    assert reasons.split("; ") == [
        "age 18 or under",
        "IgG below 400 mg/dL",
        "Any rituximab treatment.",
        "Hepatitis B core antibody positive.",
    ]


def test_unknown_is_reported_not_eligible() -> None:
    eligible, reasons = _screen(hiv_positive=None, iga=None)
    assert eligible is None
    assert reasons == "unknown: iga, hiv_positive"


def test_failing_and_unknown_both_reported() -> None:
    eligible, reasons = _screen(prior_cyclophosphamide=True, hiv_positive=None)
    assert eligible is False
    assert reasons == "Any cyclophosphamide treatment.; unknown: hiv_positive"


def test_absent_column_is_unknown_for_every_row() -> None:
    frame = pd.DataFrame([KNOWN_ELIGIBLE, KNOWN_ELIGIBLE]).drop(columns=["suicide_risk"])
    out = screen_frame(frame)
    assert out[ELIGIBLE].isna().all()
    assert (out[REASONS] == "unknown: suicide_risk").all()


def test_one_patient_gets_every_reason_and_every_unknown_field() -> None:
    result = screen_one({**KNOWN_ELIGIBLE, "igg": 350.0, "hiv_positive": None})
    assert result.eligible.tolist() == [False]
    assert result.reasons(0) == ("IgG below 400 mg/dL",)
    assert result.unknown_fields(0) == ("hiv_positive",)
    assert screen_one(KNOWN_ELIGIBLE).eligible.tolist() == [True]
    assert screen_one({**KNOWN_ELIGIBLE, "hiv_positive": None}).eligible.tolist() == [None]


def test_reasons_and_unknown_fields_render_as_table_text() -> None:
    records = [
        KNOWN_ELIGIBLE,
        {**KNOWN_ELIGIBLE, "igg": 350.0, "prior_rituximab": True, "iga": None},
        {**KNOWN_ELIGIBLE, "hiv_positive": None, "iga": None},
    ]
    result = screen(from_records(records))
    assert result.reasons_text().tolist() == [
        "",
        "IgG below 400 mg/dL; Any rituximab treatment.",
        "",
    ]
    assert result.unknown_text().tolist() == ["", "iga", "iga; hiv_positive"]
    cohort = screen_frame(pd.DataFrame(records).astype(object))
    assert cohort[REASONS].tolist() == [
        "",
        "IgG below 400 mg/dL; Any rituximab treatment.; unknown: iga",
        "unknown: iga, hiv_positive",
    ]
    assert cohort[ELIGIBLE].tolist() == [True, False, pd.NA]


def test_columns_without_a_criterions_field_leave_it_unknown() -> None:
    result = screen({"age": np.array([30.0, 12.0])})
    assert result.eligible.tolist() == [None, False]
    assert result.reasons(1) == ("age 18 or under",)
    assert "suicide_risk" in result.unknown_fields(0)
