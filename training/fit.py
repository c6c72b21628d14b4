"""Fitting one candidate: tune by cross-validation, recalibrate where needed, refit on all data.

Hyperparameters are tuned by stratified k-fold cross-validation on the training data only,
scored by log loss (a proper scoring rule, so calibration counts as well as ranking). The tuned
pipeline's cross-validated calibration slope decides recalibration: inside the tolerated band
the pipeline stays as it is; outside it, Platt (sigmoid) and isotonic recalibration inside the
pipeline are compared by cross-validated Brier score and the better one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from training.candidates import build_pipeline, param_grid, with_recalibration
from training.config import Candidate, TrainingConfig
from training.metrics import calibration_slope


@dataclass(frozen=True)
class FittedCandidate:
    """A candidate's final pipeline and how it was chosen."""

    candidate: Candidate
    pipeline: Pipeline
    best_params: dict[str, Any]
    cv_log_loss: float
    cv_calibration_slope: float
    recalibration: str
    recalibration_scores: dict[str, float]

    def params(self) -> dict[str, Any]:
        """Everything that defines the fit, for MLflow."""
        return {
            "kind": self.candidate.kind,
            "feature_set": self.candidate.feature_set,
            "recalibration": self.recalibration,
            **{k.removeprefix("classifier__"): v for k, v in self.best_params.items()},
        }


def folds(config: TrainingConfig) -> StratifiedKFold:
    return StratifiedKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)


def _cv_probabilities(
    pipeline: Pipeline, X: pd.DataFrame, y: npt.NDArray[np.int_], config: TrainingConfig
) -> npt.NDArray[np.float64]:
    predicted = cross_val_predict(
        pipeline, X, y, cv=folds(config), method="predict_proba", n_jobs=config.n_jobs
    )
    return np.asarray(predicted[:, 1], dtype=float)


def fit_candidate(
    candidate: Candidate, X: pd.DataFrame, y: npt.NDArray[np.int_], config: TrainingConfig
) -> FittedCandidate:
    """Tune, choose recalibration and refit ``candidate`` on all of ``X``."""
    base = build_pipeline(candidate, config.seed)
    grid = param_grid(candidate)
    if grid:
        search = GridSearchCV(
            base, grid, scoring="neg_log_loss", cv=folds(config), n_jobs=config.n_jobs, refit=False
        )
        search.fit(X, y)
        best_params: dict[str, Any] = dict(search.best_params_)
        cv_log_loss = float(-search.best_score_)
    else:
        best_params, cv_log_loss = {}, float("nan")
    tuned = clone(base).set_params(**best_params)
    probabilities = _cv_probabilities(tuned, X, y, config)
    slope = calibration_slope(y, probabilities)
    scores = {"none": float(brier_score_loss(y, probabilities))}
    chosen = "none"
    low, high = config.recalibration.slope_band
    if not low <= slope <= high:
        for method in config.recalibration.methods:
            if method == "none":
                continue
            wrapped = with_recalibration(tuned, method, config.cv_folds)
            scores[method] = float(brier_score_loss(y, _cv_probabilities(wrapped, X, y, config)))
        allowed = [m for m in scores if m in config.recalibration.methods]
        chosen = min(allowed, key=lambda m: scores[m]) if allowed else "none"
    final = with_recalibration(tuned, chosen, config.cv_folds).fit(X, y)
    return FittedCandidate(
        candidate=candidate,
        pipeline=final,
        best_params=best_params,
        cv_log_loss=cv_log_loss,
        cv_calibration_slope=float(slope),
        recalibration=chosen,
        recalibration_scores=scores,
    )


def out_of_fold(
    pipeline: Pipeline, X: pd.DataFrame, y: npt.NDArray[np.int_], config: TrainingConfig
) -> npt.NDArray[np.float64]:
    """Cross-validated predictions of the final pipeline (same folds as tuning)."""
    return _cv_probabilities(pipeline, X, y, config)


def refit(pipeline: Pipeline, X: pd.DataFrame, y: npt.NDArray[np.int_]) -> Pipeline:
    """A fresh copy of ``pipeline`` (same hyperparameters and recalibration) fit on X, y."""
    return clone(pipeline).fit(X, y)
