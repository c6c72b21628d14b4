"""Validation metrics: hand-computed cases, simulations with a known truth, input errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy.special import expit, logit
from scipy.stats import norm

from training import metrics
from training.metrics import METRIC_NAMES


@pytest.fixture(scope="module")
def calibrated() -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """50,000 patients whose outcome is drawn from the predicted risk itself: perfectly calibrated.

    LP ~ N(-0.2, 1.2) gives risks across the whole range and a prevalence near 45 %.
    """
    rng = np.random.default_rng(20240601)
    lp = rng.normal(-0.2, 1.2, 50_000)
    return rng.binomial(1, expit(lp)), lp


# ── calibration, known truth by simulation ─────────────────────────────────────


def test_perfect_calibration_gives_ideal_values(
    calibrated: tuple[NDArray[np.int64], NDArray[np.float64]],
) -> None:
    y, lp = calibrated
    p = expit(lp)
    assert metrics.calibration_slope(y, p) == pytest.approx(1.0, abs=0.05)
    assert metrics.calibration_intercept(y, p) == pytest.approx(0.0, abs=0.05)
    assert metrics.ici(y, p) < 0.01
    assert metrics.observed_expected(y, p) == pytest.approx(1.0, abs=0.02)


def test_predictions_too_extreme_give_slope_one_over_the_factor(
    calibrated: tuple[NDArray[np.int64], NDArray[np.float64]],
) -> None:
    # p' = expit(1.3 LP): refitting y on LP' = 1.3 LP recovers the true LP with slope 1/1.3.
    y, lp = calibrated
    sharpened = expit(1.3 * lp)
    assert metrics.calibration_slope(y, sharpened) == pytest.approx(1 / 1.3, abs=0.05)
    assert metrics.ici(y, sharpened) > 0.02


def test_risks_shifted_up_give_the_opposite_intercept(
    calibrated: tuple[NDArray[np.int64], NDArray[np.float64]],
) -> None:
    # With the offset LP + 0.5 the intercept must undo the shift: a = -0.5.
    y, lp = calibrated
    shifted = expit(lp + 0.5)
    assert metrics.calibration_intercept(y, shifted) == pytest.approx(-0.5, abs=0.05)
    assert metrics.observed_expected(y, shifted) < 0.95


def test_slope_and_intercept_match_the_logistic_fit_written_out() -> None:
    # Newton-Raphson for logit P(y) = a + b LP, written from the likelihood, on a small data set.
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.7, 0.8, 0.6])
    lp = logit(p)
    design = np.column_stack([np.ones(10), lp])
    beta = np.zeros(2)
    for _ in range(50):
        mu = expit(design @ beta)
        beta += np.linalg.solve(design.T @ (design * (mu * (1 - mu))[:, None]), design.T @ (y - mu))
    assert metrics.calibration_slope(y, p) == pytest.approx(beta[1], abs=1e-8)
    a = 0.0
    for _ in range(50):  # one-parameter Newton with LP as offset
        mu = expit(a + lp)
        a += np.sum(y - mu) / np.sum(mu * (1 - mu))
    assert metrics.calibration_intercept(y, p) == pytest.approx(a, abs=1e-8)


def test_slope_is_nan_when_the_risks_separate_the_outcome() -> None:
    # Every event ranked above every non-event: the maximum-likelihood slope is infinite.
    assert math.isnan(metrics.calibration_slope([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9]))
    assert math.isnan(metrics.calibration_slope([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]))
    assert math.isfinite(metrics.calibration_slope([0, 1, 0, 1], [0.1, 0.2, 0.7, 0.9]))


def test_probabilities_of_exactly_zero_and_one_are_clipped_not_rejected() -> None:
    y = [0, 1, 0, 1, 1, 0]
    p = [0.0, 1.0, 0.4, 0.6, 0.3, 0.7]
    assert math.isfinite(metrics.calibration_slope(y, p))
    assert math.isfinite(metrics.calibration_intercept(y, p))


# ── discrimination ─────────────────────────────────────────────────────────────


def test_auroc_of_three_by_three_with_one_swapped_pair_is_eight_ninths() -> None:
    # Events 0.9, 0.8, 0.4; non-events 0.5, 0.3, 0.2. Of the 9 event/non-event pairs only
    # (0.4, 0.5) is ranked the wrong way: C = 8/9.
    y = [1, 1, 1, 0, 0, 0]
    p = [0.9, 0.8, 0.4, 0.5, 0.3, 0.2]
    assert metrics.auroc(y, p) == pytest.approx(8 / 9, abs=1e-12)


def test_auroc_counts_a_tie_as_one_half() -> None:
    # One tie (0.5, 0.5) among 4 pairs, the other 3 concordant: (3 + 0.5) / 4.
    assert metrics.auroc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.875)


def _delong_by_definition(y: NDArray[np.int64], p: NDArray[np.float64]) -> tuple[float, float]:
    """DeLong 1988 written out: the m x n kernel psi, its row and column means, their variances."""
    events, non_events = p[y == 1], p[y == 0]
    psi = (events[:, None] > non_events[None, :]) + 0.5 * (events[:, None] == non_events[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    variance = v10.var(ddof=1) / len(events) + v01.var(ddof=1) / len(non_events)
    return float(psi.mean()), float(variance)


def test_delong_interval_matches_the_variance_written_from_its_definition() -> None:
    rng = np.random.default_rng(7)
    y = rng.binomial(1, 0.4, 300)
    p = np.round(expit(rng.normal(size=300) + y), 2)  # two decimals: many ties
    interval = metrics.auroc_ci(y, p)
    auc, variance = _delong_by_definition(y, p)
    assert interval.auroc == pytest.approx(auc, abs=1e-12)
    assert interval.standard_error == pytest.approx(math.sqrt(variance), rel=1e-10)
    z = norm.ppf(0.975)
    assert interval.lower == pytest.approx(auc - z * math.sqrt(variance), abs=1e-12)
    assert interval.upper == pytest.approx(auc + z * math.sqrt(variance), abs=1e-12)
    assert interval.lower < interval.auroc < interval.upper
    assert interval.auroc == pytest.approx(metrics.auroc(y, p), abs=1e-12)


def test_delong_standard_error_matches_the_sampling_spread_of_the_auroc() -> None:
    # 400 data sets of 200 patients from one binormal model: the mean DeLong SE is within 10 %
    # of the standard deviation of the AUROC across data sets, and the 95 % interval covers the
    # true C = Phi(1 / sqrt(2)) in 92-98 % of them.
    rng = np.random.default_rng(11)
    true_c = norm.cdf(1 / math.sqrt(2))
    estimates, errors, covered = [], [], 0
    for _ in range(400):
        y = rng.binomial(1, 0.4, 200)
        score = rng.normal(size=200) + y
        interval = metrics.auroc_ci(y, expit(score))
        estimates.append(interval.auroc)
        errors.append(interval.standard_error)
        covered += interval.lower <= true_c <= interval.upper
    assert np.mean(errors) == pytest.approx(np.std(estimates), rel=0.10)
    assert 0.92 <= covered / 400 <= 0.98


def test_delong_interval_is_truncated_at_one() -> None:
    # C = 8/9 on six patients: the Wald upper limit 8/9 + 1.96 SE passes 1 and is cut there.
    interval = metrics.auroc_ci([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.5, 0.3, 0.2])
    assert interval.auroc + 1.96 * interval.standard_error > 1.0
    assert interval.upper == 1.0


# ── Brier ─────────────────────────────────────────────────────────────────────


def test_brier_and_scaled_brier_by_hand() -> None:
    # Squared errors 0.2^2, 0.3^2, 0.4^2, 0.1^2 = 0.04 + 0.09 + 0.16 + 0.01 = 0.30; / 4 = 0.075.
    # Prevalence 0.5, so the non-informative Brier is 0.25 and scaled Brier 1 - 0.075 / 0.25 = 0.7.
    y = [1, 0, 1, 0]
    p = [0.8, 0.3, 0.6, 0.1]
    assert metrics.brier(y, p) == pytest.approx(0.075)
    assert metrics.scaled_brier(y, p) == pytest.approx(0.7)


def test_predicting_the_prevalence_gives_scaled_brier_zero() -> None:
    y = [1, 0, 0, 0]
    assert metrics.scaled_brier(y, [0.25] * 4) == pytest.approx(0.0, abs=1e-12)


# ── net benefit ───────────────────────────────────────────────────────────────

NB_Y = [1, 1, 0, 1, 0, 0, 0, 1, 0, 1]
NB_P = [0.9, 0.7, 0.5, 0.3, 0.25, 0.15, 0.1, 0.6, 0.35, 0.05]


def test_net_benefit_by_hand() -> None:
    # t = 0.2, odds t / (1 - t) = 0.25. Treated (p >= 0.2): 0.9, 0.7, 0.5, 0.3, 0.25, 0.6, 0.35,
    # of whom events 0.9, 0.7, 0.3, 0.6: TP = 4, FP = 3, n = 10.
    #   model:     4/10 - 3/10 * 0.25 = 0.4 - 0.075 = 0.325
    #   treat all: 5 events of 10: 0.5 - 0.5 * 0.25 = 0.375
    # t = 0.5, odds 1. Treated (p >= 0.5, so 0.5 itself is treated): 0.9, 0.7, 0.5, 0.6,
    # TP = 3, FP = 1: 0.3 - 0.1 = 0.2; treat all: 0.5 - 0.5 = 0.
    table = metrics.net_benefit(NB_Y, NB_P, [0.2, 0.5])
    assert list(table.columns) == ["threshold", "model", "treat_all", "treat_none"]
    assert table["threshold"].tolist() == [0.2, 0.5]
    assert table["model"].tolist() == pytest.approx([0.325, 0.2])
    assert table["treat_all"].tolist() == pytest.approx([0.375, 0.0])
    assert table["treat_none"].tolist() == [0.0, 0.0]


def test_net_benefit_agrees_with_the_formula_over_a_grid() -> None:
    rng = np.random.default_rng(5)
    p = expit(rng.normal(-0.3, 1.0, 2_000))
    y = rng.binomial(1, p)
    thresholds = np.round(np.arange(0.05, 0.96, 0.05), 2)
    table = metrics.net_benefit(y, p, thresholds)
    treated = p[None, :] >= thresholds[:, None]
    odds = thresholds / (1 - thresholds)
    tp = (treated & (y == 1)).sum(axis=1) / len(y)
    fp = (treated & (y == 0)).sum(axis=1) / len(y)
    prevalence = y.mean()
    np.testing.assert_allclose(table["model"], tp - fp * odds, atol=1e-12)
    np.testing.assert_allclose(table["treat_all"], prevalence - (1 - prevalence) * odds, atol=1e-12)
    np.testing.assert_array_equal(table["threshold"], thresholds)


@pytest.mark.parametrize("thresholds", [[], [1.0], [-0.1, 0.2], [[0.2, 0.3]]])
def test_net_benefit_rejects_thresholds_outside_zero_one(thresholds: list[float]) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        metrics.net_benefit(NB_Y, NB_P, thresholds)


# ── calibration curve and the gathered metrics ────────────────────────────────


def test_calibration_curve_band_contains_the_curve_and_the_diagonal(
    calibrated: tuple[NDArray[np.int64], NDArray[np.float64]],
) -> None:
    y, lp = calibrated
    y, p = y[:2_000], expit(lp[:2_000])
    curve = metrics.calibration_curve_with_band(y, p, n_points=25, n_resamples=100, seed=3)
    assert list(curve.columns) == ["predicted", "observed", "lower", "upper"]
    assert len(curve) == 25
    assert curve["predicted"].iloc[0] == p.min()
    assert curve["predicted"].iloc[-1] == p.max()
    assert (curve["lower"] <= curve["observed"]).all()
    assert (curve["observed"] <= curve["upper"]).all()
    # The truth is the diagonal. The band is pointwise and neighbouring points move together,
    # so one sample's band can miss the diagonal over a short stretch; most of it must hold it.
    inner = curve.iloc[2:-2]  # away from the thinly populated ends
    holds = (inner["lower"] <= inner["predicted"]) & (inner["predicted"] <= inner["upper"])
    assert holds.mean() >= 0.75
    assert (inner["upper"] - inner["lower"]).max() < 0.15
    again = metrics.calibration_curve_with_band(y, p, n_points=25, n_resamples=100, seed=3)
    pd.testing.assert_frame_equal(curve, again)


def test_clinical_metrics_gathers_every_metric_under_its_stable_name() -> None:
    y = [1, 0, 1, 0, 1, 0, 0, 1]
    p = [0.8, 0.3, 0.6, 0.1, 0.4, 0.5, 0.2, 0.7]
    gathered = metrics.clinical_metrics(y, p)
    assert tuple(gathered) == METRIC_NAMES
    assert all(isinstance(value, float) for value in gathered.values())
    assert gathered["auroc"] == metrics.auroc(y, p)
    assert gathered["brier"] == metrics.brier(y, p)
    assert gathered["scaled_brier"] == metrics.scaled_brier(y, p)
    assert gathered["calibration_intercept"] == metrics.calibration_intercept(y, p)
    assert gathered["calibration_slope"] == metrics.calibration_slope(y, p)
    assert gathered["ici"] == metrics.ici(y, p)
    assert gathered["oe_ratio"] == pytest.approx(0.5 / 0.45)
    assert (gathered["prevalence"], gathered["n"], gathered["events"]) == (0.5, 8.0, 4.0)


# ── input validation ──────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.2, 0.8], r"y and p must have the same length; y has 3, p has 2"),
        ([0, 2, 1], [0.2, 0.8, 0.5], r"y must contain only 0 and 1; found 2"),
        ([0.0, 0.5, 1.0], [0.2, 0.8, 0.5], r"y must contain only 0 and 1; found 0.5"),
        ([0, np.nan, 1], [0.2, 0.8, 0.5], r"y must contain only 0 and 1; found nan"),
        (["no", "yes"], [0.2, 0.8], r"y must contain only 0 and 1"),
        ([0, 0, 0], [0.2, 0.8, 0.5], r"at least one event \(1\) .* found only non-events"),
        ([1, 1], [0.2, 0.8], r"at least one event \(1\) .* found only events"),
        ([], [], r"y must not be empty"),
        ([[0, 1]], [[0.2, 0.8]], r"p must be one-dimensional"),
        ([0, 1, 1], [0.2, 1.2, 0.5], r"p must lie within \[0, 1\]; 1 value\(s\) outside, e.g. 1.2"),
        ([0, 1, 1], [-0.1, 0.8, 0.5], r"p must lie within \[0, 1\]"),
        ([0, 1, 1], [0.2, np.nan, 0.5], r"p must be finite"),
        ([0, 1, 1], [0.2, np.inf, 0.5], r"p must be finite"),
        ([0, 1], ["a", "b"], r"p must be numeric"),
    ],
)
def test_invalid_inputs_raise_a_value_error_naming_the_argument(
    y: list[float], p: list[float], message: str
) -> None:
    for metric in (
        metrics.auroc,
        metrics.brier,
        metrics.calibration_slope,
        metrics.ici,
        metrics.clinical_metrics,
    ):
        with pytest.raises(ValueError, match=message):
            metric(y, p)


def test_booleans_are_accepted_as_outcome() -> None:
    assert metrics.auroc([True, False, True], [0.9, 0.1, 0.6]) == 1.0


def test_delong_needs_two_of_each_class_and_a_valid_level() -> None:
    with pytest.raises(ValueError, match="at least two events and two non-events"):
        metrics.auroc_ci([1, 0, 0], [0.9, 0.2, 0.1])
    with pytest.raises(ValueError, match="level"):
        metrics.auroc_ci([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], level=95)
