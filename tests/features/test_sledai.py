"""Known-answer, boundary and property tests for the SLEDAI-2K (Gladman 2002)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.sledai import (
    DESCRIPTOR_COLUMNS,
    DESCRIPTOR_WEIGHTS,
    DESCRIPTORS,
    MAX_TOTAL,
    activity_band,
    reconcile_total,
    serology_items,
    sledai_total,
    sledai_totals,
)
from features.tables import SLEDAI_TOTAL


def scored(*present: str) -> dict[str, bool]:
    """All 24 descriptors, those named present and the rest absent."""
    return {name: name in present for name in DESCRIPTORS}


# Hand-computed reference patients: (present descriptors, total, band).
REFERENCE_PATIENTS = {
    # arthritis 4 + rash 2 + low complement 2 + increased DNA binding 2 = 10
    "musculoskeletal_serological": (
        ("arthritis", "rash", "low_complement", "increased_dna_binding"),
        10,
        "moderate",
    ),
    # seizure 8 + proteinuria 4 + haematuria 4 + alopecia 2 + fever 1 = 19
    "neuro_renal": (("seizure", "proteinuria", "haematuria", "alopecia", "fever"), 19, "high"),
    # vasculitis 8 + lupus headache 8 + pyuria 4 + pericarditis 2 = 22
    "vasculitic": (("vasculitis", "lupus_headache", "pyuria", "pericarditis"), 22, "very high"),
    # mucosal ulcers 2 + pleurisy 2 + thrombocytopenia 1 + leukopenia 1 = 6
    "serositis_cytopenia": (
        ("mucosal_ulcers", "pleurisy", "thrombocytopenia", "leukopenia"),
        6,
        "moderate",
    ),
    # leukopenia 1 = 1
    "leukopenia_only": (("leukopenia",), 1, "mild"),
    # nothing present = 0
    "inactive": ((), 0, "none"),
    # 8 x 8 + 6 x 4 + 7 x 2 + 3 x 1 = 64 + 24 + 14 + 3 = 105
    "everything": (DESCRIPTORS, 105, "very high"),
}


class TestWeights:
    def test_weights_sum_to_the_maximal_total(self) -> None:
        # 8 x 8 + 6 x 4 + 7 x 2 + 3 x 1 = 105
        assert sum(DESCRIPTOR_WEIGHTS.values()) == MAX_TOTAL == 105

    def test_descriptors_in_scoring_sheet_order(self) -> None:
        assert DESCRIPTORS == (
            "seizure",
            "psychosis",
            "organic_brain_syndrome",
            "visual_disturbance",
            "cranial_nerve_disorder",
            "lupus_headache",
            "cerebrovascular_accident",
            "vasculitis",
            "arthritis",
            "myositis",
            "urinary_casts",
            "haematuria",
            "proteinuria",
            "pyuria",
            "rash",
            "alopecia",
            "mucosal_ulcers",
            "pleurisy",
            "pericarditis",
            "low_complement",
            "increased_dna_binding",
            "fever",
            "thrombocytopenia",
            "leukopenia",
        )

    def test_weight_groups(self) -> None:
        weights = list(DESCRIPTOR_WEIGHTS.values())
        assert weights == [8] * 8 + [4] * 6 + [2] * 7 + [1] * 3

    def test_columns_carry_the_assessment_prefix(self) -> None:
        assert list(DESCRIPTOR_COLUMNS) == list(DESCRIPTORS)
        assert DESCRIPTOR_COLUMNS["low_complement"] == "sledai_low_complement"
        assert all(col == f"sledai_{name}" for name, col in DESCRIPTOR_COLUMNS.items())

    def test_weights_are_read_only(self) -> None:
        with pytest.raises(TypeError):
            DESCRIPTOR_WEIGHTS["fever"] = 2  # type: ignore[index]


class TestSledaiTotal:
    @pytest.mark.parametrize(
        ("present", "total"),
        [(present, total) for present, total, _ in REFERENCE_PATIENTS.values()],
        ids=list(REFERENCE_PATIENTS),
    )
    def test_reference_patients(self, present: tuple[str, ...], total: int) -> None:
        assert sledai_total(scored(*present)) == total

    def test_accepts_zero_one_integers(self) -> None:
        descriptors = {name: int(value) for name, value in scored("arthritis", "fever").items()}
        # arthritis 4 + fever 1 = 5
        assert sledai_total(descriptors) == 5

    def test_unknown_descriptor_is_named(self) -> None:
        descriptors: dict[str, bool | int] = {**scored(), "nephritis": True}
        with pytest.raises(ValueError, match=r"unknown descriptor.*'nephritis'"):
            sledai_total(descriptors)

    def test_every_missing_descriptor_is_listed(self) -> None:
        descriptors = scored()
        del descriptors["fever"], descriptors["seizure"]
        with pytest.raises(ValueError, match=r"missing descriptor.*seizure, fever"):
            sledai_total(descriptors)

    @pytest.mark.parametrize("value", [2, -1, 0.5])
    def test_value_other_than_zero_one(self, value: int) -> None:
        descriptors: dict[str, bool | int] = {**scored(), "rash": value}
        with pytest.raises(ValueError, match="rash"):
            sledai_total(descriptors)


class TestSledaiTotals:
    def reference_frame(self) -> pd.DataFrame:
        rows = {
            patient: {DESCRIPTOR_COLUMNS[n]: int(v) for n, v in scored(*present).items()}
            for patient, (present, _, _) in REFERENCE_PATIENTS.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index")

    def test_reference_patients(self) -> None:
        totals = sledai_totals(self.reference_frame())
        expected = {patient: total for patient, (_, total, _) in REFERENCE_PATIENTS.items()}
        assert totals.to_dict() == expected
        assert totals.dtype == "Int64"
        assert totals.name == SLEDAI_TOTAL

    def test_row_with_a_missing_descriptor_is_missing(self) -> None:
        frame = self.reference_frame().astype("Int64")
        frame.loc["inactive", DESCRIPTOR_COLUMNS["fever"]] = pd.NA
        totals = sledai_totals(frame)
        assert totals.isna().to_dict() == {p: p == "inactive" for p in REFERENCE_PATIENTS}
        assert totals["everything"] == 105

    def test_float_nan_and_boolean_columns(self) -> None:
        frame = self.reference_frame().astype(float)
        frame.loc["everything", DESCRIPTOR_COLUMNS["seizure"]] = np.nan
        frame[DESCRIPTOR_COLUMNS["rash"]] = frame[DESCRIPTOR_COLUMNS["rash"]].astype(bool)
        totals = sledai_totals(frame)
        assert pd.isna(totals["everything"])
        assert totals["musculoskeletal_serological"] == 10

    def test_other_columns_are_ignored(self) -> None:
        frame = self.reference_frame().assign(pga=1.5, sledai_2k_total=99)
        assert sledai_totals(frame)["neuro_renal"] == 19

    def test_every_missing_column_is_named(self) -> None:
        frame = self.reference_frame().drop(columns=["sledai_fever", "sledai_rash"])
        with pytest.raises(ValueError, match=r"missing column.*sledai_rash, sledai_fever"):
            sledai_totals(frame)

    @pytest.mark.parametrize("bad", [2, -1, 0.5, "yes"])
    def test_value_other_than_zero_one_names_the_column(self, bad: Any) -> None:
        frame = self.reference_frame().astype(object)
        frame.loc["inactive", "sledai_pyuria"] = bad
        with pytest.raises(ValueError, match="sledai_pyuria"):
            sledai_totals(frame)

    def test_empty_frame(self) -> None:
        frame = pd.DataFrame(columns=list(DESCRIPTOR_COLUMNS.values()), dtype="Int64")
        assert sledai_totals(frame).empty


class TestSerologyItems:
    # Lower limits from CLINICAL.md section 6: C3 90 mg/dL, C4 16 mg/dL (BLISS); anti-dsDNA ELISA
    # positive >= 30 IU/mL.
    @pytest.mark.parametrize(
        ("c3", "expected"),
        [(89.9, True), (90.0, False), (90.1, False)],
    )
    def test_c3_around_its_lower_limit(self, c3: float, expected: bool) -> None:
        low, _ = serology_items(c3, 20.0, 90.0, 16.0, 10.0, 30.0)
        assert low is expected

    @pytest.mark.parametrize(
        ("c4", "expected"),
        [(15.9, True), (16.0, False), (16.1, False)],
    )
    def test_c4_around_its_lower_limit(self, c4: float, expected: bool) -> None:
        low, _ = serology_items(120.0, c4, 90.0, 16.0, 10.0, 30.0)
        assert low is expected

    @pytest.mark.parametrize(
        ("anti_dsdna", "expected"),
        [(29.9, False), (30.0, True), (30.1, True)],
    )
    def test_anti_dsdna_around_its_cutoff(self, anti_dsdna: float, expected: bool) -> None:
        _, dna = serology_items(120.0, 20.0, 90.0, 16.0, anti_dsdna, 30.0)
        assert dna is expected

    @pytest.mark.parametrize(
        ("c3", "c4", "expected"),
        [
            (85.0, None, True),  # one known low value is enough
            (None, 12.0, True),
            (85.0, 12.0, True),
            (95.0, 20.0, False),  # both known and normal
            (95.0, None, None),  # normal C3 cannot rule out a low C4
            (None, 20.0, None),
            (None, None, None),
        ],
    )
    def test_low_complement_with_missing_values(
        self, c3: float | None, c4: float | None, expected: bool | None
    ) -> None:
        low, _ = serology_items(c3, c4, 90.0, 16.0, 45.0, 30.0)
        assert low is expected

    def test_missing_limit_or_value_leaves_dna_binding_undecided(self) -> None:
        assert serology_items(95.0, 20.0, 90.0, 16.0, None, 30.0)[1] is None
        assert serology_items(95.0, 20.0, 90.0, 16.0, 45.0, None)[1] is None
        assert serology_items(95.0, 20.0, None, 16.0, 45.0, 30.0)[0] is None

    def test_series_with_per_row_limits(self) -> None:
        index = pd.Index(["P1", "P2", "P3", "P4"], name="patient_id")
        # P4's lab reports a C3 lower limit of 80 mg/dL, so 85 is normal there.
        low, dna = serology_items(
            pd.Series([85.0, 95.0, None, 85.0], index=index),
            pd.Series([20.0, 15.0, 20.0, 20.0], index=index),
            pd.Series([90.0, 90.0, 90.0, 80.0], index=index),
            16.0,
            pd.Series([29.9, 30.0, None, 8.0], index=index),
            np.array([30.0, 30.0, 30.0, 10.0]),
        )
        assert low.name == "sledai_low_complement"
        assert dna.name == "sledai_increased_dna_binding"
        assert low.dtype == "boolean"
        assert low.index.equals(index)
        assert low.tolist() == [True, True, pd.NA, False]
        assert dna.tolist() == [False, True, pd.NA, False]

    def test_numpy_arrays_give_a_range_index(self) -> None:
        low, dna = serology_items(
            np.array([85.0, np.nan]), np.array([np.nan, 20.0]), 90.0, 16.0, [31.0, None], 30.0
        )
        assert isinstance(low.index, pd.RangeIndex)
        assert low.tolist() == [True, pd.NA]
        assert dna.tolist() == [True, pd.NA]

    @pytest.mark.parametrize(
        ("field", "arguments"),
        [
            ("c3", (-1.0, 20.0, 90.0, 16.0, 10.0, 30.0)),
            ("c4_lower_limit", (95.0, 20.0, 90.0, 0.0, 10.0, 30.0)),
            ("anti_dsdna_cutoff", (95.0, 20.0, 90.0, 16.0, 10.0, -30.0)),
            ("anti_dsdna", (95.0, 20.0, 90.0, 16.0, "positive", 30.0)),
        ],
    )
    def test_impossible_inputs_name_the_field(
        self, field: str, arguments: tuple[object, ...]
    ) -> None:
        with pytest.raises(ValueError, match=field):
            serology_items(*arguments)  # type: ignore[call-overload]

    def test_lengths_must_match(self) -> None:
        with pytest.raises(ValueError, match="differ in length"):
            serology_items([85.0, 95.0], [20.0], 90.0, 16.0, 10.0, 30.0)

    def test_series_indexes_must_match(self) -> None:
        with pytest.raises(ValueError, match="c4: its index differs"):
            serology_items(
                pd.Series([85.0], index=["P1"]),
                pd.Series([20.0], index=["P2"]),
                90.0,
                16.0,
                10.0,
                30.0,
            )


class TestReconcileTotal:
    def test_disagreement_uses_the_descriptor_sum_and_says_so(self) -> None:
        total, problem = reconcile_total(12, 10)
        assert total == 10
        assert problem == (
            "sledai_2k_total: given 12 disagrees with the 24 descriptors (sum 10), "
            "the descriptor sum is used"
        )

    @pytest.mark.parametrize(
        ("given_total", "descriptor_total", "expected"),
        [(10, 10, 10), (None, 10, 10), (12, None, 12), (None, None, None), (12.0, 12, 12)],
    )
    def test_no_problem(
        self, given_total: float | None, descriptor_total: float | None, expected: int | None
    ) -> None:
        assert reconcile_total(given_total, descriptor_total) == (expected, None)

    @pytest.mark.parametrize(
        ("given_total", "descriptor_total", "expected", "fallback"),
        [
            (106, 10, 10, "the descriptor sum is used"),
            (7.5, None, None, "no total is available"),
            (-1, None, None, "no total is available"),
        ],
    )
    def test_impossible_given_total_is_reported(
        self, given_total: float, descriptor_total: int | None, expected: int | None, fallback: str
    ) -> None:
        total, problem = reconcile_total(given_total, descriptor_total)
        assert total == expected
        assert problem is not None
        assert problem.startswith(f"sledai_2k_total: given {given_total:g} is not a whole number")
        assert problem.endswith(fallback)

    def test_vectorised(self) -> None:
        index = pd.Index(["P1", "P2", "P3", "P4"], name="patient_id")
        given_total = pd.Series([12.0, None, 8.0, 6.0], index=index)
        descriptor_total = pd.Series([10, 4, pd.NA, 6], index=index, dtype="Int64")
        totals, problems = reconcile_total(given_total, descriptor_total)
        assert totals.dtype == "Int64"
        assert totals.name == SLEDAI_TOTAL
        assert totals.to_dict() == {"P1": 10, "P2": 4, "P3": 8, "P4": 6}
        assert problems.index.equals(index)
        assert problems["P1"] == (
            "sledai_2k_total: given 12 disagrees with the 24 descriptors (sum 10), "
            "the descriptor sum is used"
        )
        assert problems[["P2", "P3", "P4"]].tolist() == [None, None, None]

    def test_missing_everywhere_gives_missing_total(self) -> None:
        totals, problems = reconcile_total(np.array([np.nan]), np.array([np.nan]))
        assert totals.isna().all()
        assert problems.tolist() == [None]

    def test_impossible_descriptor_total_raises(self) -> None:
        with pytest.raises(ValueError, match="descriptor_total: 106"):
            reconcile_total([10], [106])


class TestActivityBand:
    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "none"),
            (1, "mild"),
            (5, "mild"),
            (6, "moderate"),
            (10, "moderate"),
            (11, "high"),
            (19, "high"),
            (20, "very high"),
            (105, "very high"),
        ],
    )
    def test_band_edges(self, total: int, band: str) -> None:
        assert activity_band(total) == band

    @pytest.mark.parametrize(
        ("present", "band"),
        [(present, band) for present, _, band in REFERENCE_PATIENTS.values()],
        ids=list(REFERENCE_PATIENTS),
    )
    def test_reference_patients(self, present: tuple[str, ...], band: str) -> None:
        assert activity_band(sledai_total(scored(*present))) == band

    def test_numpy_integer(self) -> None:
        assert activity_band(np.int64(12)) == "high"  # type: ignore[arg-type]

    @pytest.mark.parametrize("total", [-1, 106, 10.0, True])
    def test_impossible_totals(self, total: int) -> None:
        with pytest.raises(ValueError, match="sledai_2k_total"):
            activity_band(total)


flags = st.fixed_dictionaries({name: st.booleans() for name in DESCRIPTORS})


@given(descriptors=flags)
def test_total_within_range_and_equal_to_weighted_sum(descriptors: dict[str, bool]) -> None:
    total = sledai_total(descriptors)
    assert 0 <= total <= MAX_TOTAL
    assert total == sum(DESCRIPTOR_WEIGHTS[n] for n, present in descriptors.items() if present)
    assert activity_band(total) in {"none", "mild", "moderate", "high", "very high"}


@given(descriptors=flags, switched=st.sampled_from(DESCRIPTORS))
def test_switching_a_descriptor_on_adds_its_weight(
    descriptors: dict[str, bool], switched: str
) -> None:
    off = sledai_total({**descriptors, switched: False})
    on = sledai_total({**descriptors, switched: True})
    assert on - off == DESCRIPTOR_WEIGHTS[switched] > 0


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(st.fixed_dictionaries({n: st.sampled_from([0, 1, None]) for n in DESCRIPTORS}))
)
def test_vectorised_total_agrees_with_scalar(rows: list[dict[str, int | None]]) -> None:
    frame = pd.DataFrame(
        [{DESCRIPTOR_COLUMNS[n]: v for n, v in row.items()} for row in rows],
        columns=list(DESCRIPTOR_COLUMNS.values()),
    )
    totals = sledai_totals(frame)
    for position, row in enumerate(rows):
        if any(value is None for value in row.values()):
            assert pd.isna(totals.iloc[position])
        else:
            complete = {name: int(value) for name, value in row.items() if value is not None}
            assert totals.iloc[position] == sledai_total(complete)


@given(
    c3=st.one_of(st.none(), st.floats(0, 300)),
    c4=st.one_of(st.none(), st.floats(0, 100)),
)
def test_low_complement_is_kleene_or_of_the_two_tests(c3: float | None, c4: float | None) -> None:
    low, _ = serology_items(c3, c4, 90.0, 16.0, None, 30.0)
    c3_low = None if c3 is None else c3 < 90.0
    c4_low = None if c4 is None else c4 < 16.0
    if c3_low or c4_low:
        assert low is True
    elif c3_low is False and c4_low is False:
        assert low is False
    else:
        assert low is None
