"""Candidate pipelines: the shared feature steps followed by one classifier each.

Every candidate is one scikit-learn `Pipeline` (feature derivation, fitted imputation, any
encoding, the classifier, and recalibration when chosen). That object is what is tuned,
validated, logged to MLflow, served and batch-scored.
"""

from __future__ import annotations

from typing import Any, Final

from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler
from xgboost import XGBClassifier

from features.pipeline import FEATURE_SETS, FeatureSet, feature_steps
from training.config import Candidate

#: Model inputs that are 0/1 flags; every other input is continuous and may bend (splines).
BINARY_FEATURES: Final = frozenset(
    {
        "male",
        "immunosuppressant",
        "antimalarial",
        "smoking_current",
        "anti_sm_positive",
        "renal_involvement",
        "musculoskeletal_involvement",
        "mucocutaneous_involvement",
    }
)
#: Quadratic B-splines with three quantile knots: three columns per continuous predictor, enough
#: for a threshold or a plateau (e.g. SLEDAI-2K >= 10) without spending many parameters.
SPLINE_KNOTS: Final = 3
SPLINE_DEGREE: Final = 2
CLASSIFIER_STEP: Final = "classifier"


def continuous_features(feature_set: FeatureSet) -> list[str]:
    return [f for f in FEATURE_SETS[feature_set] if f not in BINARY_FEATURES]


def binary_features(feature_set: FeatureSet) -> list[str]:
    return [f for f in FEATURE_SETS[feature_set] if f in BINARY_FEATURES]


def _positions(feature_set: FeatureSet, names: list[str]) -> list[int]:
    # Columns are selected by position, so the fitted encoding also runs on plain arrays
    # (the service's fast single-patient path); names and positions come from one tuple.
    order = FEATURE_SETS[feature_set]
    return [order.index(name) for name in names]


def _spline_encoding(feature_set: FeatureSet) -> ColumnTransformer:
    return ColumnTransformer(
        [
            (
                "splines",
                SplineTransformer(
                    n_knots=SPLINE_KNOTS,
                    degree=SPLINE_DEGREE,
                    knots="quantile",
                    extrapolation="linear",
                    include_bias=False,
                ),
                _positions(feature_set, continuous_features(feature_set)),
            ),
            ("flags", "passthrough", _positions(feature_set, binary_features(feature_set))),
        ],
        verbose_feature_names_out=False,
    )


def _classifier(candidate: Candidate, seed: int) -> ClassifierMixin:
    if candidate.kind == "logistic_spline":
        return LogisticRegression(C=1.0, max_iter=5000)
    if candidate.kind == "xgboost":
        return XGBClassifier(
            n_estimators=150,
            max_depth=3,
            learning_rate=0.05,
            subsample=0.8,
            colsample_bytree=0.8,
            min_child_weight=5,
            n_jobs=1,
            random_state=seed,
            eval_metric="logloss",
        )
    if candidate.kind == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=150, max_depth=3, random_state=seed)
    return RandomForestClassifier(
        n_estimators=300, min_samples_leaf=20, n_jobs=1, random_state=seed
    )


def build_pipeline(candidate: Candidate, seed: int) -> Pipeline:
    """The untuned pipeline of ``candidate``: features, impute, [splines, scale], classifier."""
    steps: list[tuple[str, Any]] = feature_steps(candidate.feature_set)
    if candidate.kind == "logistic_spline":
        steps += [("encode", _spline_encoding(candidate.feature_set)), ("scale", StandardScaler())]
    steps.append((CLASSIFIER_STEP, _classifier(candidate, seed)))
    return Pipeline(steps).set_output(transform="pandas")


def param_grid(candidate: Candidate) -> dict[str, list[Any]]:
    """The candidate's grid addressed to the classifier step of its pipeline."""
    return {f"{CLASSIFIER_STEP}__{name}": values for name, values in candidate.grid.items()}


def with_recalibration(pipeline: Pipeline, method: str, cv_folds: int) -> Pipeline:
    """The pipeline with its classifier wrapped in Platt ('sigmoid') or isotonic recalibration."""
    if method == "none":
        return pipeline
    steps = list(pipeline.steps)
    name, classifier = steps[-1]
    steps[-1] = (name, CalibratedClassifierCV(classifier, method=method, cv=cv_folds))
    return Pipeline(steps).set_output(transform="pandas")


def parameter_count(pipeline: Pipeline, feature_set: FeatureSet) -> int:
    """Candidate parameters for the Riley sample-size check.

    For the spline logistic model, the columns entering the regression; for tree ensembles the
    number of predictors (a lower bound on their effective parameters, stated as such).
    """
    if "encode" in pipeline.named_steps:
        return len(continuous_features(feature_set)) * (SPLINE_KNOTS + SPLINE_DEGREE - 2) + len(
            binary_features(feature_set)
        )
    return len(FEATURE_SETS[feature_set])
