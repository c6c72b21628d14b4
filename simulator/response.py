"""The true probability of SRI-4 response at week 48 given the baseline.

``logit P(SRI-4) = intercept + sum of the terms below`` (coefficients and sources in
`simulator.config_outcome.ResponseModel`; directions from CLINICAL.md section 7):

* clinical SLEDAI-2K (the total without the two serology items), as
  ``log((clinical + 1) / (reference + 1))``: the strongest predictor and concave. Baseline
  activity is the best published predictor (SLEDAI-2K >= 10: OR 3.1-3.5, Gatto 2020), partly
  mechanically, because a 4-point fall is easier from a higher score;
* low complement with anti-dsDNA positive, at equal clinical activity: a modest favourable term
  tuned to the subgroup's 51.5 % on belimumab (van Vollenhoven 2012; placebo 31.7 %), where
  belimumab adds most (subgroup OR 2.29 against 1.62 overall). Serology also enters SLEDAI-2K,
  but the probability rests on the clinical part: serological items normalise slowly (C3
  +14.5 %, anti-dsDNA -34 % in responders, Furie 2014), so they help little to reach a 4-point
  fall;
* disease duration as ``exp(-years / scale)``: recent disease responds better (<= 2 years:
  OR 1.94, Gatto 2020), smoothly rather than as a step;
* damage: SDI = 0 favourable (OR 1.74, Gatto 2020), SDI > 1 unfavourable (HR 0.45, Parodis
  2017);
* current smoking: strongly unfavourable (HR 0.10, Parodis 2017; OR 0.19, Gatto 2020);
* BLyS as a logistic step around 1.2 ng/mL (HR 2.6 above it, Parodis 2017; larger treatment
  difference with BLyS >= 2 ng/mL, Roth 2016);
* anti-Sm positive: favourable (HR 2.52, Parodis 2020);
* immunosuppressant use: unfavourable (crude OR 0.63, Furie 2014), a marker of refractory
  disease;
* prednisone as a logistic step around 7.5 mg/day: mildly favourable (van Vollenhoven 2012);
* proteinuria above 1 g/24 h, capped at 3 g: unfavourable (no benefit at UPCR >= 3 g/g,
  BLISS-LN post hoc);
* age per decade: slightly unfavourable (responders 37.3 vs 38.2 years, Furie 2014).

Several terms are non-linear in a continuous predictor (clinical SLEDAI, duration, BLyS,
prednisone, proteinuria), so a spline model can beat a linear one, but only modestly. The
label is drawn from this probability (`simulator.outcome`), so the probability is exactly
P(label = 1 | baseline): dropout and rescue therapy are ways of being a non-responder.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.baseline import CLINICAL_SLEDAI
from simulator.config_outcome import ResponseModel

FloatArray = npt.NDArray[np.float64]


def logistic(x: FloatArray) -> FloatArray:
    """The inverse logit."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=float)


def serology_active(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Both serology SLEDAI-2K items: low C3 or C4, and anti-dsDNA at or above the cut-off."""
    low = frame["sledai_low_complement"].to_numpy() == 1
    dna = frame["sledai_increased_dna_binding"].to_numpy() == 1
    return np.asarray(low & dna, dtype=bool)


def linear_predictor(frame: pd.DataFrame, model: ResponseModel) -> FloatArray:
    """Log-odds of SRI-4 response for each row of a true baseline frame."""

    def col(name: str) -> FloatArray:
        return frame[name].to_numpy(dtype=float)

    ref = model.clinical_sledai_reference
    clinical = np.log((col(CLINICAL_SLEDAI) + 1) / (ref + 1))
    duration = np.exp(-col("disease_duration") / model.duration_scale_years)
    sdi = col("sdi")
    blys_step = logistic(
        (np.log(col("blys_ng_ml")) - np.log(model.blys_threshold_ng_ml)) / model.blys_width_log
    )
    pred_step = logistic(
        (col("prednisone_mg_day") - model.prednisone_threshold_mg) / model.prednisone_width_mg
    )
    excess_protein = np.clip(
        col("proteinuria_g_24h") - model.proteinuria_knee_g, 0.0, model.proteinuria_cap_g
    )
    return np.asarray(
        model.intercept
        + model.clinical_sledai_coef * clinical
        + model.serology_coef * serology_active(frame)
        + model.duration_coef * duration
        + model.sdi_zero_coef * (sdi == 0)
        + model.sdi_over_one_coef * (sdi > 1)
        + model.smoking_coef * col("smoking_current")
        + model.blys_coef * blys_step
        + model.anti_sm_coef * col("anti_sm_positive")
        + model.immunosuppressant_coef * col("immunosuppressant")
        + model.prednisone_coef * pred_step
        + model.proteinuria_coef * excess_protein
        + model.age_coef * (col("age") - model.age_centre) / 10.0,
        dtype=float,
    )


def response_probability(frame: pd.DataFrame, model: ResponseModel) -> FloatArray:
    """P(SRI-4 response at week 48 | baseline) for each row."""
    return logistic(linear_predictor(frame, model))
