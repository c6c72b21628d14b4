"""A site whose patients respond differently: the case a model taken to a new hospital meets.

A prediction model moved to another hospital is usually miscalibrated there (Steyerberg,
Clinical Prediction Models, 2nd ed. 2019, ch. 20): the response rate differs (another case mix,
another standard of care, another way of assessing SRI-4), and predictors can carry more or less
weight. `SiteShift` describes both; `shifted_config` turns it into a `SimulationConfig` whose
response model has

* the coefficients of the strongest predictors (`STRONGEST`: clinical SLEDAI-2K, disease
  duration and current smoking, the largest effects of `simulator.response`) multiplied by
  ``effect_scale``: below 1 they matter less at this site, so a model developed on the default
  cohort predicts too extreme risks there (calibration slope below 1);
* the intercept solved so that the mean true response probability of the enrolled patients is
  ``response_rate`` (or, when it is not given, the default cohort's rate): a shift of the
  response rate alone is a shift of the intercept, which recalibration in the large corrects.

The truth table of a simulated cohort holds each patient's true probability under the shifted
model, so updated models can be judged against it.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import brentq

from simulator.baseline import draw_baseline
from simulator.config import SimulationConfig
from simulator.response import linear_predictor, logistic

#: Coefficients of `simulator.config_outcome.ResponseModel` scaled by `SiteShift.effect_scale`.
STRONGEST: Final = ("clinical_sledai_coef", "duration_coef", "smoking_coef")
#: Patients drawn to solve the intercept (a fixed sample, so a shift always gives one config).
REFERENCE_PATIENTS: Final = 20_000
REFERENCE_SEED: Final = 20_170_179
#: Intercepts searched, in log-odds around the default.
INTERCEPT_SEARCH: Final = 10.0


class SiteShift(BaseModel):
    """How a site's response differs from the default cohort's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    response_rate: float | None = Field(
        None,
        gt=0.01,
        lt=0.99,
        description="Share of enrolled patients responding at this site (mean true "
        "probability); default: the default cohort's rate (50.6 %, BLISS pooled).",
    )
    effect_scale: float = Field(
        1.0,
        gt=0.0,
        le=5.0,
        description="Multiplies the coefficients of the strongest predictors (STRONGEST).",
    )


def shifted_config(shift: SiteShift, base: SimulationConfig | None = None) -> SimulationConfig:
    """``base`` (default: `SimulationConfig()`) with its response model shifted by ``shift``."""
    base = base or SimulationConfig()
    rng = np.random.default_rng(REFERENCE_SEED)
    patients = draw_baseline(REFERENCE_PATIENTS, base, rng)
    target = shift.response_rate
    if target is None:
        target = float(np.mean(logistic(linear_predictor(patients, base.response))))
    scaled = {name: getattr(base.response, name) * shift.effect_scale for name in STRONGEST}
    response = base.response.model_copy(update={**scaled, "intercept": 0.0})
    without_intercept = linear_predictor(patients, response)

    def gap(intercept: float) -> float:
        return float(np.mean(logistic(without_intercept + intercept))) - target

    centre = base.response.intercept
    intercept = brentq(gap, centre - INTERCEPT_SEARCH, centre + INTERCEPT_SEARCH, xtol=1e-10)
    return base.model_copy(
        update={"response": response.model_copy(update={"intercept": float(intercept)})}
    )
