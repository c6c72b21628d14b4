"""Proteinuria, platelets, leukocytes and creatinine, consistent with the SLEDAI-2K items.

A SLEDAI-2K item with a laboratory definition agrees with its lab value (Gladman 2002):
proteinuria > 0.5 g/24 h exactly when the proteinuria item is present, platelets < 100 x10^9/L
exactly with thrombocytopenia, leukocytes < 3 x10^9/L exactly with leukopenia. Values keep a
margin from the proteinuria threshold so that no reporting unit's rounding moves them across it.
Counts outside the items follow truncated log-normals around the reference ranges (OSCAR);
creatinine is higher with renal activity. Constants: `simulator.config_baseline.OtherLabs`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr, ndtri

from simulator import descriptors as d
from simulator.config_baseline import OtherLabs

FloatArray = npt.NDArray[np.float64]

PLATELET_STEP: Final = 1.0
"""Platelets are reported in whole 10^9/L."""
LEUKOCYTE_STEP: Final = 0.1
"""Leukocytes are reported to 0.1 x10^9/L."""


def lognormal_above(
    median: float, sdlog: float, lower: float, size: int, rng: np.random.Generator
) -> FloatArray:
    """Log-normal draws conditioned on being at least ``lower`` (inverse-CDF sampling)."""
    floor = ndtr((np.log(lower) - np.log(median)) / sdlog)
    u = floor + (1 - floor) * rng.random(size)
    return np.asarray(median * np.exp(sdlog * ndtri(np.minimum(u, 1 - 1e-12))), dtype=float)


def lognormal_below(
    median: float, sdlog: float, upper: float, size: int, rng: np.random.Generator
) -> FloatArray:
    """Log-normal draws conditioned on being at most ``upper``."""
    ceiling = ndtr((np.log(upper) - np.log(median)) / sdlog)
    u = ceiling * rng.random(size)
    return np.asarray(median * np.exp(sdlog * ndtri(np.maximum(u, 1e-12))), dtype=float)


def draw_organ_labs(
    matrix: npt.NDArray[np.int8], config: OtherLabs, rng: np.random.Generator
) -> pd.DataFrame:
    """Canonical ``proteinuria_g_24h``, ``platelets``, ``leukocytes`` (10^9/L) and
    ``creatinine_umol_l`` for each row of the descriptor matrix."""
    n = matrix.shape[0]
    proteinuria_item = matrix[:, d.INDEX["proteinuria"]] == 1
    low_platelets = matrix[:, d.INDEX["thrombocytopenia"]] == 1
    low_leukocytes = matrix[:, d.INDEX["leukopenia"]] == 1
    renal_items = [d.INDEX[k] for k, domain in d.BILAG_OF_DESCRIPTOR.items() if domain == "renal"]
    renal = (matrix[:, renal_items] == 1).any(axis=1)

    threshold, margin = config.proteinuria_threshold_g, config.proteinuria_margin_g
    high = (
        threshold
        + margin
        + config.proteinuria_high_median_g
        * np.exp(config.proteinuria_high_sdlog * rng.standard_normal(n))
    )
    low = lognormal_below(
        config.proteinuria_low_median_g, config.proteinuria_low_sdlog, threshold - margin, n, rng
    )
    proteinuria = np.round(np.where(proteinuria_item, high, low), 2)

    # Cytopenic values stay more than half a reporting step below the item's threshold.
    platelets = np.where(
        low_platelets,
        rng.uniform(
            config.thrombocytopenia_low, config.thrombocytopenia_below - 0.6 * PLATELET_STEP, n
        ),
        lognormal_above(
            config.platelets_median, config.platelets_sdlog, config.thrombocytopenia_below, n, rng
        ),
    )
    leukocytes = np.where(
        low_leukocytes,
        rng.uniform(config.leukopenia_low, config.leukopenia_below - 0.6 * LEUKOCYTE_STEP, n),
        lognormal_above(
            config.leukocytes_median, config.leukocytes_sdlog, config.leukopenia_below, n, rng
        ),
    )
    factor = np.where(renal, config.creatinine_renal_factor, 1.0)
    creatinine = (
        config.creatinine_median_umol_l
        * factor
        * np.exp(config.creatinine_sdlog * rng.standard_normal(n))
    )
    return pd.DataFrame(
        {
            "proteinuria_g_24h": proteinuria,
            "platelets": np.round(platelets),
            "leukocytes": np.round(leukocytes, 1),
            "creatinine_umol_l": np.round(creatinine),
        }
    )
