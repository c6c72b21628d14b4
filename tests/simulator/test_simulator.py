"""Data tests of the cohort simulator: published targets, consistency, label derivation, mess.

The statistics are computed from the raw tables as a pipeline would see them (units converted
here with small explicit helpers); targets and tolerances are CLINICAL.md section 7's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final, Literal

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features import sri
from features.sledai import sledai_totals
from simulator import SimulatedCohort, SimulationConfig, simulate, write_tables
from simulator.config_baseline import Activity, Domain

N: Final = 20_000
SEED: Final = 20240611
PREVALENCE_TOLERANCE: Final = 0.025
MEAN_TOLERANCE: Final = 0.10
RESPONSE_TOLERANCE: Final = 0.03

ANALYTES: Final = {
    "4485-9": "c3",
    "c3": "c3",
    "4498-2": "c4",
    "c4": "c4",
    "2465-3": "igg",
    "igg": "igg",
    "2458-8": "iga",
    "iga": "iga",
    "5130-0": "anti_dsdna",
    "anti-dsdna": "anti_dsdna",
    "blys": "blys",
    "2889-4": "urine_protein",
    "2890-2": "urine_protein",
    "777-3": "platelets",
    "6690-2": "leukocytes",
    "14682-9": "creatinine",
    "2160-0": "creatinine",
}
# Factor to the canonical unit: mg/dL for proteins, g/24 h for urine protein (UPCR g/g read as
# g/24 h; 1 g/g = 113 mg/mmol), umol/L for creatinine (mg/dL x 88.4).
TO_CANONICAL: Final = {
    "mg/dL": 1.0,
    "g/L": 100.0,
    "g/24h": 1.0,
    "g/g": 1.0,
    "mg/mmol": 1 / 113,
    "umol/L": 1.0,
    "IU/mL": 1.0,
    "ng/mL": 1.0,
    "10^9/L": 1.0,
}
CREATININE_MG_DL_TO_UMOL_L: Final = 88.4
# What a body or an assay can report, in canonical units (outside: implausible).
PLAUSIBLE: Final = {
    "c3": (5.0, 500.0),
    "c4": (0.5, 150.0),
    "igg": (50.0, 8000.0),
    "anti_dsdna": (0.0, 100_000.0),
    "platelets": (1.0, 2000.0),
    "leukocytes": (0.1, 200.0),
}


CNS_ITEMS: Final = (
    "seizure",
    "psychosis",
    "organic_brain_syndrome",
    "visual_disturbance",
    "cranial_nerve_disorder",
    "lupus_headache",
    "cerebrovascular_accident",
)


def canonical(labs: pd.DataFrame) -> pd.DataFrame:
    """Baseline labs in canonical units, one row per patient, plus the lab limits."""
    base = labs[labs["visit_week"] == 0].copy()
    base["field"] = base["analyte"].str.lower().map(ANALYTES)
    assert base["field"].notna().all(), "every analyte is a known code or name"
    factor = base["unit"].map(TO_CANONICAL)
    factor[(base["field"] == "creatinine") & (base["unit"] == "mg/dL")] = CREATININE_MG_DL_TO_UMOL_L
    assert factor.notna().all(), "every unit is a known unit"
    base["canonical"] = base["value"] * factor
    base["low_limit"] = base["ref_low"] * factor
    base["high_limit"] = base["ref_high"] * factor
    wide = base.pivot(index="patient_id", columns="field", values="canonical")
    limits = base.pivot(index="patient_id", columns="field", values=["low_limit", "high_limit"])
    wide["c3_low_limit"] = limits[("low_limit", "c3")]
    wide["c4_low_limit"] = limits[("low_limit", "c4")]
    wide["dsdna_cutoff"] = limits[("high_limit", "anti_dsdna")]
    return wide


@pytest.fixture(scope="module")
def cohort() -> SimulatedCohort:
    return simulate(N, SEED)


@pytest.fixture(scope="module")
def clean_ids(cohort: SimulatedCohort) -> pd.Index:
    """Patients without an injected error (their reported labs are the true ones)."""
    truth = cohort.truth.set_index("patient_id")
    return truth.index[truth["injected_error"] == ""]


@pytest.fixture(scope="module")
def labs(cohort: SimulatedCohort, clean_ids: pd.Index) -> pd.DataFrame:
    return canonical(cohort.labs).reindex(clean_ids)


@pytest.fixture(scope="module")
def visits(cohort: SimulatedCohort) -> dict[int, pd.DataFrame]:
    a = cohort.assessments
    return {week: a[a["visit_week"] == week].set_index("patient_id") for week in (0, 48)}


@pytest.fixture(scope="module")
def label(visits: dict[int, pd.DataFrame]) -> pd.Series:
    """SRI-4 scored from the assessments table by the project's scorer."""

    def frame(visit: pd.DataFrame) -> pd.DataFrame:
        return visit.rename(columns={"sledai_2k_total": "sledai_2k"})

    return sri.sri_frame(frame(visits[0]), frame(visits[48]), k=4)["sri4"].astype(bool)


