"""Realistic imperfections: ineligible patients, unknown facts, missing labs, implausible values.

* A few patients (3-5 %) fail one MRBS criterion (CLINICAL.md section 2): age 18 or under, IgG
  below 400 mg/dL, IgA below 10 mg/dL, not meeting the ACR 1997 criteria or not refractory, or
  one of the exclusion facts. The failing value is part of their true baseline.
* A small share of patients have some exclusion facts unknown (missing), and smoking and anti-Sm
  status are sometimes unknown.
* Optional labs (BLyS, IgA, creatinine, urine protein, blood counts) are missing for 5-10 % of
  patients; the core labs (C3, C4, IgG, anti-dsDNA) are always reported.
* A few patients carry one implausible reported value that a validating pipeline must reject:
  a complement or IgG value in the other unit's number (C3 85 labelled g/L, or 0.85 labelled
  mg/dL), or a negative count or titre. ``truth.injected_error`` names it.

Rates: `simulator.config_outcome.Mess`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.record import EXCLUSIONS, INCLUSION
from simulator.config import OPTIONAL_LAB_GROUPS
from simulator.config_outcome import Mess

BoolArray = npt.NDArray[np.bool_]

EXCLUSION_FACTS: Final = tuple(spec.name for spec in EXCLUSIONS)
"""Exclusion facts of the patients table (True = the patient has it), as the record declares."""
INCLUSION_FACTS: Final = tuple(spec.name for spec in INCLUSION)
"""Inclusion facts (True = met)."""
ERROR_KINDS: Final = (
    "c3_unit_mismatch",
    "c4_unit_mismatch",
    "igg_unit_mismatch",
    "negative_anti_dsdna",
    "negative_platelets",
    "negative_leukocytes",
)
"""Injected errors; each makes one reported baseline value implausible."""
UNDERAGE_YEARS: Final = (16, 18)
"""Ages given to the "age 18 or under" failures (inclusive)."""
LOW_IGG_G_L: Final = (2.0, 3.9)
"""IgG given to the "IgG below 400 mg/dL" failures."""
LOW_IGA_MG_DL: Final = (2, 9)
"""IgA given to the "IgA below 10 mg/dL" failures (inclusive)."""


def _choice(
    weights: dict[str, float], size: int, rng: np.random.Generator
) -> npt.NDArray[np.object_]:
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=float)
    return np.asarray(np.array(names, dtype=object)[rng.choice(len(names), size, p=p / p.sum())])


def make_ineligible(
    frame: pd.DataFrame, config: Mess, rng: np.random.Generator
) -> npt.NDArray[np.object_]:
    """Set the eligibility facts in ``frame`` (in place) and return each patient's failing
    criterion ("" for none)."""
    n = len(frame)
    for fact in EXCLUSION_FACTS:
        frame[fact] = False
    for fact in INCLUSION_FACTS:
        frame[fact] = True
    chosen = rng.random(n) < config.ineligible_share
    reason = np.where(chosen, _choice(config.ineligible_reasons, n, rng), "").astype(object)
    ages = rng.integers(UNDERAGE_YEARS[0], UNDERAGE_YEARS[1] + 1, n)
    igg = np.round(rng.uniform(*LOW_IGG_G_L, n), 1)
    iga = rng.integers(LOW_IGA_MG_DL[0], LOW_IGA_MG_DL[1] + 1, n).astype(float)
    frame["age"] = np.where(reason == "age_18_or_under", ages, frame["age"])
    frame["igg_g_l"] = np.where(reason == "igg_below_400", igg, frame["igg_g_l"])
    frame["iga_mg_dl"] = np.where(reason == "iga_below_10", iga, frame["iga_mg_dl"])
    for fact in EXCLUSION_FACTS:
        frame[fact] = reason == fact
    for fact in INCLUSION_FACTS:
        frame[fact] = reason != fact
    return reason


def unknown_facts(
    frame: pd.DataFrame, reason: npt.NDArray[np.object_], config: Mess, rng: np.random.Generator
) -> dict[str, BoolArray]:
    """Which facts are unknown, per fact column: exclusion and inclusion facts of a few patients
    (never the one a patient fails) and smoking and anti-Sm status."""
    n = len(frame)
    patient = rng.random(n) < config.unknown_facts_share
    unknown: dict[str, BoolArray] = {}
    for fact in (*INCLUSION_FACTS, *EXCLUSION_FACTS):
        unknown[fact] = patient & (rng.random(n) < config.unknown_fact_rate) & (reason != fact)
    for column in ("smoking_current", "anti_sm_positive"):
        unknown[column] = rng.random(n) < config.unknown_predictor_share
    return unknown


def draw_errors(n: int, config: Mess, rng: np.random.Generator) -> npt.NDArray[np.object_]:
    """Injected error kind per patient ("" for none)."""
    chosen = rng.random(n) < config.injected_error_share
    kinds = np.array(ERROR_KINDS, dtype=object)[rng.integers(0, len(ERROR_KINDS), n)]
    return np.asarray(np.where(chosen, kinds, ""), dtype=object)


def lab_presence(
    n: int,
    reason: npt.NDArray[np.object_],
    errors: npt.NDArray[np.object_],
    config: Mess,
    rng: np.random.Generator,
) -> dict[str, BoolArray]:
    """Which patients have each optional lab group. A lab that carries an injected error or
    shows an ineligibility (IgA below 10 mg/dL) is always reported."""
    present: dict[str, BoolArray] = {}
    for group in OPTIONAL_LAB_GROUPS:
        present[group] = rng.random(n) >= config.optional_missing.get(group, 0.0)
    present["iga"] |= reason == "iga_below_10"
    present["blood_counts"] |= (errors == "negative_platelets") | (errors == "negative_leukocytes")
    return present
