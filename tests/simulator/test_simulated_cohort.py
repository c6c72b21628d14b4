"""End to end on a simulated cohort: the built baseline table agrees with the simulation's truth.

The cohort is assembled in memory from the three raw tables exactly as `mrbs cohort build` does,
and every expectation is checked on the built table, never on the simulator's own variables.
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import pytest

from features import eligibility
from features.cohort import LABEL, LABEL_REASONS, Cohort, assemble
from features.schema import PROBLEMS
from simulator import SimulatedCohort, simulate

N: Final = 5_000
SEED: Final = 20240611
RESPONSE_TOLERANCE: Final = 0.03
SRI4_ALL: Final = 0.506  # BLISS-52/76 pooled, belimumab 10 mg/kg (Furie 2014)
SRI4_SLEDAI_10_OR_MORE: Final = 0.632  # SELENA-SLEDAI >= 10 (van Vollenhoven 2012)

#: The criterion field behind each ``truth.ineligible_reason`` that is not itself a field name.
TRUTH_REASON_FIELD: Final = {
    "age_18_or_under": "age",
    "igg_below_400": "igg",
    "iga_below_10": "iga",
}
#: The field whose reported value each ``truth.injected_error`` makes implausible.
INJECTED_ERROR_FIELD: Final = {
    "c3_unit_mismatch": "c3",
    "c4_unit_mismatch": "c4",
    "igg_unit_mismatch": "igg",
    "negative_anti_dsdna": "anti_dsdna",
    "negative_platelets": "platelets",
    "negative_leukocytes": "leukocytes",
}


@pytest.fixture(scope="module")
def simulated() -> SimulatedCohort:
    return simulate(N, SEED)


@pytest.fixture(scope="module")
def built(simulated: SimulatedCohort) -> Cohort:
    return assemble(simulated.patients, simulated.labs, simulated.assessments)


@pytest.fixture(scope="module")
def table(built: Cohort) -> pd.DataFrame:
    return built.table


@pytest.fixture(scope="module")
def truth(simulated: SimulatedCohort, table: pd.DataFrame) -> pd.DataFrame:
    """The truth table, checked to be in the built table's row order."""
    frame = simulated.truth.reset_index(drop=True)
    assert frame["patient_id"].tolist() == table["patient_id"].tolist()
    return frame


def test_one_row_per_patient_in_order(simulated: SimulatedCohort, table: pd.DataFrame) -> None:
    assert len(table) == N
    assert table["patient_id"].tolist() == simulated.patients["patient_id"].tolist()
    assert table.index.tolist() == list(range(N))


def test_label_equals_the_truth_label(table: pd.DataFrame, truth: pd.DataFrame) -> None:
    assert table[LABEL].notna().all()
    assert table[LABEL].astype(bool).tolist() == truth["sri4"].astype(bool).tolist()
    built_reasons = table[LABEL_REASONS].astype("string").fillna("")
    assert built_reasons.tolist() == truth["sri4_reasons"].astype("string").fillna("").tolist()


def test_problems_exactly_where_an_error_was_injected(
    table: pd.DataFrame, truth: pd.DataFrame
) -> None:
    injected = truth["injected_error"].ne("")
    has_problem = table[PROBLEMS].ne("")
    assert injected.sum() > 0
    assert has_problem.tolist() == injected.tolist()
    errors = truth.loc[injected, "injected_error"]
    for problems, kind in zip(table.loc[injected, PROBLEMS], errors, strict=True):
        field = INJECTED_ERROR_FIELD[kind]
        assert problems.startswith(f"{field}: outside the plausible range"), (kind, problems)


def test_summary_counts_the_rows_with_problems(built: Cohort, truth: pd.DataFrame) -> None:
    injected = int(truth["injected_error"].ne("").sum())
    assert built.summary.patients == N
    assert built.summary.rows_with_problems == injected
    assert sum(built.summary.label.values()) == N
    assert built.summary.label["unknown"] == 0


def test_truth_ineligible_patients_are_not_eligible_for_their_reason(
    table: pd.DataFrame, truth: pd.DataFrame
) -> None:
    reason_by_field = {criterion.field: criterion.reason for criterion in eligibility.CRITERIA}
    ineligible = truth["ineligible_reason"].ne("")
    assert ineligible.sum() > 0
    assert table.loc[ineligible, eligibility.ELIGIBLE].eq(False).all()
    truth_reasons = truth.loc[ineligible, "ineligible_reason"]
    for reasons, truth_reason in zip(
        table.loc[ineligible, eligibility.REASONS], truth_reasons, strict=True
    ):
        expected = reason_by_field[TRUTH_REASON_FIELD.get(truth_reason, truth_reason)]
        assert expected in reasons.split("; "), (truth_reason, reasons)


def test_sri4_rates_match_bliss_on_the_built_table(table: pd.DataFrame) -> None:
    label = table[LABEL].astype(bool)
    high_activity = table["sledai_2k"].ge(10).to_numpy()
    assert label.mean() == pytest.approx(SRI4_ALL, abs=RESPONSE_TOLERANCE)
    assert label[high_activity].mean() == pytest.approx(
        SRI4_SLEDAI_10_OR_MORE, abs=RESPONSE_TOLERANCE
    )
