"""MRBS eligibility: each criterion on both sides of its limit, and unknown never as eligible."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from features.eligibility import ELIGIBLE, REASONS, UNKNOWN_PREFIX, screen, screen_frame
from features.record import EXCLUSIONS, INCLUSION
from features.schema import SEPARATOR

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


def test_scalar_screen_agrees_with_frame() -> None:
    record = {**KNOWN_ELIGIBLE, "igg": 350.0, "hiv_positive": None}
    result = screen(record)
    assert result.eligible is False
    assert result.reasons == ("IgG below 400 mg/dL",)
    assert result.unknown == ("hiv_positive",)
    assert screen(KNOWN_ELIGIBLE).eligible is True


BOUNDARIES: list[tuple[str, Any]] = [
    ("age", 18.0),
    ("age", 18.01),
    ("sledai_2k", 3),
    ("sledai_2k", 4),
    ("igg", 399.9),
    ("igg", 400.0),
    ("iga", 9.99),
    ("iga", 10.0),
    ("igg", None),
    *[(spec.name, flag) for spec in (*INCLUSION, *EXCLUSIONS) for flag in (True, False, None)],
]


@pytest.mark.parametrize(("field", "value"), BOUNDARIES)
def test_one_patient_is_screened_exactly_as_a_table_row(field: str, value: Any) -> None:
    record = {**KNOWN_ELIGIBLE, field: value}
    row = screen_frame(pd.DataFrame([record]).astype({field: "object"}))
    one = screen(record)
    expected = row[ELIGIBLE].iloc[0]
    assert one.eligible == (None if pd.isna(expected) else bool(expected))
    unknown = (UNKNOWN_PREFIX + ", ".join(one.unknown),) if one.unknown else ()
    assert SEPARATOR.join(one.reasons + unknown) == (row[REASONS].iloc[0] or "")
