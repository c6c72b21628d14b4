"""Inter-quartile odds ratios against a model whose odds ratios are known exactly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from scipy.special import expit

from training.effects import interquartile_odds_ratios


class KnownLogistic:
    """logit p = -1 + 0.5 * flag + 0.02 * c3: odds ratios exp(0.5) and exp(0.02 * IQR)."""

    def predict_proba(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        p = expit(-1 + 0.5 * X["immunosuppressant"] + 0.02 * X["c3"]).to_numpy()
        return np.column_stack([1 - p, p])


def test_odds_ratios_match_the_known_coefficients() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {"immunosuppressant": rng.integers(0, 2, 500).astype(float), "c3": rng.normal(90, 20, 500)}
    )
    effects = interquartile_odds_ratios(KnownLogistic(), X).set_index("predictor")
    assert effects.loc["immunosuppressant", "effect"] == pytest.approx(np.exp(0.5))
    assert effects.loc["immunosuppressant", "comparison"] == "yes vs no"
    q1, q3 = np.quantile(X["c3"], [0.25, 0.75])
    assert effects.loc["c3", "effect"] == pytest.approx(np.exp(0.02 * (q3 - q1)))
    assert effects.loc["c3", "comparison"].endswith("mg/dL")
