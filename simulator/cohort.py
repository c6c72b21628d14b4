"""`simulate`: a synthetic belimumab-treated SLE cohort, its raw tables and the truth behind them.

Order of the simulation, each step in its own module:

1. `simulator.baseline`: enrolled patients' true baseline (site, demography, latent activity,
   SLEDAI-2K descriptors, labs, treatment), screened for SLEDAI-2K >= 6;
2. `simulator.mess.make_ineligible`: a few patients fail an MRBS criterion;
3. `simulator.response`: the true probability of SRI-4 response;
4. `simulator.assessments`: baseline BILAG-2004 grades and PGA;
5. `simulator.outcome` and `simulator.followup`: response status drawn from the probability,
   how each non-responder fails, and the week-48 visit that realises it;
6. `simulator.mess`: unknown facts, missing optional labs and injected implausible values;
7. `simulator.labs` and `simulator.tables`: the raw tables, and the SRI-4 label scored from
   them by `features.sri.sri_frame`.

All randomness comes from one ``numpy.random.default_rng(seed)``, so a seed fixes the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import tables as t
from simulator import descriptors as d
from simulator.assessments import baseline_bilag, baseline_pga
from simulator.baseline import CLINICAL_SLEDAI, SLEDAI_BASELINE, descriptor_matrix, draw_baseline
from simulator.config import SimulationConfig
from simulator.followup import draw_week48
from simulator.labs import build_labs
from simulator.mess import draw_errors, lab_presence, make_ineligible, unknown_facts
from simulator.outcome import Plan, draw_plan, score
from simulator.response import linear_predictor, logistic, serology_active
from simulator.tables import (
    build_assessments,
    build_patients,
    patient_ids,
    scoring_frame,
    visit_frame,
)


@dataclass(frozen=True)
class SimulatedCohort:
    """The three raw tables a site would send, and the simulation's truth.

    ``patients``, ``labs`` and ``assessments`` follow `features.tables`; ``truth`` has one row
    per patient with the true response probability, the simulated status, the scored label and
    the latent and true values behind the raw tables (see ``data/README.md``).
    """

    patients: pd.DataFrame
    labs: pd.DataFrame
    assessments: pd.DataFrame
    truth: pd.DataFrame


def simulate(n: int, seed: int, *, config: SimulationConfig | None = None) -> SimulatedCohort:
    """Simulate ``n`` enrolled patients; the same ``seed`` gives identical tables."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: {n!r} is not a positive whole number of patients")
    config = config or SimulationConfig()
    rng = np.random.default_rng(seed)

    base = draw_baseline(int(n), config, rng)
    ids = patient_ids(len(base))
    ineligible = make_ineligible(base, config.mess, rng)
    lp = linear_predictor(base, config.response)
    probability = logistic(lp)

    matrix = descriptor_matrix(base)
    bilag0 = baseline_bilag(d.bilag_activity(matrix), config.assessments, rng)
    pga0 = baseline_pga(base[CLINICAL_SLEDAI].to_numpy(dtype=float), config.assessments, rng)
    plan = draw_plan(probability, bilag0, pga0, config.outcome, rng)
    week = draw_week48(matrix, bilag0, pga0, plan.fail, config.outcome, rng)

    errors = draw_errors(len(base), config.mess, rng)
    unknown = unknown_facts(base, ineligible, config.mess, rng)
    present = lab_presence(len(base), ineligible, errors, config.mess, rng)

    no_rescue = np.zeros(len(base), dtype=bool)
    visit0 = visit_frame(ids, t.BASELINE_WEEK, matrix, bilag0, pga0, no_rescue)
    visit48 = visit_frame(ids, t.OUTCOME_WEEK, week.descriptors, week.bilag, week.pga, plan.rescue)
    completer = ~plan.dropout
    total_only = np.array([site.week48_total_only for site in config.sites])[
        base["site_index"].to_numpy(dtype=np.int64)
    ]
    scored = score(scoring_frame(visit0), scoring_frame(visit48[completer]))

    return SimulatedCohort(
        patients=build_patients(base, ids, config.sites, unknown),
        labs=build_labs(base, ids, config.sites, present, errors),
        assessments=build_assessments(
            visit0, visit48[completer].reset_index(drop=True), total_only[completer]
        ),
        truth=_truth(base, ids, lp, probability, plan, scored, ineligible, errors),
    )


def _truth(
    base: pd.DataFrame,
    ids: npt.NDArray[np.object_],
    lp: npt.NDArray[np.float64],
    probability: npt.NDArray[np.float64],
    plan: Plan,
    scored: pd.DataFrame,
    ineligible: npt.NDArray[np.object_],
    errors: npt.NDArray[np.object_],
) -> pd.DataFrame:
    x_uln = base["anti_dsdna_iu_ml"] / base["anti_dsdna_cutoff"]
    return pd.DataFrame(
        {
            t.PATIENT_ID: ids,
            "true_response_probability": probability,
            "linear_predictor": lp,
            "response_status": plan.responder,
            "sri4": scored["sri4"].to_numpy(),
            "sri4_reasons": scored["sri4_reasons"].to_numpy(),
            "expected_sri4_reasons": plan.expected_reasons(),
            "dropout": plan.dropout,
            "rescue_therapy": plan.rescue,
            "clinical_activity": base["clinical_activity"].to_numpy(),
            "serological_activity": base["serological_activity"].to_numpy(),
            "sledai_2k_baseline": base[SLEDAI_BASELINE].to_numpy(),
            "clinical_sledai_2k_baseline": base[CLINICAL_SLEDAI].to_numpy(),
            "low_complement_and_anti_dsdna": serology_active(base),
            "c3_mg_dl": base["c3_mg_dl"].to_numpy(),
            "c4_mg_dl": base["c4_mg_dl"].to_numpy(),
            "igg_g_l": base["igg_g_l"].to_numpy(),
            "anti_dsdna_x_cutoff": x_uln.to_numpy(),
            "blys_ng_ml": base["blys_ng_ml"].to_numpy(),
            "proteinuria_g_24h": base["proteinuria_g_24h"].to_numpy(),
            "smoking_current": base["smoking_current"].to_numpy(),
            "anti_sm_positive": base["anti_sm_positive"].to_numpy(),
            "ineligible_reason": ineligible,
            "injected_error": errors,
        }
    )
