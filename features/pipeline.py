"""The feature steps of every MRBS model: baseline record -> numeric model inputs -> model terms.

These steps open each candidate's scikit-learn `Pipeline`, so training, MLflow, the service and
batch scoring all run the same fitted object. `BaselineFeatures` derives the model inputs from a
baseline record in canonical units, as a plain array, so every later step is fitted on arrays
and runs on them however a record arrived; `MedianImputer` fills optional predictors that are
missing with the development cohort's medians, stored in the pipeline; then `ClinicalTerms`
splits SLEDAI-2K into its clinical and serological parts, as the BLISS analyses do, so every
model sees disease activity the way clinicians read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from features import columns as cols
from features.record import C3_LOWER_LIMIT_MG_DL, C4_LOWER_LIMIT_MG_DL, CORE_PREDICTORS
from features.sledai import DESCRIPTOR_WEIGHTS

FeatureSet = Literal["core", "extended"]

#: The five MRBS core predictors and what the model sees of them. anti-dsDNA enters as the log
#: of its multiple of the assay's cut-off, the one scale comparable across assays
#: (CLINICAL.md section 6).
CORE_FEATURES: Final = ("sledai_2k", "c3", "c4", "igg", "log_anti_dsdna_xuln")
EXTENDED_FEATURES: Final = (
    *CORE_FEATURES,
    "age",
    "male",
    "disease_duration",
    "sdi",
    "prednisone_mg_day",
    "immunosuppressant",
    "antimalarial",
    "smoking_current",
    "proteinuria",
    "anti_sm_positive",
    "blys",
    "renal_involvement",
    "musculoskeletal_involvement",
    "mucocutaneous_involvement",
)
FEATURE_SETS: Final[dict[str, tuple[str, ...]]] = {
    "core": CORE_FEATURES,
    "extended": EXTENDED_FEATURES,
}
#: Record fields each derived input reads, when it is not a record field itself.
_DERIVED_FROM: Final[dict[str, tuple[str, ...]]] = {
    "log_anti_dsdna_xuln": ("anti_dsdna", "anti_dsdna_cutoff"),
    "male": ("sex",),
}
#: anti-dsDNA below 1 % of the cut-off is read as 1 % (assays floor there), keeping the log finite.
_XULN_FLOOR: Final = 0.01

#: SLEDAI-2K without its two serology items ("clinical SLEDAI-2K", as in the DORIS remission
#: definition), the term that replaces the SLEDAI-2K total after `ClinicalTerms`.
CLINICAL_SLEDAI: Final = "clinical_sledai_2k"
#: Low C3 or C4 together with anti-dsDNA at or above the assay's cut-off: the BLISS subgroup with
#: serologically active disease (van Vollenhoven et al., Ann Rheum Dis 2012;71:1343-1349).
SEROLOGY_ACTIVE: Final = "serology_active"


def input_fields(feature_set: str) -> tuple[str, ...]:
    """The record fields a feature set reads, in a stable order."""
    fields: list[str] = []
    for name in FEATURE_SETS[feature_set]:
        for source in _DERIVED_FROM.get(name, (name,)):
            if source not in fields:
                fields.append(source)
    return tuple(fields)


def required_fields(feature_set: str) -> tuple[str, ...]:
    """Fields without which no prediction is made (the core predictors and the assay cut-off)."""
    return tuple(
        f for f in input_fields(feature_set) if f in (*CORE_PREDICTORS, "anti_dsdna_cutoff")
    )


class MissingPredictorsError(ValueError):
    """Required predictors absent or empty; the message names every one."""


class BaselineFeatures(TransformerMixin, BaseEstimator):
    """Derive a feature set's numeric model inputs from baseline records (canonical units).

    Parameters
    ----------
    feature_set:
        ``"core"`` (SLEDAI-2K, C3, C4, IgG, anti-dsDNA) or ``"extended"`` (core plus the other
        published predictors).

    Takes a DataFrame of record fields and returns a plain array (rows x `FEATURE_SETS` of the
    feature set), so every step after it is fitted on, and answers for, arrays: a fitted MRBS
    pipeline has one way of running, whichever way a record arrived. Required predictors must be
    present and non-missing (`MissingPredictorsError` names every one); optional ones may be
    missing and are imputed by the next step.
    """

    def __init__(self, feature_set: FeatureSet = "core") -> None:
        self.feature_set = feature_set

    def fit(self, X: pd.DataFrame, y: Any = None) -> BaselineFeatures:
        _check_feature_set(self.feature_set)
        self._check_columns(X)
        self.feature_names_in_ = np.asarray(input_fields(self.feature_set), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def _check_columns(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("BaselineFeatures needs a DataFrame with named record fields")
        missing = [f for f in input_fields(self.feature_set) if f not in X.columns]
        if missing:
            raise MissingPredictorsError(f"missing predictor column(s): {', '.join(missing)}")

    def transform(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "feature_names_in_")
        self._check_columns(X)
        return self.derive(cols.from_frame(X, input_fields(self.feature_set)))

    def derive(self, columns: cols.Columns) -> npt.NDArray[np.float64]:
        """Model inputs (rows x `FEATURE_SETS` of the feature set) from validated records as
        columns (`features.columns`); every required predictor must be present."""
        empty = [
            name for name in required_fields(self.feature_set) if cols.missing(columns[name]).any()
        ]
        if empty:
            raise MissingPredictorsError(
                f"required predictor(s) missing in some rows: {', '.join(empty)}"
            )
        derived = [_derive(name, columns) for name in FEATURE_SETS[self.feature_set]]
        return np.column_stack(derived) if derived else np.empty((cols.size(columns), 0))

    def get_feature_names_out(
        self, input_features: Sequence[str] | None = None
    ) -> npt.NDArray[Any]:
        check_is_fitted(self, "feature_names_in_")
        return np.asarray(FEATURE_SETS[self.feature_set], dtype=object)


def _derive(name: str, columns: cols.Columns) -> npt.NDArray[np.float64]:
    if name == "log_anti_dsdna_xuln":
        xuln = columns["anti_dsdna"] / columns["anti_dsdna_cutoff"]
        return np.asarray(np.log(np.maximum(xuln, _XULN_FLOOR)))
    if name == "male":
        sex = np.asarray(columns["sex"], dtype=object)
        male = np.full(len(sex), np.nan)
        male[sex == "M"] = 1.0
        male[sex == "F"] = 0.0
        return male
    return np.asarray(columns[name], dtype=float)


def low_complement(frame: pd.DataFrame) -> pd.Series:
    """C3 or C4 below the reporting lab's lower limit (BLISS thresholds when not given)."""
    c3_limit = frame.get("c3_lower_limit", pd.Series(np.nan, index=frame.index))
    c4_limit = frame.get("c4_lower_limit", pd.Series(np.nan, index=frame.index))
    low_c3 = frame["c3"] < c3_limit.fillna(C3_LOWER_LIMIT_MG_DL)
    low_c4 = frame["c4"] < c4_limit.fillna(C4_LOWER_LIMIT_MG_DL)
    return (low_c3 | low_c4).astype("boolean")


