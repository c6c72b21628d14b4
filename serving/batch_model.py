"""A pinned model prepared for many rows: probabilities and contributions on arrays.

`BatchModel` runs the fitted pipeline's steps after feature derivation on plain arrays, a deep
copy of ``pipeline[1:]`` with numpy output exactly as `serving.predictor.Predictor` builds for
one patient, so a cohort is scored by the same fitted objects as ``/predict``. Feature derivation
is the pipeline's own first step (`BaselineFeatures.transform`); nothing is re-implemented here.

Contributions are the predictor's occlusion contributions: the change in log-odds of response
when one model input alone is moved to the development cohort's median (the value the fitted
imputer holds), every other input kept; positive favours response, an imputed input contributes
0. They cost one extra prediction per row and model input, except where the input is missing or
already equals the median (its contribution is exactly 0, so that prediction is skipped).
Imputation replaces values one by one, so it runs once per row and the variations go through
the steps after it. Results are rounded as the service rounds them, with Python's `round`
semantics, so the numbers agree exactly.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import logit

from serving.predictor import _CLIP, RISK_BANDS, SHOWN_AS, ModelIdentity, Predictor

#: Decimals of probabilities and log-odds in the output, as in the service's responses.
DECIMALS: Final = 6
_RISK_UPPER: Final = np.array([upper for upper, _ in RISK_BANDS])
_RISK_NAMES: Final = tuple(band for _, band in RISK_BANDS)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Explained:
    """Predictions for rows without problems: clipped probability and per-input log-odds."""

    probability: FloatArray
    contributions: FloatArray | None


class BatchModel:
    """One pinned model version, answering for many validated rows at once."""

    def __init__(self, predictor: Predictor) -> None:
        self.identity: ModelIdentity = predictor.identity
        self.features = predictor.features
        self.fields: tuple[str, ...] = predictor.fields
        self.model_inputs: tuple[str, ...] = predictor.model_inputs
        #: The record field each model input is reported as (``contribution_<field>``).
        self.shown_as: tuple[str, ...] = tuple(SHOWN_AS.get(n, n) for n in self.model_inputs)
        on_arrays = copy.deepcopy(predictor.pipeline[1:]).set_output(transform="default")
        # Imputation replaces each missing value by its median, value by value; a row varied
        # to a median needs no imputing again, so it is done once and the steps after it
        # answer for the row and all its variations.
        if on_arrays.steps[0][0] != "impute":
            raise TypeError("not an MRBS pipeline: feature derivation is not followed by impute")
        self.impute = on_arrays[0]
        self.after_impute = on_arrays[1:]
        self.reference: FloatArray = np.asarray(self.impute.statistics_, dtype=float)
        _quiet_feature_name_warning()

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Spark executors unpickle the model in fresh interpreters.
        self.__dict__.update(state)
        _quiet_feature_name_warning()

    def derive(self, validated: pd.DataFrame) -> FloatArray:
        """Model inputs (rows x inputs) of validated rows without problems, via the pipeline."""
        derived = self.features.transform(validated[list(self.fields)])
        return np.asarray(derived.to_numpy(dtype=float, na_value=np.nan), dtype=float)

    def _probability(self, imputed: FloatArray) -> FloatArray:
        return clip(np.asarray(self.after_impute.predict_proba(imputed)[:, 1], dtype=float))

    def explain(self, derived: FloatArray, *, contributions: bool) -> Explained:
        """Clipped probabilities and, if asked, each input's occlusion contribution (log-odds)."""
        if derived.shape[0] == 0:
            return Explained(np.empty(0), np.empty(derived.shape) if contributions else None)
        imputed = np.asarray(self.impute.transform(derived), dtype=float)
        base = self._probability(imputed)
        if not contributions:
            return Explained(base, None)
        base_log_odds = logit(base)
        effects = np.zeros(derived.shape, dtype=float)
        for j, reference in enumerate(self.reference):
            column = derived[:, j]
            moved = np.flatnonzero(~np.isnan(column) & (column != reference))
            if moved.size == 0:
                continue
            varied = imputed[moved]
            varied[:, j] = reference
            effects[moved, j] = base_log_odds[moved] - logit(self._probability(varied))
        return Explained(base, effects)


def clip(probability: FloatArray) -> FloatArray:
    """Probabilities kept off 0 and 1 as the service keeps them, so log-odds stay finite."""
    return np.clip(probability, _CLIP, 1 - _CLIP)


def _quiet_feature_name_warning() -> None:
    # The array path feeds steps fitted on named columns; the order is the pipeline's own.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")


def round_half_even(values: FloatArray, decimals: int = DECIMALS) -> FloatArray:
    """``round(v, decimals)`` for every value, as Python rounds floats, but vectorised.

    ``np.round`` scales, rounds and unscales, which can land on the other side of a tie than
    Python's correctly rounded `round`; values within a hair of a tie are rounded by Python.
    """
    scale = 10.0**decimals
    scaled = values * scale
    result = np.rint(scaled) / scale
    fraction = np.abs(scaled - np.trunc(scaled))
    flat_values, flat_result = values.reshape(-1), result.reshape(-1)
    for position in np.flatnonzero(np.abs(fraction - 0.5) < 1e-6):
        flat_result[position] = round(float(flat_values[position]), decimals)
    return np.asarray(result, dtype=float)


def risk_bands(probability: FloatArray) -> npt.NDArray[np.object_]:
    """The display band of each (clipped, unrounded) probability, as `risk_band` gives it."""
    index = np.searchsorted(_RISK_UPPER, probability, side="right")
    names = np.asarray(_RISK_NAMES, dtype=object)
    return np.asarray(names[np.minimum(index, len(names) - 1)], dtype=object)
