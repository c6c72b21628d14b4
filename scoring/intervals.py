"""The uncertainty interval of a probability, from bootstrap refits of the same pipeline.

Training refits the chosen pipeline on bootstrap resamples of the development cohort
(`training.interval`); the interval is the percentile range of the refits' probabilities for
the patient at `INTERVAL_LEVEL`: how far the probability moves when the model is rebuilt from
another sample of the development population. That is the model's sampling uncertainty at
fixed hyperparameters, not the uncertainty of the patient's outcome, which the probability
itself expresses.

The refits are evaluated together: feature derivation learns nothing from the data, so the
records are derived once, and every refit's fitted steps after it answer for all of them at
once; the answers are stacked (refits x records) and their percentiles read per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from features import columns as cols
from infra.store import ModelIdentity
from scoring.scorer import Scorer, clip

#: Coverage of the interval: the 2.5 and 97.5 percentiles of the refits' probabilities.
INTERVAL_LEVEL: Final = 0.95

FloatArray = npt.NDArray[np.float64]


class IntervalEstimator:
    """Bootstrap refits of one pipeline, answering with percentile intervals."""

    def __init__(self, refits: Sequence[Any], identity: ModelIdentity) -> None:
        if not refits:
            raise ValueError("an interval needs at least one refit")
        self.refits = [Scorer(refit, identity) for refit in refits]
        feature_sets = {refit.feature_set for refit in self.refits}
        if len(feature_sets) != 1:
            raise ValueError(f"refits of different feature sets: {sorted(feature_sets)}")

    def __len__(self) -> int:
        return len(self.refits)

    def stacked(self, columns: cols.Columns) -> FloatArray:
        """Every refit's clipped probability for every record (refits x records)."""
        derived = self.refits[0].derive(columns)
        return np.vstack([clip(refit.probabilities(derived)) for refit in self.refits])

    def intervals(self, columns: cols.Columns) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds (`INTERVAL_LEVEL`) of each record's probability."""
        tail = (1.0 - INTERVAL_LEVEL) / 2.0
        lower, upper = np.quantile(self.stacked(columns), [tail, 1.0 - tail], axis=0)
        return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