def anti_dsdna_positive(frame: pd.DataFrame) -> pd.Series:
    """anti-dsDNA at or above its assay's positivity cut-off."""
    return (frame["anti_dsdna"] >= frame["anti_dsdna_cutoff"]).astype("boolean")


def float_inputs(estimator: BaseEstimator, X: Any) -> npt.NDArray[np.float64]:
    """A copy of ``X`` as floats, checked against what ``estimator`` was fitted on.

    The float array a fitted MRBS pipeline passes between its steps is checked here directly
    (its width, no infinity); sklearn's general validation, which costs more than a whole step
    on one patient, handles anything else.
    """
    if (
        isinstance(X, np.ndarray)
        and X.dtype == np.float64
        and X.ndim == 2
        and X.shape[1] == estimator.n_features_in_
        and not np.isinf(X).any()
    ):
        return X.copy()
    return np.array(
        validate_data(estimator, X, ensure_all_finite="allow-nan", reset=False), dtype=float
    )


class _FloatStep(TransformerMixin, BaseEstimator):
    """What MRBS's own steps after derivation share: float inputs, missing values allowed."""

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class MedianImputer(OneToOneFeatureMixin, _FloatStep):
    """Fill each missing model input with the development cohort's median of that input.

    Learned: ``statistics_``, each column's median over its known values (0 for a column with
    none, which only a degenerate cohort has). It is the value a missing optional predictor is
    given, and the value a predictor is moved to for its contribution (`scoring.scorer`).
    """

    def fit(self, X: Any, y: Any = None) -> MedianImputer:
        values = np.asarray(
            validate_data(self, X, ensure_all_finite="allow-nan", reset=True), dtype=float
        )
        medians = np.zeros(values.shape[1])
        for j in range(values.shape[1]):
            known = values[~np.isnan(values[:, j]), j]
            if known.size:
                medians[j] = np.median(known)
        self.statistics_ = medians
        return self

    def transform(self, X: Any) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "statistics_")
        values = float_inputs(self, X)
        return np.where(np.isnan(values), self.statistics_, values)


