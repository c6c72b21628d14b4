"""The feature steps of every MRBS model: baseline record -> numeric model inputs.

These steps open each candidate's scikit-learn `Pipeline`, so training, MLflow, the service and
batch scoring all run the same fitted object (STYLE.md, "the one idea"). `BaselineFeatures`
derives the model inputs from a baseline record in canonical units; imputation of optional
predictors follows as a fitted `SimpleImputer` whose values are stored in the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from features.record import C3_LOWER_LIMIT_MG_DL, C4_LOWER_LIMIT_MG_DL, CORE_PREDICTORS

FeatureSet = Literal["core", "extended"]

#: The five MRBS core predictors and what the model sees of them. anti-dsDNA enters as the log
#: of its multiple of the assay's cut-off, the one scale comparable across assays (DOMAIN.md 6).
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

    Required predictors must be present and non-missing (`MissingPredictorsError` names every
    one); optional ones may be missing and are imputed by the next step.
    """

    def __init__(self, feature_set: FeatureSet = "core") -> None:
        self.feature_set = feature_set

    def fit(self, X: pd.DataFrame, y: Any = None) -> BaselineFeatures:
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(
                f"feature_set: {self.feature_set!r} is not one of {', '.join(FEATURE_SETS)}"
            )
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
        required = required_fields(self.feature_set)
        empty = [f for f in required if X[f].isna().any()]
        if empty:
            raise MissingPredictorsError(
                f"required predictor(s) missing in some rows: {', '.join(empty)}"
            )

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_in_")
        self._check_columns(X)
        fields = {name: _field_array(X[name], name) for name in self.feature_names_in_}
        return pd.DataFrame(
            self.derive(fields), columns=FEATURE_SETS[self.feature_set], index=X.index
        )

    def transform_records(self, records: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The same derivation for records given as mappings (None = missing), without pandas.

        This is the service's single-patient path: building a one-row DataFrame costs more than
        the model. The caller has validated the records; required fields are still checked.
        """
        check_is_fitted(self, "feature_names_in_")
        fields: dict[str, npt.NDArray[Any]] = {}
        for name in self.feature_names_in_:
            values = [record.get(name) for record in records]
            if name == "sex":
                fields[name] = np.asarray(values, dtype=object)
            else:
                fields[name] = np.asarray(
                    [np.nan if v is None else float(v) for v in values], dtype=float
                )
        required = required_fields(self.feature_set)
        empty = [f for f in required if np.isnan(fields[f]).any()]
        if empty:
            raise MissingPredictorsError(f"required predictor(s) missing: {', '.join(empty)}")
        return self.derive(fields)

    def derive(self, fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
        """Model inputs (rows x features) from the record fields as arrays (sex as objects)."""
        columns = [_derive(name, fields) for name in FEATURE_SETS[self.feature_set]]
        return np.column_stack(columns) if columns else np.empty((0, 0))

    def get_feature_names_out(
        self, input_features: Sequence[str] | None = None
    ) -> npt.NDArray[Any]:
        check_is_fitted(self, "feature_names_in_")
        return np.asarray(FEATURE_SETS[self.feature_set], dtype=object)


def _as_float(column: pd.Series) -> npt.NDArray[np.float64]:
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        column = pd.to_numeric(column, errors="coerce")
    return np.asarray(column.astype("Float64").to_numpy(dtype=float, na_value=np.nan))


def _field_array(column: pd.Series, name: str) -> npt.NDArray[Any]:
    if name == "sex":
        return np.asarray(column.astype(object).where(column.notna(), None), dtype=object)
    return _as_float(column)


def _derive(name: str, fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
    if name == "log_anti_dsdna_xuln":
        xuln = fields["anti_dsdna"] / fields["anti_dsdna_cutoff"]
        return np.asarray(np.log(np.maximum(xuln, _XULN_FLOOR)))
    if name == "male":
        sex = np.asarray(fields["sex"], dtype=object)
        male = np.full(len(sex), np.nan)
        male[sex == "M"] = 1.0
        male[sex == "F"] = 0.0
        return male
    return np.asarray(fields[name], dtype=float)


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


def feature_steps(feature_set: FeatureSet) -> list[tuple[str, Any]]:
    """The leading steps of every candidate pipeline: derive, then impute optional inputs."""
    return [
        ("features", BaselineFeatures(feature_set)),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
    ]


def feature_pipeline(feature_set: FeatureSet) -> Pipeline:
    """The feature steps alone, as a pipeline with pandas output."""
    return Pipeline(feature_steps(feature_set)).set_output(transform="pandas")


def model_input(frame: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """The record fields a model reads, typed as its signature declares them.

    Numbers and yes/no flags become float64 (NaN when missing: MLflow signatures reject
    nullable integer and boolean columns), and sex stays text.
    """
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise MissingPredictorsError(f"missing predictor column(s): {', '.join(missing)}")
    columns: dict[str, Any] = {}
    for name in fields:
        column = frame[name]
        if name == "sex":
            columns[name] = column.astype(object).where(column.notna(), None)
        else:
            columns[name] = _as_float(column)
    return pd.DataFrame(columns, index=frame.index)
