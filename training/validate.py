"""Validation as clinical prediction models are judged (CLINICAL.md section 8).

One report serves internal validation (the whole pipeline refitted in every bootstrap resample
and in every cross-validation fold) and external validation of a fixed model (bootstrap
intervals, nothing refitted): discrimination with its interval, calibration (intercept, slope,
ICI, O/E, a smoothed curve with its band), Brier and scaled Brier, the decision curve, the same
metrics by subgroup, and predictor effects.

Which estimate is quoted. Internal validation computes up to four estimates of each metric:
apparent (the model on its own training data), Harrell's bootstrap optimism correction, the
.632+ bootstrap estimator from the same refits (`training.bootstrap`), and the metric of the
cross-validated (out-of-fold) predictions. Harrell's correction scores each refit on patients
63.2 % of whom it has seen, which flatters models that memorise their training rows (boosted
and other tree ensembles); so the headline, the figure the promotion gate, the registry, the
model card and the service quote, is (`HEADLINE_ESTIMATE`):

- discrimination and overall accuracy (AUROC, Brier, scaled Brier): the .632+ estimate, which
  scores refits only on patients they have not seen (Efron & Tibshirani 1997; Wahl et al. 2016);
- calibration (intercept, slope, ICI, O/E): the cross-validated predictions, the same ones the
  calibration curve, the decision curve and the subgroup table are drawn from. Calibration has
  no no-information value for .632+ to shrink towards, and each out-of-fold prediction comes
  from a model that never saw that patient.

Intervals (95 %). Cross-validated: percentile bootstrap interval over patients, the out-of-fold
predictions held fixed (`training.bootstrap.fixed_prediction_intervals`). .632+: that interval
moved by the difference between the .632+ and the cross-validated estimate, a location-shifted
interval in the sense of Noma et al. (Stat Med 2021;40:5691-5701) built on the sampling
distribution of an out-of-sample estimate; like the cross-validated one it leaves out the
variability of refitting, which only their two-stage bootstrap would add. Harrell: as
`training.bootstrap` describes. Apparent AUROC: DeLong.

External validation of a fixed model (``refit`` None, `mrbs evaluate`, `mrbs update`): each
metric is the value measured on the cohort, with the percentile bootstrap interval over
resamples of its patients, the predictions held fixed (`fixed_prediction_intervals`). Percentile
intervals stay within each metric's range (an AUROC within [0, 1], an O/E ratio above 0); the
ICI, whose resampled values run above the sample's own, has its interval moved down by that bias
and kept at or above 0. The DeLong interval of the AUROC is logged beside it.

Harrell's figures are still logged, under ``harrell_``. The hyperparameters are tuned once on
all patients and held fixed in the refits and folds, so every estimate leaves out the optimism
of tuning itself (small for grids of a few values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import isfinite
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import eligibility
from features.pipeline import anti_dsdna_positive, low_complement
from training.bootstrap import (
    MetricSummary,
    OptimismResult,
    fixed_prediction_intervals,
    optimism_corrected,
)
from training.config import TrainingConfig
from training.effects import interquartile_odds_ratios
from training.metrics import (
    DESCRIPTIVE_METRICS,
    AurocInterval,
    auroc_ci,
    calibration_curve_with_band,
    clinical_metrics,
    net_benefit,
)

THRESHOLD_STEP: Final = 0.01
APPARENT: Final = "apparent"
HARRELL: Final = "harrell"
POINT632PLUS: Final = ".632+"
CROSS_VALIDATED: Final = "cross-validated"
#: Internal validation: the estimate each metric quotes (see the module docstring).
HEADLINE_ESTIMATE: Final[dict[str, str]] = {
    "auroc": POINT632PLUS,
    "brier": POINT632PLUS,
    "scaled_brier": POINT632PLUS,
    "calibration_intercept": CROSS_VALIDATED,
    "calibration_slope": CROSS_VALIDATED,
    "ici": CROSS_VALIDATED,
    "oe_ratio": CROSS_VALIDATED,
}
#: MLflow metric-name prefix of each estimate (the headline is logged without a prefix).
MLFLOW_PREFIX: Final[dict[str, str]] = {
    HARRELL: "harrell_",
    POINT632PLUS: "boot632plus_",
    CROSS_VALIDATED: "cv_",
}
SUBGROUP_METRICS: Final = (
    "auroc",
    "calibration_intercept",
    "calibration_slope",
    "brier",
    "oe_ratio",
)


def _age_band(frame: pd.DataFrame) -> pd.Series:
    return pd.cut(
        frame["age"],
        [-np.inf, 30, 45, 60, np.inf],
        right=False,
        labels=["<30", "30-44", "45-59", ">=60"],
    ).astype("string")


def _yes_no(mask: pd.Series, yes: str, no: str) -> pd.Series:
    labels = pd.Series(pd.NA, index=mask.index, dtype="string")
    labels[mask.eq(True).fillna(False)] = yes
    labels[mask.eq(False).fillna(False)] = no
    return labels


def _eligibility(frame: pd.DataFrame) -> pd.Series:
    return _yes_no(frame[eligibility.ELIGIBLE], "eligible", "not eligible").fillna("unknown")


#: Subgroups reported for every model (CLINICAL.md section 8): name -> labels per patient.
SUBGROUPS: Final[dict[str, Callable[[pd.DataFrame], pd.Series]]] = {
    "sex": lambda f: f["sex"].astype("string"),
    "age band": _age_band,
    "SLEDAI-2K": lambda f: _yes_no(f["sledai_2k"] >= 10, ">=10", "<=9"),
    "anti-dsDNA": lambda f: _yes_no(anti_dsdna_positive(f), "positive", "negative"),
    "complement": lambda f: _yes_no(low_complement(f), "low", "normal"),
    "low complement and anti-dsDNA+": lambda f: _yes_no(
        low_complement(f) & anti_dsdna_positive(f), "yes", "no"
    ),
    "renal involvement": lambda f: _yes_no(f["renal_involvement"].astype("boolean"), "yes", "no"),
    "eligibility": _eligibility,
}


@dataclass(frozen=True)
class Estimate:
    """One estimate of one metric, with its interval (NaN when there is none)."""

    method: str
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ValidationReport:
    """Everything the model card, the plots, MLflow and the promotion gate read.

    `cross_validated` holds the metrics of the out-of-fold predictions `curve_p` with bootstrap
    intervals (internal validation with out-of-fold predictions only).
    """

    y: npt.NDArray[np.int64]
    p: npt.NDArray[np.float64]
    curve_p: npt.NDArray[np.float64]
    apparent: dict[str, float]
    auroc_interval: AurocInterval
    bootstrap: OptimismResult[Any] | None
    internal: bool
    decision_curve: pd.DataFrame
    calibration_curve: pd.DataFrame
    subgroups: pd.DataFrame
    effects: pd.DataFrame
    cross_validated: dict[str, MetricSummary] | None = None
    measured: dict[str, MetricSummary] | None = None

    def estimates(self, name: str) -> dict[str, Estimate]:
        """Every estimate available for metric ``name``, by method."""
        nan = float("nan")
        found = {APPARENT: Estimate(APPARENT, self.apparent[name], nan, nan)}
        if name == "auroc":
            delong = self.auroc_interval
            found[APPARENT] = Estimate(APPARENT, self.apparent[name], delong.lower, delong.upper)
        if self.bootstrap is not None and name in self.bootstrap.metrics:
            harrell = self.bootstrap.metrics[name]
            if self.internal:
                found[HARRELL] = Estimate(HARRELL, harrell.corrected, harrell.lower, harrell.upper)
            else:
                found[APPARENT] = Estimate(APPARENT, harrell.apparent, harrell.lower, harrell.upper)
        if not self.internal and self.measured is not None and name in self.measured:
            fixed = self.measured[name]
            found[APPARENT] = Estimate(APPARENT, fixed.apparent, fixed.lower, fixed.upper)
        if self.cross_validated is not None and name in self.cross_validated:
            cv = self.cross_validated[name]
            found[CROSS_VALIDATED] = Estimate(CROSS_VALIDATED, cv.apparent, cv.lower, cv.upper)
        plus = self.bootstrap.point632plus.get(name) if self.bootstrap is not None else None
        # Undefined (NaN) when no resample left both outcomes out of bag: not an estimate.
        if self.internal and plus is not None and isfinite(plus.estimate):
            value = plus.estimate
            cv_estimate = found.get(CROSS_VALIDATED)
            # The cross-validated interval moved to the .632+ estimate (module docstring).
            shift = value - cv_estimate.value if cv_estimate is not None else nan
            lower = cv_estimate.lower + shift if cv_estimate is not None else nan
            upper = cv_estimate.upper + shift if cv_estimate is not None else nan
            found[POINT632PLUS] = Estimate(POINT632PLUS, value, lower, upper)
        return found

    def headline_estimate(self, name: str) -> Estimate:
        """The estimate a reader should quote for ``name``.

        Internal validation: `HEADLINE_ESTIMATE`, falling back to the cross-validated, then
        Harrell's, then the apparent value when that one was not computed (no resamples, no
        out-of-fold predictions). External validation: the value measured on the cohort.
        """
        found = self.estimates(name)
        if not self.internal:
            return found[APPARENT]
        preferred = (HEADLINE_ESTIMATE.get(name, HARRELL), CROSS_VALIDATED, HARRELL, APPARENT)
        return next(found[method] for method in preferred if method in found)

    def headline(self, name: str) -> float:
        """The value of `headline_estimate`."""
        return self.headline_estimate(name).value

    def interval(self, name: str) -> tuple[float, float]:
        """The interval of `headline_estimate`."""
        estimate = self.headline_estimate(name)
        return estimate.lower, estimate.upper

    def summary(self) -> pd.DataFrame:
        """One row per metric: every estimate with its interval, and which one is the headline."""
        rows = []
        for name in self.apparent:
            if name in DESCRIPTIVE_METRICS:
                rows.append({"metric": name, APPARENT: self.apparent[name]})
                continue
            headline = self.headline_estimate(name)
            row: dict[str, Any] = {
                "metric": name,
                "headline": headline.value,
                "lower": headline.lower,
                "upper": headline.upper,
                "headline_estimate": headline.method,
            }
            for method, estimate in self.estimates(name).items():
                row |= {
                    method: estimate.value,
                    f"{method} lower": estimate.lower,
                    f"{method} upper": estimate.upper,
                }
            rows.append(row)
        return pd.DataFrame(rows)

    def mlflow_metrics(self) -> dict[str, float]:
        """Headline metrics under their plain names (what the gate and the service read), and
        every other estimate under its prefix (`MLFLOW_PREFIX`, ``apparent_``)."""
        metrics: dict[str, float] = {}
        for name, value in self.apparent.items():
            metrics[f"apparent_{name}"] = value
            if name in DESCRIPTIVE_METRICS:
                continue
            headline = self.headline_estimate(name)
            metrics[name] = headline.value
            metrics[f"{name}_lower"], metrics[f"{name}_upper"] = headline.lower, headline.upper
            for method, estimate in self.estimates(name).items():
                if method not in MLFLOW_PREFIX:
                    continue
                key = f"{MLFLOW_PREFIX[method]}{name}"
                metrics |= {
                    key: estimate.value,
                    f"{key}_lower": estimate.lower,
                    f"{key}_upper": estimate.upper,
                }
            if self.internal and self.bootstrap is not None:
                if name in self.bootstrap.metrics:
                    metrics[f"harrell_optimism_{name}"] = self.bootstrap.metrics[name].optimism
                if name in self.bootstrap.point632plus:
                    plus = self.bootstrap.point632plus[name]
                    metrics[f"boot632plus_out_of_bag_{name}"] = plus.out_of_bag
                    metrics[f"boot632plus_relative_overfitting_{name}"] = plus.relative_overfitting
        metrics["auroc_delong_lower"] = self.auroc_interval.lower
        metrics["auroc_delong_upper"] = self.auroc_interval.upper
        return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def thresholds(config: TrainingConfig) -> npt.NDArray[np.float64]:
    low, high = config.validation.decision_thresholds
    return np.round(np.arange(low, high + THRESHOLD_STEP / 2, THRESHOLD_STEP), 4)


def subgroup_table(
    frame: pd.DataFrame, y: npt.NDArray[np.int64], p: npt.NDArray[np.float64], min_events: int
) -> pd.DataFrame:
    """The subgroup metrics; groups with too few events or non-events get counts only."""
    rows = []
    for name, labelling in SUBGROUPS.items():
        try:
            labels = labelling(frame).reset_index(drop=True)
        except KeyError:
            continue  # the cohort lacks the field that defines this subgroup
        for level in sorted(labels.dropna().unique()):
            mask = labels.eq(level).fillna(False).to_numpy()
            events = int(y[mask].sum())
            row: dict[str, Any] = {
                "subgroup": name,
                "level": str(level),
                "n": int(mask.sum()),
                "events": events,
            }
            if min(events, int(mask.sum()) - events) >= min_events:
                metrics = clinical_metrics(y[mask], p[mask])
                row |= {metric: metrics[metric] for metric in SUBGROUP_METRICS}
            rows.append(row)
    return pd.DataFrame(rows, columns=["subgroup", "level", "n", "events", *SUBGROUP_METRICS])


def _predict(model: Any, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


def validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: npt.NDArray[np.int64],
    frame: pd.DataFrame,
    config: TrainingConfig,
    *,
    refit: Callable[[pd.DataFrame, npt.NDArray[np.int64]], Any] | None,
    out_of_fold: npt.NDArray[np.float64] | None = None,
    keep_models: bool = False,
) -> ValidationReport:
    """Validate a fitted pipeline on X, y; ``refit`` given means internal validation.

    ``frame`` is the validated cohort (canonical record fields) aligned with X, for subgroups.
    In internal validation, ``out_of_fold`` holds cross-validated predictions: the calibration
    metrics, the calibration curve, the decision curve and the subgroup table use them, since
    in-sample predictions flatter a model on exactly those displays. In external validation the
    model's own predictions are already out of sample.
    """
    p = _predict(pipeline, X)
    curve_p = p if out_of_fold is None else np.asarray(out_of_fold, dtype=float)
    resamples = config.validation.bootstrap_resamples
    bootstrap = None
    measured = None
    if resamples > 0 and refit is not None:
        bootstrap = optimism_corrected(
            refit,
            _predict,
            X,
            y,
            n_resamples=resamples,
            seed=config.seed,
            n_jobs=config.n_jobs,
            keep_models=keep_models,
        )
    elif resamples > 0:
        measured = fixed_prediction_intervals(y, p, n_resamples=resamples, seed=config.seed)
    cross_validated = None
    if refit is not None and out_of_fold is not None:
        cross_validated = _cross_validated(y, curve_p, config)
    return ValidationReport(
        y=y,
        p=p,
        curve_p=curve_p,
        apparent=clinical_metrics(y, p),
        auroc_interval=auroc_ci(y, p),
        bootstrap=bootstrap,
        internal=refit is not None,
        decision_curve=net_benefit(y, curve_p, thresholds(config)),
        calibration_curve=calibration_curve_with_band(y, curve_p, seed=config.seed),
        subgroups=subgroup_table(
            frame.reset_index(drop=True), y, curve_p, config.validation.subgroup_min_events
        ),
        effects=interquartile_odds_ratios(pipeline, X),
        cross_validated=cross_validated,
        measured=measured,
    )


def _cross_validated(
    y: npt.NDArray[np.int64], out_of_fold: npt.NDArray[np.float64], config: TrainingConfig
) -> dict[str, MetricSummary]:
    resamples = config.validation.bootstrap_resamples
    if resamples > 0:
        return fixed_prediction_intervals(y, out_of_fold, n_resamples=resamples, seed=config.seed)
    nan = float("nan")
    return {
        name: MetricSummary(value, 0.0, value, nan, nan, 0)
        for name, value in clinical_metrics(y, out_of_fold).items()
        if name not in DESCRIPTIVE_METRICS
    }
