"""A pinned model prepared for many rows: model inputs from a validated table, output helpers.

`BatchModel` holds the `serving.predictor.Predictor` that ``/predict`` answers with. Feature
derivation is the pipeline's own first step (`BaselineFeatures.transform`), and probabilities and
contributions come from `Predictor.explain`, the one implementation of the occlusion
contributions, so a cohort is scored by the same fitted objects and the same code as
``/predict``; nothing is re-implemented here. Results are rounded as the service rounds them,
with Python's `round` semantics, so the numbers agree exactly.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from serving.predictor import RISK_BANDS, ModelIdentity, Predictor

#: Decimals of probabilities and log-odds in the output, as in the service's responses.
DECIMALS: Final = 6
_RISK_UPPER: Final = np.array([upper for upper, _ in RISK_BANDS])
_RISK_NAMES: Final = tuple(band for _, band in RISK_BANDS)

FloatArray = npt.NDArray[np.float64]


class BatchModel:
    """One pinned model version, answering for many validated rows at once."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.identity: ModelIdentity = predictor.identity
        self.features = predictor.features
        self.fields: tuple[str, ...] = predictor.fields
        #: The record field each model input is reported as (``contribution_<field>``).
        self.shown_as: tuple[str, ...] = predictor.shown_as

    def derive(self, validated: pd.DataFrame) -> FloatArray:
        """Model inputs (rows x inputs) of validated rows without problems, via the pipeline."""
        derived = self.features.transform(validated[list(self.fields)])
        return np.asarray(derived.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def round_half_even(values: FloatArray, decimals: int = DECIMALS) -> FloatArray:
    """``round(v, decimals)`` for every value, as Python rounds floats, but vectorised.

    ``np.round`` scales, rounds and unscales, which can land on the other side of a tie than
    Python's correctly rounded `round`; values within a hair of a tie are rounded by Python.
    """
    scale = 10.0**decimals
    scaled = values * scale
    nearest = np.rint(scaled)
    # Distance of each scaled value to its nearest whole number: 0.5 at a tie.
    distance = np.abs(np.subtract(scaled, nearest, out=scaled), out=scaled)
    result = np.divide(nearest, scale, out=nearest)
    flat_values, flat_result = values.reshape(-1), result.reshape(-1)
    for position in np.flatnonzero(distance.reshape(-1) > 0.5 - 1e-6):
        flat_result[position] = round(float(flat_values[position]), decimals)
    return np.asarray(result, dtype=float)


def risk_bands(probability: FloatArray) -> npt.NDArray[np.object_]:
    """The display band of each (clipped, unrounded) probability, as `risk_band` gives it."""
    index = np.searchsorted(_RISK_UPPER, probability, side="right")
    names = np.asarray(_RISK_NAMES, dtype=object)
    return np.asarray(names[np.minimum(index, len(names) - 1)], dtype=object)
