"""Unit conversions: known answers and properties (round trip, identity, monotonicity)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features import units
from features.record import FIELDS
from features.units import UnitError

MULTI_UNIT = [spec for spec in FIELDS if spec.has_alternative_units]
values = st.floats(min_value=0.0, max_value=1e5, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("unit_set", "symbol", "value", "canonical"),
    [
        (units.PROTEIN_MG_DL, "g/L", 0.85, 85.0),  # C3 0.85 g/L = 85 mg/dL
        (units.PROTEIN_MG_DL, "mg/dL", 85.0, 85.0),
        (units.CREATININE, "mg/dL", 1.0, 88.4),  # creatinine mg/dL x 88.4 = umol/L
        (units.PROTEINURIA, "mg/mmol", 113.0, 1.0),  # UPCR 1 g/g = 113 mg/mmol
        (units.PROTEINURIA, "mg/24h", 500.0, 0.5),
        (units.PROTEINURIA, "g/g", 0.7, 0.7),
        (units.CELLS_10E9_L, "10^3/uL", 150.0, 150.0),
    ],
)
def test_known_conversions(
    unit_set: units.UnitSet, symbol: str, value: float, canonical: float
) -> None:
    converted = unit_set.lookup(symbol, field="x").to_canonical(value)
    assert converted == pytest.approx(canonical)


@pytest.mark.parametrize("spelling", ["g/l", "G/L", " g / L ", "g/L"])
def test_unit_spelling_does_not_matter(spelling: str) -> None:
    assert units.PROTEIN_MG_DL.lookup(spelling, field="c3").factor == 100.0


def test_micro_sign_spellings_are_one_unit() -> None:
    for spelling in ("µmol/L", "μmol/L", "umol/l"):
        assert units.CREATININE.lookup(spelling, field="creatinine").factor == 1.0


def test_unknown_unit_names_field_and_accepted_units() -> None:
    with pytest.raises(
        UnitError, match=r"c3: unit 'mmol/L' is not accepted \(accepted: mg/dL, g/L\)"
    ):
        units.PROTEIN_MG_DL.lookup("mmol/L", field="c3")


def test_vectorised_factors_match_scalar_lookup() -> None:
    factors, unknown = units.PROTEINURIA.factors(
        np.array(["g/24h", "mg/mmol", None, "bogus", "G/G"], dtype=object), field="proteinuria"
    )
    assert factors[:3].tolist() == pytest.approx([1.0, 1 / 113.0, 1.0])
    assert math.isnan(factors[3])
    assert factors[4] == 1.0
    assert unknown.tolist() == [False, False, False, True, False]


@pytest.mark.parametrize("spec", MULTI_UNIT, ids=lambda s: s.name)
@given(value=values)
def test_round_trip(spec, value: float) -> None:  # type: ignore[no-untyped-def]
    for unit in spec.units.all:
        assert unit.from_canonical(unit.to_canonical(value)) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("spec", MULTI_UNIT, ids=lambda s: s.name)
@given(value=values)
def test_canonical_unit_is_identity(spec, value: float) -> None:  # type: ignore[no-untyped-def]
    assert spec.units.canonical.to_canonical(value) == value


@pytest.mark.parametrize("spec", MULTI_UNIT, ids=lambda s: s.name)
@given(a=values, b=values)
def test_conversion_is_monotone(spec, a: float, b: float) -> None:  # type: ignore[no-untyped-def]
    low, high = sorted((a, b))
    for unit in spec.units.all:
        assert unit.to_canonical(low) <= unit.to_canonical(high)
