"""Performance of a binary clinical prediction model: discrimination, calibration, utility.

Let y be the observed outcome (1 = SRI-4 response), p the predicted probability and
LP = logit(p). Definitions follow Van Calster et al., "Calibration: the Achilles heel of
predictive analytics", BMC Med 2019;17:230, and the calibration hierarchy of Van Calster et al.,
J Clin Epidemiol 2016;74:167-176.

Which code computes what:

- scikit-learn: AUROC (`roc_auc_score`), Brier score (`brier_score_loss`).
- statsmodels: calibration intercept and slope (binomial GLM, with LP as offset or covariate),
  the lowess smoother behind the ICI and the calibration curve.
- dcurves: net benefit of the model, treat-all and treat-none (decision curve analysis).
- written here: the DeLong variance of the AUROC (neither scikit-learn, statsmodels nor SciPy
  provides it) and the bootstrap band around the calibration curve.

Every public function validates its inputs the same way: y and p of the same length, y only 0 and
1 with at least one event and one non-event, p finite within [0, 1]. A probability of exactly 0 or
1 is accepted as a prediction but clipped to [1e-12, 1 - 1e-12] wherever a logit is taken, so a
tree model's hard 0/1 output gives a finite (very large) LP instead of infinity.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.typing import ArrayLike, NDArray
from scipy.special import logit
from scipy.stats import norm, rankdata
from sklearn.metrics import brier_score_loss, roc_auc_score
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

PROBABILITY_CLIP: Final = 1e-12
"""p is clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP] before any logit."""

LOWESS_FRAC: Final = 2 / 3
"""Share of the data in each local fit: the lowess default kept by rms `val.prob`."""

LOWESS_DELTA: Final = 0.01
"""Points closer than this share of the range of p are interpolated rather than refitted
(statsmodels' recommended speed-up; changes the ICI by far less than its sampling error)."""

METRIC_NAMES: Final = (
    "auroc",
    "brier",
    "scaled_brier",
    "calibration_intercept",
    "calibration_slope",
    "ici",
    "oe_ratio",
    "prevalence",
    "n",
    "events",
)
"""Keys of `clinical_metrics`, in order."""

DESCRIPTIVE_METRICS: Final = frozenset({"prevalence", "n", "events"})
"""Keys of `clinical_metrics` that describe the data rather than the model."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class AurocInterval:
    """AUROC with its DeLong standard error and a two-sided interval at `level`."""

    auroc: float
    lower: float
    upper: float
    standard_error: float
    level: float


# ── input validation ─────────────────────────────────────────────────────────


def check_outcome(y: ArrayLike) -> IntArray:
    """Return y as 0/1 integers, or raise ValueError naming y and the reason.

    Rules: one-dimensional, not empty, only 0 and 1 (booleans accepted), at least one event and
    one non-event.
    """
    y_raw = np.asarray(y)
    if y_raw.ndim != 1:
        raise ValueError(f"y must be one-dimensional; got shape {y_raw.shape}")
    if len(y_raw) == 0:
        raise ValueError("y must not be empty")
    if y_raw.dtype.kind not in "biuf":
        raise ValueError(f"y must contain only 0 and 1; got values of type {y_raw.dtype}")
    bad = ~np.isin(y_raw, (0, 1))
    if bad.any():
        raise ValueError(f"y must contain only 0 and 1; found {y_raw[bad][0].item()}")
    y_arr = y_raw.astype(np.int64)
    events = int(y_arr.sum())
    if events == 0 or events == len(y_arr):
        only = "non-events (0)" if events == 0 else "events (1)"
        raise ValueError(
            f"y must contain at least one event (1) and one non-event (0); found only {only}"
        )
    return y_arr


def check_outcome_and_probability(y: ArrayLike, p: ArrayLike) -> tuple[IntArray, FloatArray]:
    """Return y as 0/1 integers and p as floats, or raise ValueError naming the argument.

    y as in `check_outcome`; p one-dimensional, of y's length, finite and within [0, 1].
    """
    p_raw = np.asarray(p)
    if p_raw.ndim != 1:
        raise ValueError(f"p must be one-dimensional; got shape {p_raw.shape}")
    y_len = len(np.asarray(y))
    if y_len != len(p_raw):
        raise ValueError(f"y and p must have the same length; y has {y_len}, p has {len(p_raw)}")
    y_arr = check_outcome(y)
    if p_raw.dtype.kind not in "biuf":
        raise ValueError(f"p must be numeric probabilities; got values of type {p_raw.dtype}")
    p_arr = p_raw.astype(np.float64)
    if not np.isfinite(p_arr).all():
        raise ValueError("p must be finite; found NaN or infinity")
    outside = (p_arr < 0.0) | (p_arr > 1.0)
    if outside.any():
        raise ValueError(
            f"p must lie within [0, 1]; {int(outside.sum())} value(s) outside, "
            f"e.g. {p_arr[outside][0].item()}"
        )
    return y_arr, p_arr


def _lp(p: FloatArray) -> FloatArray:
    clipped = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    return np.asarray(logit(clipped), dtype=np.float64)


# ── discrimination ───────────────────────────────────────────────────────────


def auroc(y: ArrayLike, p: ArrayLike) -> float:
    """C statistic: P(p_i > p_j | y_i = 1, y_j = 0), ties counted one half. Ideal 1, chance 0.5.

    Computed by scikit-learn's `roc_auc_score` (Hanley & McNeil, Radiology 1982;143:29-36).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return float(roc_auc_score(y_arr, p_arr))


def _delong_placements(y: IntArray, p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Structural components of DeLong et al. (Biometrics 1988;44:837-845).

    V10_i (one per event) is the share of non-events ranked below event i, V01_j (one per
    non-event) the share of events ranked above non-event j, ties counted one half. Midranks give
    both in O(n log n) (Sun & Xu, IEEE Signal Process Lett 2014;21:1389-1393): the rank of an
    event among all patients minus its rank among events is the number of non-events below it.
    """
    events, non_events = p[y == 1], p[y == 0]
    m, n = len(events), len(non_events)
    ranks_all = rankdata(np.concatenate([events, non_events]))
    v10 = (ranks_all[:m] - rankdata(events)) / n
    v01 = 1.0 - (ranks_all[m:] - rankdata(non_events)) / m
    return np.asarray(v10, dtype=np.float64), np.asarray(v01, dtype=np.float64)


def auroc_ci(y: ArrayLike, p: ArrayLike, level: float = 0.95) -> AurocInterval:
    """AUROC with DeLong's nonparametric standard error and a Wald interval.

    Var(AUROC) = S10 / m + S01 / n, where S10 and S01 are the sample variances (denominator
    m - 1 and n - 1) of the structural components over the m events and n non-events (DeLong,
    DeLong & Clarke-Pearson, Biometrics 1988;44:837-845). The interval is AUROC +/- z * SE,
    truncated to [0, 1], as R's pROC `ci.auc(method = "delong")` reports it.
    Needs at least two events and two non-events (each variance needs two values).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")
    y_arr, p_arr = check_outcome_and_probability(y, p)
    events = int(y_arr.sum())
    if events < 2 or len(y_arr) - events < 2:
        raise ValueError("y must contain at least two events and two non-events for DeLong")
    v10, v01 = _delong_placements(y_arr, p_arr)
    estimate = float(v10.mean())
    variance = float(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01))
    se = math.sqrt(variance)
    z = float(norm.ppf(0.5 + level / 2.0))
    return AurocInterval(
        auroc=estimate,
        lower=max(0.0, estimate - z * se),
        upper=min(1.0, estimate + z * se),
        standard_error=se,
        level=level,
    )


# ── overall accuracy ─────────────────────────────────────────────────────────


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Brier score (1/n) sum (p_i - y_i)^2 (Brier, Mon Weather Rev 1950). Ideal 0.

    Computed by scikit-learn's `brier_score_loss`.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return _brier(y_arr, p_arr)


def _brier(y: IntArray, p: FloatArray) -> float:
    return float(brier_score_loss(y, p, pos_label=1))


def scaled_brier(y: ArrayLike, p: ArrayLike) -> float:
    """Scaled Brier 1 - Brier / (ybar (1 - ybar)). Ideal 1; 0 is the non-informative model
    that predicts the prevalence for everyone (Steyerberg et al., Epidemiology 2010;21:128-138).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return _scaled_brier(y_arr, p_arr)


def _scaled_brier(y: IntArray, p: FloatArray) -> float:
    prevalence = float(y.mean())
    return 1.0 - _brier(y, p) / (prevalence * (1.0 - prevalence))


# ── calibration ──────────────────────────────────────────────────────────────


def calibration_intercept(y: ArrayLike, p: ArrayLike) -> float:
    """Calibration-in-the-large: a in logit P(y = 1) = a + offset(LP). Ideal 0.

    a < 0 means the model predicts too high on average, a > 0 too low. Fitted as a binomial GLM
    with LP as offset (statsmodels); Van Calster et al., BMC Med 2019;17:230, Table 1.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return _calibration_intercept(y_arr, p_arr)


def _binomial_fit(y: IntArray, exog: FloatArray, offset: FloatArray | None = None) -> Any:
    """A binomial GLM fit. statsmodels warns of "perfect separation or prediction" whenever the
    fitted probabilities come close to the outcomes, which a well-defined fit also does when a
    model predicts its own training data almost perfectly (inside the bootstrap); the callers
    rule out the fits that have no finite estimate before fitting, so the warning says nothing
    here. Nor does numpy's overflow of exp() for the extreme log-odds of such predictions, whose
    limit (a probability of 0 or 1) is what the fit uses."""
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        return sm.GLM(
            y.astype(np.float64), exog, family=sm.families.Binomial(), offset=offset
        ).fit()


def _calibration_intercept(y: IntArray, p: FloatArray) -> float:
    # With the slope fixed at 1 the maximum-likelihood intercept exists whenever both classes
    # are present, so this fit cannot diverge.
    result = _binomial_fit(y, np.ones((len(y), 1)), offset=_lp(p))
    return float(result.params[0]) if result.converged else math.nan


def calibration_slope(y: ArrayLike, p: ArrayLike) -> float:
    """Calibration slope: b in logit P(y = 1) = a + b LP. Ideal 1.

    b < 1 means predictions too extreme (the signature of over-fitting), b > 1 too moderate.
    Fitted as a binomial GLM with LP as covariate (statsmodels); Cox, Biometrika 1958;45:562-565;
    Van Calster et al., BMC Med 2019;17:230.

    Returns NaN when the slope has no finite maximum-likelihood estimate: when LP separates the
    events from the non-events (every event ranked at or above every non-event, or the reverse),
    which includes a constant p. A heavily over-fitted model often separates the very data it
    was fitted on, so this case is routine inside the bootstrap.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return _calibration_slope(y_arr, p_arr)


def _calibration_slope(y: IntArray, p: FloatArray) -> float:
    lp = _lp(p)
    events, non_events = lp[y == 1], lp[y == 0]
    overlap = events.max() > non_events.min() and non_events.max() > events.min()
    if not overlap:
        return math.nan
    result = _binomial_fit(y, np.column_stack([np.ones(len(lp)), lp]))
    return float(result.params[1]) if result.converged else math.nan


def _smooth_observed(y: IntArray, p: FloatArray) -> FloatArray:
    """Lowess of y on p at each p_i: locally linear, tricube weights, `LOWESS_FRAC` of the data.

    No robustness iterations (it = 0, as in rms `val.prob`): with a 0/1 outcome they would treat
    the minority class as outliers and bias the curve towards the majority.
    """
    spread = float(np.ptp(p))
    if spread == 0.0:
        return np.full(len(p), float(y.mean()))
    # Where every point of a window shares one p (a model that predicts only a few distinct
    # values), no line can be fitted: lowess divides by zero and gives NaN there, which makes
    # the ICI undefined rather than wrong; numpy's warning about it says nothing more.
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = lowess(
            y.astype(np.float64),
            p,
            frac=LOWESS_FRAC,
            it=0,
            delta=LOWESS_DELTA * spread,
            return_sorted=False,
        )
    return np.asarray(smooth, dtype=np.float64)


def ici(y: ArrayLike, p: ArrayLike) -> float:
    """Integrated Calibration Index: (1/n) sum |p_i - p_smooth_i|. Ideal 0.

    p_smooth is the smoothed observed risk at p_i, from a lowess of y on p (statsmodels,
    frac 2/3, no robustness iterations). Austin & Steyerberg, Stat Med 2019;38:4051-4065, use R's
    `loess` (span 0.75, local quadratic); the lowess of rms `val.prob` is used here instead, as it
    is the smoother statsmodels provides; on a calibrated model both give an ICI near 0.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return _ici(y_arr, p_arr)


def _ici(y: IntArray, p: FloatArray) -> float:
    return float(np.mean(np.abs(p - _smooth_observed(y, p))))


def observed_expected(y: ArrayLike, p: ArrayLike) -> float:
    """O/E ratio: mean(y) / mean(p), observed over expected events. Ideal 1.

    Van Calster et al., BMC Med 2019;17:230 (mean calibration).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return _observed_expected(y_arr, p_arr)


def _observed_expected(y: IntArray, p: FloatArray) -> float:
    expected = float(p.mean())
    return float(y.mean()) / expected if expected > 0.0 else math.inf


def calibration_curve_with_band(
    y: ArrayLike,
    p: ArrayLike,
    *,
    n_points: int = 100,
    n_resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Smoothed calibration curve with a pointwise bootstrap band, ready to plot.

    The curve is the lowess of y on p used by `ici`, evaluated on `n_points` equally spaced
    predicted risks spanning the observed range of p. The band is the pointwise percentile
    interval of the same smoother refitted on `n_resamples` bootstrap resamples of the patients
    (drawn with `numpy.random.default_rng(seed)`); near the ends of the range a resample may
    extrapolate, which widens the band where the data are thin, as it should. Curve and band are
    clipped to [0, 1] because they estimate a probability.

    Returns columns: predicted, observed, lower, upper.
    """
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2; got {n_points}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1; got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")
    y_arr, p_arr = check_outcome_and_probability(y, p)
    grid = np.linspace(float(p_arr.min()), float(p_arr.max()), n_points)
    observed = _smooth_at(y_arr, p_arr, grid)
    rng = np.random.default_rng(seed)
    n = len(y_arr)
    curves = np.empty((n_resamples, n_points))
    for b in range(n_resamples):
        rows = rng.integers(0, n, size=n)
        curves[b] = _smooth_at(y_arr[rows], p_arr[rows], grid)
    tail = (1.0 - level) / 2.0
    lower, upper = np.nanquantile(curves, [tail, 1.0 - tail], axis=0)
    return pd.DataFrame(
        {
            "predicted": grid,
            "observed": np.clip(observed, 0.0, 1.0),
            "lower": np.clip(lower, 0.0, 1.0),
            "upper": np.clip(upper, 0.0, 1.0),
        }
    )


def _smooth_at(y: IntArray, p: FloatArray, grid: FloatArray) -> FloatArray:
    if float(np.ptp(p)) == 0.0:
        return np.full(len(grid), float(y.mean()))
    smooth = lowess(y.astype(np.float64), p, frac=LOWESS_FRAC, it=0, xvals=grid)
    return np.asarray(smooth, dtype=np.float64)


# ── clinical utility ─────────────────────────────────────────────────────────


def net_benefit(y: ArrayLike, p: ArrayLike, thresholds: ArrayLike) -> pd.DataFrame:
    """Net benefit at each threshold probability t (decision curve analysis).

    NB(model) = TP/n - FP/n * t / (1 - t), treating every patient with p >= t;
    NB(treat all) = prevalence - (1 - prevalence) * t / (1 - t); NB(treat none) = 0.
    Vickers & Elkin, Med Decis Making 2006;26:565-574; Vickers, Van Calster & Steyerberg,
    Diagn Progn Res 2019;3:18. Computed by dcurves (`dcurves.dca`).

    Returns columns: threshold, model, treat_all, treat_none; one row per threshold, in the
    order given. Each threshold must lie in [0, 1).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or len(t) == 0:
        raise ValueError("thresholds must be a non-empty one-dimensional sequence")
    if not np.isfinite(t).all() or ((t < 0.0) | (t >= 1.0)).any():
        raise ValueError("thresholds must lie within [0, 1)")
    # Imported here: dcurves imports lifelines (about a second) and only decision curves need it.
    from dcurves import dca

    table = dca(
        data=pd.DataFrame({"outcome": y_arr, "model": p_arr}),
        outcome="outcome",
        modelnames=["model"],
        thresholds=t.tolist(),
    )
    # dcurves stacks one block of len(t) rows per strategy, each in the thresholds' order.
    by_strategy = {
        name: table.loc[table["model"] == name, "net_benefit"].to_numpy(dtype=np.float64)
        for name in ("model", "all", "none")
    }
    return pd.DataFrame(
        {
            "threshold": t,
            "model": by_strategy["model"],
            "treat_all": by_strategy["all"],
            "treat_none": by_strategy["none"],
        }
    )


# ── all scalar metrics ───────────────────────────────────────────────────────


def clinical_metrics(y: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """Every scalar metric of this module under a stable name (`METRIC_NAMES`).

    auroc, brier, scaled_brier, calibration_intercept, calibration_slope, ici, oe_ratio, and the
    data's prevalence, n and events (as floats, so the mapping has one value type).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    return {
        "auroc": float(roc_auc_score(y_arr, p_arr)),
        "brier": _brier(y_arr, p_arr),
        "scaled_brier": _scaled_brier(y_arr, p_arr),
        "calibration_intercept": _calibration_intercept(y_arr, p_arr),
        "calibration_slope": _calibration_slope(y_arr, p_arr),
        "ici": _ici(y_arr, p_arr),
        "oe_ratio": _observed_expected(y_arr, p_arr),
        "prevalence": float(y_arr.mean()),
        "n": float(len(y_arr)),
        "events": float(y_arr.sum()),
    }
