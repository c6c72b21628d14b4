"""Sex, age, ethnicity, disease duration, organ damage (SDI), smoking and anti-Sm status.

Age is a gamma distribution shifted to the youngest enrolled age, with the pooled BLISS mean and
SD (37.8 +/- 11.5 years); disease duration is a gamma with the pooled mean and SD (about 6.4 +/-
6.3 years; BLISS-52 5.3 +/- 5.3, BLISS-76 7.5 +/- 7.1). SDI is a gamma-Poisson count whose mean
grows with disease duration (damage accrues over time) and whose overall mean and SD are the
published 0.8 +/- 1.2 (Furie 2014). Sources per constant: `simulator.config_baseline.Demography`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.config_baseline import Demography

FloatArray = npt.NDArray[np.float64]


def gamma_with(
    mean: float, sd: float, size: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Gamma draws with the given mean and SD."""
    shape = (mean / sd) ** 2
    return rng.gamma(shape, sd**2 / mean, size)


def draw_demography(n: int, config: Demography, rng: np.random.Generator) -> pd.DataFrame:
    """One row per patient: sex, age, ethnicity, disease_duration, sdi, smoking
    (``smoking_current``) and ``anti_sm_positive``; booleans complete (no missing yet)."""
    female = rng.random(n) < config.female_share
    # Completed years: the +0.5 keeps the mean of the floored ages at the published mean.
    excess = gamma_with(config.age_mean + 0.5 - config.age_min, config.age_sd, n, rng)
    age = np.floor(config.age_min + excess).astype(np.int64)
    names = list(config.ethnicity_shares)
    shares = np.array([config.ethnicity_shares[k] for k in names], dtype=float)
    ethnicity = np.array(names, dtype=object)[rng.choice(len(names), n, p=shares / shares.sum())]
    duration = np.asarray(
        np.round(np.maximum(gamma_with(config.duration_mean, config.duration_sd, n, rng), 0.1), 1),
        dtype=np.float64,
    )
    return pd.DataFrame(
        {
            "sex": np.where(female, "F", "M"),
            "age": age,
            "ethnicity": ethnicity,
            "disease_duration": duration,
            "sdi": draw_sdi(duration, config, rng),
            "smoking_current": rng.random(n) < config.smoking_share,
            "anti_sm_positive": rng.random(n) < config.anti_sm_share,
        }
    )


def draw_sdi(
    duration: FloatArray, config: Demography, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """SLICC/ACR damage index: Poisson with a gamma-distributed mean that rises with duration.

    The expected SDI is ``sdi_mean * w`` with ``w = (1 - a) + a * duration / mean duration``;
    the gamma shape k is solved from Var(SDI) = E[m] + Var(m) + E[m^2] / k so that the overall
    SD is ``sdi_sd``.
    """
    a = config.sdi_duration_weight
    w = (1 - a) + a * duration / config.duration_mean
    m = config.sdi_mean * w
    mean_m, var_m = (
        config.sdi_mean,
        config.sdi_mean**2 * a**2 * (config.duration_sd / config.duration_mean) ** 2,
    )
    excess = config.sdi_sd**2 - mean_m - var_m
    if excess <= 0:
        raise ValueError(
            f"demography.sdi_sd: {config.sdi_sd} is too small for a count with mean "
            f"{config.sdi_mean} (needs variance above {mean_m + var_m:.2f})"
        )
    shape = (mean_m**2 + var_m) / excess
    return rng.poisson(rng.gamma(shape, m / shape)).astype(np.int64)
