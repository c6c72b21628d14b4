"""Complement C3/C4, IgG, IgA, anti-dsDNA and BLyS, and the two serology SLEDAI-2K items.

Values are log-normal, as immunoglobulins and complement are in populations (J Clin Lab Anal
1998; Clin Lab 2014), and load on the latent serological activity S: S lowers log C3 and log C4
and raises log anti-dsDNA, log IgG and log BLyS (clinical-literature section 8; BLyS with low C3,
anti-dsDNA and anti-Sm, Roth 2016). Anti-dsDNA is simulated as a multiple of the site assay's
positivity cut-off, because values from different assays cannot be converted into each other
(CLINICAL.md section 6): positivity therefore means "at or above the assay's own cut-off".

Values are kept at a resolution that both reporting units represent exactly (C3, C4 and IgA in
whole mg/dL = 0.01 g/L, IgG in 0.1 g/L = 10 mg/dL), so a descriptor computed here agrees with
the one a pipeline derives from the reported value in either unit. The items come from
`features.sledai.serology_items` with each lab's limits (C3 < 90 mg/dL, C4 < 16 mg/dL, anti-dsDNA
>= cut-off), the same function the cohort builder uses.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.sledai import serology_items
from simulator.config_baseline import Serology

FloatArray = npt.NDArray[np.float64]

C3_LOWER_LIMIT_MG_DL: Final = 90.0
"""BLISS definition of low C3 and the usual lower reference limit (ARUP; RCPA 0.9 g/L)."""
C4_LOWER_LIMIT_MG_DL: Final = 16.0
"""BLISS definition of low C4 (RCPA lower limit 0.16 g/L)."""
C4_FLOOR_MG_DL: Final = 2.0
"""Lowest C4 reported (nephelometric assays' lower reporting limit is about this)."""
DSDNA_FLOOR_IU_ML: Final = 1.0
"""Lowest anti-dsDNA reported; below every assay's cut-off, so positivity is unaffected."""
BLYS_FLOOR_NG_ML: Final = 0.1
"""Lowest BLyS reported."""


def _loaded(loading: float, s: FloatArray, rng: np.random.Generator) -> FloatArray:
    """A standard normal variable with correlation ``loading`` to S."""
    return loading * s + np.sqrt(1 - loading**2) * rng.standard_normal(s.size)


def draw_serology(
    s: FloatArray,
    anti_sm: npt.NDArray[np.bool_],
    dsdna_cutoff: FloatArray,
    config: Serology,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Canonical values: ``c3_mg_dl``, ``c4_mg_dl``, ``igg_g_l``, ``iga_mg_dl``,
    ``anti_dsdna_iu_ml`` (with ``anti_dsdna_cutoff``) and ``blys_ng_ml``."""
    n = s.size
    shared = rng.standard_normal(n)
    c3 = _complement(s, shared, config.c3_loading, config, rng)
    c4 = _complement(s, shared, config.c4_loading, config, rng)
    c3_mg = np.round(config.c3_median_mg_dl * np.exp(config.c3_sdlog * c3))
    c4_mg = np.maximum(
        np.round(config.c4_median_mg_dl * np.exp(config.c4_sdlog * c4)), C4_FLOOR_MG_DL
    )
    igg = np.round(
        config.igg_median_g_l * np.exp(config.igg_sdlog * _loaded(config.igg_loading, s, rng)), 1
    )
    iga = np.round(config.iga_median_mg_dl * np.exp(config.iga_sdlog * rng.standard_normal(n)))
    x_uln = np.exp(
        config.dsdna_log_mean + config.dsdna_sdlog * _loaded(config.dsdna_loading, s, rng)
    )
    dsdna = np.maximum(np.round(x_uln * dsdna_cutoff, 1), DSDNA_FLOOR_IU_ML)
    log_blys = (
        np.log(config.blys_median_ng_ml)
        + config.blys_sdlog * _loaded(config.blys_loading, s, rng)
        + config.blys_anti_sm_log_shift * anti_sm
    )
    blys = np.maximum(np.round(np.exp(log_blys), 2), BLYS_FLOOR_NG_ML)
    return pd.DataFrame(
        {
            "c3_mg_dl": c3_mg,
            "c4_mg_dl": c4_mg,
            "igg_g_l": igg,
            "iga_mg_dl": iga,
            "anti_dsdna_iu_ml": dsdna,
            "anti_dsdna_cutoff": dsdna_cutoff,
            "blys_ng_ml": blys,
        }
    )


def _complement(
    s: FloatArray,
    shared: FloatArray,
    loading: float,
    config: Serology,
    rng: np.random.Generator,
) -> FloatArray:
    rest = np.sqrt(1 - loading**2)
    k = config.complement_shared
    own = k * shared + np.sqrt(1 - k**2) * rng.standard_normal(s.size)
    return -loading * s + rest * own


def serology_descriptors(values: pd.DataFrame) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """Low complement and increased DNA binding (0/1) from canonical values and lab limits."""
    low, dna = serology_items(
        values["c3_mg_dl"],
        values["c4_mg_dl"],
        C3_LOWER_LIMIT_MG_DL,
        C4_LOWER_LIMIT_MG_DL,
        values["anti_dsdna_iu_ml"],
        values["anti_dsdna_cutoff"],
    )
    return (
        low.to_numpy(dtype=np.int8, na_value=0),
        dna.to_numpy(dtype=np.int8, na_value=0),
    )
