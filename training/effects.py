"""Predictor effects as inter-quartile odds ratios, for any fitted pipeline.

For a continuous predictor, the odds ratio of response between its 75th and 25th percentile;
for a yes/no predictor, between yes and no (Harrell, Regression Modeling Strategies, the
``summary.rms`` convention). Each comparison sets the predictor to the two values in every
patient of the data and averages the model's log-odds, so splines, interactions and trees are
all summarised on one clinician-readable scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit

from features.record import FIELDS_BY_NAME


def _levels(column: pd.Series, name: str) -> tuple[Any, Any, str] | None:
    values = column.dropna()
    if values.empty:
        return None
    if name == "sex":
        return "F", "M", "M vs F"
    distinct = set(pd.unique(values))
    if distinct <= {0.0, 1.0}:
        return 0.0, 1.0, "yes vs no"
    low, high = np.quantile(values.astype(float), [0.25, 0.75])
    if low == high:
        return None
    unit = FIELDS_BY_NAME[name].unit if name in FIELDS_BY_NAME else ""
    return float(low), float(high), f"{high:.3g} vs {low:.3g} {unit}".strip()


def interquartile_odds_ratios(pipeline: Any, X: pd.DataFrame) -> pd.DataFrame:
    """One row per input field: predictor, comparison, effect (odds ratio)."""
    rows = []
    for name in X.columns:
        if name == "anti_dsdna_cutoff":
            continue  # a property of the assay, not of the patient
        levels = _levels(X[name], name)
        if levels is None:
            continue
        low, high, comparison = levels
        log_odds = []
        for value in (low, high):
            varied = X.copy()
            varied[name] = value
            p = np.clip(pipeline.predict_proba(varied)[:, 1], 1e-9, 1 - 1e-9)
            log_odds.append(float(np.mean(logit(p))))
        rows.append(
            {
                "predictor": name,
                "comparison": comparison,
                "effect": float(np.exp(log_odds[1] - log_odds[0])),
            }
        )
    return pd.DataFrame(rows, columns=["predictor", "comparison", "effect"])
