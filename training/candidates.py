"""Candidate pipelines: the shared feature steps followed by one classifier each.

Every candidate is one scikit-learn `Pipeline` (feature derivation, fitted imputation, any
encoding, the classifier, and recalibration when chosen). That object is what is tuned,
validated, logged to MLflow, served and batch-scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler
from xgboost import XGBClassifier

from features.pipeline import (
    CLINICAL_SLEDAI,
    FeatureSet,
    feature_steps,
    model_terms,
)
from training.config import Candidate

#: Degrees of freedom are allocated by prior knowledge, not by looking at the data (Harrell,
#: Regression Modeling Strategies, 2nd ed. 2015, section 4.1), so that the extended model's
#: parameters stay within the Riley minimum sample size of a cohort of about 1,800 patients.
#: The strongest predictor, with a concave published effect (SLEDAI-2K >= 10: OR 3.1-3.5, Gatto
#: et al., Arthritis Rheumatol 2020), bends freely: a quadratic B-spline with three quantile knots
#: (3 parameters).
CURVED_TERMS: Final = frozenset({CLINICAL_SLEDAI})
#: Predictors with a published threshold get a linear spline with one knot at the median
#: (2 parameters): disease duration (<= 2 years, Gatto 2020), prednisone (> 7.5 mg/day, Furie et
#: al., Lupus Sci Med 2014), BLyS (>= 1.2 ng/mL, Parodis et al., Autoimmun Rev 2017) and
#: proteinuria (no benefit with heavy proteinuria, BLISS-LN). Every other continuous term enters
#: linearly (1 parameter).
THRESHOLD_TERMS: Final = frozenset({"disease_duration", "prednisone_mg_day", "blys", "proteinuria"})
CURVED_KNOTS: Final = 3
CURVED_DEGREE: Final = 2
THRESHOLD_KNOTS: Final = 3
THRESHOLD_DEGREE: Final = 1
CLASSIFIER_STEP: Final = "classifier"
ENCODE_STEP: Final = "encode"


def _positions(feature_set: FeatureSet, selected: Callable[[str], bool]) -> list[int]:
    # The steps after feature derivation run on plain arrays, so columns are selected by
    # position; names and positions come from one tuple.
    return [i for i, name in enumerate(model_terms(feature_set)) if selected(name)]


def _spline(n_knots: int, degree: int) -> SplineTransformer:
    return SplineTransformer(
        n_knots=n_knots,
        degree=degree,
        knots="quantile",
        extrapolation="linear",
        include_bias=False,
    )


def _spline_encoding(feature_set: FeatureSet) -> ColumnTransformer:
    """Curved and threshold terms as splines; every other term (flags included) as it is."""
    bent = CURVED_TERMS | THRESHOLD_TERMS
    return ColumnTransformer(
        [
            (
                "curved",
                _spline(CURVED_KNOTS, CURVED_DEGREE),
                _positions(feature_set, CURVED_TERMS.__contains__),
            ),
            (
                "threshold",
                _spline(THRESHOLD_KNOTS, THRESHOLD_DEGREE),
                _positions(feature_set, THRESHOLD_TERMS.__contains__),
            ),
            ("linear", "passthrough", _positions(feature_set, lambda name: name not in bent)),
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
        steps += [
            (ENCODE_STEP, _spline_encoding(candidate.feature_set)),
            ("scale", StandardScaler()),
        ]
    steps.append((CLASSIFIER_STEP, _classifier(candidate, seed)))
    return Pipeline(steps)


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
    return Pipeline(steps)


def parameter_count(pipeline: Pipeline, feature_set: FeatureSet) -> int:
    """Candidate parameters of a fitted pipeline, for the Riley sample-size check.

    For the spline logistic model, the columns its fitted encoding passes to the regression
    (every spline basis function and flag counts, as Riley et al. ask); for tree ensembles the
    number of model terms, a lower bound on their effective parameters, stated as such.
    """
    if ENCODE_STEP in pipeline.named_steps:
        return len(pipeline.named_steps[ENCODE_STEP].get_feature_names_out())
    return len(model_terms(feature_set))
