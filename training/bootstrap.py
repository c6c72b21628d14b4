"""Internal validation by bootstrap: Harrell's optimism correction and the .632+ estimator.

Harrell FE, Lee KL, Mark DB. Stat Med 1996;15:361-387; Harrell, Regression Modeling Strategies
(2015), section 5.3.5; rms `validate`. Steyerberg et al., J Clin Epidemiol 2001;54:774-781.

1. Fit the whole model on all n patients and measure its apparent performance theta_app.
2. For b = 1..B draw n patients with replacement, refit the WHOLE model on that resample
   (feature derivation, imputation, selection, tuning: whatever `fit` does), and measure the
   refitted model on the resample (theta_boot_b) and on the original data (theta_test_b).
3. optimism_b = theta_boot_b - theta_test_b; optimism = mean_b optimism_b;
   corrected = theta_app - optimism.

Optimism keeps its sign: it is positive for metrics where higher is better (AUROC, scaled
Brier) and negative for those where lower is better (Brier, ICI), so corrected = apparent -
optimism is the less flattering value either way. For the calibration slope the apparent value
of a maximum-likelihood logistic model is 1 by construction, and the corrected slope estimates
the uniform shrinkage the model needs.

Interval. Each metric also gets the percentile interval of corrected_b = theta_app - optimism_b
over the resamples. For a model with nothing to fit, theta_test_b = theta_app and this is the
basic (reverse-percentile) bootstrap interval of the metric, 2 theta_app - theta_boot_b; for a
fitted model it adds the resample-to-resample variability of the optimism, which Martin et al.
(Stat Methods Med Res 2021;30:2545-2561) ask to be reported. It does not capture the
uncertainty of the mean optimism itself, which would need a bootstrap of the whole procedure
(Noma et al., Stat Med 2021;40:5691-5701), so it is an approximate interval.

The .632+ estimator from the same refits. Harrell's correction scores each refit on the
original sample, 63.2 % of which the refit has seen; for a model that memorises its training
rows (deep trees, boosting, nearest neighbours) theta_test_b is then nearly as flattering as
theta_boot_b, and the optimism is under-estimated. The .632+ estimator (Efron & Tibshirani,
J Am Stat Assoc 1997;92:548-560) scores each refit only on the patients its resample left out:

- theta_oob = mean_b theta(refit b on its out-of-bag patients), the leave-one-out bootstrap;
  for a rank or pairwise metric such as the AUROC it is computed per resample and averaged
  (Wahl et al., BMC Med Res Methodol 2016;16:144; Smith et al., Am J Epidemiol 2014;180:318-324);
- gamma, the no-information value: what the model's predictions score when outcomes and
  predictions are paired at random (AUROC 0.5; Brier mean_i mean_j (y_i - p_j)^2);
- relative overfitting R = (theta_app - theta_oob) / (theta_app - gamma), in [0, 1] (0 when the
  out-of-bag value is not worse than the apparent one or the apparent one is not better than
  gamma), with theta_oob first capped at gamma;
- weight w = 0.632 / (1 - 0.368 R), and theta_.632+ = (1 - w) theta_app + w theta_oob.

With no over-fitting R = 0 and the estimate is the classic .632 blend; for a model that has
memorised noise R = 1 and the estimate is the out-of-bag value, close to gamma. Only metrics
with a no-information value get it (`NO_INFORMATION`: AUROC, Brier, scaled Brier); calibration
is judged on cross-validated predictions instead (`training.validate`, which also gives the
.632+ estimate its interval).

Reproducibility. One `numpy.random.SeedSequence(seed)` is spawned into one child per resample,
and resample b draws its rows from its own child, so results do not depend on `n_jobs` or on
the order in which joblib runs the resamples. `fit` itself must be deterministic for given
data (fix every `random_state` inside it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Generic, TypeVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import _safe_indexing

from training.metrics import DESCRIPTIVE_METRICS, check_outcome, clinical_metrics

#: The .632 of the .632+ estimator: the expected share of distinct patients in a resample,
#: 1 - (1 - 1/n)^n -> 1 - 1/e.
BOOTSTRAP_SHARE: Final = 1.0 - math.exp(-1.0)

ModelT = TypeVar("ModelT")
XT = TypeVar("XT")

Metrics = Callable[[ArrayLike, ArrayLike], Mapping[str, float]]


def _no_information_brier(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    # mean over all n^2 pairings (y_i, p_j) of (y_i - p_j)^2, without forming the pairs.
    return float(y.mean() - 2.0 * y.mean() * p.mean() + np.mean(p**2))


def _no_information_scaled_brier(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    prevalence = float(y.mean())
    return 1.0 - _no_information_brier(y, p) / (prevalence * (1.0 - prevalence))


#: Metrics the .632+ estimator applies to: the no-information value from the outcomes and the
#: apparent predictions, and whether higher is better.
NO_INFORMATION: Final[
    dict[str, tuple[Callable[[NDArray[np.int64], NDArray[np.float64]], float], bool]]
] = {
    "auroc": (lambda _y, _p: 0.5, True),
    "brier": (_no_information_brier, False),
    "scaled_brier": (_no_information_scaled_brier, True),
}


@dataclass(frozen=True)
class MetricSummary:
    """One metric: apparent, mean optimism, optimism-corrected value and its interval.

    `n_valid` counts the resamples in which the metric was defined both on the resample and on
    the original data (a calibration slope is undefined when the linear predictor separates the
    outcome); the optimism and the interval use those resamples only. When the apparent value
    itself is undefined (NaN), so are the corrected value and the interval.
    """

    apparent: float
    optimism: float
    corrected: float
    lower: float
    upper: float
    n_valid: int


@dataclass(frozen=True)
class Point632Plus:
    """One metric by the .632+ estimator and its ingredients.

    `out_of_bag` is the mean over resamples of the refit's value on the patients its resample
    left out; `relative_overfitting` is R and `weight` w (see the module docstring). `n_valid`
    counts the resamples whose out-of-bag patients held both outcome classes.
    """

    apparent: float
    out_of_bag: float
    no_information: float
    relative_overfitting: float
    weight: float
    estimate: float
    n_valid: int


@dataclass(frozen=True)
class OptimismResult(Generic[ModelT]):
    """Result of `optimism_corrected`.

    `boot` and `test` hold, for every resample (rows, in resample order) and metric (columns),
    the refitted model's performance on its resample and on the original data; `out_of_bag` its
    performance on the original patients its resample left out (NaN where those held a single
    outcome class). `metrics` are Harrell's corrections, `point632plus` the .632+ estimates of
    the metrics in `NO_INFORMATION`. `redraws` counts resamples drawn again because they held a
    single outcome class. With `keep_models`, `models` holds the refitted models and
    `original_predictions` their predicted probabilities for the original patients (shape
    n_resamples x n), both in resample order; otherwise both are None.
    """

    metrics: dict[str, MetricSummary]
    point632plus: dict[str, Point632Plus]
    boot: pd.DataFrame
    test: pd.DataFrame
    out_of_bag: pd.DataFrame
    n_resamples: int
    seed: int
    level: float
    redraws: int
    models: list[ModelT] | None
    original_predictions: NDArray[np.float64] | None

    def to_frame(self) -> pd.DataFrame:
        """One row per metric; columns apparent, optimism, corrected, lower, upper, n_valid."""
        return pd.DataFrame.from_dict(
            {name: asdict(summary) for name, summary in self.metrics.items()}, orient="index"
        )

    def point632plus_frame(self) -> pd.DataFrame:
        """One row per .632+ metric; the columns are the fields of `Point632Plus`."""
        return pd.DataFrame.from_dict(
            {name: asdict(summary) for name, summary in self.point632plus.items()},
            orient="index",
        )


@dataclass(frozen=True)
class _Resample(Generic[ModelT]):
    boot: Mapping[str, float]
    test: Mapping[str, float]
    out_of_bag: Mapping[str, float]
    redraws: int
    model: ModelT | None
    original_prediction: NDArray[np.float64] | None


def optimism_corrected(
    fit: Callable[[XT, NDArray[np.int64]], ModelT],
    predict: Callable[[ModelT, XT], ArrayLike],
    X: XT,
    y: ArrayLike,
    *,
    n_resamples: int,
    seed: int,
    metrics: Metrics = clinical_metrics,
    n_jobs: int = 1,
    keep_models: bool = False,
    level: float = 0.95,
) -> OptimismResult[ModelT]:
    """Harrell's bootstrap optimism correction of every metric `metrics` returns, and the .632+
    estimate of those in `NO_INFORMATION`, from one set of refits.

    `fit(X, y)` builds and fits the whole model from scratch and returns it; `predict(model, X)`
    returns the predicted probability of y = 1 for each row. `X` is anything scikit-learn can
    index by row (a pandas DataFrame keeps its columns), `y` the 0/1 outcome. Resamples with a
    single outcome class are drawn again from the same stream. Descriptive entries of
    `clinical_metrics` (prevalence, n, events) are not corrected, as they do not measure the
    model. Resamples run in parallel with joblib when `n_jobs` != 1 (then `fit`, `predict` and
    `metrics` are sent to worker processes, which cloudpickle does for closures and lambdas too);
    the result is the same for every `n_jobs`.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1; got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")
    y_arr = check_outcome(y)
    if len(y_arr) != _n_rows(X):
        raise ValueError(f"y must have one value per row of X; y has {len(y_arr)}, X {_n_rows(X)}")

    model = fit(X, y_arr)
    p_apparent = _probabilities(predict(model, X), len(y_arr))
    apparent = dict(metrics(y_arr, p_apparent))

    children = np.random.SeedSequence(seed).spawn(n_resamples)
    resamples: list[_Resample[ModelT]] = Parallel(n_jobs=n_jobs)(
        delayed(_one_resample)(fit, predict, metrics, X, y_arr, child, keep_models)
        for child in children
    )

    names = [name for name in apparent if name not in DESCRIPTIVE_METRICS]
    boot = pd.DataFrame([{k: r.boot[k] for k in names} for r in resamples], columns=names)
    test = pd.DataFrame([{k: r.test[k] for k in names} for r in resamples], columns=names)
    out_of_bag = pd.DataFrame(
        [{k: r.out_of_bag.get(k, np.nan) for k in names} for r in resamples], columns=names
    )
    summaries = {name: _summarise(apparent[name], boot[name], test[name], level) for name in names}
    plus = {
        name: point_632_plus(
            apparent[name],
            out_of_bag[name],
            no_information=rule(y_arr, p_apparent),
            higher_is_better=higher,
        )
        for name, (rule, higher) in NO_INFORMATION.items()
        if name in names
    }

    models: list[ModelT] | None = None
    predictions: NDArray[np.float64] | None = None
    if keep_models:
        models = [r.model for r in resamples if r.model is not None]
        predictions = np.vstack(
            [r.original_prediction for r in resamples if r.original_prediction is not None]
        )
    return OptimismResult(
        metrics=summaries,
        point632plus=plus,
        boot=boot,
        test=test,
        out_of_bag=out_of_bag,
        n_resamples=n_resamples,
        seed=seed,
        level=level,
        redraws=sum(r.redraws for r in resamples),
        models=models,
        original_predictions=predictions,
    )


