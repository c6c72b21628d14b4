"""The week-48 SLEDAI-2K descriptors, BILAG grades and PGA that realise a response plan.

Given which SRI-4 components each patient must pass or fail (`simulator.outcome.Plan`), the
week-48 visit is drawn from the baseline and then corrected so that the plan holds exactly
(Furie 2009 definitions, as scored by `features.sri`):

* SLEDAI-2K: baseline items resolve (clinical items often, serology items rarely, since C3 and
  anti-dsDNA move slowly: Furie 2014 Table 2) and new items may appear. A patient who must pass
  then loses further items, heaviest first, until the total fell by >= 4; one who must fail gets
  resolved items back until it fell by < 4;
* BILAG: domains improve by a grade or stay; a BILAG failure is one new A (a domain graded worse
  than A at baseline becomes A) or two new Bs (domains graded C-E become B); a passing patient
  gets at most one new B;
* PGA: a PGA failure rises by 0.3 to 1.0; otherwise it falls or rises by at most 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from simulator import descriptors as d
from simulator.assessments import PGA_DECIMALS, PGA_MAX, A, B, D, E
from simulator.config_outcome import Outcome

BoolArray = npt.NDArray[np.bool_]
MIN_REDUCTION: Final = 4
"""SRI-4: the SLEDAI-2K total must fall by at least 4 points."""
_FLOAT_SLACK: Final = 1e-9


@dataclass(frozen=True)
class Week48:
    """The week-48 visit: descriptor matrix, BILAG grade codes and PGA (rows: patients)."""

    descriptors: npt.NDArray[np.int8]
    bilag: npt.NDArray[np.int8]
    pga: npt.NDArray[np.float64]


def draw_week48(
    baseline: npt.NDArray[np.int8],
    bilag: npt.NDArray[np.int8],
    pga: npt.NDArray[np.float64],
    fail: dict[str, BoolArray],
    config: Outcome,
    rng: np.random.Generator,
) -> Week48:
    """Week-48 visit for every row. ``fail`` maps "sledai", "bilag_a" (one new A), "bilag_b"
    (two new Bs) and "pga" to the rows that must fail that way; all other rows pass."""
    return Week48(
        descriptors=_descriptors(baseline, fail["sledai"], config, rng),
        bilag=_bilag(bilag, fail["bilag_a"], fail["bilag_b"], fail["sledai"], config, rng),
        pga=_pga(pga, fail["pga"], config, rng),
    )


def _descriptors(
    baseline: npt.NDArray[np.int8], fail: BoolArray, config: Outcome, rng: np.random.Generator
) -> npt.NDArray[np.int8]:
    n, k = baseline.shape
    serology = np.zeros(k, dtype=bool)
    serology[[d.INDEX[name] for name in d.SEROLOGY]] = True
    resolve = np.where(
        serology[None, :],
        np.where(fail, config.resolve_serology_other, config.resolve_serology_responder)[:, None],
        np.where(fail, config.resolve_clinical_other, config.resolve_clinical_responder)[:, None],
    )
    appear = np.where(fail, config.new_item_other, config.new_item_responder)[:, None]
    u = rng.random((n, k))
    present = baseline == 1
    week = np.where(present, u >= resolve, ~serology[None, :] & (u < appear)).astype(np.int8)

    base_total = d.totals(baseline)
    order = np.argsort(-d.WEIGHTS, kind="stable")
    for column in order:
        reduction = base_total - d.totals(week)
        remove = ~fail & (reduction < MIN_REDUCTION) & (week[:, column] == 1)
        week[remove, column] = 0
        restore = fail & (reduction >= MIN_REDUCTION) & present[:, column] & (week[:, column] == 0)
        week[restore, column] = 1
    return week


def _pick(
    eligible: npt.NDArray[np.bool_], count: int, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """For each row, ``count`` eligible columns chosen at random (fewer if fewer are eligible)."""
    keys = np.where(eligible, rng.random(eligible.shape), -1.0)
    ranks = np.argsort(-keys, axis=1)[:, :count]
    chosen = np.zeros_like(eligible)
    np.put_along_axis(chosen, ranks, True, axis=1)
    return chosen & eligible


def _bilag(
    base: npt.NDArray[np.int8],
    new_a: BoolArray,
    new_two_b: BoolArray,
    fail_sledai: BoolArray,
    config: Outcome,
    rng: np.random.Generator,
) -> npt.NDArray[np.int8]:
    n = base.shape[0]
    improve_p = np.where(fail_sledai, config.improve_bilag_other, config.improve_bilag_responder)
    improve = (rng.random(base.shape) < improve_p[:, None]) & (base < D)
    week = (base + improve).astype(np.int8)

    can_new_b = base > B
    one_b = ~(new_a | new_two_b) & (rng.random(n) < config.responder_new_b)
    week[_pick(base > A, 1, rng) & new_a[:, None]] = A
    chosen_b = _pick(can_new_b, 2, rng) & new_two_b[:, None]
    chosen_b |= _pick(can_new_b & (base < E), 1, rng) & one_b[:, None]
    week[chosen_b] = B
    return week


def two_new_b_possible(bilag: npt.NDArray[np.int8]) -> BoolArray:
    """Whether at least two domains are graded C-E, so that two can become new Bs."""
    return np.asarray((bilag > B).sum(axis=1) >= 2, dtype=bool)


def _pga(
    base: npt.NDArray[np.float64], fail: BoolArray, config: Outcome, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    n = base.size
    rise = np.round(rng.uniform(config.pga_rise_min, config.pga_rise_max, n), PGA_DECIMALS)
    change = np.round(rng.uniform(-config.pga_fall_max, config.pga_rise_allowed, n), PGA_DECIMALS)
    week = np.where(fail, np.minimum(base + rise, PGA_MAX), np.clip(base + change, 0.0, PGA_MAX))
    return np.asarray(np.round(week, PGA_DECIMALS), dtype=float)


def can_fail_pga(pga: npt.NDArray[np.float64], config: Outcome) -> BoolArray:
    """Whether a PGA rise of at least ``pga_rise_min`` fits below the scale's maximum."""
    return np.asarray(pga + config.pga_rise_min <= PGA_MAX + _FLOAT_SLACK, dtype=bool)
