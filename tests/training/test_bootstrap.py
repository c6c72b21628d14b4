"""Bootstrap validation: Harrell's optimism correction finds over-fitting, a fixed model shows
none, results depend on the seed only; the .632+ estimator gives known answers for a model that
memorises noise and for a correct model on a large sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from training.bootstrap import (
    NO_INFORMATION,
    draw_rows,
    fixed_prediction_intervals,
    optimism_corrected,
    point_632_plus,
)
from training.metrics import auroc, clinical_metrics

FIXED_BETA = np.array([0.9, -0.5, 0.3])


def fit_unpenalised(X: pd.DataFrame, y: NDArray[np.int64]) -> Pipeline:
    """Maximum-likelihood logistic regression on every column: over-fits with many columns."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=2_000)).fit(X, y)


def predict_pipeline(model: Pipeline, X: pd.DataFrame) -> NDArray[np.float64]:
    return np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)


def fit_nothing(X: NDArray[np.float64], y: NDArray[np.int64]) -> NDArray[np.float64]:
    """A model with no free parameters: the same coefficients whatever the data."""
    return FIXED_BETA


def predict_fixed(beta: NDArray[np.float64], X: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(expit(X @ beta), dtype=np.float64)


def _noisy_table(
    n: int, k: int, signal: float, seed: int
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """One informative column x0 (log-odds ratio `signal`) and k - 1 pure-noise columns."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, k)), columns=[f"x{i}" for i in range(k)])
    y = rng.binomial(1, expit(signal * X["x0"].to_numpy()))
    return X, y


@pytest.mark.slow
def test_overfitted_model_shows_positive_optimism() -> None:
    # 120 patients, 15 unpenalised coefficients (14 of them noise): apparent performance is
    # flattering, and the refits reveal it.
    X, y = _noisy_table(120, 15, signal=0.8, seed=3)
    result = optimism_corrected(
        fit_unpenalised, predict_pipeline, X, y, n_resamples=50, seed=11
    ).metrics
    assert result["auroc"].optimism > 0.05
    assert result["auroc"].corrected < result["auroc"].apparent
    assert result["calibration_slope"].apparent == pytest.approx(1.0, abs=1e-3)
    assert result["calibration_slope"].optimism > 0.2
    assert result["calibration_slope"].corrected < 0.8  # the shrinkage the model would need
    assert result["brier"].optimism < 0  # lower is better: the refit looks better on its resample
    assert result["brier"].corrected > result["brier"].apparent
    assert set(result) == {
        "auroc",
        "brier",
        "scaled_brier",
        "calibration_intercept",
        "calibration_slope",
        "ici",
        "oe_ratio",
    }


@pytest.mark.slow
def test_pure_noise_predictors_are_corrected_towards_chance() -> None:
    # 200 patients, 10 coefficients, outcome unrelated to all of them: the true C is 0.5.
    # Harrell's correction is known to leave some optimism at low events per parameter (Iba et
    # al., BMC Med Res Methodol 2020;20:160): over 12 simulated data sets of this design the
    # corrected C ranged from 0.48 to 0.63 (median about 0.52) against an apparent 0.58-0.69.
    # This fixed draw is held to 0.05 of chance, and its interval must contain 0.5.
    X, y = _noisy_table(200, 10, signal=0.0, seed=4)
    summary = optimism_corrected(
        fit_unpenalised, predict_pipeline, X, y, n_resamples=50, seed=12
    ).metrics["auroc"]
    assert summary.apparent > 0.55
    assert summary.optimism > 0.05
    assert summary.corrected == pytest.approx(0.5, abs=0.05)
    assert summary.lower < 0.5 < summary.upper


@pytest.mark.slow
def test_model_without_free_parameters_has_no_optimism() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    y = rng.binomial(1, predict_fixed(FIXED_BETA, X))
    result = optimism_corrected(fit_nothing, predict_fixed, X, y, n_resamples=100, seed=13)
    summary = result.metrics
    assert abs(summary["auroc"].optimism) < 0.005
    assert abs(summary["calibration_slope"].optimism) < 0.03
    assert abs(summary["calibration_intercept"].optimism) < 0.03
    assert abs(summary["brier"].optimism) < 0.005
    # theta_test_b is the apparent value in every resample, and the interval is the basic
    # bootstrap interval of the metric: quantiles of 2 * apparent - theta_boot_b.
    apparent = summary["auroc"].apparent
    assert (result.test["auroc"] == apparent).all()
    lower, upper = np.quantile(2 * apparent - result.boot["auroc"], [0.025, 0.975])
    assert (summary["auroc"].lower, summary["auroc"].upper) == pytest.approx((lower, upper))
    assert summary["auroc"].lower < summary["auroc"].corrected < summary["auroc"].upper


@pytest.mark.slow
def test_same_result_for_any_n_jobs_and_for_a_repeated_seed() -> None:
    X, y = _noisy_table(100, 6, signal=1.0, seed=6)
    args = (fit_unpenalised, predict_pipeline, X, y)
    serial = optimism_corrected(*args, n_resamples=20, seed=21, n_jobs=1)
    parallel = optimism_corrected(*args, n_resamples=20, seed=21, n_jobs=2)
    again = optimism_corrected(*args, n_resamples=20, seed=21, n_jobs=1)
    other = optimism_corrected(*args, n_resamples=20, seed=22, n_jobs=1)
    pd.testing.assert_frame_equal(serial.to_frame(), parallel.to_frame(), rtol=1e-12)
    pd.testing.assert_frame_equal(serial.boot, parallel.boot, rtol=1e-12)
    pd.testing.assert_frame_equal(serial.to_frame(), again.to_frame(), check_exact=True)
    assert not serial.boot.equals(other.boot)


def test_whole_model_is_refitted_on_each_two_class_resample() -> None:
    # One event among eight patients: about a third of resamples hold no event and are redrawn.
    X = np.column_stack([np.linspace(-1, 1, 8), np.zeros(8), np.zeros(8)])
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1])
    seen: list[NDArray[np.int64]] = []

    def fit_recording(X_fit: NDArray[np.float64], y_fit: NDArray[np.int64]) -> NDArray[np.float64]:
        seen.append(y_fit)
        return FIXED_BETA

    result = optimism_corrected(
        fit_recording,
        predict_fixed,
        X,
        y,
        n_resamples=30,
        seed=1,
        metrics=lambda y_m, p_m: {"auroc": auroc(y_m, p_m)},
    )
    assert len(seen) == 31  # the apparent fit, then one refit per resample
    assert all(len(y_fit) == 8 and 0 < y_fit.sum() < 8 for y_fit in seen)
    assert result.redraws > 0


def test_keep_models_returns_each_refit_and_its_predictions_on_the_original_data() -> None:
    X, y = _noisy_table(80, 4, signal=1.0, seed=7)
    result = optimism_corrected(
        fit_unpenalised, predict_pipeline, X, y, n_resamples=5, seed=3, keep_models=True
    )
    assert result.models is not None
    assert result.original_predictions is not None
    assert len(result.models) == 5
    assert result.original_predictions.shape == (5, 80)
    for b, model in enumerate(result.models):
        np.testing.assert_array_equal(result.original_predictions[b], predict_pipeline(model, X))
        test_metrics = clinical_metrics(y, result.original_predictions[b])
        assert result.test["auroc"].iloc[b] == test_metrics["auroc"]
    without = optimism_corrected(fit_unpenalised, predict_pipeline, X, y, n_resamples=5, seed=3)
    assert without.models is None
    assert without.original_predictions is None
    pd.testing.assert_frame_equal(result.to_frame(), without.to_frame())


def test_invalid_arguments_are_rejected() -> None:
    X, y = _noisy_table(40, 2, signal=1.0, seed=8)
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        optimism_corrected(fit_unpenalised, predict_pipeline, X, y, n_resamples=0, seed=1)
    with pytest.raises(ValueError, match="one value per row of X"):
        optimism_corrected(fit_unpenalised, predict_pipeline, X, y[:-1], n_resamples=2, seed=1)
    with pytest.raises(ValueError, match="found only non-events"):
        optimism_corrected(fit_unpenalised, predict_pipeline, X, 0 * y, n_resamples=2, seed=1)
    with pytest.raises(ValueError, match="predict must return one probability per row"):
        optimism_corrected(
            fit_unpenalised,
            lambda model, X_p: model.predict_proba(X_p),
            X,
            y,
            n_resamples=2,
            seed=1,
        )


# ── the .632+ estimator (Efron & Tibshirani 1997) ────────────────────────────


def fit_one_nearest_neighbour(X: pd.DataFrame, y: NDArray[np.int64]) -> KNeighborsClassifier:
    """Memorises its training rows: every training patient is its own nearest neighbour."""
    return KNeighborsClassifier(n_neighbors=1).fit(X, y)


def fit_full_tree(X: pd.DataFrame, y: NDArray[np.int64]) -> DecisionTreeClassifier:
    """A fully grown tree: pure leaves, so it reproduces its training labels."""
    return DecisionTreeClassifier(random_state=0).fit(X, y)


@pytest.mark.slow
@pytest.mark.parametrize("fit", [fit_one_nearest_neighbour, fit_full_tree])
def test_a_model_memorising_noise_gets_a_632plus_auroc_near_chance(fit: Any) -> None:
    # The outcome is independent of X, so the true AUROC of any model is 0.5. Harrell's
    # correction scores each refit on the original sample, 63 % of which it has memorised, and
    # stays far above chance; the .632+ estimate scores refits only on patients they never saw.
    X, y = _noisy_table(300, 3, signal=0.0, seed=31)
    result = optimism_corrected(fit, predict_pipeline, X, y, n_resamples=60, seed=32)
    harrell, plus = result.metrics["auroc"], result.point632plus["auroc"]
    assert harrell.apparent == pytest.approx(1.0)
    assert harrell.corrected > 0.7
    assert plus.relative_overfitting > 0.9
    assert plus.estimate == pytest.approx(0.5, abs=0.03)
    assert result.point632plus["scaled_brier"].estimate < -0.5  # worse than no model


def test_a_correct_logistic_on_a_large_sample_has_632plus_near_harrell_and_apparent() -> None:
    rng = np.random.default_rng(33)
    X = pd.DataFrame(rng.normal(size=(5000, 3)), columns=["a", "b", "c"])
    y = rng.binomial(1, predict_fixed(FIXED_BETA, X.to_numpy()))
    result = optimism_corrected(fit_unpenalised, predict_pipeline, X, y, n_resamples=20, seed=34)
    for name in ("auroc", "brier", "scaled_brier"):
        harrell, plus = result.metrics[name], result.point632plus[name]
        assert plus.estimate == pytest.approx(harrell.apparent, abs=0.005)
        assert plus.estimate == pytest.approx(harrell.corrected, abs=0.005)
        assert plus.relative_overfitting < 0.2


@pytest.mark.parametrize(
    ("apparent", "out_of_bag", "gamma", "higher", "relative", "weight", "estimate"),
    [
        # R = (0.9 - 0.7) / (0.9 - 0.5) = 0.5; w = 0.632 / (1 - 0.368 * 0.5) = 0.7746.
        (0.9, [0.65, 0.75], 0.5, True, 0.5, 0.7746, 0.7451),
        # Brier: R = (0.20 - 0.10) / (0.25 - 0.10) = 2/3; w = 0.8375; 0.10 + 0.8375 * 0.10.
        (0.10, [0.18, 0.22], 0.25, False, 2 / 3, 0.8375, 0.1838),
        # Out-of-bag worse than no information: capped at 0.5, R = 1, w = 1.
        (1.0, [0.40, 0.50], 0.5, True, 1.0, 1.0, 0.5),
        # Out-of-bag not worse than apparent: R = 0, the classic .632 blend.
        (0.70, [0.72, 0.72], 0.5, True, 0.0, 0.6321, 0.7126),
    ],
)
def test_632plus_formula_gives_hand_computed_values(
    apparent: float,
    out_of_bag: list[float],
    gamma: float,
    higher: bool,
    relative: float,
    weight: float,
    estimate: float,
) -> None:
    plus = point_632_plus(
        apparent, pd.Series(out_of_bag), no_information=gamma, higher_is_better=higher
    )
    assert plus.out_of_bag == pytest.approx(np.mean(out_of_bag))
    assert plus.relative_overfitting == pytest.approx(relative, abs=1e-4)
    assert plus.weight == pytest.approx(weight, abs=1e-4)
    assert plus.estimate == pytest.approx(estimate, abs=1e-4)
    assert plus.n_valid == len(out_of_bag)


def test_632plus_is_undefined_without_a_scorable_out_of_bag_sample() -> None:
    plus = point_632_plus(
        0.8, pd.Series([np.nan, np.nan]), no_information=0.5, higher_is_better=True
    )
    assert np.isnan(plus.estimate)
    assert plus.n_valid == 0


def test_no_information_brier_averages_every_pairing_of_outcome_and_prediction() -> None:
    rng = np.random.default_rng(35)
    p = rng.uniform(size=40)
    y = rng.binomial(1, 0.4, size=40)
    rule, higher = NO_INFORMATION["brier"]
    assert not higher
    assert rule(y, p) == pytest.approx(np.mean((y[:, None] - p[None, :]) ** 2))
    scaled, higher = NO_INFORMATION["scaled_brier"]
    assert higher
    assert scaled(y, np.full(40, y.mean())) == pytest.approx(0.0)
    assert NO_INFORMATION["auroc"][0](y, p) == 0.5


def test_out_of_bag_metrics_score_only_patients_left_out_of_each_resample() -> None:
    X, y = _noisy_table(120, 3, signal=1.0, seed=36)
    result = optimism_corrected(
        fit_unpenalised, predict_pipeline, X, y, n_resamples=5, seed=37, keep_models=True
    )
    assert result.original_predictions is not None
    for b, child in enumerate(np.random.SeedSequence(37).spawn(5)):
        rows, _ = draw_rows(child, y)
        left_out = ~np.isin(np.arange(len(y)), rows)
        expected = clinical_metrics(y[left_out], result.original_predictions[b][left_out])
        assert result.out_of_bag["auroc"].iloc[b] == expected["auroc"]
    assert result.point632plus["auroc"].out_of_bag == pytest.approx(
        result.out_of_bag["auroc"].mean()
    )


# ── intervals of fixed (cross-validated) predictions ─────────────────────────


@pytest.mark.slow
def test_fixed_predictions_get_percentile_intervals_over_the_same_resamples() -> None:
    rng = np.random.default_rng(40)
    X = rng.normal(size=(600, 3))
    p = predict_fixed(FIXED_BETA, X)
    y = rng.binomial(1, p)
    summaries = fixed_prediction_intervals(y, p, n_resamples=100, seed=39)
    values = clinical_metrics(y, p)
    resampled = []
    for child in np.random.SeedSequence(39).spawn(100):
        rows, _ = draw_rows(child, y)
        resampled.append(clinical_metrics(y[rows], p[rows])["auroc"])
    auroc = summaries["auroc"]
    assert auroc.apparent == auroc.corrected == values["auroc"]
    assert auroc.optimism == 0.0
    assert (auroc.lower, auroc.upper) == pytest.approx(
        tuple(np.quantile(resampled, [0.025, 0.975]))
    )
    # Predictions drawn from the truth are calibrated: the intervals hold the ideal values.
    assert summaries["calibration_slope"].lower < 1.0 < summaries["calibration_slope"].upper
    assert summaries["calibration_intercept"].lower < 0.0 < summaries["calibration_intercept"].upper
    assert "n" not in summaries
    # The ICI's resampled values run above its own: its interval is moved down by that bias,
    # so it holds the estimate and stays at or above 0.
    ici = summaries["ici"]
    resampled_ici = [
        clinical_metrics(y[rows], p[rows])["ici"]
        for rows, _ in (draw_rows(child, y) for child in np.random.SeedSequence(39).spawn(100))
    ]
    bias = float(np.mean(resampled_ici)) - values["ici"]
    assert bias > 0
    assert (ici.lower, ici.upper) == pytest.approx(
        tuple(np.maximum(np.quantile(resampled_ici, [0.025, 0.975]) - bias, 0.0))
    )
    assert ici.lower <= values["ici"] <= ici.upper
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        fixed_prediction_intervals(y, p, n_resamples=0, seed=1)
