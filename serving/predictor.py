"""Predictions from one pinned model version: probability, contributions, imputation, eligibility.

A `Predictor` wraps a fitted MRBS pipeline exactly as MLflow logged it. It answers through a
fast path that runs the same fitted steps on plain arrays (a one-row DataFrame costs more than
the model), and through the pipeline itself; a test holds the two equal.

Each predictor's contribution is the change in log-odds when that predictor alone is moved to
the development cohort's median (the value the pipeline imputes when it is missing), with every
other value kept: positive favours response. An imputed predictor, or one already at the
median, contributes exactly 0 and costs nothing. `Predictor.explain` computes them for any
number of rows, and is what both ``/predict`` (one row) and ``mrbs score`` (a chunk of a
cohort) run, so the two agree exactly. Imputation replaces values one by one, so it runs once
per row and only the steps after it see the variations; a row and its variations go through
the model in one call (a block of rows at a time for a cohort), so all contributions of one
patient cost about as much as the prediction itself.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import logit
from sklearn.base import BaseEstimator

from features.eligibility import screen
from features.pipeline import FEATURE_SETS, BaselineFeatures, input_fields

#: Display bands of the predicted probability; not decision thresholds (those are the
#: clinician's, informed by the decision curve in the model card).
RISK_BANDS: Final = ((0.35, "low"), (0.65, "intermediate"), (1.01, "high"))
#: The record field a derived model input is shown as.
SHOWN_AS: Final = {"log_anti_dsdna_xuln": "anti_dsdna", "male": "sex"}
#: Probabilities are kept within [CLIP, 1 - CLIP], so that every log-odds is finite.
CLIP: Final = 1e-9
#: Rows explained per call of the model; each is stacked with up to one variation per model
#: input, so a call stays within a few megabytes however many rows are explained.
EXPLAIN_BLOCK_ROWS: Final = 4096

#: Layout of a model in the BentoML store: the MLflow model, and the optional bootstrap refits
#: with the skops types reviewed for them (in the model's metadata).
MLFLOW_MODEL_FOLDER: Final = "mlflow_model"
INTERVAL_REFITS_FILE: Final = "interval/refits.skops"
INTERVAL_TRUSTED_TYPES: Final = "interval_trusted_types"
#: Coverage of the uncertainty interval of a probability.
INTERVAL_LEVEL: Final = 0.95

FloatArray = npt.NDArray[np.float64]


def clip(probability: FloatArray) -> FloatArray:
    """Probabilities kept within [`CLIP`, 1 - `CLIP`], so that log-odds stay finite."""
    return np.clip(probability, CLIP, 1 - CLIP)


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


@dataclass(frozen=True)
class Explained:
    """Clipped probabilities (rows) and, when asked for, occlusion contributions in log-odds
    (rows x model inputs)."""

    probability: FloatArray
    contributions: FloatArray | None


class Predictor:
    """A fitted pipeline, ready to answer for one patient or many."""

    def __init__(self, pipeline: Any, identity: ModelIdentity) -> None:
        features = pipeline.named_steps.get("features")
        if not isinstance(features, BaselineFeatures):
            raise TypeError("not an MRBS pipeline: its first step is not BaselineFeatures")
        if [name for name, _ in pipeline.steps[1:2]] != ["impute"]:
            raise TypeError("not an MRBS pipeline: feature derivation is not followed by impute")
        self.pipeline = pipeline
        self.identity = identity
        self.features = features
        self.fields: tuple[str, ...] = input_fields(features.feature_set)
        self.model_inputs: tuple[str, ...] = FEATURE_SETS[features.feature_set]
        #: The record field each model input is reported as.
        self.shown_as: tuple[str, ...] = tuple(SHOWN_AS.get(n, n) for n in self.model_inputs)
        impute = pipeline.named_steps["impute"]
        if impute.strategy != "median" or not np.isnan(impute.missing_values):
            raise TypeError("not an MRBS pipeline: impute is not a median imputer of NaN")
        #: The development cohort's median of each model input: the value the fitted imputer
        #: fills in when it is missing, and the value it is moved to for its contribution.
        self.medians: FloatArray = np.asarray(impute.statistics_, dtype=float)
        # The steps after imputation, answering on arrays instead of DataFrames.
        self._after_impute = on_arrays(pipeline[2:])

    def _imputed(self, derived: FloatArray) -> FloatArray:
        """What the fitted imputer returns for ``derived``, without its per-call input checks
        (a third of one patient's time): each missing value replaced by its column's median."""
        return np.where(np.isnan(derived), self.medians, derived)

    def _after_impute_probabilities(self, imputed: FloatArray) -> FloatArray:
        return np.asarray(self._after_impute.predict_proba(imputed)[:, 1], dtype=float)

    def explain(self, derived: FloatArray, *, contributions: bool = True) -> Explained:
        """Clipped probabilities of the rows of ``derived`` (model inputs, rows x inputs, NaN
        where missing) and, if asked, each input's occlusion contribution in log-odds."""
        n, k = derived.shape
        if n == 0:
            return Explained(np.empty(0), np.zeros((0, k)) if contributions else None)
        imputed = self._imputed(np.asarray(derived, dtype=float))
        if not contributions:
            return Explained(clip(self._after_impute_probabilities(imputed)), None)
        probability = np.empty(n)
        effects = np.zeros((n, k))
        moved = ~np.isnan(derived) & (derived != self.medians)
        for start in range(0, n, EXPLAIN_BLOCK_ROWS):
            block = imputed[start : start + EXPLAIN_BLOCK_ROWS]
            rows, columns = np.nonzero(moved[start : start + EXPLAIN_BLOCK_ROWS])
            stacked = np.empty((len(block) + rows.size, k))
            stacked[: len(block)] = block
            varied = stacked[len(block) :]
            np.take(block, rows, axis=0, out=varied)
            varied[np.arange(rows.size), columns] = self.medians[columns]
            p = clip(self._after_impute_probabilities(stacked))
            probability[start : start + len(block)] = p[: len(block)]
            log_odds = logit(p)
            effects[start + rows, columns] = log_odds[rows] - log_odds[len(block) :]
        return Explained(probability, effects)

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        """Predict for one validated record (canonical units; None = missing)."""
        return self.predict_many([record])[0]

    def predict_many(self, records: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """Predict for validated records (canonical units; None = missing), in one model call
        per block of rows; each answer equals `predict_one` of its record."""
        if not records:
            return []
        explained = self.explain(self.features.transform_records(records))
        assert explained.contributions is not None
        predictions = []
        for record, probability, effects in zip(
            records, explained.probability.tolist(), explained.contributions.tolist(), strict=True
        ):
            screening = screen(record)
            predictions.append(
                Prediction(
                    probability=probability,
                    band=risk_band(probability),
                    contributions=dict(zip(self.shown_as, effects, strict=True)),
                    imputed=tuple(f for f in self.fields if record.get(f) is None),
                    eligible=screening.eligible,
                    eligibility_reasons=screening.reasons,
                    unknown_criteria=screening.unknown,
                )
            )
        return predictions

    def probabilities(self, frame: pd.DataFrame) -> FloatArray:
        """Probabilities for many validated records through the pipeline itself."""
        return np.asarray(self.pipeline.predict_proba(frame[list(self.fields)])[:, 1], dtype=float)

    def fast_probabilities(self, records: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Probabilities for records through the array path (unclipped; used to check it)."""
        derived = self.features.transform_records(records)
        return self._after_impute_probabilities(self._imputed(derived))


def on_arrays(steps: Any) -> Any:
    """A copy of fitted pipeline ``steps`` that takes and returns plain arrays (columns in the
    pipeline's own order) instead of DataFrames; the original keeps its pandas output and the
    column names it was fitted with."""
    copied = copy.deepcopy(steps).set_output(transform="default")
    _forget_feature_names(copied)
    return copied


def _forget_feature_names(estimator: Any) -> None:
    """Drop the column names ``estimator`` and the fitted estimators inside it were fitted
    with, so that they take plain arrays without warning that the arrays have no names.
    Columns are chosen by position in MRBS pipelines."""
    seen: set[int] = set()
    pending = [estimator]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, BaseEstimator) or type(item).__module__.startswith("sklearn."):
            # (sklearn keeps some fitted estimators in plain holders, e.g. calibration's.)
            vars(item).pop("feature_names_in_", None)
            pending.extend(vars(item).values())


class IntervalEstimator:
    """The uncertainty interval of a probability, from bootstrap refits of the same pipeline.

    Each refit (`training.interval`) answers for the patient through the same array path as the
    model itself; the interval is the percentile range of those answers at `INTERVAL_LEVEL`:
    how far the probability moves when the model is rebuilt from another sample of the
    development population.
    """

    def __init__(self, refits: Sequence[Any], identity: ModelIdentity) -> None:
        if not refits:
            raise ValueError("an interval needs at least one refit")
        self.refits = [Predictor(refit, identity) for refit in refits]

    def interval(self, record: Mapping[str, Any]) -> tuple[float, float]:
        # Derivation learns nothing from the data: every refit derives the same model inputs.
        derived = self.refits[0].features.transform_records([record])
        answers = [
            float(refit.explain(derived, contributions=False).probability[0])
            for refit in self.refits
        ]
        tail = (1.0 - INTERVAL_LEVEL) / 2.0
        lower, upper = np.quantile(answers, [tail, 1.0 - tail])
        return float(lower), float(upper)
