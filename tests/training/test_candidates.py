"""Candidate pipelines: the parameters the Riley check counts are the ones the model fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.pipeline import model_terms
from training.candidates import build_pipeline, parameter_count
from training.config import Candidate
from training.data import ModellingCohort, load_cohort
from training.sample_size import minimum_sample_size


@pytest.fixture(scope="module")
def cohort(development_cohort: Path) -> ModellingCohort:
    return load_cohort(development_cohort, eligible_only=True)


@pytest.mark.parametrize(
    ("feature_set", "expected"),
    [
        # clinical SLEDAI-2K 3 (quadratic B-spline); C3, C4, IgG, anti-dsDNA 1 each; serology 1.
        ("core", 8),
        # ... plus duration, prednisone, BLyS, proteinuria 2 each (linear splines), age and SDI
        # 1 each, and eight more flags.
        ("extended", 26),
    ],
)
def test_spline_logistic_counts_every_column_it_estimates(
    cohort: ModellingCohort, feature_set: str, expected: int
) -> None:
    candidate = Candidate(name="c", kind="logistic_spline", feature_set=feature_set)
    pipeline = build_pipeline(candidate, seed=1).fit(cohort.inputs(feature_set), cohort.y)
    coefficients = pipeline.named_steps["classifier"].coef_
    assert parameter_count(pipeline, candidate.feature_set) == coefficients.shape[1] == expected


def test_tree_ensembles_count_their_model_terms(cohort: ModellingCohort) -> None:
    candidate = Candidate(name="t", kind="hist_gradient_boosting", feature_set="extended")
    pipeline = build_pipeline(candidate, seed=1).fit(cohort.inputs("extended"), cohort.y)
    assert parameter_count(pipeline, "extended") == len(model_terms("extended")) == 20


def test_extended_logistic_fits_the_riley_minimum_of_about_1800_patients() -> None:
    # Anticipated C 0.70 (configs/default.yaml) at about half responders.
    assert minimum_sample_size(parameters=26, prevalence=0.5, cstatistic=0.70).n <= 1850
