"""Known-answer, boundary and agreement tests for the SLE Responder Index (Furie 2009)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.sri import (
    ASSESSMENT_COLUMNS,
    BILAG_COLUMNS,
    BILAG_DOMAINS,
    BILAG_GRADES,
    MISSING_BASELINE,
    MISSING_WEEK48,
    NEW_BILAG_A,
    NEW_BILAG_B_OVER_ONE,
    PGA_WORSENED,
    REASONS,
    RESCUE_THERAPY,
    SLEDAI_COLUMN,
    SLEDAI_REDUCTION_BELOW_K,
    Assessment,
    SriResult,
    sri,
    sri_frame,
)
from features.tables import PGA, RESCUE

QUIET = dict.fromkeys(BILAG_DOMAINS, "D")


def visit(sledai_2k: int, pga: float, **grades: str) -> Assessment:
    """An assessment with the named BILAG grades and every other domain D (inactive)."""
    return Assessment(sledai_2k=sledai_2k, bilag={**QUIET, **grades}, pga=pga)


RESPONDER = SriResult(responder=True, reasons=())

# Reference patient with active arthritis and rash at baseline.
# Baseline SLEDAI-2K: arthritis 4 + rash 2 + low complement 2 + increased DNA binding 2 = 10.
# Week 48 SLEDAI-2K: low complement 2 + increased DNA binding 2 = 4; reduction 10 - 4 = 6 >= 4.
# BILAG musculoskeletal B -> D and mucocutaneous B -> C improve; no new A or B.
# PGA 1.5 -> 0.8: a fall of 0.7, not a rise of 0.30 or more. Responder.
BASELINE = visit(10, 1.5, musculoskeletal="B", mucocutaneous="B")
IMPROVED = visit(4, 0.8, musculoskeletal="D", mucocutaneous="C")


class TestReferencePatients:
    def test_improved_patient_responds(self) -> None:
        assert sri(BASELINE, IMPROVED) == RESPONDER

    def test_failing_every_component_reports_every_reason(self) -> None:
        # SLEDAI 10 -> 8: reduction 2 < 4.
        # renal D -> A: a new A. haematological C -> B and constitutional E -> B: two new Bs.
        # PGA 1.5 -> 2.0: rise 0.5 >= 0.30.
        worse = visit(8, 2.0, renal="A", haematological="B", constitutional="B")
        baseline = visit(10, 1.5, haematological="C", constitutional="E")
        assert sri(baseline, worse) == SriResult(
            responder=False,
            reasons=(SLEDAI_REDUCTION_BELOW_K, NEW_BILAG_A, NEW_BILAG_B_OVER_ONE, PGA_WORSENED),
        )

    def test_reasons_come_from_the_closed_vocabulary(self) -> None:
        assert REASONS == (
            "missing_baseline",
            "missing_week48",
            "rescue_therapy",
            "sledai_reduction_below_k",
            "new_bilag_a",
            "new_bilag_b_over_one",
            "pga_worsened",
        )


class TestSledaiReduction:
    @pytest.mark.parametrize(
        ("week48_sledai", "expected"),
        [
            (7, SriResult(False, (SLEDAI_REDUCTION_BELOW_K,))),  # 10 - 7 = 3 < 4
            (6, RESPONDER),  # 10 - 6 = 4
            (5, RESPONDER),  # 10 - 5 = 5
        ],
    )
    def test_sri4_around_four_points(self, week48_sledai: int, expected: SriResult) -> None:
        assert sri(BASELINE, dataclasses.replace(IMPROVED, sledai_2k=week48_sledai)) == expected

    @pytest.mark.parametrize("k", [4, 5, 6, 7, 8])
    def test_sri_k_around_k_points(self, k: int) -> None:
        baseline = dataclasses.replace(BASELINE, sledai_2k=20)
        just_short = dataclasses.replace(IMPROVED, sledai_2k=20 - (k - 1))
        just_enough = dataclasses.replace(IMPROVED, sledai_2k=20 - k)
        assert sri(baseline, just_short, k=k).reasons == (SLEDAI_REDUCTION_BELOW_K,)
        assert sri(baseline, just_enough, k=k) == RESPONDER

    def test_sri6_is_stricter_than_sri4(self) -> None:
        # 10 - 5 = 5: enough for SRI-4 and SRI-5, not for SRI-6.
        week48 = dataclasses.replace(IMPROVED, sledai_2k=5)
        assert sri(BASELINE, week48, k=5).responder
        assert not sri(BASELINE, week48, k=6).responder

    def test_worsening_sledai(self) -> None:
        # 10 -> 12: a rise of 2 is a reduction of -2 < 4.
        week48 = dataclasses.replace(IMPROVED, sledai_2k=12)
        assert sri(BASELINE, week48).reasons == (SLEDAI_REDUCTION_BELOW_K,)

    @pytest.mark.parametrize("k", [3, 9, 0, True, 4.0, "4"])
    def test_k_outside_4_to_8(self, k: Any) -> None:
        with pytest.raises(ValueError, match="k: "):
            sri(BASELINE, IMPROVED, k=k)
        with pytest.raises(ValueError, match="k: "):
            sri_frame(frame([BASELINE]), frame([IMPROVED], rescue=[False]), k=k)


class TestBilag:
    def test_one_new_b_is_allowed(self) -> None:
        # renal C -> B: one new B.
        baseline = dataclasses.replace(BASELINE, bilag={**BASELINE.bilag, "renal": "C"})
        week48 = dataclasses.replace(IMPROVED, bilag={**IMPROVED.bilag, "renal": "B"})
        assert sri(baseline, week48) == RESPONDER

    def test_two_new_bs_fail(self) -> None:
        # renal C -> B and haematological D -> B: two new Bs.
        baseline = dataclasses.replace(BASELINE, bilag={**BASELINE.bilag, "renal": "C"})
        week48 = dataclasses.replace(
            IMPROVED, bilag={**IMPROVED.bilag, "renal": "B", "haematological": "B"}
        )
        assert sri(baseline, week48).reasons == (NEW_BILAG_B_OVER_ONE,)

    def test_e_to_b_counts_as_new_b(self) -> None:
        # ophthalmic E -> B and gastrointestinal E -> B: two new Bs.
        baseline = dataclasses.replace(
            BASELINE, bilag={**BASELINE.bilag, "ophthalmic": "E", "gastrointestinal": "E"}
        )
        week48 = dataclasses.replace(
            IMPROVED, bilag={**IMPROVED.bilag, "ophthalmic": "B", "gastrointestinal": "B"}
        )
        assert sri(baseline, week48).reasons == (NEW_BILAG_B_OVER_ONE,)

    def test_b_staying_b_is_not_new(self) -> None:
        # musculoskeletal, mucocutaneous, renal and haematological all B -> B: no new B.
        persistent = {"musculoskeletal": "B", "mucocutaneous": "B", "renal": "B"}
        baseline = visit(10, 1.5, haematological="B", **persistent)
        week48 = visit(4, 1.0, haematological="B", **persistent)
        assert sri(baseline, week48) == RESPONDER

    def test_a_improving_to_b_is_not_new(self) -> None:
        # renal A -> B and neuropsychiatric A -> B: improvements, not new Bs.
        baseline = visit(12, 2.0, renal="A", neuropsychiatric="A")
        week48 = visit(4, 1.0, renal="B", neuropsychiatric="B")
        assert sri(baseline, week48) == RESPONDER

    @pytest.mark.parametrize("before", ["B", "C", "D", "E"])
    def test_new_a(self, before: str) -> None:
        baseline = visit(10, 1.5, renal=before)
        week48 = visit(4, 1.0, renal="A")
        assert sri(baseline, week48).reasons == (NEW_BILAG_A,)

    def test_a_staying_a_is_not_new(self) -> None:
        baseline = visit(14, 2.0, renal="A")
        week48 = visit(6, 1.8, renal="A")
        assert sri(baseline, week48) == RESPONDER

    def test_new_a_and_new_bs_together(self) -> None:
        # cardiorespiratory C -> A (new A); renal C -> B, ophthalmic D -> B (two new Bs).
        baseline = visit(10, 1.5, cardiorespiratory="C", renal="C")
        week48 = visit(2, 1.0, cardiorespiratory="A", renal="B", ophthalmic="B")
        assert sri(baseline, week48).reasons == (NEW_BILAG_A, NEW_BILAG_B_OVER_ONE)


class TestPga:
    @pytest.mark.parametrize(
        ("before", "after", "worsened"),
        [
            (1.0, 1.29, False),  # rise 0.29
            (1.0, 1.30, True),  # rise 0.30
            (1.0, 1.31, True),  # rise 0.31
            (1.3, 1.6, True),  # rise 0.30, 0.30000000000000004 in binary floating point
            (1.3, 1.59, False),  # rise 0.29
            (0.0, 0.29, False),
            (0.0, 0.3, True),
            (2.7, 3.0, True),  # rise 0.30 to the top of the scale
            (2.0, 1.0, False),  # a fall
            (1.2, 1.2, False),
        ],
    )
    def test_rise_around_030(self, before: float, after: float, worsened: bool) -> None:
        baseline = dataclasses.replace(BASELINE, pga=before)
        week48 = dataclasses.replace(IMPROVED, pga=after)
        assert sri(baseline, week48).reasons == ((PGA_WORSENED,) if worsened else ())

    def test_frame_uses_the_same_rounding(self) -> None:
        baselines = [dataclasses.replace(BASELINE, pga=p) for p in (1.3, 1.3, 1.0)]
        week48s = [dataclasses.replace(IMPROVED, pga=p) for p in (1.6, 1.59, 1.29)]
        result = sri_frame(frame(baselines), frame(week48s, rescue=[False] * 3))
        assert result["sri4_reasons"].tolist() == [PGA_WORSENED, "", ""]


class TestDropoutAndRescue:
    def test_dropout(self) -> None:
        assert sri(BASELINE, None) == SriResult(False, (MISSING_WEEK48,))

    def test_rescue_overrides_an_otherwise_good_response(self) -> None:
        assert sri(BASELINE, IMPROVED, rescue_therapy=True) == SriResult(False, (RESCUE_THERAPY,))

    def test_rescue_with_failing_components_keeps_every_reason(self) -> None:
        week48 = dataclasses.replace(IMPROVED, sledai_2k=9)
        assert sri(BASELINE, week48, rescue_therapy=True).reasons == (
            RESCUE_THERAPY,
            SLEDAI_REDUCTION_BELOW_K,
        )

    def test_dropout_after_rescue(self) -> None:
        assert sri(BASELINE, None, rescue_therapy=True).reasons == (MISSING_WEEK48, RESCUE_THERAPY)

    def test_missing_baseline(self) -> None:
        assert sri(None, IMPROVED) == SriResult(False, (MISSING_BASELINE,))
        assert sri(None, None, rescue_therapy=True).reasons == (
            MISSING_BASELINE,
            MISSING_WEEK48,
            RESCUE_THERAPY,
        )


class TestAssessment:
    @pytest.mark.parametrize(
        ("changes", "field", "reason"),
        [
            ({"sledai_2k": -1}, "sledai_2k", "outside 0..105"),
            ({"sledai_2k": 106}, "sledai_2k", "outside 0..105"),
            ({"sledai_2k": 10.0}, "sledai_2k", "not a whole number"),
            ({"sledai_2k": True}, "sledai_2k", "not a whole number"),
            ({"pga": -0.1}, "pga", "outside 0..3"),
            ({"pga": 3.01}, "pga", "outside 0..3"),
            ({"pga": float("nan")}, "pga", "outside 0..3"),
            ({"pga": "1.5"}, "pga", "not a number"),
            ({"bilag": {**QUIET, "renal": "F"}}, "bilag.renal", "not one of A, B, C, D, E"),
            ({"bilag": {**QUIET, "renal": "a"}}, "bilag.renal", "not one of A, B, C, D, E"),
            ({"bilag": {**QUIET, "hepatic": "D"}}, "bilag", "unknown domain.*'hepatic'"),
        ],
    )
    def test_invalid_values_name_field_and_reason(
        self, changes: dict[str, Any], field: str, reason: str
    ) -> None:
        arguments: dict[str, Any] = {"sledai_2k": 10, "bilag": QUIET, "pga": 1.0, **changes}
        with pytest.raises(ValueError, match=f"^{field}: .*{reason}"):
            Assessment(**arguments)

    def test_every_missing_domain_is_listed(self) -> None:
        bilag = {d: g for d, g in QUIET.items() if d not in ("renal", "ophthalmic")}
        with pytest.raises(ValueError, match=r"bilag: missing domain.*ophthalmic, renal"):
            Assessment(sledai_2k=10, bilag=bilag, pga=1.0)

    @pytest.mark.parametrize(("sledai_2k", "pga"), [(0, 0.0), (105, 3.0), (0, 0), (105, 3)])
    def test_range_limits_are_valid(self, sledai_2k: int, pga: float) -> None:
        assert Assessment(sledai_2k=sledai_2k, bilag=QUIET, pga=pga).sledai_2k == sledai_2k

    def test_frozen_and_isolated_from_the_callers_dict(self) -> None:
        grades = dict(QUIET)
        assessment = Assessment(sledai_2k=10, bilag=grades, pga=1.0)
        grades["renal"] = "A"
        assert assessment.bilag["renal"] == "D"
        with pytest.raises(dataclasses.FrozenInstanceError):
            assessment.pga = 2.0  # type: ignore[misc]
        with pytest.raises(TypeError):
            assessment.bilag["renal"] = "A"  # type: ignore[index]


def frame(
    assessments: list[Assessment],
    *,
    rescue: list[bool | None] | None = None,
    ids: list[str] | None = None,
) -> pd.DataFrame:
    """The frame `sri_frame` reads, one row per assessment."""
    rows: list[dict[str, Any]] = [
        {
            SLEDAI_COLUMN: a.sledai_2k,
            **{BILAG_COLUMNS[d]: a.bilag[d] for d in BILAG_DOMAINS},
            PGA: a.pga,
        }
        for a in assessments
    ]
    index = pd.Index(ids or [f"P{i}" for i in range(len(rows))], name="patient_id")
    result = pd.DataFrame(rows, index=index, columns=list(ASSESSMENT_COLUMNS))
    if rescue is not None:
        result[RESCUE] = rescue
    return result


class TestSriFrame:
    def test_reference_cohort(self) -> None:
        # P0 responds; P1 drops 3 points (10 -> 7); P2 gains a new A; P3 received rescue
        # therapy; P4 has no week-48 visit; P5 has a week-48 visit without a PGA.
        baseline = frame([BASELINE] * 6)
        week48 = frame(
            [
                IMPROVED,
                dataclasses.replace(IMPROVED, sledai_2k=7),
                dataclasses.replace(IMPROVED, bilag={**IMPROVED.bilag, "renal": "A"}),
                IMPROVED,
                IMPROVED,
            ],
            rescue=[False, False, False, True, False],
            ids=["P0", "P1", "P2", "P3", "P5"],
        )
        week48.loc["P5", PGA] = np.nan
        result = sri_frame(baseline, week48)
        assert list(result.columns) == ["sri4", "sri4_reasons"]
        assert result["sri4"].dtype == "boolean"
        assert result["sri4_reasons"].dtype == "string"
        assert result.index.equals(baseline.index)
        assert result["sri4"].tolist() == [True, False, False, False, False, False]
        assert result["sri4_reasons"].tolist() == [
            "",
            SLEDAI_REDUCTION_BELOW_K,
            NEW_BILAG_A,
            RESCUE_THERAPY,
            MISSING_WEEK48,
            MISSING_WEEK48,
        ]

    def test_column_names_follow_k(self) -> None:
        result = sri_frame(frame([BASELINE]), frame([IMPROVED], rescue=[False]), k=6)
        # 10 - 4 = 6 >= 6
        assert result.to_dict("list") == {"sri6": [True], "sri6_reasons": [""]}

    def test_incomplete_baseline_is_undetermined_unless_already_a_non_responder(self) -> None:
        baseline = frame([BASELINE] * 4)
        baseline.loc[:, "bilag_renal"] = None
        week48 = frame([IMPROVED] * 3, rescue=[False, True, None])
        result = sri_frame(baseline, week48)
        assert result["sri4"].tolist() == [pd.NA, False, False, False]
        assert result["sri4_reasons"].tolist() == [
            MISSING_BASELINE,
            f"{MISSING_BASELINE};{RESCUE_THERAPY}",
            f"{MISSING_BASELINE};{MISSING_WEEK48}",
            f"{MISSING_BASELINE};{MISSING_WEEK48}",
        ]

    def test_missing_rescue_status_counts_as_missing_week48(self) -> None:
        result = sri_frame(frame([BASELINE]), frame([IMPROVED], rescue=[None]))
        assert result.to_dict("list") == {"sri4": [False], "sri4_reasons": [MISSING_WEEK48]}

    def test_nullable_dtypes_and_zero_one_rescue(self) -> None:
        baseline = frame([BASELINE] * 2).astype({SLEDAI_COLUMN: "Int64", PGA: "Float64"})
        week48 = frame([IMPROVED] * 2, rescue=[False, True]).astype(
            {SLEDAI_COLUMN: "Int64", PGA: "Float64", RESCUE: "int64"}
        )
        week48[BILAG_COLUMNS["renal"]] = week48[BILAG_COLUMNS["renal"]].astype("string")
        result = sri_frame(baseline, week48)
        assert result["sri4_reasons"].tolist() == ["", RESCUE_THERAPY]

    def test_week48_patients_without_baseline_are_ignored(self) -> None:
        week48 = frame([IMPROVED, IMPROVED], rescue=[False, False], ids=["P9", "P0"])
        result = sri_frame(frame([BASELINE]), week48)
        assert result.index.tolist() == ["P0"]
        assert result["sri4"].tolist() == [True]

    def test_empty_cohort(self) -> None:
        result = sri_frame(frame([]), frame([], rescue=[]))
        assert result.empty
        assert list(result.columns) == ["sri4", "sri4_reasons"]

    def test_every_missing_column_is_named(self) -> None:
        week48 = frame([IMPROVED], rescue=[False]).drop(columns=[PGA, "bilag_renal"])
        with pytest.raises(ValueError, match=r"week48: missing column.*bilag_renal, pga, rescue"):
            sri_frame(frame([BASELINE]), week48.drop(columns=[RESCUE]))

    def test_duplicated_patient(self) -> None:
        baseline = frame([BASELINE, BASELINE], ids=["P0", "P0"])
        with pytest.raises(ValueError, match="baseline: patient 'P0' appears more than once"):
            sri_frame(baseline, frame([IMPROVED], rescue=[False]))

    @pytest.mark.parametrize(
        ("column", "value", "message"),
        [
            ("bilag_renal", "F", "baseline.bilag_renal: grade 'F'"),
            (SLEDAI_COLUMN, 106, "baseline.sledai_2k: 106 for patient 'P0'"),
            (SLEDAI_COLUMN, 9.5, "baseline.sledai_2k: 9.5"),
            (PGA, 3.5, "baseline.pga: 3.5 for patient 'P0'"),
            (PGA, "high", "baseline.pga: not numeric"),
        ],
    )
    def test_impossible_values_name_the_column(self, column: str, value: Any, message: str) -> None:
        baseline = frame([BASELINE]).astype(object)
        baseline.loc["P0", column] = value
        with pytest.raises(ValueError, match=message):
            sri_frame(baseline, frame([IMPROVED], rescue=[False]))

    def test_rescue_must_be_boolean(self) -> None:
        with pytest.raises(ValueError, match=r"week48\.rescue_therapy: 2"):
            sri_frame(frame([BASELINE]), frame([IMPROVED], rescue=[2]))  # type: ignore[list-item]

    def test_large_cohort(self) -> None:
        rng = np.random.default_rng(20090901)
        n = 100_000

        def random_visits() -> pd.DataFrame:
            columns: dict[str, Any] = {
                SLEDAI_COLUMN: rng.integers(0, 30, n),
                PGA: rng.integers(0, 301, n) / 100,
                RESCUE: rng.random(n) < 0.05,
            }
            columns.update({c: rng.choice(list(BILAG_GRADES), n) for c in BILAG_COLUMNS.values()})
            return pd.DataFrame(columns, index=pd.RangeIndex(n, name="patient_id"))

        result = sri_frame(random_visits().drop(columns=[RESCUE]), random_visits())
        assert len(result) == n
        assert result["sri4"].notna().all()
        assert (result["sri4"] == (result["sri4_reasons"] == "")).all()


grades = st.sampled_from(BILAG_GRADES)
assessments = st.builds(
    Assessment,
    sledai_2k=st.integers(0, 24),
    bilag=st.fixed_dictionaries({d: grades for d in BILAG_DOMAINS}),
    # PGA in hundredths, so that differences hit 0.30 exactly and expose floating point.
    pga=st.integers(0, 300).map(lambda hundredths: hundredths / 100),
)


@st.composite
def follow_up(draw: st.DrawFn, baseline: Assessment) -> Assessment:
    """A week-48 visit near its baseline, so that every component lands on both sides of its
    threshold: SLEDAI-2K falls by 0-12 points, each domain mostly keeps its grade, PGA moves
    by -0.60 to +0.40."""
    pga_hundredths = round(baseline.pga * 100) + draw(st.integers(-60, 40))
    bilag = {
        domain: draw(st.one_of(st.just(grade), st.just(grade), st.just(grade), grades))
        for domain, grade in baseline.bilag.items()
    }
    return Assessment(
        sledai_2k=max(0, baseline.sledai_2k - draw(st.integers(0, 12))),
        bilag=bilag,
        pga=min(max(pga_hundredths, 0), 300) / 100,
    )


@st.composite
def patients(draw: st.DrawFn) -> tuple[Assessment | None, Any, bool]:
    """(baseline or None, week-48 visit, rescue therapy); the week-48 visit is "absent", a
    (visit, column left empty) pair, or a complete visit."""
    baseline = draw(assessments)
    week48: Any = draw(follow_up(baseline))
    match draw(st.integers(0, 9)):
        case 0:
            week48 = "absent"
        case 1:
            week48 = (week48, draw(st.sampled_from(ASSESSMENT_COLUMNS)))
    return (
        None if draw(st.integers(0, 9)) == 0 else baseline,
        week48,
        draw(st.integers(0, 9)) == 0,
    )


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(cohort=st.lists(patients(), max_size=30), k=st.integers(4, 8))
def test_frame_agrees_with_scalar(
    cohort: list[tuple[Assessment | None, Any, bool]], k: int
) -> None:
    ids = [f"P{i}" for i in range(len(cohort))]
    placeholder = Assessment(sledai_2k=0, bilag=QUIET, pga=0.0)
    baseline = frame([b or placeholder for b, _, _ in cohort], ids=ids)
    missing_baseline = [b is None for b, _, _ in cohort]
    baseline.loc[missing_baseline, SLEDAI_COLUMN] = np.nan

    present = [(pid, visit, rescue) for pid, (_, visit, rescue) in zip(ids, cohort, strict=True)]
    present = [row for row in present if row[1] != "absent"]
    week48 = frame(
        [v[0] if isinstance(v, tuple) else v for _, v, _ in present],
        rescue=[rescue for _, _, rescue in present],
        ids=[pid for pid, _, _ in present],
    )
    for pid, v, _ in present:
        if isinstance(v, tuple):
            week48 = week48.astype({v[1]: object})
            week48.loc[pid, v[1]] = None

    result = sri_frame(baseline, week48, k=k)

    for pid, (b, v, rescue) in zip(ids, cohort, strict=True):
        complete = isinstance(v, Assessment)
        expected = sri(b, v if complete else None, k=k, rescue_therapy=rescue and v != "absent")
        assert result.loc[pid, f"sri{k}_reasons"] == ";".join(expected.reasons)
        responder: Any = result.loc[pid, f"sri{k}"]
        if pd.isna(responder):
            assert expected.reasons == (MISSING_BASELINE,)
        else:
            assert responder == expected.responder