def _serology(labs: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    low_c3 = labs["c3"] < labs["c3_low_limit"]
    low_c4 = labs["c4"] < labs["c4_low_limit"]
    dna = labs["anti_dsdna"] >= labs["dsdna_cutoff"]
    return low_c3, low_c4, dna, (low_c3 | low_c4) & dna


def test_prevalences_match_bliss(
    cohort: SimulatedCohort, labs: pd.DataFrame, visits: dict[int, pd.DataFrame]
) -> None:
    patients = cohort.patients.set_index("patient_id")
    sledai = visits[0]["sledai_2k_total"].astype(float)
    low_c3, low_c4, dna, _ = _serology(labs)
    prednisone = patients["prednisone_mg_day"]
    achieved = {
        "women": ((patients["sex"] == "F").mean(), 0.941),
        "sledai >= 10": ((sledai >= 10).mean(), 0.521),
        "anti-dsDNA positive (assay cut-off)": (dna.mean(), 0.694),
        "low C3 < 90 mg/dL": ((labs["c3"] < 90).mean(), 0.450),
        "low C4 < 16 mg/dL": ((labs["c4"] < 16).mean(), 0.561),
        "low C3 or C4 | anti-dsDNA+": ((low_c3 | low_c4)[dna].mean(), 0.72),
        "IgG > 16.2 g/L": ((labs["igg"] > 1620).mean(), 0.442),
        "corticosteroid use": ((prednisone > 0).mean(), 0.863),
        "prednisone > 7.5 mg/day": ((prednisone > 7.5).mean(), 0.580),
        "immunosuppressant": (patients["immunosuppressant"].astype(float).mean(), 0.487),
    }
    misses = {k: v for k, v in achieved.items() if abs(v[0] - v[1]) > PREVALENCE_TOLERANCE}
    assert not misses, misses


def test_means_match_bliss(
    cohort: SimulatedCohort, labs: pd.DataFrame, visits: dict[int, pd.DataFrame]
) -> None:
    patients = cohort.patients.set_index("patient_id")
    sledai = visits[0]["sledai_2k_total"].astype(float)
    igg_g_l = labs["igg"] / 100
    achieved = {
        "age": (patients["age"].mean(), 37.8),
        "sledai mean": (sledai.mean(), 9.7),
        "sledai sd": (sledai.std(), 3.8),
        "IgG mean g/L": (igg_g_l.mean(), 16.5),
        "IgG sd g/L": (igg_g_l.std(), 6.1),
        "SDI": (patients["sdi"].mean(), 0.8),
        "proteinuria g/24 h": (labs["urine_protein"].mean(), 0.49),
        "disease duration": (patients["disease_duration"].mean(), 6.4),
    }
    misses = {k: v for k, v in achieved.items() if abs(v[0] / v[1] - 1) > MEAN_TOLERANCE}
    assert not misses, misses


def test_descriptor_domains_match_bliss(visits: dict[int, pd.DataFrame]) -> None:
    base = visits[0]
    domains = {
        "mucocutaneous": (("rash", "alopecia", "mucosal_ulcers"), 0.82),
        "musculoskeletal": (("arthritis", "myositis"), 0.66),
        "renal": (("urinary_casts", "haematuria", "proteinuria", "pyuria"), 0.16),
        "haematological": (("thrombocytopenia", "leukopenia"), 0.07),
        "vasculitis": (("vasculitis",), 0.06),
        "serositis": (("pleurisy", "pericarditis"), 0.06),
        "cns": (CNS_ITEMS, 0.02),
    }
    achieved = {
        name: ((base[[f"sledai_{i}" for i in items]] == 1).any(axis=1).mean(), target)
        for name, (items, target) in domains.items()
    }
    misses = {k: v for k, v in achieved.items() if abs(v[0] - v[1]) > PREVALENCE_TOLERANCE}
    assert not misses, misses


def test_response_rates_match_bliss(
    label: pd.Series, labs: pd.DataFrame, visits: dict[int, pd.DataFrame]
) -> None:
    sledai = visits[0]["sledai_2k_total"].astype(float)
    _, _, _, serologic = _serology(labs)
    serologic_label = label.reindex(serologic[serologic].index)
    achieved = {
        "all": (label.mean(), 0.506),
        "sledai >= 10": (label[sledai >= 10].mean(), 0.632),
        "sledai <= 9": (label[sledai <= 9].mean(), 0.37),
        "low complement and anti-dsDNA+": (serologic_label.mean(), 0.515),
    }
    misses = {k: v for k, v in achieved.items() if abs(v[0] - v[1]) > RESPONSE_TOLERANCE}
    assert not misses, misses


def test_oracle_auroc_is_realistic(cohort: SimulatedCohort, label: pd.Series) -> None:
    truth = cohort.truth.set_index("patient_id")
    auc = roc_auc_score(label.to_numpy(), truth["true_response_probability"].reindex(label.index))
    assert 0.70 <= auc <= 0.80


def test_label_equals_simulated_status(cohort: SimulatedCohort, label: pd.Series) -> None:
    truth = cohort.truth.set_index("patient_id")
    completers = truth.index[~truth["dropout"]]
    status = truth.loc[completers, "response_status"]
    assert (label[completers] == status).all()
    assert not label[truth.index[truth["dropout"]]].any()
    assert (truth["sri4_reasons"] == truth["expected_sri4_reasons"]).all()


def test_total_is_the_descriptor_sum(visits: dict[int, pd.DataFrame]) -> None:
    for visit in visits.values():
        complete = visit.dropna(subset=[c for c in visit.columns if str(c).startswith("sledai_")])
        totals = sledai_totals(complete)
        assert (totals == complete["sledai_2k_total"]).all()
    assert (visits[0]["sledai_2k_total"] >= 6).all()


def test_lab_descriptors_agree_with_labs(
    labs: pd.DataFrame, visits: dict[int, pd.DataFrame]
) -> None:
    base = visits[0].reindex(labs.index)
    low_c3, low_c4, dna, _ = _serology(labs)
    assert ((base["sledai_low_complement"] == 1) == (low_c3 | low_c4)).all()
    assert ((base["sledai_increased_dna_binding"] == 1) == dna).all()
    checks = {
        "proteinuria": ("urine_protein", labs["urine_protein"] > 0.5),
        "thrombocytopenia": ("platelets", labs["platelets"] < 100),
        "leukopenia": ("leukocytes", labs["leukocytes"] < 3),
    }
    for item, (lab, from_labs) in checks.items():
        measured = labs.index[labs[lab].notna()]
        assert ((base.loc[measured, f"sledai_{item}"] == 1) == from_labs[measured]).all(), item


def test_sites_report_in_several_ways(cohort: SimulatedCohort) -> None:
    lab = cohort.labs
    c3 = lab[lab["analyte"].isin(["4485-9", "C3"])]
    assert set(c3["unit"]) == {"mg/dL", "g/L"}
    assert (c3.loc[c3["unit"] == "g/L", "ref_low"] == 0.9).all()
    assert {"C3", "C4", "IgG", "anti-dsDNA", "BLyS"} <= set(lab["analyte"])
    dsdna = lab[lab["analyte"].isin(["5130-0", "anti-dsDNA"])]
    assert set(dsdna["ref_high"]) == {30.0, 15.0, 10.0}
    assert {"g/24h", "g/g", "mg/mmol", "umol/L"} <= set(lab["unit"])
    week48 = cohort.assessments[cohort.assessments["visit_week"] == 48]
    total_only = week48["sledai_arthritis"].isna()
    assert 0 < total_only.mean() < 0.5
    assert week48.loc[total_only, "sledai_2k_total"].notna().all()


def test_missing_data_rates(cohort: SimulatedCohort) -> None:
    fields = canonical(cohort.labs)
    for lab in ("blys", "iga", "creatinine", "urine_protein", "platelets", "leukocytes"):
        assert 0.04 <= fields[lab].isna().mean() <= 0.10, lab
    for lab in ("c3", "c4", "igg", "anti_dsdna"):
        assert fields[lab].notna().all(), lab
    truth = cohort.truth
    assert 0.02 <= truth["dropout"].mean() <= 0.10
    assert 0.02 <= truth["rescue_therapy"].mean() <= 0.08
    week48 = set(cohort.assessments.loc[cohort.assessments["visit_week"] == 48, "patient_id"])
    assert week48 == set(truth.loc[~truth["dropout"], "patient_id"])
    facts = cohort.patients[["hbcab_positive", "prior_rituximab", "smoking_current"]]
    assert 0.0 < facts.isna().mean().max() < 0.05


def test_injected_errors_are_implausible(cohort: SimulatedCohort) -> None:
    truth = cohort.truth.set_index("patient_id")
    injected = truth["injected_error"] != ""
    assert 0.002 <= injected.mean() <= 0.015
    fields = canonical(cohort.labs)
    implausible = pd.Series(False, index=fields.index)
    for lab, (low, high) in PLAUSIBLE.items():
        implausible |= fields[lab].notna() & ~fields[lab].between(low, high)
    assert (implausible.reindex(truth.index) == injected).all()


def test_some_patients_fail_eligibility(cohort: SimulatedCohort) -> None:
    truth = cohort.truth.set_index("patient_id")
    patients = cohort.patients.set_index("patient_id")
    fields = canonical(cohort.labs)
    reason = truth["ineligible_reason"]
    assert 0.03 <= (reason != "").mean() <= 0.05
    assert (patients.loc[reason == "age_18_or_under", "age"] <= 18).all()
    assert (patients.loc[reason == "", "age"] > 18).all()
    assert (fields.loc[reason[reason == "igg_below_400"].index, "igg"] < 400).all()
    assert (fields.loc[reason[reason == "iga_below_10"].index, "iga"] < 10).all()
    assert patients.loc[reason == "hbcab_positive", "hbcab_positive"].all()
    assert not patients.loc[reason == "refractory", "refractory"].any()


def test_same_seed_same_output() -> None:
    first, second = simulate(400, 5), simulate(400, 5)
    for name in ("patients", "labs", "assessments", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    other = simulate(400, 6)
    assert not first.labs["value"].equals(other.labs["value"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_tables(tmp_path: Path, fmt: Literal["csv", "parquet"]) -> None:
    cohort = simulate(300, 1)
    paths = write_tables(cohort, tmp_path, fmt=fmt)
    assert [p.name for p in paths] == [
        f"{n}.{fmt}" for n in ("patients", "labs", "assessments", "truth")
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    labs = read(tmp_path / f"labs.{fmt}")
    assert list(labs.columns) == list(cohort.labs.columns)
    assert len(labs) == len(cohort.labs)


def test_config_errors_name_the_field() -> None:
    bad = Domain(intercept=0.0, items={"sunburn": 1.0})
    with pytest.raises(ValueError, match=r"activity\.domains\.skin\.items.*sunburn"):
        SimulationConfig(activity=Activity(domains={"skin": bad}))
    with pytest.raises(ValueError, match="n: 0"):
        simulate(0, 1)


@pytest.mark.slow
def test_hundred_thousand_patients_are_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    write_tables(simulate(100_000, 3), tmp_path)
    assert time.perf_counter() - start < 45
