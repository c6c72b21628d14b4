"""Response status, how each non-responder fails, and the SRI-4 label scored end to end.

The status is drawn from the true probability (`simulator.response`). Non-responders then fail
in realistic ways (`simulator.config_outcome.Outcome`): some drop out (no week-48 visit), some
receive rescue therapy (a share of them with scores that alone would pass), and the rest miss
one or more SRI-4 components, the SLEDAI-2K reduction most often, as in BLISS where almost every
SRI failure missed the 4-point reduction (US label component table). Responders pass every
component. The week-48 visit realising this plan comes from `simulator.followup`, and the label
is scored from the visit data by `features.sri.sri_frame`, the project's scorer, so that label
derivation is exercised end to end. The expected failing reasons, in the scorer's vocabulary,
are kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import sri
from simulator.config_outcome import Outcome
from simulator.followup import can_fail_pga, two_new_b_possible

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Plan:
    """Per patient: the simulated status, dropout, rescue and the components to fail."""

    responder: BoolArray
    dropout: BoolArray
    rescue: BoolArray
    fail: dict[str, BoolArray]

    def expected_reasons(self) -> npt.NDArray[np.object_]:
        """The SRI-4 failing reasons the scorer must report ("" for responders)."""
        completer = ~self.dropout
        flags = {
            sri.MISSING_WEEK48: self.dropout,
            sri.RESCUE_THERAPY: self.rescue,
            sri.SLEDAI_REDUCTION_BELOW_K: completer & self.fail["sledai"],
            sri.NEW_BILAG_A: completer & self.fail["bilag_a"],
            sri.NEW_BILAG_B_OVER_ONE: completer & self.fail["bilag_b"],
            sri.PGA_WORSENED: completer & self.fail["pga"],
        }
        codes = np.zeros(self.responder.size, dtype=np.int64)
        for bit, reason in enumerate(sri.REASONS):
            if reason in flags:
                codes |= flags[reason].astype(np.int64) << bit
        table = np.array(
            [
                sri.REASON_SEPARATOR.join(r for bit, r in enumerate(sri.REASONS) if code >> bit & 1)
                for code in range(1 << len(sri.REASONS))
            ],
            dtype=object,
        )
        return np.asarray(table[codes], dtype=object)


def draw_plan(
    probability: npt.NDArray[np.float64],
    bilag: npt.NDArray[np.int8],
    pga: npt.NDArray[np.float64],
    config: Outcome,
    rng: np.random.Generator,
) -> Plan:
    """Status ~ Bernoulli(probability); then dropout, rescue and failed components."""
    n = probability.size
    responder = rng.random(n) < probability
    u = rng.random(n)
    dropout = ~responder & (u < config.dropout_share)
    rescue = ~responder & ~dropout & (u < config.dropout_share + config.rescue_share)
    passes = responder | (rescue & (rng.random(n) < config.rescue_clinical_pass))
    failing = ~passes & ~dropout
    sledai = failing & (rng.random(n) < config.fail_sledai)
    bilag_fail = failing & (rng.random(n) < config.fail_bilag)
    pga_fail = failing & (rng.random(n) < config.fail_pga) & can_fail_pga(pga, config)
    sledai |= failing & ~(sledai | bilag_fail | pga_fail)
    bilag_a = bilag_fail & ((rng.random(n) < config.bilag_new_a_share) | ~two_new_b_possible(bilag))
    return Plan(
        responder=responder,
        dropout=dropout,
        rescue=rescue,
        fail={
            "sledai": sledai,
            "bilag_a": bilag_a,
            "bilag_b": bilag_fail & ~bilag_a,
            "pga": pga_fail,
        },
    )


def score(baseline: pd.DataFrame, week48: pd.DataFrame) -> pd.DataFrame:
    """SRI-4 (``sri4``, ``sri4_reasons``) by `features.sri.sri_frame` from the assessments.

    Both frames are indexed by patient_id with ``sledai_2k``, the nine ``bilag_*`` grades and
    ``pga``; ``week48`` also ``rescue_therapy`` and lacks the dropouts.
    """
    return sri.sri_frame(baseline, week48, k=4)
