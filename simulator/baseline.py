"""The true baseline of every patient, drawn in batches and screened for active disease.

A batch draws site, demography, latent activity, clinical descriptors, labs and treatment; the
serology descriptors follow from the labs, the SLEDAI-2K total from all 24 descriptors
(`features.sledai.sledai_totals`), and only patients with SLEDAI-2K >= the entry minimum are
kept (BLISS-52/76 enrolled SELENA-SLEDAI >= 6), exactly as a trial screens. Batches repeat until
``n`` patients are kept, so every published rate is matched in the enrolled population.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.sledai import sledai_totals
from features.sri import BILAG_DOMAINS
from simulator import descriptors as d
from simulator.activity import draw_clinical, draw_latents
from simulator.config import SimulationConfig
from simulator.demography import draw_demography
from simulator.organ_labs import draw_organ_labs
from simulator.serology import draw_serology, serology_descriptors
from simulator.treatment import draw_treatment

SLEDAI_BASELINE: Final = "sledai_2k"
"""Column of the baseline SLEDAI-2K total in the baseline frame."""
CLINICAL_SLEDAI: Final = "clinical_sledai_2k"
"""SLEDAI-2K without the two serology items."""
_MIN_BATCH: Final = 256
_FIRST_ACCEPTANCE_GUESS: Final = 0.8
_OVERDRAW: Final = 1.05


def draw_baseline(n: int, config: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` enrolled patients (RangeIndex): true values, latent factors and the 24 descriptor
    columns (``sledai_<descriptor>``, int8), before any missing data or error is introduced."""
    if n < 1:
        raise ValueError(f"n: {n} patients requested; at least 1 is needed")
    kept: list[pd.DataFrame] = []
    # Batch sizes only affect speed: each batch is sized from the acceptance seen so far.
    count, acceptance = 0, _FIRST_ACCEPTANCE_GUESS
    while count < n:
        size = max(int((n - count) / acceptance * _OVERDRAW), _MIN_BATCH)
        batch = _draw_batch(size, config, rng)
        enrolled = batch[batch[SLEDAI_BASELINE] >= config.activity.entry_min_sledai]
        acceptance = max(len(enrolled) / size, 0.05)
        kept.append(enrolled)
        count += len(enrolled)
    return pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)


def _draw_batch(size: int, config: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    sites = config.sites
    weights = np.array([site.weight for site in sites], dtype=float)
    site_index = rng.choice(len(sites), size=size, p=weights / weights.sum())
    cutoffs = np.array([site.dsdna_cutoff_iu_ml for site in sites], dtype=float)[site_index]

    people = draw_demography(size, config.demography, rng)
    a, s = draw_latents(size, config.activity, rng)
    matrix = draw_clinical(a, s, config.activity, rng)
    serology = draw_serology(
        s, people["anti_sm_positive"].to_numpy(dtype=bool), cutoffs, config.serology, rng
    )
    low, dna = serology_descriptors(serology)
    matrix[:, d.INDEX["low_complement"]] = low
    matrix[:, d.INDEX["increased_dna_binding"]] = dna
    organ = draw_organ_labs(matrix, config.other_labs, rng)
    renal = d.bilag_activity(matrix)[:, BILAG_DOMAINS.index("renal")]
    treatment = draw_treatment(a, renal, config.treatment, rng)

    descriptor_frame = pd.DataFrame(matrix, columns=list(d.COLUMNS))
    frame = pd.concat(
        [
            pd.DataFrame(
                {"site_index": site_index, "clinical_activity": a, "serological_activity": s}
            ),
            people,
            treatment,
            serology,
            organ,
            descriptor_frame,
        ],
        axis=1,
    )
    frame[SLEDAI_BASELINE] = sledai_totals(descriptor_frame).to_numpy(dtype=np.int64)
    frame[CLINICAL_SLEDAI] = frame[SLEDAI_BASELINE] - d.serology_points(matrix)
    return frame


def descriptor_matrix(frame: pd.DataFrame) -> npt.NDArray[np.int8]:
    """The 0/1 descriptor matrix of a baseline frame, columns in `descriptors.INDEX` order."""
    return frame[list(d.COLUMNS)].to_numpy(dtype=np.int8)
