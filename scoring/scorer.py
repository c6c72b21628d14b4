"""The one scoring function: validated records in, probability and everything that explains it.

`Scorer.score` turns N validated records (as columns, `features.columns`) into probabilities,
risk bands, each predictor's contribution, the inputs that were imputed, and MRBS eligibility.
Every way MRBS answers calls it: ``/predict`` (N = 1), ``/predict_batch``, `mrbs score` (a chunk
of a file), Spark (an Arrow batch) and the logged MLflow model (`scoring.bundle`). It runs the
fitted pipeline exactly as MLflow logged it: the pipeline's own feature step derives the model
inputs, and the pipeline's later steps (imputation onwards) take them as the plain array they
were fitted on. Nothing of the pipeline is copied or re-implemented.

Each predictor's contribution is the change in log-odds when that predictor alone is moved to
the development cohort's median (the value the pipeline's imputer fills in when it is missing),
every other value kept: positive favours response. Moving it is done by the imputer itself: the
variation leaves the value out. An imputed predictor, or one already at the median, contributes
exactly 0 and costs nothing. A block of rows and all their variations go through the model in
one call, so all contributions of one patient cost about as much as the prediction itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import logit

from features import columns as cols
from features.eligibility import Screening, screen
from features.pipeline import FEATURE_SETS, BaselineFeatures, MedianImputer, input_fields
from infra.store import ModelIdentity

#: Display bands of the predicted probability; not decision thresholds (those are the
#: clinician's, informed by the decision curve in the model card): low < 0.35 <= intermediate
#: < 0.65 <= high.
RISK_BANDS: Final = ((0.35, "low"), (0.65, "intermediate"), (np.inf, "high"))
#: The record field a derived model input is shown as.
SHOWN_AS: Final = {"log_anti_dsdna_xuln": "anti_dsdna", "male": "sex"}
#: Probabilities are kept within [CLIP, 1 - CLIP], so that every log-odds is finite.
CLIP: Final = 1e-9
#: Decimals of probabilities and log-odds wherever they are shown (responses, output files).
DECIMALS: Final = 6
#: Rows explained per call of the model; each is stacked with up to one variation per model
#: input, so a call stays within a few megabytes however many rows are explained.
EXPLAIN_BLOCK_ROWS: Final = 4096

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_BAND_UPPER: Final = np.array([upper for upper, _ in RISK_BANDS])
_BAND_NAMES: Final = np.array([band for _, band in RISK_BANDS], dtype=object)


def clip(probability: FloatArray) -> FloatArray:
    """Probabilities kept within [`CLIP`, 1 - `CLIP`], so that log-odds stay finite."""
    return np.clip(probability, CLIP, 1 - CLIP)


def bands(probability: FloatArray) -> npt.NDArray[np.object_]:
    """The display band of each probability (`RISK_BANDS`)."""
    return np.asarray(_BAND_NAMES[np.searchsorted(_BAND_UPPER, probability, side="right")])


def shown(values: FloatArray) -> FloatArray:
    """Values as they are shown: rounded to `DECIMALS` (numpy's rounding, everywhere)."""
    return np.round(values, DECIMALS)


@dataclass(frozen=True)
class Scores:
    """What `Scorer.score` says of N records.

    ``probability``: clipped probability of SRI-4 response at week 48 (N). ``band``: its display
    band. ``contributions``: log-odds per predictor (N x `Scorer.shown_as`), or None when not
    asked for. ``imputed``: which of `Scorer.fields` were missing and imputed (N x fields).
    ``screening``: MRBS eligibility (`features.eligibility.Screening`).
    """

    probability: FloatArray
    band: npt.NDArray[np.object_]
    contributions: FloatArray | None
    imputed: BoolArray
    screening: Screening

    def __len__(self) -> int:
        return int(self.probability.size)


class Scorer:
    """A fitted MRBS pipeline and the model version it is, answering for any number of records.

    ``pipeline`` must start with `BaselineFeatures` followed by a median imputer (every MRBS
    pipeline does); `TypeError` otherwise.
    """

    def __init__(self, pipeline: Any, identity: ModelIdentity) -> None:
        features = pipeline.steps[0][1] if pipeline.steps else None
        if not isinstance(features, BaselineFeatures):
            raise TypeError("not an MRBS pipeline: its first step is not BaselineFeatures")
        impute = pipeline.steps[1][1] if len(pipeline.steps) > 1 else None
        if not isinstance(impute, MedianImputer):
            raise TypeError("not an MRBS pipeline: feature derivation is not followed by impute")
        self.pipeline = pipeline
        self.identity = identity
        self.features: BaselineFeatures = features
        #: The steps after feature derivation: the same fitted objects, not a copy.
        self._model = pipeline[1:]
        self.fields: tuple[str, ...] = input_fields(features.feature_set)
        self.model_inputs: tuple[str, ...] = FEATURE_SETS[features.feature_set]
        #: The record field each model input is reported as.
        self.shown_as: tuple[str, ...] = tuple(SHOWN_AS.get(n, n) for n in self.model_inputs)
        #: The development cohort's median of each model input: what the fitted imputer fills
        #: in, read to skip variations that would not move anything.
        self.medians: FloatArray = np.asarray(impute.statistics_, dtype=float)

    @property
    def feature_set(self) -> str:
        return str(self.features.feature_set)

    def derive(self, columns: cols.Columns) -> FloatArray:
        """The model inputs of validated records (rows x `model_inputs`, NaN where missing)."""
        return self.features.derive(columns)

    def probabilities(self, derived: FloatArray) -> FloatArray:
        """Unclipped probabilities of response for derived model inputs (one model call)."""
        return np.asarray(self._model.predict_proba(derived)[:, 1], dtype=float)

    def score(self, columns: cols.Columns, *, contributions: bool = True) -> Scores:
        """Score validated records given as columns (every field of `fields` present; required
        ones not missing, else `features.pipeline.MissingPredictorsError`)."""
        derived = self.derive(columns)
        probability, effects = self._explain(derived, contributions=contributions)
        imputed = np.column_stack([cols.missing(columns[f]) for f in self.fields])
        return Scores(
            probability=probability,
            band=bands(probability),
            contributions=effects,
            imputed=imputed.reshape(len(probability), len(self.fields)),
            screening=screen(columns),
        )

    def _explain(
        self, derived: FloatArray, *, contributions: bool
    ) -> tuple[FloatArray, FloatArray | None]:
        n, k = derived.shape
        if n == 0:
            return np.empty(0), (np.zeros((0, k)) if contributions else None)
        if not contributions:
            return clip(self.probabilities(derived)), None
        probability = np.empty(n)
        effects = np.zeros((n, k))
        moved = ~np.isnan(derived) & (derived != self.medians)
        for start in range(0, n, EXPLAIN_BLOCK_ROWS):
            block = derived[start : start + EXPLAIN_BLOCK_ROWS]
            rows, columns = np.nonzero(moved[start : start + EXPLAIN_BLOCK_ROWS])
            stacked = np.concatenate([block, block[rows]])
            # A variation leaves the value out; the pipeline's imputer puts the median there.
            stacked[len(block) + np.arange(rows.size), columns] = np.nan
            p = clip(self.probabilities(stacked))
            probability[start : start + len(block)] = p[: len(block)]
            log_odds = logit(p)
            effects[start + rows, columns] = log_odds[rows] - log_odds[len(block) :]
        return probability, effects