class ClinicalTerms(_FloatStep):
    """Split the SLEDAI-2K total into clinical activity and serological activity.

    Input: a feature set's model inputs after imputation, in `FEATURE_SETS` order, found by
    position (a float array as the pipeline passes it, or anything sklearn can validate).
    Output: the same columns with ``sledai_2k`` replaced by ``clinical_sledai_2k`` (the total
    minus 2 points for low complement and 2 for increased DNA binding, never below 0), followed by
    ``serology_active`` (1 when both serology items are present, else 0).

    The two serology items are scored as the BLISS trials defined them, from the model inputs
    alone: C3 < 90 mg/dL or C4 < 16 mg/dL, and anti-dsDNA at or above its assay's cut-off. Where
    a reporting lab scored the SLEDAI-2K total with other reference limits, the clinical part
    can differ from that lab's by those 2 points. Why split: a 4-point SLEDAI-2K fall rests on
    the clinical items, because serology normalises slowly (C3 +14.5 %, anti-dsDNA -34 % in
    responders, Furie et al., Lupus Sci Med 2014), while serologically active disease
    is where belimumab adds most (van Vollenhoven 2012). Nothing is learned from the data.
    """

    def __init__(self, feature_set: FeatureSet = "core") -> None:
        self.feature_set = feature_set

    def fit(self, X: Any, y: Any = None) -> ClinicalTerms:
        _check_feature_set(self.feature_set)
        validate_data(self, X, ensure_all_finite="allow-nan", reset=True)
        expected = len(FEATURE_SETS[self.feature_set])
        if self.n_features_in_ != expected:
            raise ValueError(
                f"ClinicalTerms({self.feature_set!r}) needs the {expected} model inputs of that "
                f"feature set; got {self.n_features_in_} columns"
            )
        return self

    def transform(self, X: Any) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "n_features_in_")
        values = float_inputs(self, X)
        order = FEATURE_SETS[self.feature_set]
        low = (values[:, order.index("c3")] < C3_LOWER_LIMIT_MG_DL) | (
            values[:, order.index("c4")] < C4_LOWER_LIMIT_MG_DL
        )
        dna = values[:, order.index("log_anti_dsdna_xuln")] >= 0.0
        serology_points = (
            DESCRIPTOR_WEIGHTS["low_complement"] * low
            + DESCRIPTOR_WEIGHTS["increased_dna_binding"] * dna
        )
        total = order.index("sledai_2k")
        values[:, total] = np.maximum(values[:, total] - serology_points, 0.0)
        return np.column_stack([values, (low & dna).astype(float)])

    def get_feature_names_out(
        self, input_features: Sequence[str] | None = None
    ) -> npt.NDArray[Any]:
        check_is_fitted(self, "n_features_in_")
        return np.asarray(model_terms(self.feature_set), dtype=object)


def _check_feature_set(feature_set: str) -> None:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"feature_set: {feature_set!r} is not one of {', '.join(FEATURE_SETS)}")


def model_terms(feature_set: str) -> tuple[str, ...]:
    """The columns `ClinicalTerms` passes on for a feature set, in order."""
    renamed = (
        CLINICAL_SLEDAI if name == "sledai_2k" else name for name in FEATURE_SETS[feature_set]
    )
    return (*renamed, SEROLOGY_ACTIVE)


def feature_steps(feature_set: FeatureSet) -> list[tuple[str, Any]]:
    """The leading steps of every candidate pipeline: derive, impute optional inputs, split
    SLEDAI-2K into its clinical and serological terms."""
    return [
        ("features", BaselineFeatures(feature_set)),
        ("impute", MedianImputer()),
        ("terms", ClinicalTerms(feature_set)),
    ]


def model_input(frame: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """The record fields a model reads, as a fitted MRBS pipeline takes them.

    Numbers and yes/no flags become float64 (NaN when missing) and sex stays text
    (`features.columns`).
    """
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise MissingPredictorsError(f"missing predictor column(s): {', '.join(missing)}")
    return cols.frame_of(cols.from_frame(frame, fields), fields).set_axis(frame.index)
