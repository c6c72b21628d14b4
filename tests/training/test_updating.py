"""Known answers for the closed testing procedure (Vergouwe et al. 2017) and site updating."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from features.cohort import assemble
from features.io import write_table
from simulator import simulate
from simulator.site_shift import SiteShift, shifted_config
from training.bootstrap import fixed_prediction_intervals
from training.candidates import build_pipeline
from training.config import Candidate, load_config
from training.data import ModellingCohort, load_cohort
from training.metrics import clinical_metrics
from training.updating import closed_test, updated_pipeline

CONFIG = load_config()
BETA = np.array([0.9, -0.6, 0.4, 0.2])


def _synthetic(
    n: int, seed: int, *, intercept: float = 0.0, scale: float = 1.0, extra: float = 0.0
):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(BETA))), columns=[f"x{i}" for i in range(len(BETA))])
    lp = intercept + scale * (X.to_numpy() @ BETA) + extra * X["x3"].to_numpy()
    return X, (rng.random(n) < expit(lp)).astype(np.int64)


@pytest.fixture(scope="module")
def synthetic_parent() -> Pipeline:
    X, y = _synthetic(20_000, 1)
    return Pipeline([("scale", StandardScaler()), ("classifier", LogisticRegression(C=1e6))]).fit(
        X, y
    )


@pytest.mark.parametrize(
    ("shift", "expected"),
    [({}, 0), ({"intercept": -0.8}, 1), ({"scale": 0.5}, 2), ({"extra": 1.2}, 3)],
    ids=["same population", "intercept shift", "slope 0.5", "one effect changed"],
)
def test_the_closed_test_finds_the_update_each_shift_needs(
    synthetic_parent: Pipeline, shift: dict[str, float], expected: int
) -> None:
    """Each test has level alpha, so a single sample may be unlucky: 8 of 10 must agree."""
    chosen = []
    for seed in range(10, 20):
        X, y = _synthetic(2_000, seed, **shift)
        result = closed_test(synthetic_parent, X, y, CONFIG)
        chosen.append(result.chosen)
        # The sequence of the paper: revision against 0, then 1, then 2, stopping at the first
        # test that is not significant.
        pairs = [(s.more, s.less) for s in result.steps]
        assert pairs == [(3, 0), (3, 1), (3, 2)][: len(pairs)]
        assert all(s.significant for s in result.steps[:-1])
        assert (result.chosen == 3) == result.steps[-1].significant
    assert chosen.count(expected) >= 8, chosen


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(30, 300),
    seed=st.integers(0, 10_000),
    miscalibration=st.floats(-2.0, 2.0),
)
def test_every_interval_contains_its_estimate_and_the_ici_is_never_below_zero(
    n: int, seed: int, miscalibration: float
) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < expit(np.log(p / (1 - p)) + miscalibration)).astype(np.int64)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    intervals = fixed_prediction_intervals(y, p, n_resamples=200, seed=seed)
    assert intervals["ici"].lower >= 0.0
    for name, summary in intervals.items():
        if np.isfinite(summary.apparent) and np.isfinite(summary.lower):
            assert summary.lower <= summary.apparent <= summary.upper, name


# ── simulator cohorts: the known answers of the issue ───────────────────────────────────


def _cohort(folder: Path, n: int, seed: int, shift: SiteShift | None = None) -> ModellingCohort:
    config = shifted_config(shift) if shift is not None else None
    raw = simulate(n, seed, config=config)
    table = assemble(raw.patients, raw.labs, raw.assessments).table
    path = write_table(table, folder / f"site-{n}-{seed}.parquet")
    return load_cohort(path, eligible_only=True)


def _parent(development_cohort: Path, feature_set: str) -> Pipeline:
    cohort = load_cohort(development_cohort, eligible_only=True)
    candidate = Candidate(name="logistic", kind="logistic_spline", feature_set=feature_set)
    pipeline = build_pipeline(candidate, CONFIG.seed).set_params(classifier__C=0.1)
    return pipeline.fit(cohort.inputs(feature_set), cohort.y)


@pytest.fixture(scope="module")
def parent(development_cohort: Path) -> Pipeline:
    """The spline logistic model on the core predictors, fitted on the development cohort."""
    return _parent(development_cohort, "core")


@pytest.fixture(scope="module")
def extended_parent(development_cohort: Path) -> Pipeline:
    """The same on the extended predictors: its wider spread of predictions measures a
    calibration slope about twice as precisely as the core model's."""
    return _parent(development_cohort, "extended")


@pytest.mark.slow
def test_a_cohort_like_the_development_one_keeps_the_model(
    parent: Pipeline, tmp_path: Path
) -> None:
    chosen = [
        closed_test(parent, c.inputs("core"), c.y, CONFIG).chosen
        for c in (_cohort(tmp_path, 300, seed) for seed in range(100, 120))
    ]
    assert chosen.count(0) >= 16, chosen


@pytest.mark.slow
def test_a_shifted_response_rate_is_corrected_in_the_large(
    parent: Pipeline, tmp_path: Path
) -> None:
    shift = SiteShift(response_rate=0.35)
    local = _cohort(tmp_path, 8_000, 31, shift)
    result = closed_test(parent, local.inputs("core"), local.y, CONFIG)
    assert result.chosen == 1, result.lines()
    held_out = _cohort(tmp_path, 20_000, 32, shift)
    X = held_out.inputs("core")
    updated = updated_pipeline(parent, result.chosen_fit)
    before = clinical_metrics(held_out.y, parent.predict_proba(X)[:, 1])
    after = clinical_metrics(held_out.y, updated.predict_proba(X)[:, 1])
    assert abs(after["calibration_intercept"]) < 0.05
    assert abs(before["calibration_intercept"]) > 0.3


@pytest.mark.slow
def test_shrunk_effects_are_recalibrated_or_revised(
    extended_parent: Pipeline, tmp_path: Path
) -> None:
    shift = SiteShift(effect_scale=0.6)
    held_out = _cohort(tmp_path, 20_000, 42, shift)
    X = held_out.inputs("extended")
    before = clinical_metrics(held_out.y, extended_parent.predict_proba(X)[:, 1])
    assert 0.5 < before["calibration_slope"] < 0.75
    local = _cohort(tmp_path, 16_000, 41, shift)
    result = closed_test(extended_parent, local.inputs("extended"), local.y, CONFIG)
    assert result.chosen in (2, 3), result.lines()
    updated = updated_pipeline(extended_parent, result.chosen_fit)
    after = clinical_metrics(held_out.y, updated.predict_proba(X)[:, 1])
    assert 0.9 <= after["calibration_slope"] <= 1.1
