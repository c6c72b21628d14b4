"""Bootstrap refits behind the service's uncertainty interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from scoring.bundle import UntrustedTypesError
from training.interval import bootstrap_refits, log_refits


def _data(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    p = 1 / (1 + np.exp(-(X["a"] - 0.5 * X["b"]).to_numpy()))
    return X, rng.binomial(1, p).astype(np.int64)


def test_refits_are_fitted_clones_on_different_resamples_and_reproducible() -> None:
    X, y = _data()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    refits = bootstrap_refits(pipeline, X, y, n_refits=6, seed=3, n_jobs=2)
    again = bootstrap_refits(pipeline, X, y, n_refits=6, seed=3)
    assert len(refits) == 6
    assert all(refit is not pipeline for refit in refits)
    coefficients = [refit[-1].coef_.ravel() for refit in refits]
    assert len({tuple(np.round(c, 12)) for c in coefficients}) == 6  # every resample differs
    for first, second in zip(refits, again, strict=True):
        np.testing.assert_array_equal(first[-1].coef_, second[-1].coef_)  # same seed, same refits
    spread = np.std([refit.predict_proba(X.head(1))[0, 1] for refit in refits])
    assert spread > 0


def test_no_refits_asked_for_none_made() -> None:
    X, y = _data(50)
    assert bootstrap_refits(LogisticRegression(), X, y, n_refits=0, seed=1) == []


def test_refits_holding_a_type_nobody_reviewed_are_refused_before_logging() -> None:
    refits = [make_pipeline(FunctionTransformer(math.tanh), LogisticRegression())]
    # The run id is never reached: the refusal comes first.
    with pytest.raises(UntrustedTypesError, match=r"the interval refits .*math\.tanh"):
        log_refits(refits, run_id="no-such-run")
