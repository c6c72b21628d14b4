"""Baseline BILAG-2004 grades and physician global assessment, consistent with SLEDAI-2K.

A BILAG domain with an active SLEDAI-2K item (`simulator.descriptors.BILAG_OF_DESCRIPTOR`) is
graded A (severe), B (moderate) or C (mild); a domain without one is C, D (previously involved)
or E (never involved). Probabilities: `simulator.config_outcome.Assessments` (BILAG >= 1 A in
12-19 %, >= 1 A or 2 B in 60.8 % of BLISS patients). The PGA (0-3, one decimal) is 1.4 +/- 0.5
(Furie 2014) and rises with the clinical SLEDAI-2K.

Grades are held as codes 0-4 for A-E, in `features.sri.BILAG_DOMAINS` column order.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from features.sri import BILAG_DOMAINS, BILAG_GRADES
from simulator.config_outcome import Assessments

A, B, C, D, E = range(5)
GRADE_LETTERS: Final = np.array(BILAG_GRADES, dtype=object)
PGA_MAX: Final = 3.0
PGA_DECIMALS: Final = 1


def baseline_bilag(
    active: npt.NDArray[np.bool_], config: Assessments, rng: np.random.Generator
) -> npt.NDArray[np.int8]:
    """Grade codes (rows: patients, columns: BILAG domains) from the domains' activity."""
    n = active.shape[0]
    p_a = np.array([config.bilag_a_if_active.get(dom, 0.0) for dom in BILAG_DOMAINS], dtype=float)
    u = rng.random((n, len(BILAG_DOMAINS)))
    active_grade = np.where(
        u < p_a, A, np.where(u < p_a + (1 - p_a) * config.bilag_c_if_active, C, B)
    )
    c_cut = config.bilag_c_if_inactive
    d_cut = c_cut + config.bilag_d_if_inactive
    inactive_grade = np.where(u < c_cut, C, np.where(u < d_cut, D, E))
    return np.where(active, active_grade, inactive_grade).astype(np.int8)


def baseline_pga(
    clinical_sledai: npt.NDArray[np.float64], config: Assessments, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """PGA 0-3 (one decimal), correlated with the clinical SLEDAI-2K."""
    z_clinical = (clinical_sledai - config.pga_clinical_centre) / config.pga_clinical_scale
    r = config.pga_activity_correlation
    z = r * z_clinical + np.sqrt(1 - r**2) * rng.standard_normal(clinical_sledai.size)
    pga = np.round(config.pga_mean + config.pga_sd * z, PGA_DECIMALS)
    return np.asarray(np.clip(pga, 0.0, PGA_MAX), dtype=float)


def letters(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.object_]:
    """Grade letters "A".."E" for grade codes."""
    return np.asarray(GRADE_LETTERS[codes], dtype=object)