def _one_resample(
    fit: Callable[[Any, NDArray[np.int64]], ModelT],
    predict: Callable[[ModelT, Any], ArrayLike],
    metrics: Metrics,
    X: Any,
    y: NDArray[np.int64],
    seed: np.random.SeedSequence,
    keep_model: bool,
) -> _Resample[ModelT]:
    rows, redraws = draw_rows(seed, y)
    n = len(y)
    X_boot, y_boot = _safe_indexing(X, rows), y[rows]
    model = fit(X_boot, y_boot)
    p_boot = _probabilities(predict(model, X_boot), n)
    p_test = _probabilities(predict(model, X), n)
    left_out = np.ones(n, dtype=bool)
    left_out[rows] = False
    y_out = y[left_out]
    # Out-of-bag patients of one outcome class only (possible in tiny samples) cannot be scored.
    two_classes = len(y_out) > 1 and y_out.min() != y_out.max()
    return _Resample(
        boot=metrics(y_boot, p_boot),
        test=metrics(y, p_test),
        out_of_bag=metrics(y_out, p_test[left_out]) if two_classes else {},
        redraws=redraws,
        model=model if keep_model else None,
        original_prediction=p_test if keep_model else None,
    )


def draw_rows(seed: np.random.SeedSequence, y: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """One resample's rows (n draws with replacement) and how many draws were redone.

    A single-class resample cannot be fitted or scored; it is drawn again from the same stream,
    so the sequence of resamples stays a function of the seed alone.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    redraws = 0
    rows = rng.integers(0, n, size=n)
    while y[rows].min() == y[rows].max():
        redraws += 1
        rows = rng.integers(0, n, size=n)
    return rows, redraws


def point_632_plus(
    apparent: float,
    out_of_bag: pd.Series,
    *,
    no_information: float,
    higher_is_better: bool,
) -> Point632Plus:
    """The .632+ estimate from the apparent value, the per-resample out-of-bag values and the
    no-information value (Efron & Tibshirani 1997; module docstring).

    Written out here because the .632+ weighting must reuse the refits Harrell's correction
    already made; mlxtend's `bootstrap_point632_score` draws and refits its own resamples.
    """
    valid = out_of_bag.to_numpy(dtype=np.float64)
    valid = valid[np.isfinite(valid)]
    if len(valid) == 0 or not math.isfinite(apparent):
        nan = math.nan
        return Point632Plus(apparent, nan, no_information, nan, nan, nan, len(valid))
    # Work on a loss scale (lower is better) so one formula serves both directions.
    sign = -1.0 if higher_is_better else 1.0
    err_app, err_gamma = sign * apparent, sign * no_information
    err_oob_raw = sign * float(valid.mean())
    err_oob = min(err_oob_raw, err_gamma)
    if err_oob_raw > err_app and err_gamma > err_app:
        relative = min(max((err_oob - err_app) / (err_gamma - err_app), 0.0), 1.0)
    else:
        relative = 0.0
    weight = BOOTSTRAP_SHARE / (1.0 - (1.0 - BOOTSTRAP_SHARE) * relative)
    return Point632Plus(
        apparent=apparent,
        out_of_bag=float(valid.mean()),
        no_information=no_information,
        relative_overfitting=relative,
        weight=weight,
        estimate=sign * ((1.0 - weight) * err_app + weight * err_oob),
        n_valid=len(valid),
    )


#: Metrics whose resampled values run above the sample's own (smoothing noise only adds).
UPWARD_BIASED_IN_RESAMPLES: Final = frozenset({"ici"})


def fixed_prediction_intervals(
    y: ArrayLike,
    p: ArrayLike,
    *,
    n_resamples: int,
    seed: int,
    metrics: Metrics = clinical_metrics,
    level: float = 0.95,
) -> dict[str, MetricSummary]:
    """Every metric of fixed predictions (e.g. cross-validated ones) with its percentile
    bootstrap interval over resamples of the patients; nothing is refitted.

    Percentile rather than basic intervals: the ICI is bounded by 0 and larger in resamples
    than in the sample (duplicated patients add noise to the smoother), so the basic interval
    2 theta - theta_b can fall below 0. The resamples are the ones `optimism_corrected` draws
    for the same seed. `optimism` is 0 and `corrected` the value itself: these predictions are
    already out of sample. For the ICI that upward bias would put the whole percentile interval
    above the estimate, so its interval is moved down by the bias (mean of theta_b minus theta)
    and kept at or above 0.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1; got {n_resamples}")
    y_arr = check_outcome(y)
    p_arr = _probabilities(p, len(y_arr))
    value = dict(metrics(y_arr, p_arr))
    names = [name for name in value if name not in DESCRIPTIVE_METRICS]
    resampled = []
    for child in np.random.SeedSequence(seed).spawn(n_resamples):
        rows, _ = draw_rows(child, y_arr)
        resampled.append(metrics(y_arr[rows], p_arr[rows]))
    tail = (1.0 - level) / 2.0
    result = {}
    for name in names:
        theta_b = np.array([r[name] for r in resampled], dtype=np.float64)
        theta_b = theta_b[np.isfinite(theta_b)]
        lower, upper = (
            np.quantile(theta_b, [tail, 1.0 - tail])
            if len(theta_b) and math.isfinite(value[name])
            else (math.nan, math.nan)
        )
        if name in UPWARD_BIASED_IN_RESAMPLES and len(theta_b):
            bias = float(theta_b.mean()) - value[name]
            lower, upper = max(lower - bias, 0.0), max(upper - bias, 0.0)
        result[name] = MetricSummary(
            value[name], 0.0, value[name], float(lower), float(upper), len(theta_b)
        )
    return result


def _summarise(apparent: float, boot: pd.Series, test: pd.Series, level: float) -> MetricSummary:
    optimism_b = (boot - test).to_numpy(dtype=np.float64)
    optimism_b = optimism_b[np.isfinite(optimism_b)]
    if len(optimism_b) == 0:
        return MetricSummary(apparent, np.nan, np.nan, np.nan, np.nan, 0)
    optimism = float(optimism_b.mean())
    tail = (1.0 - level) / 2.0
    lower, upper = np.quantile(apparent - optimism_b, [tail, 1.0 - tail])
    return MetricSummary(
        apparent=apparent,
        optimism=optimism,
        corrected=apparent - optimism,
        lower=float(lower),
        upper=float(upper),
        n_valid=len(optimism_b),
    )


def _probabilities(predicted: ArrayLike, n: int) -> NDArray[np.float64]:
    p = np.asarray(predicted, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"predict must return one probability per row ({n}); got shape {p.shape}")
    return p


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)
