"""The bootstrap interval of a probability: every refit evaluated on the same derived records."""

from __future__ import annotations

import numpy as np
import pytest

from features.columns import from_frame, from_records
from features.schema import canonical_values, patient_model
from infra.store import ModelIdentity
from scoring.intervals import INTERVAL_LEVEL, IntervalEstimator
from scoring.scorer import CLIP
from serving.http.schemas import example_patient
from tests.scoring.conftest import Fitted, fit
from training.data import ModellingCohort
from training.interval import bootstrap_refits

IDENTITY = ModelIdentity(name="mrbs-sri4", version="1")


def test_identical_refits_give_the_probability_itself(fitted: Fitted) -> None:
    values = canonical_values(patient_model().model_validate(example_patient()))
    columns = from_records([values])
    estimator = IntervalEstimator([fitted.scorer.pipeline] * 5, fitted.scorer.identity)
    lower, upper = estimator.intervals(columns)
    probability = fitted.scorer.score(columns, contributions=False).probability
    np.testing.assert_allclose([lower[0], upper[0]], [probability[0]] * 2, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_bounds_are_the_percentiles_of_each_refits_own_answer(cohort: ModellingCohort) -> None:
    pipeline = fit("logistic_spline", cohort, "core")
    X = cohort.inputs("core")
    refits = bootstrap_refits(pipeline, X, cohort.y, n_refits=20, seed=3)
    estimator = IntervalEstimator(refits, IDENTITY)
    rows = X.head(7)
    stacked = estimator.stacked(from_frame(rows))
    each = np.vstack([np.clip(r.predict_proba(rows)[:, 1], CLIP, 1 - CLIP) for r in refits])
    np.testing.assert_allclose(stacked, each, rtol=0, atol=1e-12)
    lower, upper = estimator.intervals(from_frame(rows))
    tail = (1 - INTERVAL_LEVEL) / 2
    np.testing.assert_allclose(lower, np.quantile(each, tail, axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper, np.quantile(each, 1 - tail, axis=0), rtol=0, atol=1e-12)
    assert (lower < upper).all()
    assert len(estimator) == 20


def test_an_interval_needs_refits_of_one_feature_set(cohort: ModellingCohort) -> None:
    with pytest.raises(ValueError, match="at least one refit"):
        IntervalEstimator([], IDENTITY)
    core, extended = fit("logistic_spline", cohort, "core"), fit("xgboost", cohort, "extended")
    with pytest.raises(ValueError, match="different feature sets"):
        IntervalEstimator([core, extended], IDENTITY)
