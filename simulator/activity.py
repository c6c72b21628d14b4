"""Latent disease activity and the 22 clinical SLEDAI-2K descriptors at baseline.

Two standard-normal latent factors drive the baseline: clinical activity A (how much organ
disease) and serological activity S (immune-complex activity: low complement, anti-dsDNA, IgG;
clinical-literature section 8 suggests exactly this factor). They correlate mildly, since SLEDAI
rises with anti-dsDNA and falls with C3/C4 (Narayanan 2010). Each SELENA-SLEDAI organ domain is
active through a probit on A and S (`simulator.config_baseline.Domain`); renal activity loads on
S most, as nephritis is the most serologically active manifestation (renal flares: low C3 92 %,
anti-dsDNA raised 100 %; Narayanan 2010). An active domain then shows its items.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulator import descriptors as d
from simulator.config_baseline import Activity, Domain

FloatArray = npt.NDArray[np.float64]


def draw_latents(
    n: int, config: Activity, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Clinical activity A and serological activity S, standard normal with the configured
    correlation."""
    rho = config.activity_serology_correlation
    a = rng.standard_normal(n)
    s = rho * a + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return a, s


def draw_clinical(
    a: FloatArray, s: FloatArray, config: Activity, rng: np.random.Generator
) -> npt.NDArray[np.int8]:
    """The descriptor matrix (rows: patients, columns: `descriptors.INDEX`) with the clinical
    descriptors drawn and the two serology descriptors left at 0."""
    matrix = np.zeros((a.size, len(d.INDEX)), dtype=np.int8)
    for domain in config.domains.values():
        z = domain.intercept + domain.activity_loading * a + domain.serology_loading * s
        active = z + rng.standard_normal(a.size) > 0
        _draw_items(matrix, active, domain, rng)
    return matrix


def _draw_items(
    matrix: npt.NDArray[np.int8],
    active: npt.NDArray[np.bool_],
    domain: Domain,
    rng: np.random.Generator,
) -> None:
    names = list(domain.items)
    probabilities = np.array([domain.items[name] for name in names], dtype=float)
    columns = [d.INDEX[name] for name in names]
    n = active.size
    if domain.exclusive:
        present = np.zeros((n, len(names)), dtype=bool)
    else:
        present = (rng.random((n, len(names))) < probabilities) & active[:, None]
    # An active domain with no item drawn (or an exclusive one) shows exactly one item.
    needs_one = active & ~present.any(axis=1)
    pick = rng.choice(len(names), size=n, p=probabilities / probabilities.sum())
    present[needs_one, pick[needs_one]] = True
    matrix[:, columns] = present.astype(np.int8)
