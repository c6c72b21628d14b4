"""Internal validation by Harrell's bootstrap optimism correction.

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

Reproducibility. One `numpy.random.SeedSequence(seed)` is spawned into one child per resample,
and resample b draws its rows from its own child, so results do not depend on `n_jobs` or on
the order in which joblib runs the resamples. `fit` itself must be deterministic for given
data (fix every `random_state` inside it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import _safe_indexing

from training.metrics import DESCRIPTIVE_METRICS, check_outcome, clinical_metrics

ModelT = TypeVar("ModelT")
XT = TypeVar("XT")

Metrics = Callable[[ArrayLike, ArrayLike], Mapping[str, float]]


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
class OptimismResult(Generic[ModelT]):
    """Result of `optimism_corrected`.

    `boot` and `test` hold, for every resample (rows, in resample order) and metric (columns),
    the refitted model's performance on its resample and on the original data. `redraws` counts
    resamples drawn again because they held a single outcome class. With `keep_models`, `models`
    holds the refitted models and `original_predictions` their predicted probabilities for the
    original patients (shape n_resamples x n), both in resample order; otherwise both are None.
    """

    metrics: dict[str, MetricSummary]
    boot: pd.DataFrame
    test: pd.DataFrame
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


@dataclass(frozen=True)
class _Resample(Generic[ModelT]):
    boot: Mapping[str, float]
    test: Mapping[str, float]
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
    """Harrell's bootstrap optimism correction of every metric `metrics` returns.

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
    apparent = dict(metrics(y_arr, _probabilities(predict(model, X), len(y_arr))))

    children = np.random.SeedSequence(seed).spawn(n_resamples)
    resamples: list[_Resample[ModelT]] = Parallel(n_jobs=n_jobs)(
        delayed(_one_resample)(fit, predict, metrics, X, y_arr, child, keep_models)
        for child in children
    )

    names = [name for name in apparent if name not in DESCRIPTIVE_METRICS]
    boot = pd.DataFrame([{k: r.boot[k] for k in names} for r in resamples], columns=names)
    test = pd.DataFrame([{k: r.test[k] for k in names} for r in resamples], columns=names)
    summaries = {name: _summarise(apparent[name], boot[name], test[name], level) for name in names}

    models: list[ModelT] | None = None
    predictions: NDArray[np.float64] | None = None
    if keep_models:
        models = [r.model for r in resamples if r.model is not None]
        predictions = np.vstack(
            [r.original_prediction for r in resamples if r.original_prediction is not None]
        )
    return OptimismResult(
        metrics=summaries,
        boot=boot,
        test=test,
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
    rng = np.random.default_rng(seed)
    n = len(y)
    redraws = 0
    rows = rng.integers(0, n, size=n)
    # A single-class resample cannot be fitted or scored; draw again from the same stream so
    # the sequence of resamples stays a function of the seed alone.
    while y[rows].min() == y[rows].max():
        redraws += 1
        rows = rng.integers(0, n, size=n)
    X_boot, y_boot = _safe_indexing(X, rows), y[rows]
    model = fit(X_boot, y_boot)
    p_boot = _probabilities(predict(model, X_boot), n)
    p_test = _probabilities(predict(model, X), n)
    return _Resample(
        boot=metrics(y_boot, p_boot),
        test=metrics(y, p_test),
        redraws=redraws,
        model=model if keep_model else None,
        original_prediction=p_test if keep_model else None,
    )


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
