"""Validation as clinical prediction models are judged (DOMAIN.md section 8).

One report serves internal validation (apparent and bootstrap optimism-corrected performance,
refitting the whole pipeline in every resample) and external validation of a fixed model
(bootstrap percentile intervals, nothing refitted): discrimination with its interval,
calibration (intercept, slope, ICI, O/E, a smoothed curve with its band), Brier and scaled
Brier, the decision curve, the same metrics by subgroup, and predictor effects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import eligibility
from features.pipeline import anti_dsdna_positive, low_complement
from training.bootstrap import OptimismResult, optimism_corrected
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


#: Subgroups reported for every model (DOMAIN.md section 8): name -> labels per patient.
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
class ValidationReport:
    """Everything the model card, the plots, MLflow and the promotion gate read."""

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

    def summary(self) -> pd.DataFrame:
        """One row per metric: apparent, corrected (internal) or estimate, and the interval."""
        rows = []
        for name, value in self.apparent.items():
            row: dict[str, Any] = {"metric": name, "apparent": value}
            if self.bootstrap is not None and name in self.bootstrap.metrics:
                summary = self.bootstrap.metrics[name]
                row |= {
                    "corrected": summary.corrected if self.internal else value,
                    "lower": summary.lower,
                    "upper": summary.upper,
                }
            rows.append(row)
        return pd.DataFrame(rows)

    def headline(self, name: str) -> float:
        """The metric a reader should quote: optimism-corrected when internal, else as measured."""
        if self.internal and self.bootstrap is not None and name in self.bootstrap.metrics:
            return self.bootstrap.metrics[name].corrected
        return self.apparent[name]

    def interval(self, name: str) -> tuple[float, float]:
        if name == "auroc" and (self.bootstrap is None):
            return self.auroc_interval.lower, self.auroc_interval.upper
        if self.bootstrap is None or name not in self.bootstrap.metrics:
            return float("nan"), float("nan")
        summary = self.bootstrap.metrics[name]
        return summary.lower, summary.upper

    def mlflow_metrics(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, value in self.apparent.items():
            metrics[f"apparent_{name}"] = value
            if name in DESCRIPTIVE_METRICS:
                continue
            metrics[name] = self.headline(name)
            low, high = self.interval(name)
            metrics[f"{name}_lower"], metrics[f"{name}_upper"] = low, high
            if self.internal and self.bootstrap is not None and name in self.bootstrap.metrics:
                metrics[f"optimism_{name}"] = self.bootstrap.metrics[name].optimism
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
    curve, the decision curve and the subgroup table use them, since in-sample predictions
    flatter a model on exactly those displays. In external validation the model's own
    predictions are already out of sample.
    """
    p = _predict(pipeline, X)
    curve_p = p if out_of_fold is None else np.asarray(out_of_fold, dtype=float)
    resamples = config.validation.bootstrap_resamples
    bootstrap = None
    if resamples > 0:
        bootstrap = optimism_corrected(
            refit if refit is not None else (lambda _X, _y: pipeline),
            _predict,
            X,
            y,
            n_resamples=resamples,
            seed=config.seed,
            n_jobs=config.n_jobs if refit is not None else 1,
            keep_models=keep_models,
        )
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
    )
