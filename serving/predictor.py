"""Predictions from one pinned model version: probability, contributions, imputation, eligibility.

A `Predictor` wraps a fitted MRBS pipeline exactly as MLflow logged it. It answers for one
patient through a fast path that runs the same fitted steps on plain arrays (a one-row
DataFrame costs more than the model), and for many patients through the pipeline itself; a
test holds the two equal.

Each predictor's contribution is the change in log-odds when that predictor alone is moved to
the development cohort's median (the value the pipeline imputes when it is missing), with every
other value kept: positive favours response. All contributions come from one batched call, so
they cost about as much as the prediction itself. An imputed predictor contributes 0.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import logit

from features.eligibility import screen
from features.pipeline import FEATURE_SETS, BaselineFeatures, input_fields

#: Display bands of the predicted probability; not decision thresholds (those are the
#: clinician's, informed by the decision curve in the model card).
RISK_BANDS: Final = ((0.35, "low"), (0.65, "intermediate"), (1.01, "high"))
#: The record field a derived model input is shown as.
SHOWN_AS: Final = {"log_anti_dsdna_xuln": "anti_dsdna", "male": "sex"}
_CLIP: Final = 1e-9


def risk_band(probability: float) -> str:
    for upper, band in RISK_BANDS:
        if probability < upper:
            return band
    return RISK_BANDS[-1][1]


@dataclass(frozen=True)
class ModelIdentity:
    """Which model answered: registered name, exact version and provenance."""

    name: str
    version: str
    run_id: str = ""
    trained_at: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """One patient's answer, before it is shaped into a response."""

    probability: float
    band: str
    contributions: dict[str, float]
    imputed: tuple[str, ...]
    eligible: bool | None
    eligibility_reasons: tuple[str, ...]
    unknown_criteria: tuple[str, ...]


class Predictor:
    """A fitted pipeline, ready to answer for one patient or many."""

    def __init__(self, pipeline: Any, identity: ModelIdentity) -> None:
        features = pipeline.named_steps.get("features")
        if not isinstance(features, BaselineFeatures):
            raise TypeError("not an MRBS pipeline: its first step is not BaselineFeatures")
        self.pipeline = pipeline
        self.identity = identity
        self.features = features
        self.fields: tuple[str, ...] = input_fields(features.feature_set)
        self.model_inputs: tuple[str, ...] = FEATURE_SETS[features.feature_set]
        # The steps after feature derivation, answering on arrays instead of DataFrames. A
        # copy, so the logged pipeline keeps its pandas output for batch use.
        self._on_arrays = copy.deepcopy(pipeline[1:]).set_output(transform="default")
        self._reference = np.asarray(pipeline.named_steps["impute"].statistics_, dtype=float)
        warnings.filterwarnings("ignore", message="X does not have valid feature names")

    def _probabilities(self, derived: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(self._on_arrays.predict_proba(derived)[:, 1], dtype=float)

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        """Predict for one validated record (canonical units; None = missing)."""
        derived = self.features.transform_records([record])
        k = derived.shape[1]
        varied = np.repeat(derived, k + 1, axis=0)
        missing = np.isnan(derived[0])
        for j in range(k):
            varied[j + 1, j] = self._reference[j]
        p = np.clip(self._probabilities(varied), _CLIP, 1 - _CLIP)
        log_odds = logit(p)
        contributions = {
            SHOWN_AS.get(name, name): 0.0 if missing[j] else float(log_odds[0] - log_odds[j + 1])
            for j, name in enumerate(self.model_inputs)
        }
        screening = screen(record)
        probability = float(p[0])
        return Prediction(
            probability=probability,
            band=risk_band(probability),
            contributions=contributions,
            imputed=tuple(f for f in self.fields if record.get(f) is None),
            eligible=screening.eligible,
            eligibility_reasons=screening.reasons,
            unknown_criteria=screening.unknown,
        )

    def probabilities(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Probabilities for many validated records through the pipeline itself."""
        return np.asarray(self.pipeline.predict_proba(frame[list(self.fields)])[:, 1], dtype=float)

    def fast_probabilities(self, records: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """Probabilities for records through the array path (used to check it and for batches)."""
        return self._probabilities(self.features.transform_records(records))
